//! The type table behind context-aware deallocators, with each registered
//! type's freelist (`runtime/include/pyctx_types.h` reads and writes both
//! inline).
//!
//! Registration takes a lock; lookups from C are plain loads of entries
//! whose type, trampoline and `from_ctx`, once published, never change
//! (an entry's `type` is written last, with release ordering, and is never
//! rewritten). The freelist head is written by C, under the GIL of the
//! type's interpreter (see the header), and here when a type object is
//! registered (set to the list's end, entry 0).

use std::ffi::{c_int, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// Must match PYCTX__TYPES in pyctx_types.h.
pub const TYPES: usize = 128;

/// `struct pyctx__type_entry` of the header.
#[repr(C)]
pub struct TypeEntry {
    ty: AtomicPtr<c_void>,
    trampoline: AtomicPtr<c_void>,
    from_ctx: AtomicPtr<c_void>,
    /// The type's freelist: objects chained through their first word,
    /// ending at `freelist_end()` (set at registration; unused before).
    free_head: AtomicPtr<c_void>,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_ENTRY: TypeEntry = TypeEntry {
    ty: AtomicPtr::new(null_mut()),
    trampoline: AtomicPtr::new(null_mut()),
    from_ctx: AtomicPtr::new(null_mut()),
    free_head: AtomicPtr::new(null_mut()),
};

#[no_mangle]
pub static pyctx_type_table: [TypeEntry; TYPES] = [EMPTY_ENTRY; TYPES];

static REGISTER: Mutex<()> = Mutex::new(());

/// The end of every freelist (`PYCTX__FREELIST_END` in the header): entry
/// 0, never registered, whose second word (its trampoline) stays null, so
/// that the C side reads the end as a list of length 0.
fn freelist_end() -> *mut c_void {
    pyctx_type_table.as_ptr() as *mut c_void
}

/// Register (or find) the entry for a type and its deallocator trampoline.
/// Returns the index, or -1 when the table is full. The C side stores the
/// index in the type's `tp_flags` (bits 32 and up), so entries are handed
/// out in order: no hashing, and a lookup is one indexed load.
///
/// The C side calls this only for a type object not registered yet. An
/// entry found again (same address, trampoline and `from_ctx`) belonged
/// to an earlier type object, now gone, perhaps with its interpreter and
/// that interpreter's allocator: its freelist is dropped, not freed.
pub fn register(ty: *mut c_void, trampoline: *mut c_void, from_ctx: *mut c_void) -> c_int {
    let _guard = REGISTER.lock().unwrap_or_else(|e| e.into_inner());
    for (i, e) in pyctx_type_table.iter().enumerate().skip(1) {
        let t = e.ty.load(Ordering::Acquire);
        if t.is_null() {
            e.trampoline.store(trampoline, Ordering::Relaxed);
            e.from_ctx.store(from_ctx, Ordering::Relaxed);
            e.free_head.store(freelist_end(), Ordering::Relaxed);
            e.ty.store(ty, Ordering::Release);
            return i as c_int;
        }
        if t == ty
            && e.trampoline.load(Ordering::Relaxed) == trampoline
            && e.from_ctx.load(Ordering::Relaxed) == from_ctx
        {
            e.free_head.store(freelist_end(), Ordering::Relaxed);
            return i as c_int;
        }
    }
    -1
}

#[no_mangle]
pub extern "C" fn pyctx_type_register(
    ty: *mut c_void,
    trampoline: *mut c_void,
    from_ctx: *mut c_void,
) -> c_int {
    register(ty, trampoline, from_ctx)
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
            pyctx_type_table[a as usize]
                .from_ctx
                .load(Ordering::Relaxed) as usize,
            0x20
        );
    }

    #[test]
    fn entry_0_stays_empty_for_the_freelists_end() {
        register(
            0x3000usize as *mut c_void,
            0x70 as *mut c_void,
            0x80 as *mut c_void,
        );
        let end = &pyctx_type_table[0];
        assert!(end.ty.load(Ordering::Relaxed).is_null());
        // the header reads the end's second word as the length of an empty list
        assert!(end.trampoline.load(Ordering::Relaxed).is_null());
        assert_eq!(freelist_end(), end as *const TypeEntry as *mut c_void);
    }

    #[test]
    fn a_type_registered_anew_starts_with_an_empty_freelist() {
        let ty = 0x2000usize as *mut c_void;
        let a = register(ty, 0x50 as *mut c_void, 0x60 as *mut c_void);
        assert!(a > 0);
        let entry = &pyctx_type_table[a as usize];
        assert_eq!(entry.free_head.load(Ordering::Relaxed), freelist_end());
        entry
            .free_head
            .store(0x1234 as *mut c_void, Ordering::Relaxed);
        assert_eq!(register(ty, 0x50 as *mut c_void, 0x60 as *mut c_void), a);
        assert_eq!(entry.free_head.load(Ordering::Relaxed), freelist_end());
    }
}
