//! The `pyctx migrate` / `pyctx status` front end: modes, exit codes, atomic
//! writes, bad input. (The rewrite rules are tested in rewrite/tests.)

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn default_mode_prints_a_diff_and_changes_nothing() {
    let dir = project("diff");
    let out = pyctx(&["migrate", "--color", "never", s(&dir)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(diff.contains("+helper(PyCtx ctx, PyObject *o)"), "{diff}");
    assert!(
        diff.contains("+    return PyObject_Repr(ctx, o);"),
        "{diff}"
    );
    assert!(diff.contains("+    PyCtx ctx = PyCtx_Get();"), "{diff}");
    assert_eq!(std::fs::read_to_string(dir.join("mod.c")).unwrap(), LEGACY);
}

#[test]
fn write_is_atomic_keeps_bytes_and_permissions_and_check_tracks_work() {
    let dir = project("write");
    let file = dir.join("mod.c");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(
        pyctx(&["migrate", "--check", s(&dir)]).status.code(),
        Some(1)
    );
    let out = pyctx(&["migrate", "--write", s(&dir)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "--write prints no diff");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("#include \"pyctx.h\"\r\n"),
        "CRLF kept for added lines: {text:?}"
    );
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "no bare LF introduced"
    );
    assert!(text.contains("/* PyObject_Repr(o) in a comment stays */"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // no temporary files left behind
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // idempotent: nothing left, empty diff
    assert_eq!(
        pyctx(&["migrate", "--check", s(&dir)]).status.code(),
        Some(0)
    );
    assert!(pyctx(&["migrate", s(&dir)]).stdout.is_empty());
}

#[test]
fn json_report_has_schema_files_functions_totals() {
    let dir = project("json");
    let out = pyctx(&["migrate", "--json", s(&dir)]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["files"][0]["changed"], true);
    assert!(v["files"][0]["diff"]
        .as_str()
        .unwrap()
        .starts_with("--- a/"));
    let helper = v["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "helper")
        .unwrap();
    assert_eq!(helper["status"]["kind"], "threaded");
    let meth = v["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "meth")
        .unwrap();
    assert_eq!(meth["status"]["kind"], "entry_point");
    assert_eq!(v["totals"]["threaded"], 1);
    assert_eq!(v["totals"]["entry_points"], 1);
}

#[test]
fn status_reports_progress() {
    let dir = project("status");
    let before = String::from_utf8(pyctx(&["status", s(&dir)]).stdout).unwrap();
    assert!(before.contains("helper: to do"), "{before}");
    assert!(before.contains("0.0%"), "{before}");
    pyctx(&["migrate", "--write", s(&dir)]);
    let after = String::from_utf8(pyctx(&["status", s(&dir)]).stdout).unwrap();
    assert!(after.contains("helper: migrated"), "{after}");
    assert!(after.contains("meth: migrated (entry point)"), "{after}");
    assert!(after.contains("100.0%"), "{after}");
}

#[test]
fn bad_input_is_a_clear_error_and_loses_nothing() {
    let out = pyctx(&["migrate", "/nonexistent/pyctx/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("/nonexistent/pyctx/dir: no such file or folder"));

    let dir = project("bad");
    std::fs::write(dir.join("latin1.c"), b"/* caf\xe9 */\n").unwrap();
    let out = pyctx(&["migrate", "--write", s(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("latin1.c: not UTF-8 text"));
    assert_eq!(
        std::fs::read_to_string(dir.join("mod.c")).unwrap(),
        LEGACY,
        "nothing written"
    );

    let out = pyctx(&["migrate", "--ctx-name", "1x", s(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a C identifier"));
}

#[test]
fn unparsable_function_is_reported_and_left_alone() {
    let dir = project("parse");
    let broken = "#include <Python.h>\nstatic PyObject *bad(PyObject *o)\n{\n    return PyObject_Repr(o;\n}\n";
    std::fs::write(dir.join("broken.c"), broken).unwrap();
    let out = pyctx(&["migrate", "--write", s(&dir)]);
    // reported and refused, not an error: the rest of the project migrates
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.c:2:"), "{err}");
    assert!(err.contains("not rewritten"), "{err}");
    assert!(err.contains("1 refused"), "{err}");
    let text = std::fs::read_to_string(dir.join("broken.c")).unwrap();
    assert!(
        text.contains("return PyObject_Repr(o;"),
        "broken function untouched: {text}"
    );
}
