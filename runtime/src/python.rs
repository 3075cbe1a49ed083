//! Counters readable from Python, in debug and stats modes:
//!
//! ```python
//! import _pyctx, json
//! for so_path, report in _pyctx.reports.items():
//!     print(so_path, json.loads(report()))
//! ```
//!
//! Each runtime copy (one per extension) adds its `report()` function to
//! `_pyctx.reports` in every interpreter it is used in, the first time a
//! checked call arrives there with a thread state attached.
//!
//! This is the runtime's one use of CPython objects; it goes through
//! pyo3-ffi's stable-ABI (abi3, 3.9+) bindings, so one build of the runtime
//! serves every supported version.

use pyo3_ffi as ffi;
use std::collections::HashSet;
use std::ffi::CString;
use std::ptr::null_mut;
use std::sync::Mutex;

struct MethodDef(ffi::PyMethodDef);
// SAFETY: the definition is immutable and its pointers are to statics.
unsafe impl Sync for MethodDef {}

static REPORT_DEF: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"report".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: report,
    },
    ml_flags: ffi::METH_NOARGS,
    ml_doc: c"This pyctx runtime's call counters, as a JSON string.".as_ptr(),
});

unsafe extern "C" fn report(
    _self: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let json = crate::stats::report_json();
    // SAFETY: called by CPython with the GIL held.
    unsafe { ffi::PyUnicode_FromStringAndSize(json.as_ptr().cast(), json.len() as ffi::Py_ssize_t) }
}

/// Interpreters this runtime copy has registered in.
static REGISTERED: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

/// Make sure `_pyctx.reports` of the current interpreter knows this runtime.
/// `tstate` is the current, attached thread state.
pub fn ensure_registered(tstate: usize) {
    if tstate == 0 {
        return;
    }
    // SAFETY: a valid, attached thread state.
    let interp = unsafe { ffi::PyInterpreterState_Get() } as usize;
    {
        let mut guard = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
        let set = guard.get_or_insert_with(HashSet::new);
        if !set.insert(interp) {
            return;
        }
    }
    // SAFETY: the GIL is held (we are inside an API call with a thread
    // state attached); a pending exception is saved and restored.
    unsafe { register() };
}

unsafe fn register() {
    unsafe {
        let (mut t, mut v, mut tb) = (null_mut(), null_mut(), null_mut());
        ffi::PyErr_Fetch(&mut t, &mut v, &mut tb);
        let module = ffi::PyImport_AddModule(c"_pyctx".as_ptr()); // borrowed
        if !module.is_null() {
            let dict = ffi::PyModule_GetDict(module); // borrowed
            let mut reports = ffi::PyDict_GetItemString(dict, c"reports".as_ptr()); // borrowed
            if reports.is_null() {
                let fresh = ffi::PyDict_New();
                if !fresh.is_null() {
                    ffi::PyDict_SetItemString(dict, c"reports".as_ptr(), fresh);
                    ffi::Py_DecRef(fresh);
                }
                reports = ffi::PyDict_GetItemString(dict, c"reports".as_ptr());
            }
            let func =
                ffi::PyCFunction_NewEx(&REPORT_DEF.0 as *const _ as *mut _, null_mut(), null_mut());
            if let (false, false, Ok(key)) = (
                reports.is_null(),
                func.is_null(),
                CString::new(crate::stats::module_path()),
            ) {
                ffi::PyDict_SetItemString(reports, key.as_ptr(), func);
            }
            if !func.is_null() {
                ffi::Py_DecRef(func);
            }
        }
        ffi::PyErr_Clear();
        ffi::PyErr_Restore(t, v, tb);
    }
}
