//! Compat: the legacy, context-free API.
//!
//! A legacy call (`PyObject_IsTrue(v)`) compiles, through the generated
//! header, into: one test of the runtime's mode flag, then CPython's own
//! function. Only when the runtime wants to see legacy calls (debug or stats
//! mode) does the header derive the context from the current thread state,
//! afresh on every call (never a cached copy, so `PyGILState_Ensure`,
//! `Py_BEGIN_ALLOW_THREADS` and sub-interpreter switches are always seen
//! correctly), and call [`pyctx_slow_compat`] here.

use pyctx_runtime::context::{decode, Capability, Decoded};
use pyctx_runtime::{api_info, check, mode, stats};
use std::ffi::c_char;

/// Account for one legacy call; in debug mode also check it.
///
/// # Safety
/// `caller` is NULL or a NUL-terminated string (generated code passes
/// `__func__`).
pub unsafe fn legacy_call(caller: *const c_char, ctx: usize, id: u32) {
    let mode = mode::get();
    let Some(info) = api_info(id) else {
        check::fatal(&format!(
            "unknown API id {id}: the extension was compiled with a pyctx_api.h from a different API table than this libpyctx.a; rebuild it"
        ));
    };
    if mode.debug && !info.gil_free {
        if let Decoded::Context {
            capability: Capability::Detached,
            ..
        } = decode(ctx)
        {
            let caller = unsafe { check::caller_name(caller) };
            check::fatal(&format!(
                "{}() called in {caller} without an attached thread state (is the GIL released?)",
                info.name
            ));
        }
    }
    // The context was derived from the current thread state just now, so
    // its owner is the calling thread's attached thread state.
    if let Decoded::Context {
        tstate,
        capability: Capability::Full | Capability::Dealloc,
    } = decode(ctx)
    {
        pyctx_runtime::python::ensure_registered(tstate);
    }
    stats::count_legacy(id, caller);
}

/// Called by generated code for a legacy call in debug or stats mode.
///
/// # Safety
/// `caller` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pyctx_slow_compat(caller: *const c_char, ctx: usize, api_id: u32) {
    unsafe { legacy_call(caller, ctx, api_id) };
}
