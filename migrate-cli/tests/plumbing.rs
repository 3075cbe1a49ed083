//! Terminal plumbing: a closed pipe, panics.

mod common;
use common::*;
use std::io::Read;
use std::process::{Command, Stdio};

/// A project whose diff is far larger than a pipe's buffer (64 KiB).
fn big_project(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    let text: String = (0..3000).map(|i| needs_ctx(&format!("f{i}"))).collect();
    std::fs::write(dir.join("big.c"), text).unwrap();
    dir
}

#[test]
fn a_closed_pipe_ends_the_run_quietly_with_status_0() {
    let dir = big_project("pipe");
    for mode in [
        &["migrate", "--color", "never"][..],
        &["migrate", "--json"][..],
        &["status"][..],
    ] {
        // `pyctx migrate DIR | head -c 100`: read a little, then close.
        let mut child = Command::new(bin())
            .args(mode)
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 100];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{mode:?}: {err}");
        assert!(!err.contains("error"), "{mode:?}: {err}");
    }
}

#[test]
fn a_panic_in_one_file_is_a_diagnostic_for_that_file() {
    let dir = scratch("panic-engine");
    std::fs::write(dir.join("good.c"), needs_ctx("good")).unwrap();
    std::fs::write(dir.join("bad.c"), needs_ctx("bad")).unwrap();
    let out = pyctx_env(
        &["migrate", "--color", "never", s(&dir)],
        &[("PYCTX_TEST_PANIC", "engine:bad.c")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: error[internal]: pyctx panicked while migrating this file: \
             PYCTX_TEST_PANIC: injected panic",
            dir.join("bad.c").display()
        )),
        "{err}"
    );
    // The other file is still migrated and shown.
    let d = stdout(&out);
    assert!(
        d.contains("good.c") && d.contains("PyObject_Repr(ctx, o)"),
        "{d}"
    );
    assert!(!d.contains("bad.c"), "{d}");

    // The same in --json: the file is unchanged, the diagnostic is there.
    let out = pyctx_env(
        &["migrate", "--json", s(&dir)],
        &[("PYCTX_TEST_PANIC", "engine:bad.c")],
    );
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let bad = files
        .iter()
        .find(|f| f["path"] == s(&dir.join("bad.c")))
        .unwrap();
    assert_eq!(bad["changed"], false);
    assert!(v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["code"] == "internal" && d["file"] == s(&dir.join("bad.c"))));
}

#[test]
fn a_panic_while_rendering_one_diff_keeps_the_others() {
    let dir = scratch("panic-diff");
    std::fs::write(dir.join("good.c"), needs_ctx("good")).unwrap();
    std::fs::write(dir.join("bad.c"), needs_ctx("bad")).unwrap();
    let out = pyctx_env(
        &["migrate", "--color", "never", s(&dir)],
        &[("PYCTX_TEST_PANIC", "diff:bad.c")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.c: error[internal]: pyctx panicked while rendering the diff of"),
        "{err}"
    );
    let d = stdout(&out);
    assert!(d.starts_with("--- a/"), "{d}");
    assert!(
        d.contains("good.c") && !d.contains("bad.c"),
        "no partial diff: {d}"
    );
}
