//! Thread states, looked up at run time.
//!
//! One build of the runtime serves CPython 3.9 to 3.13, so it cannot link
//! against a version-specific symbol: 3.13 exports
//! `PyThreadState_GetUnchecked`, older versions `_PyThreadState_UncheckedGet`.
//! The functions that walk the interpreters' thread lists (debug mode) exist
//! in every supported version but are looked up the same way, so that a
//! runtime linked into a non-Python process still loads.

use std::ffi::CStr;
use std::sync::OnceLock;

type Getter = unsafe extern "C" fn() -> usize;
type Next = unsafe extern "C" fn(usize) -> usize;

struct Api {
    current: Option<Getter>,
    interp_head: Option<Getter>,
    interp_next: Option<Next>,
    thread_head: Option<Next>,
    thread_next: Option<Next>,
}

fn lookup(names: &[&CStr]) -> Option<*mut libc::c_void> {
    names.iter().find_map(|name| {
        // SAFETY: dlsym with a valid NUL-terminated name.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        (!p.is_null()).then_some(p)
    })
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        // SAFETY: each symbol, when present, has the signature given: a
        // pointer-returning function of no argument or of one pointer.
        unsafe {
            Api {
                current: lookup(&[
                    c"PyThreadState_GetUnchecked",
                    c"_PyThreadState_UncheckedGet",
                ])
                .map(|p| std::mem::transmute::<*mut libc::c_void, Getter>(p)),
                interp_head: lookup(&[c"PyInterpreterState_Head"])
                    .map(|p| std::mem::transmute::<*mut libc::c_void, Getter>(p)),
                interp_next: lookup(&[c"PyInterpreterState_Next"])
                    .map(|p| std::mem::transmute::<*mut libc::c_void, Next>(p)),
                thread_head: lookup(&[c"PyInterpreterState_ThreadHead"])
                    .map(|p| std::mem::transmute::<*mut libc::c_void, Next>(p)),
                thread_next: lookup(&[c"PyThreadState_Next"])
                    .map(|p| std::mem::transmute::<*mut libc::c_void, Next>(p)),
            }
        }
    })
}

/// The calling thread's attached thread state, or 0 (none, or not inside a
/// Python process).
pub fn current() -> usize {
    match api().current {
        // SAFETY: the getter reads a thread-local and never fails.
        Some(get) => unsafe { get() },
        None => 0,
    }
}

/// Is `tstate` a thread state of some live interpreter? Walks every
/// interpreter's thread list (debug mode only: O(threads), and the lists are
/// read without the runtime's lock, which is acceptable for a diagnostic).
/// `None` when the walk is not possible.
pub fn exists(tstate: usize) -> Option<bool> {
    let a = api();
    let (ih, inext, th, tnext) = (
        a.interp_head?,
        a.interp_next?,
        a.thread_head?,
        a.thread_next?,
    );
    // SAFETY: CPython's own list walkers, called with the GIL held.
    unsafe {
        let mut interp = ih();
        while interp != 0 {
            let mut t = th(interp);
            while t != 0 {
                if t == tstate {
                    return Some(true);
                }
                t = tnext(t);
            }
            interp = inext(interp);
        }
    }
    Some(false)
}
