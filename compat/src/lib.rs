//! Compat: the legacy, context-free API, reached by linking.
//!
//! An unmodified extension is compiled with CPython's own headers, untouched;
//! `pyctx flags --ldflags` only adds this library to its link. When the
//! extension is loaded in debug or stats mode, [`redirect`] points the
//! extension's call slots of API functions at compat stubs ([`stubs`]); each
//! stub saves the argument registers and calls [`pyctx_compat_enter`], which
//! derives the context from the current thread state — afresh on every
//! call, never a cached copy, so `PyGILState_Ensure`,
//! `Py_BEGIN_ALLOW_THREADS` and sub-interpreter switches are always seen —
//! checks and counts the call and hands back CPython's function, to which
//! the stub jumps with the registers restored. In release mode nothing is
//! redirected: a legacy call is CPython's own call, at CPython's own cost.

use pyctx_runtime::context::{decode, Capability, Decoded, BIT_DETACHED, OFFSET};
use pyctx_runtime::{api_info, check, mode, stats, symbolize, tstate, API};
use std::collections::HashMap;
use std::sync::OnceLock;

pub mod redirect;
pub mod stubs;

/// The context `PyCtx_Get()` would give the calling thread now.
fn current_context() -> usize {
    let ts = tstate::current();
    if ts == 0 {
        OFFSET | BIT_DETACHED
    } else {
        ts + OFFSET
    }
}

/// Account for one legacy call made from `return_address`; in debug mode
/// also check it.
pub fn legacy_call(return_address: usize, id: u32) {
    let mode = mode::get();
    let Some(info) = api_info(id) else {
        check::fatal(&format!(
            "unknown API id {id}: the extension was linked with a compat stub list from a different API table than this libpyctx.a; rebuild it"
        ));
    };
    let ctx = current_context();
    match decode(ctx) {
        Decoded::Context {
            capability: Capability::Detached,
            ..
        } if mode.debug && !info.gil_free => {
            check::fatal(&format!(
                "{}() called in {} without an attached thread state (is the GIL released?)",
                info.name,
                symbolize::function_at(return_address)
            ));
        }
        Decoded::Context {
            tstate,
            capability: Capability::Full | Capability::Dealloc,
        } => pyctx_runtime::python::ensure_registered(tstate),
        _ => {}
    }
    stats::count_legacy(id, return_address);
}

/// The API id whose legacy call a call of the exported symbol `name` is:
/// an exported API function, or CPython's `PY_SSIZE_T_CLEAN` twin of one
/// (`_PyArg_ParseTuple_SizeT` for `PyArg_ParseTuple`: CPython's headers map
/// the public name to `_NAME_SizeT`).
pub fn legacy_id(name: &str) -> Option<u32> {
    static IDS: OnceLock<HashMap<&'static str, u32>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        API.iter()
            .enumerate()
            .filter(|(_, info)| info.exported)
            .map(|(i, info)| (info.name, i as u32))
            .collect()
    });
    let public = name
        .strip_prefix('_')
        .and_then(|n| n.strip_suffix("_SizeT"))
        .unwrap_or(name);
    ids.get(public).copied()
}

/// The redirected slots of this extension, indexed by stub number.
static SLOTS: OnceLock<redirect::Outcome> = OnceLock::new();

/// What compat redirected in this extension (empty in release mode).
pub fn redirected() -> Option<&'static redirect::Outcome> {
    SLOTS.get()
}

/// Called by stub `slot` for a legacy call that returns to
/// `return_address`; returns the CPython function the stub jumps to.
#[no_mangle]
pub extern "C" fn pyctx_compat_enter(slot: u32, return_address: usize) -> usize {
    let Some(s) = SLOTS.get().and_then(|o| o.slots.get(slot as usize)) else {
        check::fatal(&format!("compat stub {slot} called but never assigned"));
    };
    legacy_call(return_address, s.id);
    s.target
}

extern "C" fn init_at_load() {
    if !mode::get().checked() {
        return;
    }
    let (outcome, plan) = redirect::plan_own_redirects(&legacy_id);
    if outcome.pool_exhausted > 0 {
        eprintln!(
            "pyctx: {} API call slots of {} were not redirected (compat stub pool exhausted): their legacy calls are not counted",
            outcome.pool_exhausted,
            stats::module_path()
        );
    }
    stats::set_not_seen(outcome.not_redirected.clone());
    if SLOTS.set(outcome).is_ok() {
        // SAFETY: the slot table is published; at load nothing else runs
        // the extension's code.
        unsafe { plan.apply() };
    }
}

/// Redirect the extension's API calls when it is loaded. `pyctx flags
/// --ldflags` names this symbol with `-u`, which pulls this object (and so
/// its `.init_array` entry) out of `libpyctx.a` into every extension.
#[no_mangle]
#[used]
#[link_section = ".init_array"]
pub static pyctx_compat_init: extern "C" fn() = init_at_load;
