//! `pyctx status` tells the truth, and a second `pyctx migrate` run
//! reports what docs/cli.md says.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pyctx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pyctx"))
        .args(args)
        .output()
        .expect("pyctx runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A unity build as an earlier, faulty run left it: `node_set_child`
/// gained its context, but its caller `walk` (in another included file)
/// still calls it without one. It does not build.
fn broken_unity(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyctx-status-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let files = [
        (
            "module.c",
            "#include <Python.h>\n#include \"pyctx.h\"\n#include \"tree.c\"\n#include \"walk.c\"\n\n\
             static PyObject *\nwalk_py(PyObject *self, PyObject *arg)\n{\n    return walk(arg);\n}\n\n\
             static PyMethodDef methods[] = {{\"walk\", walk_py, METH_O, NULL}, {NULL, NULL, 0, NULL}};\n",
        ),
        (
            "tree.c",
            "static int\nnode_set_child(PyCtx ctx, PyObject *node, PyObject *child)\n{\n    \
             return PyObject_SetAttrString(ctx, node, \"child\", child);\n}\n",
        ),
        (
            "walk.c",
            "static PyObject *\nwalk(PyObject *node)\n{\n    if (node_set_child(node, Py_None) < 0) {\n        \
             return NULL;\n    }\n    Py_RETURN_NONE;\n}\n",
        ),
    ];
    for (f, text) in files {
        std::fs::write(dir.join(f), text).unwrap();
    }
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_function_whose_callers_miss_its_context_is_not_migrated() {
    let dir = broken_unity("truth");
    let out = stdout(&pyctx(&["status", s(&dir)]));
    // Before the engine knew translation units, walk was "no context
    // needed" and node_set_child "migrated": 100% of a tree that does
    // not build.
    assert!(out.contains("node_set_child: to do"), "{out}");
    assert!(out.contains("walk: to do"), "{out}");
    assert!(!out.contains("100.0%"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&pyctx(&["status", "--json", s(&dir)]))).unwrap();
    let state = |name: &str| {
        json["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("node_set_child"), "to_do");

    // Migrated: every function that needs a context has it, and every
    // call passes it.
    let w = pyctx(&["migrate", "--write", s(&dir)]);
    assert_eq!(
        w.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&w.stderr)
    );
    let walk = std::fs::read_to_string(dir.join("walk.c")).unwrap();
    assert!(
        walk.contains("node_set_child(ctx, node, Py_None)"),
        "{walk}"
    );
    let out = stdout(&pyctx(&["status", s(&dir)]));
    assert!(out.contains("node_set_child: migrated"), "{out}");
    assert!(out.contains("walk: migrated"), "{out}");
    assert!(out.contains("total") && out.contains("100.0%"), "{out}");
}

#[test]
fn a_second_run_changes_nothing_and_says_so() {
    let dir = broken_unity("second");
    pyctx(&["migrate", "--write", s(&dir)]);
    let out = pyctx(&["migrate", "--json", s(&dir)]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let t = &v["totals"];
    // What this run changed: nothing.
    for k in [
        "files_changed",
        "calls_rewritten",
        "params_added",
        "prologues_added",
        "prototypes_updated",
        "bridges_added",
    ] {
        assert_eq!(t[k], 0, "{k}: {t}");
    }
    // The state of the code: what docs/cli.md says a second run reports.
    assert_eq!(t["threaded"], 2, "{t}");
    assert_eq!(t["entry_points"], 1, "{t}");
    assert!(t["calls_already_ctx"].as_u64().unwrap() >= 3, "{t}");
    assert!(v["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["changed"] == false));
}
