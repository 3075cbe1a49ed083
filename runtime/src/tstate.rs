//! Walking the interpreters' thread lists (debug mode), with CPython's
//! functions looked up at run time so that a runtime linked into a
//! non-Python process still loads.
//!
//! The calling thread's own thread state is never looked up here: the
//! generated header computes it with the exact headers of the interpreter
//! (before 3.12, CPython's "current thread state" is the GIL holder's,
//! whichever thread asks) and passes it to the slow paths.

use std::ffi::CStr;
use std::sync::OnceLock;

type Getter = unsafe extern "C" fn() -> usize;
type Next = unsafe extern "C" fn(usize) -> usize;

struct Api {
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
