//! Helpers shared by the command-line tests: running the real binary,
//! making projects in temporary folders, and snapshots that say whether a
//! tree is byte for byte (and inode for inode) what it was.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test; `PYCTX_TEST_BIN` points the tests at another
/// build (to see them fail on an older one).
pub fn bin() -> String {
    std::env::var("PYCTX_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pyctx").into())
}

/// A C file with a helper that gains `PyCtx ctx` and an entry point that
/// calls it (CRLF line endings, a comment mentioning the API).
pub const LEGACY: &str = "#include <Python.h>\r\n\r\nstatic PyObject *\r\nhelper(PyObject *o)\r\n{\r\n    /* PyObject_Repr(o) in a comment stays */\r\n    return PyObject_Repr(o);\r\n}\r\n\r\nstatic PyObject *\r\nmeth(PyObject *self, PyObject *arg)\r\n{\r\n    return helper(arg);\r\n}\r\n\r\nstatic PyMethodDef methods[] = {{\"meth\", meth, METH_O, NULL}, {NULL, NULL, 0, NULL}};\r\n";

/// A small file that needs a context (one call to rewrite).
pub fn needs_ctx(name: &str) -> String {
    format!(
        "#include <Python.h>\n\nstatic PyObject *\n{name}(PyObject *self, PyObject *o)\n{{\n    return PyObject_Repr(o);\n}}\n\nstatic PyMethodDef {name}_methods[] = {{{{\"{name}\", {name}, METH_O, NULL}}, {{NULL}}}};\n"
    )
}

pub fn pyctx(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("pyctx runs")
}

pub fn pyctx_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("pyctx runs")
}

pub fn pyctx_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("pyctx runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh, empty folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyctx-cli-{name}-{}", std::process::id()));
    if dir.exists() {
        // Undo what a previous run may have left non-writable.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+rwX")
            .arg(&dir)
            .status();
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `scratch` holding `mod.c` = [`LEGACY`].
pub fn project(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("mod.c"), LEGACY).unwrap();
    dir
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every entry below `dir` (hidden ones too, symlinks not followed):
/// relative path → (content or link target, inode, mode, uid, gid).
pub type Snapshot = BTreeMap<PathBuf, (Vec<u8>, u64, u32, u32, u32)>;

pub fn snapshot(dir: &Path) -> Snapshot {
    fn walk(base: &Path, dir: &Path, out: &mut Snapshot) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            let data = if m.file_type().is_symlink() {
                std::fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if m.is_dir() {
                walk(base, &p, out);
                Vec::new()
            } else {
                std::fs::read(&p).unwrap()
            };
            out.insert(rel, (data, m.ino(), m.mode(), m.uid(), m.gid()));
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `nobody`'s uid / gid.
pub const NOBODY: u32 = 65534;

/// `pyctx ARGS` as an unprivileged user, so that folder and file
/// permissions apply: `nobody` through `setpriv` when the tests run as
/// root, the current user otherwise.
pub fn pyctx_unprivileged(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(bin());
        c
    } else {
        Command::new(bin())
    };
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output()
        .expect("pyctx runs (setpriv from util-linux when root)")
}

/// Hand `path` (recursively) to the user [`pyctx_unprivileged`] runs as.
pub fn give_away(path: &Path) {
    if is_root() {
        let st = Command::new("chown")
            .arg("-R")
            .arg(format!("{NOBODY}:{NOBODY}"))
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

/// Names of the entries of `dir` that are pyctx's temporary files.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_keys()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.contains(".pyctx-")
        })
        .collect()
}

/// Panic naming the entries that differ between two snapshots (content,
/// inode, mode or owner), entries only in one of them included.
#[track_caller]
pub fn assert_same(after: &Snapshot, before: &Snapshot, what: &str) {
    let keys: std::collections::BTreeSet<&PathBuf> = after.keys().chain(before.keys()).collect();
    let differ: Vec<String> = keys
        .into_iter()
        .filter(|k| after.get(*k) != before.get(*k))
        .map(|k| match (before.get(k), after.get(k)) {
            (None, Some(_)) => format!("{}: new", k.display()),
            (Some(_), None) => format!("{}: gone", k.display()),
            (Some(b), Some(a)) if a.0 != b.0 => format!("{}: content changed", k.display()),
            _ => format!("{}: inode, mode or owner changed", k.display()),
        })
        .collect();
    assert!(differ.is_empty(), "{what}: {differ:#?}");
}
