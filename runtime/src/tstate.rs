//! The current thread state, looked up at run time.
//!
//! One build of the runtime serves CPython 3.9 to 3.13, so it cannot link
//! against a version-specific symbol: 3.13 exports
//! `PyThreadState_GetUnchecked`, older versions `_PyThreadState_UncheckedGet`.

use std::sync::OnceLock;

type Getter = unsafe extern "C" fn() -> *mut libc::c_void;

fn getter() -> Option<Getter> {
    static GETTER: OnceLock<Option<Getter>> = OnceLock::new();
    *GETTER.get_or_init(|| {
        for name in [
            c"PyThreadState_GetUnchecked",
            c"_PyThreadState_UncheckedGet",
        ] {
            // SAFETY: dlsym with a valid NUL-terminated name; the symbol,
            // when present, has the signature `PyThreadState *(void)`.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            if !p.is_null() {
                return Some(unsafe { std::mem::transmute::<*mut libc::c_void, Getter>(p) });
            }
        }
        None
    })
}

/// The calling thread's attached thread state, or 0 (none, or not inside a
/// Python process).
pub fn current() -> usize {
    match getter() {
        // SAFETY: the getter reads a thread-local and never fails.
        Some(get) => unsafe { get() as usize },
        None => 0,
    }
}
