//! Debug mode: contexts handed to callbacks, so that a context used after
//! its callback returned is caught ("stale").
//!
//! In release mode a trampoline passes `PyCtx_Get()`. In debug mode it asks
//! [`pyctx_callback_enter`] for a context that points at a record in a ring
//! (instead of at the thread state): the record knows its thread state, the
//! callback's name and whether the callback is still running. The ring is
//! reused round-robin, so staleness is detected until 65536 later callbacks
//! have reused the record — enough for a diagnostic.

use crate::context::OFFSET;
use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

const RING: usize = 1 << 16;

#[repr(C, align(8))]
pub struct Record {
    tstate: AtomicUsize,
    callback: AtomicPtr<c_char>,
    running: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Record = Record {
    tstate: AtomicUsize::new(0),
    callback: AtomicPtr::new(std::ptr::null_mut()),
    running: AtomicBool::new(false),
};

static RECORDS: [Record; RING] = [EMPTY; RING];
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// What a callback context's record says.
pub struct CallbackInfo {
    pub tstate: usize,
    pub callback: *const c_char,
    pub running: bool,
}

/// If `base` (a context value without its bits, minus the offset) is a
/// record, what it holds.
pub fn lookup(base: usize) -> Option<CallbackInfo> {
    let start = RECORDS.as_ptr() as usize;
    let size = std::mem::size_of::<Record>();
    if base < start || base >= start + RING * size || !(base - start).is_multiple_of(size) {
        return None;
    }
    let r = &RECORDS[(base - start) / size];
    Some(CallbackInfo {
        tstate: r.tstate.load(Ordering::Acquire),
        callback: r.callback.load(Ordering::Relaxed),
        running: r.running.load(Ordering::Acquire),
    })
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
    let r = &RECORDS[NEXT.fetch_add(1, Ordering::Relaxed) % RING];
    r.tstate.store(current, Ordering::Relaxed);
    r.callback.store(callback as *mut c_char, Ordering::Relaxed);
    r.running.store(true, Ordering::Release);
    r as *const Record as usize + OFFSET
}

/// The callback that received `ctx` returned.
#[no_mangle]
pub extern "C" fn pyctx_callback_exit(ctx: usize) {
    let base = (ctx & !crate::context::BITS).wrapping_sub(OFFSET);
    if lookup(base).is_some() {
        let start = RECORDS.as_ptr() as usize;
        RECORDS[(base - start) / std::mem::size_of::<Record>()]
            .running
            .store(false, Ordering::Release);
    }
}
