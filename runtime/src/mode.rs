//! Release, debug or stats mode: read from the environment once, when the
//! extension containing this runtime is loaded.
//!
//! - `PYCTX_DEBUG=1` (or `all`): every call takes the checked path
//!   (capabilities, wrong-thread use, thread state gone) and legacy calls are
//!   counted per API function and calling C function, reported at exit.
//!   `PYCTX_DEBUG=mod_a,mod_b` selects extension modules by name (the first
//!   dot-separated part of the shared object's file name).
//! - `PYCTX_STATS=FILE`: every call takes the checked path and is counted;
//!   a report is appended to FILE at exit.
//!
//! In either mode the header's `pyctx_fast_bit` is 0, so contexts made by
//! `PyCtx_Get` lack the fast bit and legacy calls see a set flag.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Read by `PyCtx_Get` and by every legacy call in the generated header.
/// Starts at 0 so that a call arriving before initialisation takes the slow
/// path, which initialises.
#[no_mangle]
pub static pyctx_fast_bit: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone)]
pub struct Mode {
    pub debug: bool,
    pub stats_file: Option<std::path::PathBuf>,
}

impl Mode {
    pub fn checked(&self) -> bool {
        self.debug || self.stats_file.is_some()
    }
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// The mode, initialising it from the environment on first use.
pub fn get() -> &'static Mode {
    MODE.get_or_init(|| {
        let debug = std::env::var("PYCTX_DEBUG")
            .ok()
            .is_some_and(|v| debug_selects(&v, &crate::stats::module_path()));
        let stats_file = std::env::var_os("PYCTX_STATS")
            .filter(|v| !v.is_empty())
            .map(Into::into);
        let mode = Mode { debug, stats_file };
        if mode.checked() {
            crate::stats::enable();
        }
        let fast = if mode.checked() {
            0
        } else {
            crate::context::BIT_FAST
        };
        pyctx_fast_bit.store(fast, Ordering::Release);
        mode
    })
}

extern "C" fn init_at_load() {
    crate::tstate::init();
    get();
}

/// Run `init_at_load` when the shared object is loaded, before the module's
/// `PyInit_*`, so contexts are made with the right bit from the start.
#[used]
#[link_section = ".init_array"]
static INIT_AT_LOAD: extern "C" fn() = init_at_load;

/// Does a `PYCTX_DEBUG` value select the extension at `module_path`?
pub fn debug_selects(value: &str, module_path: &str) -> bool {
    let value = value.trim();
    match value {
        "" | "0" => false,
        "1" | "all" => true,
        list => {
            let file = module_path.rsplit('/').next().unwrap_or(module_path);
            let module = file.split('.').next().unwrap_or(file);
            list.split(',').map(str::trim).any(|m| m == module)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::debug_selects;

    #[test]
    fn debug_selection_by_module_name() {
        let path = "/x/site-packages/spine.cpython-312-x86_64-linux-gnu.so";
        assert!(debug_selects("1", path));
        assert!(debug_selects("all", path));
        assert!(debug_selects("other, spine", path));
        assert!(!debug_selects("spin", path));
        assert!(!debug_selects("0", path));
        assert!(!debug_selects("", path));
    }
}
