/* CPython's macros that stand for syntax, each written as a canonical
   definition of its role (see rewrite/src/macros.rs). Generated from the
   headers of every supported CPython by rewrite/tests/cpython_syntax.rs:
   PYCTX_BLESS=1 cargo test -p pyctx-rewrite --test cpython_syntax */
#define PY_CXX_CONST
#define PY_HAVE_THREAD_NATIVE_ID
#define PY_PARSER_REQUIRES_FUTURE_KEYWORD
#define PyAPI_DATA(RTYPE) extern RTYPE
#define PyAPI_FUNC(RTYPE) extern RTYPE
#define PyException_HEAD ;
#define PyFPE_END_PROTECT(v)
#define PyFPE_START_PROTECT(err_string, leave_stmt)
#define PyMem_NEW(type, n) (((type *)0))
#define PyMem_New(type, n) (((type *)0))
#define PyMem_RESIZE(p, type, n) (((type *)0))
#define PyMem_Resize(p, type, n) (((type *)0))
#define PyModuleDef_HEAD_INIT ;
#define PyObject_GC_New(type, typeobj) (((type *)0))
#define PyObject_GC_NewVar(type, typeobj, n) (((type *)0))
#define PyObject_GC_Resize(type, op, n) (((type *)0))
#define PyObject_HEAD ;
#define PyObject_HEAD_INIT(type) ;
#define PyObject_NEW(type, typeobj) (((type *)0))
#define PyObject_NEW_VAR(type, typeobj, n) (((type *)0))
#define PyObject_New(type, typeobj) (((type *)0))
#define PyObject_NewVar(type, typeobj, n) (((type *)0))
#define PyObject_VAR_HEAD ;
#define PyVarObject_HEAD_INIT(type, size) ;
#define Py_ALIGNED(x)
#define Py_ALLOW_RECURSION {
#define Py_ALWAYS_INLINE
#define Py_ARRAY_LENGTH(array) (((array *)0))
#define Py_BEGIN_ALLOW_THREADS {
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_BEGIN_CRITICAL_SECTION2(a, b) {
#define Py_BLOCK_THREADS ;
#define Py_DEPRECATED(VERSION_UNUSED)
#define Py_END_ALLOW_RECURSION }
#define Py_END_ALLOW_THREADS }
#define Py_END_CRITICAL_SECTION() }
#define Py_END_CRITICAL_SECTION2() }
#define Py_EXPORTED_SYMBOL
#define Py_GCC_ATTRIBUTE(x)
#define Py_IMPORTED_SYMBOL
#define Py_LOCAL(type) static type
#define Py_LOCAL_INLINE(type) static type
#define Py_LOCAL_SYMBOL
#define Py_MEMBER_SIZE(type, member) (((type *)0))
#define Py_NO_INLINE
#define Py_SAFE_DOWNCAST(VALUE, WIDE, NARROW) (((NARROW *)0))
#define Py_TRASHCAN_BEGIN(op, dealloc) {
#define Py_TRASHCAN_BEGIN_CONDITION(op, cond) {
#define Py_TRASHCAN_END }
#define Py_TRASHCAN_SAFE_BEGIN(op) {
#define Py_TRASHCAN_SAFE_END(op) }
#define Py_UNBLOCK_THREADS ;
#define Py_UNICODE_WIDE
#define Py_USING_UNICODE
#define Py_tss_NEEDS_INIT ;
#define _PyCode_DEF(SIZE) ;
#define _PyCompilerFlags_INIT ;
#define _PyInterpreterConfig_INIT ;
#define _PyInterpreterConfig_LEGACY_INIT ;
#define _PyObject_EXTRA_INIT
#define _PyObject_HEAD_EXTRA
#define _Py_CAST(type, expr) (((type *)0))
#define _Py_COMP_DIAG_IGNORE_DEPR_DECLS
#define _Py_COMP_DIAG_POP
#define _Py_COMP_DIAG_PUSH
#define _Py_CONTAINER_OF(ptr, type, member) (((type *)0))
#define _Py_DEPRECATED_EXTERNALLY(version)
#define _Py_HOT_FUNCTION
#define _Py_IDENTIFIER(varname) ;
#define _Py_IS_TYPE_SIGNED(type) (((type *)0))
#define _Py_InIntegralTypeRange(type, v) (((type *)0))
#define _Py_IntegralTypeMax(type) (((type *)0))
#define _Py_IntegralTypeMin(type) (((type *)0))
#define _Py_IntegralTypeSigned(type) (((type *)0))
#define _Py_NO_INLINE
#define _Py_NO_RETURN
#define _Py_SET_EDOM_FOR_NAN(X) ;
#define _Py_STATIC_CAST(type, expr) (((type *)0))
#define _Py_static_string(varname, value) ;
#define _Py_static_string_init(value) ;
