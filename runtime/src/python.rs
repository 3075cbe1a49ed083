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
//! This is the runtime's one use of CPython objects. Like every CPython
//! function the runtime calls, these are looked up with `dlsym` rather than
//! linked: compat by linking redirects the extension's references to API
//! functions, and the runtime's own calls must not be taken for the
//! extension's legacy calls (nor recurse into the accounting). All of them
//! are stable-ABI functions of 3.9 and later.

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr::null_mut;
use std::sync::{Mutex, OnceLock};

type Obj = *mut c_void;

/// `PyMethodDef` (stable ABI layout).
#[repr(C)]
struct MethodDef {
    ml_name: *const c_char,
    ml_meth: unsafe extern "C" fn(Obj, Obj) -> Obj,
    ml_flags: c_int,
    ml_doc: *const c_char,
}
// SAFETY: the definition is immutable and its pointers are to statics.
unsafe impl Sync for MethodDef {}

const METH_NOARGS: c_int = 0x0004;

static REPORT_DEF: MethodDef = MethodDef {
    ml_name: c"report".as_ptr(),
    ml_meth: report,
    ml_flags: METH_NOARGS,
    ml_doc: c"This pyctx runtime's call counters, as a JSON string.".as_ptr(),
};

/// Declares the CPython functions used here and resolves them once.
macro_rules! cpython_api {
    ($($name:ident: fn($($arg:ty),*) -> $ret:ty;)*) => {
        #[allow(non_snake_case)]
        struct Api { $($name: unsafe extern "C" fn($($arg),*) -> $ret,)* }

        /// CPython's functions, or `None` when one is missing (no Python in
        /// this process).
        fn api() -> Option<&'static Api> {
            static API: OnceLock<Option<Api>> = OnceLock::new();
            API.get_or_init(|| {
                // SAFETY: each symbol, when present, is CPython's function of
                // the declared (stable ABI) signature.
                unsafe {
                    Some(Api { $($name: std::mem::transmute::<
                        *mut c_void,
                        unsafe extern "C" fn($($arg),*) -> $ret,
                    >(crate::tstate::lookup_one(
                        &CString::new(stringify!($name)).ok()?)?),)* })
                }
            })
            .as_ref()
        }
    };
}

cpython_api! {
    PyUnicode_FromStringAndSize: fn(*const c_char, isize) -> Obj;
    PyInterpreterState_Get: fn() -> Obj;
    PyErr_Fetch: fn(*mut Obj, *mut Obj, *mut Obj) -> ();
    PyErr_Restore: fn(Obj, Obj, Obj) -> ();
    PyErr_Clear: fn() -> ();
    PyImport_AddModule: fn(*const c_char) -> Obj;
    PyModule_GetDict: fn(Obj) -> Obj;
    PyDict_GetItemString: fn(Obj, *const c_char) -> Obj;
    PyDict_SetItemString: fn(Obj, *const c_char, Obj) -> c_int;
    PyDict_New: fn() -> Obj;
    PyCFunction_NewEx: fn(*const MethodDef, Obj, Obj) -> Obj;
    Py_DecRef: fn(Obj) -> ();
}

unsafe extern "C" fn report(_self: Obj, _args: Obj) -> Obj {
    let json = crate::stats::report_json();
    let api = api().expect("called by CPython, so CPython is there");
    // SAFETY: called by CPython with the GIL held.
    unsafe { (api.PyUnicode_FromStringAndSize)(json.as_ptr().cast(), json.len() as isize) }
}

/// Interpreters this runtime copy has registered in.
static REGISTERED: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

/// Make sure `_pyctx.reports` of the current interpreter knows this runtime.
/// `tstate` is the current, attached thread state.
pub fn ensure_registered(tstate: usize) {
    if tstate == 0 {
        return;
    }
    let Some(api) = api() else { return };
    // SAFETY: a valid, attached thread state.
    let interp = unsafe { (api.PyInterpreterState_Get)() } as usize;
    {
        let mut guard = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
        let set = guard.get_or_insert_with(HashSet::new);
        if !set.insert(interp) {
            return;
        }
    }
    // SAFETY: the GIL is held (we are inside an API call with a thread
    // state attached); a pending exception is saved and restored.
    unsafe { register(api) };
}

unsafe fn register(api: &Api) {
    unsafe {
        let (mut t, mut v, mut tb) = (null_mut(), null_mut(), null_mut());
        (api.PyErr_Fetch)(&mut t, &mut v, &mut tb);
        let module = (api.PyImport_AddModule)(c"_pyctx".as_ptr()); // borrowed
        if !module.is_null() {
            let dict = (api.PyModule_GetDict)(module); // borrowed
            let mut reports = (api.PyDict_GetItemString)(dict, c"reports".as_ptr()); // borrowed
            if reports.is_null() {
                let fresh = (api.PyDict_New)();
                if !fresh.is_null() {
                    (api.PyDict_SetItemString)(dict, c"reports".as_ptr(), fresh);
                    (api.Py_DecRef)(fresh);
                }
                reports = (api.PyDict_GetItemString)(dict, c"reports".as_ptr());
            }
            let func = (api.PyCFunction_NewEx)(&REPORT_DEF, null_mut(), null_mut());
            if let (false, false, Ok(key)) = (
                reports.is_null(),
                func.is_null(),
                CString::new(crate::stats::module_path()),
            ) {
                (api.PyDict_SetItemString)(reports, key.as_ptr(), func);
            }
            if !func.is_null() {
                (api.Py_DecRef)(func);
            }
        }
        (api.PyErr_Clear)();
        (api.PyErr_Restore)(t, v, tb);
    }
}
