/*
 * The rows of the "where the context wins" table: one per API function,
 *
 *   ROW(name, arg, why_no_fast_path)
 *
 * `name` is the API function measured (its loop in loops.h has that name);
 * `arg` what the driver passes the loop ("none", "tuple", "list", "obj": a
 * float, "noargs" / "onearg": a C function of this module taking no
 * argument / one); `why_no_fast_path` is "" for a ctx form with
 * a fast path in runtime/include/pyctx_fast.h (pyctx_fast_NAME, or
 * pyctx_fastv_NAME for a C-variadic function; the driver checks both ways
 * against that header, the one list of fast paths) and otherwise says why
 * the context cannot skip the work there.
 */
ROW(PyErr_Occurred, "none", "")
ROW(PyThreadState_Get, "none", "")
ROW(PyInterpreterState_Get, "none", "")
ROW(PyThreadState_GetDict, "none", "")
ROW(PyErr_SetString, "none", "")
ROW(PyErr_Clear, "none", "")
ROW(PyErr_ExceptionMatches, "none", "")
#if PY_VERSION_HEX >= 0x030C0000
ROW(PyErr_GetRaisedException, "none", "")
#endif
ROW(Py_EnterRecursiveCall, "none", "")
ROW(Py_LeaveRecursiveCall, "none", "")
ROW(PyTuple_GetItem, "tuple", "")
ROW(PyList_GetItem, "list", "")
ROW(PyTuple_Size, "tuple", "")
ROW(PyList_Size, "list", "")
ROW(Py_DECREF, "obj", "")
ROW(Py_XDECREF, "obj", "")
ROW(PyEval_RestoreThread, "none", "")
ROW(PyObject_CallNoArgs, "noargs", "")
ROW(PyObject_CallOneArg, "onearg", "")
ROW(PyObject_Vectorcall, "onearg", "")
ROW(PyObject_CallFunctionObjArgs, "onearg", "")
ROW(PyGILState_Check, "none",
    "compares the attached thread state with the GILState thread-local one, which a context "
    "does not carry (a thread may hold several thread states)")
ROW(PyEval_SaveThread, "none",
    "CPython swaps its thread-local current thread state to NULL itself, whatever the caller "
    "knows; the GIL release dominates")
ROW(PyTuple_New, "none",
    "the tuple freelist sits in CPython's internal per-interpreter state (layout private and "
    "different in each version)")
ROW(PyList_New, "none",
    "the list freelist sits in CPython's internal per-interpreter state (layout private and "
    "different in each version)")
ROW(PyMem_Malloc, "none",
    "pymalloc's state is CPython's (per interpreter from 3.12): a context freelist for raw "
    "small blocks would have to return them to pymalloc on every free by another path")
ROW(PyObject_CallMethodObjArgs, "list",
    "the method lookup without a bound method (_PyObject_GetMethod) is not exported: the ctx "
    "form's body calls PyObject_VectorcallMethod, which reads the thread state itself")
