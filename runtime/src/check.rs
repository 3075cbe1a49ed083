//! The checked slow path of a ctx-form call, and what a violation prints.
//!
//! A capability violation is a programming error that, unchecked, would be
//! memory corruption later; pyctx stops at once with a message naming the
//! API function, the capability and the calling C function.

use crate::context::{decode, Capability, Decoded};
use crate::{api_info, mode, stats, tstate};
use std::ffi::{c_char, CStr};

/// The calling C function's name as passed by generated code.
///
/// # Safety
/// `caller` is NULL or a NUL-terminated string (generated code passes
/// `__func__`).
pub unsafe fn caller_name(caller: *const c_char) -> String {
    if caller.is_null() {
        return "an unknown function".into();
    }
    unsafe { CStr::from_ptr(caller) }
        .to_string_lossy()
        .into_owned()
}

/// What a capability allows, for the error message.
fn allows(cap: Capability) -> &'static str {
    match cap {
        Capability::Full => "everything",
        Capability::Dealloc => {
            "only what a deallocator may do: decref/clear, free, GC untrack, type checks and plain accessors"
        }
        Capability::Detached => {
            "only what is safe without the GIL: raw memory, locks and re-attaching the thread state"
        }
    }
}

/// Print a pyctx error and abort the process.
pub fn fatal(message: &str) -> ! {
    eprintln!("pyctx: {message}");
    std::process::abort()
}

/// Validate one ctx-form call; returns normally when it is allowed.
///
/// # Safety
/// `caller` as for [`caller_name`].
pub unsafe fn ctx_call(caller: *const c_char, ctx: usize, id: u32, current: usize) {
    let mode = mode::get();
    let caller = || unsafe { caller_name(caller) };
    let Some(info) = api_info(id) else {
        fatal(&format!(
            "unknown API id {id} from {}: the extension was compiled with a pyctx_api.h from a different API table than this libpyctx.a; rebuild it",
            caller()
        ));
    };
    let (owner, capability) = match decode(ctx) {
        Decoded::Invalid => fatal(&format!(
            "{}() called with an invalid context ({ctx:#x}) in {}: pass the PyCtx you were given or PyCtx_Get()",
            info.name,
            caller()
        )),
        Decoded::Context { tstate, capability } => match crate::callbacks::lookup(tstate) {
            // A callback context (debug mode): the record holds the owner.
            Some(cb) => {
                if !cb.running {
                    fatal(&format!(
                        "{}() called in {} with a stale context: it was given to callback {}, which has returned (keep no PyCtx beyond the call that received it)",
                        info.name,
                        caller(),
                        unsafe { caller_name(cb.callback) }
                    ));
                }
                // A dealloc context of debug or stats mode names its
                // capability in its record (PyCtx_AsDealloc).
                let capability = if cb.dealloc && capability == Capability::Full {
                    Capability::Dealloc
                } else {
                    capability
                };
                (cb.tstate, capability)
            }
            None => (tstate, capability),
        },
    };
    let allowed = match capability {
        Capability::Full => true,
        Capability::Dealloc => info.dealloc_safe || info.gil_free,
        Capability::Detached => info.gil_free,
    };
    if !allowed {
        fatal(&format!(
            "capability violation: {}() needs a full context but was called with a {} context in {} (a {} context allows {})",
            info.name,
            capability.name(),
            caller(),
            capability.name(),
            allows(capability)
        ));
    }
    if mode.debug
        && !info.gil_free
        && capability != Capability::Detached
        && owner != 0
        && current == 0
    {
        // A full context kept across a release of the thread state (between
        // PyEval_SaveThread and PyEval_RestoreThread, which the rewriter
        // threads a context through): the legacy call's check, for ctx forms.
        fatal(&format!(
            "{}() called in {} with a {} context but without an attached thread state (is the GIL released?)",
            info.name,
            caller(),
            capability.name()
        ));
    }
    if mode.debug && !info.gil_free && owner != 0 && current != 0 && owner != current {
        if tstate::exists(owner) == Some(false) {
            fatal(&format!(
                "{}() called in {} with a context whose thread state no longer exists (context of {:#x}): a PyCtx must not outlive the thread state it came from",
                info.name,
                caller(),
                owner
            ));
        }
        fatal(&format!(
            "{}() called in {} with a context that belongs to another thread state (context of {:#x}, current {:#x}): a PyCtx must not cross threads",
            info.name,
            caller(),
            owner,
            current
        ));
    }
    if capability != Capability::Detached {
        crate::python::ensure_registered(current);
    }
    stats::count_ctx(id);
}

/// Called by generated code when a context lacks the fast bit.
///
/// # Safety
/// `caller` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pyctx_slow_ctx(
    caller: *const c_char,
    ctx: usize,
    api_id: u32,
    current: usize,
) {
    unsafe { ctx_call(caller, ctx, api_id, current) };
}

/// Debug mode, from the ctx form of `PyEval_RestoreThread` (a fast path in
/// `pyctx_fast.h`): the thread state restored must be the context's own.
/// The rewriter threads a context through functions that save and restore
/// the thread state on the grounds that the restore re-attaches the thread
/// state the context came from; restoring another would leave the context
/// naming a thread state that is no longer this thread's. A detached
/// context made without a thread state (`PyCtx_Get()` on a native thread)
/// names none and is not checked.
///
/// # Safety
/// None beyond being called from generated code; `ts` is not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn pyctx_restore_check(ctx: usize, ts: usize) {
    if !mode::get().debug {
        return;
    }
    let Decoded::Context { tstate, .. } = decode(ctx) else {
        return; // reported by the capability check before
    };
    let owner = crate::callbacks::lookup(tstate).map_or(tstate, |cb| cb.tstate);
    if owner != 0 && owner != ts {
        fatal(&format!(
            "PyEval_RestoreThread() restores thread state {ts:#x} with a context of thread state {owner:#x}: the context would name a thread state that is not attached after the restore (restore the thread state PyEval_SaveThread() returned with that context, or take PyCtx_Get() after switching)"
        ));
    }
}

/// `pyctx_resolve(name)`: CPython's exported function `name`, for the ctx
/// forms of the generated header (which call CPython through it, past the
/// extension's own call slots). A missing function is a build/interpreter
/// mismatch: stop with its name.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pyctx_resolve(name: *const c_char) -> *mut libc::c_void {
    // SAFETY: the generated header passes a string literal.
    let name = unsafe { CStr::from_ptr(name) };
    match crate::tstate::lookup_one(name) {
        Some(p) => p,
        None => fatal(&format!(
            "{}() is not exported by the running CPython; the extension was built for another version (rebuild it)",
            name.to_string_lossy()
        )),
    }
}
