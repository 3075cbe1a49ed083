//! Per-API call counters (stats mode) and the report written at exit.
//!
//! Counters are plain relaxed atomics indexed by API id; they exist only in
//! stats mode, so release builds pay nothing for them.

use crate::API;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

struct Counters {
    ctx: Vec<AtomicU64>,
    legacy: Vec<AtomicU64>,
}

static COUNTERS: OnceLock<Counters> = OnceLock::new();

fn zeroed() -> Vec<AtomicU64> {
    (0..API.len()).map(|_| AtomicU64::new(0)).collect()
}

/// Turn counting on and arrange for the report at process exit.
pub(crate) fn enable() {
    COUNTERS.get_or_init(|| Counters {
        ctx: zeroed(),
        legacy: zeroed(),
    });
    extern "C" fn at_exit() {
        if let Err(e) = write_report() {
            eprintln!("pyctx: could not write the PYCTX_STATS report: {e}");
        }
    }
    // SAFETY: registering a plain extern "C" function.
    unsafe {
        libc::atexit(at_exit);
    }
}

/// Count one call in ctx form.
pub fn count_ctx(id: u32) {
    if let Some(c) = COUNTERS.get() {
        if let Some(n) = c.ctx.get(id as usize) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Count one legacy call that went through compat.
pub fn count_legacy(id: u32) {
    if let Some(c) = COUNTERS.get() {
        if let Some(n) = c.legacy.get(id as usize) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Non-zero counters of one kind as (API name, count), sorted by name.
pub type Counts = Vec<(&'static str, u64)>;

/// (ctx-form counts, legacy counts).
pub fn snapshot() -> (Counts, Counts) {
    let Some(c) = COUNTERS.get() else {
        return (Vec::new(), Vec::new());
    };
    let collect = |v: &Vec<AtomicU64>| {
        let mut out: Vec<(&'static str, u64)> = v
            .iter()
            .enumerate()
            .map(|(i, n)| (API[i].name, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        out
    };
    (collect(&c.ctx), collect(&c.legacy))
}

/// Path of the shared object this runtime copy is linked into.
pub fn module_path() -> String {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = module_path as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables.
    if unsafe { libc::dladdr(addr, &mut info) } != 0 && !info.dli_fname.is_null() {
        // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
        return unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
            .to_string_lossy()
            .into_owned();
    }
    String::from("?")
}

fn json_counts(counts: &[(&str, u64)]) -> String {
    let body: Vec<String> = counts
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// One JSON line: module path, ctx-form and legacy counts per API name.
pub fn report_line() -> String {
    let (ctx, legacy) = snapshot();
    let module = module_path().replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "{{\"module\": \"{module}\", \"pid\": {}, \"ctx_calls\": {}, \"legacy_calls\": {}}}\n",
        std::process::id(),
        json_counts(&ctx),
        json_counts(&legacy)
    )
}

fn write_report() -> std::io::Result<()> {
    let Some(path) = crate::mode::get().stats_file.as_ref() else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write call per line keeps lines from concurrent processes whole.
    f.write_all(report_line().as_bytes())
}
