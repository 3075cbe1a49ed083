//! Fault injection for the command-line tests, in the manner of git's
//! `GIT_TEST_*` variables: failures that a real run meets rarely (a panic,
//! a rename failing half-way, an editor saving a file while pyctx works)
//! made to happen at an exact point, in the real binary. Never set them
//! outside tests; each is read once where it acts.

use std::path::Path;

/// `PYCTX_TEST_PANIC=STAGE:NAME`: panic in `STAGE` (`engine`: the engine's
/// run over a set of files that holds a file whose path ends with `NAME`;
/// `diff`: rendering that file's diff).
pub fn panic_if<'a>(stage: &str, mut paths: impl Iterator<Item = &'a Path>) {
    let Some(spec) = std::env::var_os("PYCTX_TEST_PANIC") else {
        return;
    };
    let spec = spec.to_string_lossy();
    let Some((s, name)) = spec.split_once(':') else {
        return;
    };
    if s == stage && paths.any(|p| p.to_string_lossy().ends_with(name)) {
        panic!("PYCTX_TEST_PANIC: injected panic in {stage} for {name}");
    }
}

/// `PYCTX_TEST_FAIL_RENAME=N`: the N-th rename (1-based) of `--write`
/// fails, after the N-1 before it succeeded.
pub fn rename_fails(n: usize) -> bool {
    std::env::var("PYCTX_TEST_FAIL_RENAME").is_ok_and(|v| v.parse() == Ok(n))
}

/// `PYCTX_TEST_BEFORE_WRITE=COMMAND`: run `sh -c COMMAND` after the engine
/// has read and migrated the files and before `--write` checks and writes
/// them (the test edits a file there, as an editor would).
pub fn before_write() {
    if let Some(cmd) = std::env::var_os("PYCTX_TEST_BEFORE_WRITE") {
        let _ = std::process::Command::new("sh").arg("-c").arg(cmd).status();
    }
}
