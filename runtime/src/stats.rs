//! Call counters (debug and stats modes) and their reports.
//!
//! Per API id: ctx-form calls and legacy calls (through compat). Legacy calls
//! are also counted per call site (the return address compat's link stub
//! saw), named by the enclosing C function at report time. Reports: one JSON line appended to `PYCTX_STATS` at exit; a short
//! summary on stderr at exit in debug mode; and, from Python, the same JSON
//! through the `_pyctx` module (see [`crate::python`]).
//!
//! Counting happens only on the checked path, so release builds pay nothing.

use crate::API;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CStr;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

struct Counters {
    ctx: Vec<AtomicU64>,
    legacy: Vec<AtomicU64>,
    /// (api id, return address of the call) -> legacy calls
    legacy_by_caller: Mutex<HashMap<(u32, usize), u64>>,
}

static COUNTERS: OnceLock<Counters> = OnceLock::new();

/// API functions the extension reaches only through address slots (taken
/// as pointers, or called through the GOT: `-fno-plt`, or a symbol whose
/// address the code also takes): compat leaves those slots alone to keep
/// function-pointer identity, so calls through them are not counted. Set
/// by compat at load; reported so a count of zero is not mistaken for none.
static NOT_SEEN: OnceLock<Vec<String>> = OnceLock::new();

/// Record the API functions whose calls compat cannot see (once, at load).
pub fn set_not_seen(names: Vec<String>) {
    let _ = NOT_SEEN.set(names);
}

fn zeroed() -> Vec<AtomicU64> {
    (0..API.len()).map(|_| AtomicU64::new(0)).collect()
}

/// Turn counting on and arrange for the report at process exit.
pub(crate) fn enable() {
    COUNTERS.get_or_init(|| Counters {
        ctx: zeroed(),
        legacy: zeroed(),
        legacy_by_caller: Mutex::new(HashMap::new()),
    });
    extern "C" fn at_exit() {
        if let Err(e) = report_at_exit() {
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

/// Count one legacy call that went through compat; `return_address` is
/// where the call returns to in its caller (0 when unknown).
pub fn count_legacy(id: u32, return_address: usize) {
    if let Some(c) = COUNTERS.get() {
        if let Some(n) = c.legacy.get(id as usize) {
            n.fetch_add(1, Ordering::Relaxed);
            let mut map = c.legacy_by_caller.lock().unwrap_or_else(|e| e.into_inner());
            *map.entry((id, return_address)).or_default() += 1;
        }
    }
}

/// Non-zero counters of one kind as (API name, count), sorted by name.
pub type Counts = Vec<(&'static str, u64)>;

/// A consistent-enough copy of the counters, for reports.
pub struct Snapshot {
    pub ctx: Counts,
    pub legacy: Counts,
    /// caller -> API name -> legacy calls
    pub legacy_by_caller: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

pub fn snapshot() -> Snapshot {
    let Some(c) = COUNTERS.get() else {
        return Snapshot {
            ctx: Vec::new(),
            legacy: Vec::new(),
            legacy_by_caller: BTreeMap::new(),
        };
    };
    let collect = |v: &Vec<AtomicU64>| {
        let mut out: Counts = v
            .iter()
            .enumerate()
            .map(|(i, n)| (API[i].name, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        out
    };
    let mut by_caller: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let map = c.legacy_by_caller.lock().unwrap_or_else(|e| e.into_inner());
    for (&(id, site), &n) in map.iter() {
        let name = crate::symbolize::function_at(site);
        *by_caller
            .entry(name)
            .or_default()
            .entry(API[id as usize].name)
            .or_default() += n;
    }
    Snapshot {
        ctx: collect(&c.ctx),
        legacy: collect(&c.legacy),
        legacy_by_caller: by_caller,
    }
}

/// Path of the shared object this runtime copy is linked into.
pub fn module_path() -> String {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = module_path as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables.
    if unsafe { libc::dladdr(addr, &mut info) } != 0 && !info.dli_fname.is_null() {
        // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
        return unsafe { CStr::from_ptr(info.dli_fname) }
            .to_string_lossy()
            .into_owned();
    }
    String::from("?")
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_counts<'a>(counts: impl IntoIterator<Item = (&'a str, u64)>) -> String {
    let body: Vec<String> = counts
        .into_iter()
        .map(|(k, v)| format!("{}: {v}", json_str(k)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// The report as one JSON object (no trailing newline).
pub fn report_json() -> String {
    let s = snapshot();
    let by_caller: Vec<String> = s
        .legacy_by_caller
        .iter()
        .map(|(caller, counts)| {
            format!(
                "{}: {}",
                json_str(caller),
                json_counts(counts.iter().map(|(k, v)| (*k, *v)))
            )
        })
        .collect();
    let not_seen: Vec<String> = NOT_SEEN
        .get()
        .into_iter()
        .flatten()
        .map(|n| json_str(n))
        .collect();
    format!(
        "{{\"module\": {}, \"pid\": {}, \"ctx_calls\": {}, \"legacy_calls\": {}, \"legacy_by_caller\": {{{}}}, \"legacy_not_seen\": [{}]}}",
        json_str(&module_path()),
        std::process::id(),
        json_counts(s.ctx.iter().copied()),
        json_counts(s.legacy.iter().copied()),
        by_caller.join(", "),
        not_seen.join(", ")
    )
}

fn report_at_exit() -> std::io::Result<()> {
    let mode = crate::mode::get();
    if let Some(path) = mode.stats_file.as_ref() {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        // One write call per line keeps lines from concurrent processes whole.
        f.write_all(format!("{}\n", report_json()).as_bytes())?;
    } else if mode.debug {
        let s = snapshot();
        let legacy: u64 = s.legacy.iter().map(|(_, n)| n).sum();
        let ctx: u64 = s.ctx.iter().map(|(_, n)| n).sum();
        let mut callers: Vec<(u64, &String)> = s
            .legacy_by_caller
            .iter()
            .map(|(caller, m)| (m.values().sum(), caller))
            .collect();
        callers.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let top: Vec<String> = callers
            .iter()
            .take(5)
            .map(|(n, c)| format!("{c} {n}"))
            .collect();
        eprintln!(
            "[pyctx] {}: {ctx} ctx-form calls; {legacy} legacy calls to {} API functions through compat{}",
            module_path(),
            s.legacy.len(),
            if top.is_empty() {
                String::new()
            } else {
                format!(" (most from: {})", top.join(", "))
            }
        );
    }
    Ok(())
}
