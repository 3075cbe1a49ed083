//! Debug mode: contexts handed to callbacks, so that a context used after
//! its callback returned is caught ("stale"), and the dealloc contexts of
//! debug and stats modes.
//!
//! In release mode a trampoline passes `PyCtx_Get()`. In debug mode it asks
//! [`pyctx_callback_enter`] for a context that points at a record in a ring
//! (instead of at the thread state): the record knows its thread state, the
//! callback's name and whether the callback is still running. The ring is
//! reused round-robin, so staleness is detected until 65536 later callbacks
//! have reused the record — enough for a diagnostic.
//!
//! The dealloc bit of a context is a release-mode fact (the header's check
//! of a dealloc-safe function lets it through inline). In debug and stats
//! modes `PyCtx_AsDealloc` asks [`pyctx_as_dealloc`] instead, which hands
//! out a record that names the capability: a context with no bit, so that
//! every call with it takes the checked path, which reads the capability
//! from the record. A dealloc record made from a callback's record is stale
//! when that callback has returned.

use crate::context::{decode, Capability, Decoded, OFFSET};
use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

const RING: usize = 1 << 16;

#[repr(C, align(8))]
pub struct Record {
    tstate: AtomicUsize,
    callback: AtomicPtr<c_char>,
    running: AtomicBool,
    dealloc: AtomicBool,
    /// The record this dealloc record was made from, or 0.
    parent: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Record = Record {
    tstate: AtomicUsize::new(0),
    callback: AtomicPtr::new(std::ptr::null_mut()),
    running: AtomicBool::new(false),
    dealloc: AtomicBool::new(false),
    parent: AtomicUsize::new(0),
};

static RECORDS: [Record; RING] = [EMPTY; RING];
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// What a callback context's record says.
pub struct CallbackInfo {
    pub tstate: usize,
    pub callback: *const c_char,
    pub running: bool,
    /// A dealloc context of debug or stats mode.
    pub dealloc: bool,
}

fn record_at(base: usize) -> Option<&'static Record> {
    let start = RECORDS.as_ptr() as usize;
    let size = std::mem::size_of::<Record>();
    if base < start || base >= start + RING * size || !(base - start).is_multiple_of(size) {
        return None;
    }
    Some(&RECORDS[(base - start) / size])
}

/// If `base` (a context value without its bits, minus the offset) is a
/// record, what it holds.
pub fn lookup(base: usize) -> Option<CallbackInfo> {
    let r = record_at(base)?;
    let parent = r.parent.load(Ordering::Acquire);
    let parent_running =
        parent == 0 || record_at(parent).is_some_and(|p| p.running.load(Ordering::Acquire));
    Some(CallbackInfo {
        tstate: r.tstate.load(Ordering::Acquire),
        callback: r.callback.load(Ordering::Relaxed),
        running: r.running.load(Ordering::Acquire) && parent_running,
        dealloc: r.dealloc.load(Ordering::Relaxed),
    })
}

/// A fresh record, returned as a context value (no bits).
fn new_record(tstate: usize, callback: *const c_char, dealloc: bool, parent: usize) -> usize {
    let r = &RECORDS[NEXT.fetch_add(1, Ordering::Relaxed) % RING];
    r.running.store(false, Ordering::Release);
    r.tstate.store(tstate, Ordering::Relaxed);
    r.callback.store(callback as *mut c_char, Ordering::Relaxed);
    r.dealloc.store(dealloc, Ordering::Relaxed);
    r.parent.store(parent, Ordering::Relaxed);
    r.running.store(true, Ordering::Release);
    r as *const Record as usize + OFFSET
}

/// A fresh callback context for `current`, the calling thread's attached
/// thread state (debug mode).
///
/// # Safety
/// `callback` is NULL or a NUL-terminated string that outlives the process
/// (generated code passes a string literal).
#[no_mangle]
pub unsafe extern "C" fn pyctx_callback_enter(callback: *const c_char, current: usize) -> usize {
    crate::mode::get();
    new_record(current, callback, false, 0)
}

/// `PyCtx_AsDealloc` of a context with neither the fast nor the dealloc
/// bit: a detached context stays as it is, an invalid one (NULL) becomes
/// NULL, a dealloc record stays itself, and any other (a full context of
/// debug or stats mode, plain or a callback's record) gets a dealloc record
/// for its thread state.
#[no_mangle]
pub extern "C" fn pyctx_as_dealloc(ctx: usize) -> usize {
    let (tstate, capability) = match decode(ctx) {
        Decoded::Invalid => return 0,
        Decoded::Context { tstate, capability } => (tstate, capability),
    };
    if capability != Capability::Full {
        return ctx;
    }
    match lookup(tstate) {
        Some(cb) if cb.dealloc => ctx,
        Some(cb) => new_record(cb.tstate, cb.callback, true, tstate),
        None => new_record(tstate, std::ptr::null(), true, 0),
    }
}

/// `PyCtx_Capability` of a context with no capability bit (a full context
/// of debug or stats mode, or a dealloc record): 0 full, 1 dealloc.
#[no_mangle]
pub extern "C" fn pyctx_capability(ctx: usize) -> c_int {
    let dealloc = match decode(ctx) {
        Decoded::Context {
            tstate,
            capability: Capability::Full,
        } => lookup(tstate).is_some_and(|cb| cb.dealloc),
        _ => false,
    };
    c_int::from(dealloc)
}

/// The callback that received `ctx` returned.
#[no_mangle]
pub extern "C" fn pyctx_callback_exit(ctx: usize) {
    let base = (ctx & !crate::context::BITS).wrapping_sub(OFFSET);
    if let Some(r) = record_at(base) {
        r.running.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{BIT_DEALLOC, BIT_DETACHED};

    #[test]
    fn debug_dealloc_contexts_are_records_that_name_the_capability() {
        let ts = 0x7f00_0000_1000usize;
        let full = ts + OFFSET; // a debug-mode full context: no bit
        let d = pyctx_as_dealloc(full);
        assert_eq!(d & crate::context::BITS, 0, "no bit: every call is checked");
        assert_eq!(pyctx_capability(d), 1);
        assert_eq!(pyctx_capability(full), 0);
        let info = lookup(d - OFFSET).expect("a record");
        assert_eq!((info.tstate, info.dealloc, info.running), (ts, true, true));
        // restricting again keeps the record; detached and NULL stay as they are
        assert_eq!(pyctx_as_dealloc(d), d);
        assert_eq!(pyctx_as_dealloc(full | BIT_DETACHED), full | BIT_DETACHED);
        assert_eq!(pyctx_as_dealloc(0), 0);
        assert_eq!(pyctx_as_dealloc(BIT_DEALLOC), 0);
    }

    #[test]
    fn a_dealloc_record_goes_stale_with_its_callback() {
        // SAFETY: a string literal, as generated code passes.
        let cb = unsafe { pyctx_callback_enter(c"tp_dealloc".as_ptr(), 0x7f00_0000_2000) };
        let d = pyctx_as_dealloc(cb);
        let info = lookup(d - OFFSET).unwrap();
        assert!(info.dealloc && info.running);
        assert_eq!(info.tstate, 0x7f00_0000_2000);
        pyctx_callback_exit(cb);
        assert!(!lookup(d - OFFSET).unwrap().running);
    }
}
