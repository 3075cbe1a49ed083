//! The default mode's diff: a valid unified diff that `git apply` and
//! `patch -p1` accept and that turns the sources into exactly what
//! `--write` writes; file names as git writes them.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// The CLI options of a golden case's options.json.
fn case_args(case: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(case.join("options.json")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut args = Vec::new();
    let list = |k: &str| {
        v.get(k).map(|a| {
            a.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    for (key, flag) in [
        ("only", "--only"),
        ("exclude", "--exclude"),
        ("entry", "--entry"),
    ] {
        if let Some(l) = list(key) {
            args.extend([flag.to_string(), l]);
        }
    }
    if let Some(files) = v.get("only_files").and_then(|a| a.as_array()) {
        assert_eq!(files.len(), 1, "one --files glob");
        args.extend(["--files".into(), format!("*{}", files[0].as_str().unwrap())]);
    }
    if let Some(n) = v.get("ctx_name").and_then(|n| n.as_str()) {
        args.extend(["--ctx-name".into(), n.into()]);
    }
    if v.get("trampolines") == Some(&serde_json::Value::Bool(true)) {
        args.push("--trampolines".into());
    }
    args
}

/// Diff of `proj` (run from its parent, named relatively), checked with
/// git and patch, applied, and compared with what `--write` makes.
fn check_diff_applies(work: &Path, proj: &str, extra: &[String]) -> usize {
    let run = |mode: &[&str]| {
        let mut args = vec!["migrate", "--color", "never"];
        args.extend_from_slice(mode);
        args.extend(extra.iter().map(String::as_str));
        args.push(proj);
        pyctx_in(work, &args)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let diff = out.stdout;
    if diff.is_empty() {
        return 0;
    }
    let patch_file = work.join("changes.diff");
    std::fs::write(&patch_file, &diff).unwrap();
    let git = Command::new("git")
        .args(["apply", "--check", "--verbose"])
        .arg(&patch_file)
        .current_dir(work)
        .output()
        .unwrap();
    assert!(
        git.status.success(),
        "git apply --check: {}\n{}",
        String::from_utf8_lossy(&git.stderr),
        String::from_utf8_lossy(&diff)
    );
    // Apply with patch to a copy; --write the original; compare.
    let patched = work.join("patched");
    std::fs::create_dir(&patched).unwrap();
    copy_tree(&work.join(proj), &patched.join(proj));
    let p = Command::new("patch")
        .args(["-p1", "--dry-run", "-s", "-i"])
        .arg(&patch_file)
        .current_dir(&patched)
        .output()
        .unwrap();
    assert!(p.status.success(), "patch --dry-run: {}", stdout(&p));
    let p = Command::new("patch")
        .args(["-p1", "-s", "--no-backup-if-mismatch", "-i"])
        .arg(&patch_file)
        .current_dir(&patched)
        .output()
        .unwrap();
    assert!(p.status.success(), "patch: {}", stdout(&p));
    let w = run(&["--write"]);
    assert_eq!(w.status.code(), Some(0), "{}", stderr(&w));
    let written = snapshot(&work.join(proj));
    let applied = snapshot(&patched.join(proj));
    let bytes = |s: &Snapshot| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        s.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()
    };
    assert_eq!(bytes(&applied), bytes(&written), "patched == written");
    diff.len()
}

#[test]
fn diffs_of_every_golden_case_apply_with_git_and_patch() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/migrate");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("before").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "golden cases found: {}", cases.len());
    let mut nonempty = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap();
        let work = scratch(&format!("golden-{name}"));
        copy_tree(&case.join("before"), &work.join("proj"));
        if check_diff_applies(&work, "proj", &case_args(case)) > 0 {
            nonempty += 1;
        }
    }
    assert!(nonempty >= cases.len() - 2, "most cases change something");
}

#[test]
fn edge_cases_of_the_format_apply() {
    // No newline at the end; CRLF; an include added at the very top; a
    // change on the last line; a file name with a space.
    let files: &[(&str, String)] = &[
        ("eof.c", needs_ctx("eof").trim_end().to_string()),
        ("crlf.c", LEGACY.to_string()),
        (
            "top.c",
            "static PyObject *\nf(PyObject *self, PyObject *o) { return PyObject_Repr(o); }\nstatic PyMethodDef m[] = {{\"f\", f, METH_O, NULL}, {NULL}};".into(),
        ),
        ("with space.c", needs_ctx("spaced")),
    ];
    let work = scratch("edge-diffs");
    std::fs::create_dir(work.join("proj")).unwrap();
    for (name, text) in files {
        std::fs::write(work.join("proj").join(name), text).unwrap();
    }
    assert!(check_diff_applies(&work, "proj", &[]) > 0);
}

#[test]
fn file_names_are_git_style_for_relative_and_absolute_paths() {
    let dir = project("names");
    let parent = dir.parent().unwrap();
    let base = dir.file_name().unwrap().to_str().unwrap();
    // Below the current directory: relative, whatever the spelling.
    for given in [base.to_string(), format!("./{base}/"), s(&dir).to_string()] {
        let out = pyctx_in(parent, &["migrate", "--color", "never", &given]);
        let d = stdout(&out);
        assert!(
            d.starts_with(&format!("--- a/{base}/mod.c\n+++ b/{base}/mod.c\n")),
            "{given}: {d}"
        );
    }
    // Elsewhere: the absolute path without its leading slash, never `a//`.
    let out = pyctx_in(Path::new("/"), &["migrate", "--color", "never", s(&dir)]);
    let d = stdout(&out);
    let rel = s(&dir).trim_start_matches('/');
    assert!(d.starts_with(&format!("--- a/{rel}/mod.c\n")), "{d}");
    assert!(!d.contains("a//"), "{d}");
}

#[test]
fn json_diff_is_the_same_diff() {
    let dir = project("json-diff");
    let plain = stdout(&pyctx(&["migrate", "--color", "never", s(&dir)]));
    let out = pyctx(&["migrate", "--json", s(&dir)]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["diff"].as_str().unwrap(), plain);
}

#[test]
fn colour_marks_lines_and_never_leaves_plain_text() {
    let dir = project("colour");
    let coloured = stdout(&pyctx(&["migrate", "--color", "always", s(&dir)]));
    assert!(coloured.contains("\x1b[32m+"), "{coloured:?}");
    assert!(coloured.contains("\x1b[31m-"), "{coloured:?}");
    let plain = stdout(&pyctx(&["migrate", "--color", "never", s(&dir)]));
    assert!(!plain.contains('\x1b'));
    // Not a terminal: auto means no colour.
    assert_eq!(stdout(&pyctx(&["migrate", s(&dir)])), plain);
}
