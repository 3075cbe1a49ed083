//! Panics as diagnostics.
//!
//! A bug met while processing one file must not end the run for every
//! other file (ruff's habit): the work on one file (the engine's run over
//! the project, a file's diff) runs under [`catch`], and a panic becomes an
//! `internal` error diagnostic naming the file. The panic hook records the
//! message and location instead of printing them, so that the diagnostic
//! says it once; `RUST_BACKTRACE=1` still prints the backtrace.
//!
//! This needs `panic = "unwind"` in the profile the binary is built with
//! (the workspace's release profile no longer aborts; see Cargo.toml).

use std::sync::Mutex;

static LAST: Mutex<Option<String>> = Mutex::new(None);

/// Record panics (message and location) instead of printing them.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let text = match info.location() {
            Some(l) => format!("{msg} (at {}:{})", l.file(), l.line()),
            None => msg,
        };
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            eprintln!(
                "pyctx: panic: {text}\n{}",
                std::backtrace::Backtrace::force_capture()
            );
        }
        *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
    }));
}

/// Run `f`; a panic becomes `Err(message)`.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        LAST.lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}
