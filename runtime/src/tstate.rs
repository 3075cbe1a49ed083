//! Thread states, with CPython's functions looked up at run time (one build
//! of the runtime serves every CPython version, and a runtime linked into a
//! non-Python process still loads):
//!
//! - [`current`]: the calling thread's attached thread state. The generated
//!   header computes it inline with the interpreter's exact headers; this
//!   copy serves what has no such header: compat by linking (an unmodified
//!   extension's legacy calls) and `Py_LIMITED_API` builds, whose headers
//!   hide the thread state's layout.
//! - [`exists`]: walking the interpreters' thread lists (debug mode).

use std::ffi::CStr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

type Getter = unsafe extern "C" fn() -> usize;
type VersionString = unsafe extern "C" fn() -> *const libc::c_char;
type Next = unsafe extern "C" fn(usize) -> usize;

struct Api {
    interp_head: Option<Getter>,
    interp_next: Option<Next>,
    thread_head: Option<Next>,
    thread_next: Option<Next>,
}

/// CPython's function `name`, found at run time (never linked: see
/// `python.rs` for why).
pub fn lookup_one(name: &CStr) -> Option<*mut libc::c_void> {
    // SAFETY: dlsym with a valid NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

fn lookup(names: &[&CStr]) -> Option<*mut libc::c_void> {
    names.iter().find_map(|name| lookup_one(name))
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

/// Where CPython 3.9-3.11 keep the owning OS thread's id in a
/// `PyThreadState` (`offsetof(PyThreadState, thread_id)` on 64-bit release
/// builds; CPython keeps struct layouts fixed within a minor version).
/// `flags/tests/thread_id_offsets.rs` compiles `offsetof` against every
/// installed interpreter's headers and compares. From 3.12 on the current
/// thread state is per thread and needs no check.
pub const THREAD_ID_OFFSETS: &[((u32, u32), usize)] =
    &[((3, 9), 176), ((3, 10), 176), ((3, 11), 152)];

/// Where CPython 3.9-3.11 keep the current thread state:
/// `offsetof(_PyRuntimeState, gilstate.tstate_current)` in the exported
/// `_PyRuntime` (internal headers; `flags/tests/thread_id_offsets.rs`
/// compiles `offsetof` against each installed interpreter's and compares).
pub const TSTATE_CURRENT_OFFSETS: &[((u32, u32), usize)] =
    &[((3, 9), 568), ((3, 10), 568), ((3, 11), 576)];

/// What `pyctx_tstate_current` points at until [`init`] finds CPython's
/// slot (or forever, outside CPython 3.9-3.11): no thread state.
static NO_TSTATE: AtomicUsize = AtomicUsize::new(0);

/// CPython 3.9-3.11: the address of `_PyRuntime.gilstate.tstate_current`,
/// the GIL holder's thread state, which `PyCtx_Get()` reads inline (one
/// load instead of a call of `_PyThreadState_UncheckedGet`). Set at load by
/// [`init`], before the extension's code runs.
#[no_mangle]
pub static pyctx_tstate_current: AtomicPtr<AtomicUsize> =
    AtomicPtr::new(&NO_TSTATE as *const AtomicUsize as *mut AtomicUsize);

/// Find CPython's current-thread-state slot (3.9-3.11) and check that the
/// header's inline thread id (`%fs:0` on x86_64 Linux) is `pthread_self()`.
/// Runs at load, from `mode.rs`.
pub fn init() {
    check_thread_pointer();
    let Some(v) = python_version() else { return };
    let Some((_, off)) = TSTATE_CURRENT_OFFSETS.iter().find(|(at, _)| *at == v) else {
        return;
    };
    if let Some(runtime) = lookup_one(c"_PyRuntime") {
        let slot = (runtime as usize + off) as *mut AtomicUsize;
        pyctx_tstate_current.store(slot, Ordering::Release);
    }
}

/// `pyctx.h` takes `%fs:0` for `pthread_self()` on x86_64 Linux (glibc and
/// musl keep the thread's own descriptor there); stop early and clearly if a
/// C library ever does otherwise, since the GIL-holder check depends on it.
fn check_thread_pointer() {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let tp: usize;
        // SAFETY: reads the thread pointer's first word, which every x86_64
        // Linux C library sets up for each thread.
        unsafe {
            std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags))
        };
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as usize;
        if tp != me {
            crate::check::fatal(&format!(
                "this C library's pthread_self() ({me:#x}) is not the thread pointer ({tp:#x}): pyctx.h assumes it is on x86_64 Linux"
            ));
        }
    }
}

struct Current {
    /// `PyThreadState_GetUnchecked` (3.13) or `_PyThreadState_UncheckedGet`.
    get: Option<Getter>,
    /// Before 3.12 CPython's "current thread state" is the GIL holder's,
    /// whichever thread asks: the state's thread id must be the caller's.
    thread_id_offset: Option<usize>,
}

/// The running interpreter's (major, minor), from `Py_GetVersion()`.
pub fn python_version() -> Option<(u32, u32)> {
    let f = lookup(&[c"Py_GetVersion"])?;
    // SAFETY: Py_GetVersion returns a static NUL-terminated string.
    let text = unsafe {
        let f = std::mem::transmute::<*mut libc::c_void, VersionString>(f);
        CStr::from_ptr(f())
    };
    let text = text.to_str().ok()?;
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn current_api() -> &'static Current {
    static CURRENT: OnceLock<Current> = OnceLock::new();
    CURRENT.get_or_init(|| {
        let get = lookup(&[
            c"PyThreadState_GetUnchecked",
            c"_PyThreadState_UncheckedGet",
        ])
        // SAFETY: both take nothing and return a PyThreadState pointer.
        .map(|p| unsafe { std::mem::transmute::<*mut libc::c_void, Getter>(p) });
        let version = python_version();
        let thread_id_offset = match version {
            Some(v) if v < (3, 12) => {
                let found = THREAD_ID_OFFSETS.iter().find(|(at, _)| *at == v);
                match found {
                    Some((_, off)) => Some(*off),
                    None => crate::check::fatal(&format!(
                        "CPython {}.{} is not supported (pyctx supports 3.9-3.13)",
                        v.0, v.1
                    )),
                }
            }
            _ => None,
        };
        Current {
            get,
            thread_id_offset,
        }
    })
}

/// The calling thread's attached thread state, or 0 (no Python in the
/// process, or the thread has none attached: the GIL is released).
pub fn current() -> usize {
    let api = current_api();
    let Some(get) = api.get else { return 0 };
    // SAFETY: CPython's unchecked getter never fails.
    let ts = unsafe { get() };
    if ts == 0 {
        return 0;
    }
    if let Some(off) = api.thread_id_offset {
        // SAFETY: `ts` is a live thread state (the GIL holder's); the field
        // at `off` is its `unsigned long thread_id` (see THREAD_ID_OFFSETS).
        let owner = unsafe { *((ts + off) as *const libc::c_ulong) };
        // SAFETY: pthread_self has no preconditions.
        if owner != unsafe { libc::pthread_self() } as libc::c_ulong {
            return 0;
        }
    }
    ts
}

/// `current()` for C: `PyCtx_Get()` under `Py_LIMITED_API`, whose headers
/// hide the thread state and its getters.
#[no_mangle]
pub extern "C" fn pyctx_current_tstate() -> *mut libc::c_void {
    current() as *mut libc::c_void
}
