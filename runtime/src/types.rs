//! The type table behind context-aware deallocators and the per-context
//! freelists (`runtime/include/pyctx_types.h` reads both inline).
//!
//! Registration takes a lock; lookups from C are plain loads of entries that,
//! once published, never change (an entry's `type` is written last, with
//! release ordering, and no entry is ever rewritten).

use std::ffi::{c_int, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Must match PYCTX__TYPES in pyctx_types.h.
pub const TYPES: usize = 128;
/// Must match PYCTX__FREELIST_SLOTS.
pub const FREELIST_SLOTS: usize = 64;

#[repr(C)]
pub struct TypeEntry {
    ty: AtomicPtr<c_void>,
    trampoline: AtomicPtr<c_void>,
    imp: AtomicPtr<c_void>,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_ENTRY: TypeEntry = TypeEntry {
    ty: AtomicPtr::new(null_mut()),
    trampoline: AtomicPtr::new(null_mut()),
    imp: AtomicPtr::new(null_mut()),
};

#[no_mangle]
pub static pyctx_type_table: [TypeEntry; TYPES] = [EMPTY_ENTRY; TYPES];

static REGISTER: Mutex<()> = Mutex::new(());

fn first_slot(ty: *mut c_void) -> usize {
    ((ty as usize) >> 4) % (TYPES - 1) + 1
}

/// Register (or find) the entry for a type and its deallocator trampoline.
/// Returns the index, or -1 when the table is full.
pub fn register(ty: *mut c_void, trampoline: *mut c_void, imp: *mut c_void) -> c_int {
    let _guard = REGISTER.lock().unwrap_or_else(|e| e.into_inner());
    let mut i = first_slot(ty);
    for _ in 0..TYPES - 1 {
        let e = &pyctx_type_table[i];
        let t = e.ty.load(Ordering::Acquire);
        if t.is_null() {
            e.trampoline.store(trampoline, Ordering::Relaxed);
            e.imp.store(imp, Ordering::Relaxed);
            e.ty.store(ty, Ordering::Release);
            return i as c_int;
        }
        if t == ty
            && e.trampoline.load(Ordering::Relaxed) == trampoline
            && e.imp.load(Ordering::Relaxed) == imp
        {
            return i as c_int;
        }
        i = if i + 1 < TYPES { i + 1 } else { 1 };
    }
    -1
}

#[no_mangle]
pub extern "C" fn pyctx_type_register(
    ty: *mut c_void,
    trampoline: *mut c_void,
    imp: *mut c_void,
) -> c_int {
    register(ty, trampoline, imp)
}

#[repr(C)]
pub struct FreeList {
    head: AtomicPtr<c_void>,
    len: AtomicU32,
}

#[repr(C)]
pub struct FreelistSlot {
    owner: AtomicUsize,
    interp: AtomicPtr<c_void>,
    lists: [FreeList; TYPES],
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_LIST: FreeList = FreeList {
    head: AtomicPtr::new(null_mut()),
    len: AtomicU32::new(0),
};
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: FreelistSlot = FreelistSlot {
    owner: AtomicUsize::new(0),
    interp: AtomicPtr::new(null_mut()),
    lists: [EMPTY_LIST; TYPES],
};

/// Written by C (only by the owning thread, under its thread state) once a
/// slot is claimed; every field is an atomic so those writes are sound.
#[no_mangle]
pub static pyctx_freelists: [FreelistSlot; FREELIST_SLOTS] = [EMPTY_SLOT; FREELIST_SLOTS];

/// Claim the slot a thread state hashes to, if nobody owns it yet. A slot is
/// owned for the life of the process: a thread state whose address is
/// reused by a later one hands its freelists on (same interpreter only: the
/// C side checks `interp`, because pymalloc arenas are per interpreter).
#[no_mangle]
pub extern "C" fn pyctx_freelist_claim(tstate: usize, interp: *mut c_void) -> *const FreelistSlot {
    let slot = &pyctx_freelists[(tstate >> 6) % FREELIST_SLOTS];
    match slot
        .owner
        .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            slot.interp.store(interp, Ordering::Relaxed);
            slot.owner.store(tstate, Ordering::Release);
            slot
        }
        Err(owner) if owner == tstate => slot,
        Err(_) => std::ptr::null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_is_stable_and_never_rewrites() {
        let ty = 0x1000usize as *mut c_void;
        let a = register(ty, 0x10 as *mut c_void, 0x20 as *mut c_void);
        assert!(a > 0);
        assert_eq!(register(ty, 0x10 as *mut c_void, 0x20 as *mut c_void), a);
        // same address, another deallocator (type freed, address reused)
        let b = register(ty, 0x30 as *mut c_void, 0x40 as *mut c_void);
        assert!(b > 0 && b != a);
        assert_eq!(
            pyctx_type_table[a as usize].imp.load(Ordering::Relaxed) as usize,
            0x20
        );
    }

    #[test]
    fn a_slot_belongs_to_one_thread_state() {
        let ts = 0x7000_0000usize;
        let s = pyctx_freelist_claim(ts, 0x99 as *mut c_void);
        assert!(!s.is_null());
        assert_eq!(pyctx_freelist_claim(ts, 0x99 as *mut c_void), s);
        // another thread state hashing to the same slot gets none
        let other = ts + FREELIST_SLOTS * 64;
        assert!(pyctx_freelist_claim(other, 0x99 as *mut c_void).is_null());
    }
}
