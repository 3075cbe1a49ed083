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
use std::ffi::{c_char, CStr};

/// Account for one legacy call; in debug mode also check it.
pub fn legacy_call(caller: *const c_char, ctx: usize, id: u32) {
    let mode = mode::get();
    let Some(info) = api_info(id) else {
        check::fatal(&format!(
            "unknown API id {id}: the extension was compiled with a pyctx_api.h from a different API table than this libpyctx.a; rebuild it"
        ));
    };
    if mode.debug && !info.gil_free {
        if let Decoded::Context { capability: Capability::Detached, .. } = decode(ctx) {
            let caller = if caller.is_null() {
                "an unknown function".into()
            } else {
                // SAFETY: generated code passes `__func__`.
                unsafe { CStr::from_ptr(caller) }.to_string_lossy().into_owned()
            };
            check::fatal(&format!(
                "{}() called in {caller} without an attached thread state (is the GIL released?)",
                info.name
            ));
        }
    }
    stats::count_legacy(id);
}

#[no_mangle]
pub extern "C" fn pyctx_slow_compat(caller: *const c_char, ctx: usize, api_id: u32) {
    legacy_call(caller, ctx, api_id);
}
