//! The type table behind context-aware deallocators and the per-context
//! freelists (`runtime/include/pyctx_types.h` reads both inline).
//!
//! Registration takes a lock; lookups from C are plain loads of entries that,
//! once published, never change (an entry's `type` is written last, with
//! release ordering, and no entry is ever rewritten).

use std::ffi::{c_int, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
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

/// Register (or find) the entry for a type and its deallocator trampoline.
/// Returns the index, or -1 when the table is full. The C side stores the
/// index in the type's `tp_flags` (bits 32 and up), so entries are handed
/// out in order: no hashing, and a lookup is one indexed load.
pub fn register(ty: *mut c_void, trampoline: *mut c_void, imp: *mut c_void) -> c_int {
    let _guard = REGISTER.lock().unwrap_or_else(|e| e.into_inner());
    for (i, e) in pyctx_type_table.iter().enumerate().skip(1) {
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
    interp_id: AtomicI64,
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
    interp_id: AtomicI64::new(0),
    lists: [EMPTY_LIST; TYPES],
};

/// Written by C (only by the owning thread, under its thread state) once a
/// slot is claimed; every field is an atomic so those writes are sound.
#[no_mangle]
pub static pyctx_freelists: [FreelistSlot; FREELIST_SLOTS] = [EMPTY_SLOT; FREELIST_SLOTS];

/// `owner` while a claim is being written.
const CLAIMING: usize = usize::MAX;

/// The slot of a thread state (the C side's hash), claimed if nobody owns it.
///
/// A slot is owned for the life of the process by the address of a thread
/// state. A later thread state at the same address (the first one is
/// necessarily gone) takes it over: with the same interpreter id its
/// freelists are memory of the same allocator and carry on; with another one
/// (3.12+: an interpreter that may have had an allocator of its own, now
/// possibly freed) they are dropped, not freed, since nothing says their
/// allocator still exists.
#[no_mangle]
pub extern "C" fn pyctx_freelist_claim(tstate: usize, interp_id: i64) -> *const FreelistSlot {
    let slot = &pyctx_freelists[(tstate >> 6) % FREELIST_SLOTS];
    match slot
        .owner
        .compare_exchange(0, CLAIMING, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            slot.interp_id.store(interp_id, Ordering::Relaxed);
            slot.owner.store(tstate, Ordering::Release);
            slot
        }
        Err(owner) if owner == tstate => {
            if slot.interp_id.load(Ordering::Relaxed) != interp_id {
                for list in &slot.lists {
                    list.head.store(null_mut(), Ordering::Relaxed);
                    list.len.store(0, Ordering::Relaxed);
                }
                slot.interp_id.store(interp_id, Ordering::Relaxed);
            }
            slot
        }
        Err(_) => std::ptr::null(),
    }
}

/// CPython 3.12+: `offsetof(PyInterpreterState, id)` (internal headers;
/// `flags/tests/thread_id_offsets.rs` checks it against each installed
/// interpreter's). The header reads the id inline to key freelists.
pub const INTERP_ID_OFFSETS: &[((u32, u32), usize)] = &[((3, 12), 8), ((3, 13), 7272)];

/// Read by `pyctx_types.h` (3.12+); set at load by [`init`].
#[no_mangle]
pub static pyctx_interp_id_offset: AtomicUsize = AtomicUsize::new(0);

/// Set `pyctx_interp_id_offset` for the running CPython (at load).
pub fn init(version: Option<(u32, u32)>) {
    if let Some((_, off)) = INTERP_ID_OFFSETS
        .iter()
        .find(|(at, _)| Some(*at) == version)
    {
        pyctx_interp_id_offset.store(*off, Ordering::Relaxed);
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
        let s = pyctx_freelist_claim(ts, 1);
        assert!(!s.is_null());
        assert_eq!(pyctx_freelist_claim(ts, 1), s);
        // another thread state hashing to the same slot gets none
        let other = ts + FREELIST_SLOTS * 64;
        assert!(pyctx_freelist_claim(other, 1).is_null());
    }

    #[test]
    fn a_new_interpreter_at_an_old_address_starts_empty() {
        let ts = 0x5000_0040usize;
        let s = pyctx_freelist_claim(ts, 2);
        // SAFETY: `s` points into the static table.
        let slot = unsafe { &*s };
        slot.lists[3]
            .head
            .store(0x1234 as *mut c_void, Ordering::Relaxed);
        slot.lists[3].len.store(1, Ordering::Relaxed);
        // same interpreter: the freelists carry on
        assert_eq!(pyctx_freelist_claim(ts, 2), s);
        assert_eq!(slot.lists[3].len.load(Ordering::Relaxed), 1);
        // another interpreter at the same thread-state address: emptied
        assert_eq!(pyctx_freelist_claim(ts, 3), s);
        assert!(slot.lists[3].head.load(Ordering::Relaxed).is_null());
        assert_eq!(slot.lists[3].len.load(Ordering::Relaxed), 0);
        assert_eq!(slot.interp_id.load(Ordering::Relaxed), 3);
    }
}
