//! Capability rules (api/src/classify.rs) on synthetic entries, plus a few
//! facts the checked-in table must keep, and interpreter discovery.

use pyctx_api::classify::{self, Caps, Class, Pat, RULES};
use pyctx_api::{Form, Kind, MacroShape, Table};

fn function() -> Form {
    Form {
        versions: vec!["3.12".into()],
        ret: "int".into(),
        ..Form::new(Kind::Function, "x.h")
    }
}

fn mac(shape: MacroShape) -> Form {
    Form {
        kind: Kind::Macro,
        ret: String::new(),
        shape: Some(shape),
        ..function()
    }
}

fn caps(name: &str, forms: &[Form]) -> Caps {
    classify::classify(name, forms)
}

const NEITHER: Caps = Caps {
    gil_free: false,
    dealloc_safe: false,
};
const DEALLOC: Caps = Caps {
    gil_free: false,
    dealloc_safe: true,
};
const GIL_FREE: Caps = Caps {
    gil_free: true,
    dealloc_safe: true,
};

#[test]
fn gil_free_names() {
    for n in [
        "PyMem_RawMalloc",
        "PyMem_RawFree",
        "PyThread_allocate_lock",
        "PyThread_tss_get",
        "PyGILState_Ensure",
        "PyGILState_Check",
        "PyGILState_GetThisThreadState",
        "PyEval_RestoreThread",
        "PyEval_AcquireThread",
        "PyThreadState_GetUnchecked",
        "Py_DecodeLocale",
        "Py_EncodeLocale",
        "PyOS_snprintf",
        "PyOS_vsnprintf",
    ] {
        assert_eq!(caps(n, &[function()]), GIL_FREE, "{n}");
    }
}

#[test]
fn dealloc_safe_names() {
    for n in [
        "Py_DECREF",
        "Py_XDECREF",
        "Py_CLEAR",
        "Py_DecRef",
        "PyObject_Free",
        "PyObject_Del",
        "PyObject_GC_Del",
        "PyObject_GC_UnTrack",
        "PyMem_Free",
        "PyMem_Del",
        "PyObject_ClearWeakRefs",
        "PyObject_CallFinalizerFromDealloc",
        "PyErr_Fetch",
        "PyErr_Restore",
        "PyErr_GetRaisedException",
        "PyErr_SetRaisedException",
        "PyErr_Occurred",
        "PyList_Check",
        "PyUnicode_CheckExact",
        "Py_TYPE",
        "Py_IS_TYPE",
        "Py_IsNone",
        "PyType_GetFlags",
        "PyType_HasFeature",
        "PyType_GetSlot",
        "PyType_IS_GC",
        "PyObject_IS_GC",
        "PyTuple_GET_SIZE",
        "PyList_GET_ITEM",
        "Py_SIZE",
        "Py_REFCNT",
        "PyTuple_GetItem",
        "PyList_GetItem",
        "PyTuple_Size",
        "PyList_Size",
        "Py_INCREF",
        "Py_XINCREF",
        "Py_NewRef",
    ] {
        assert_eq!(caps(n, &[mac(MacroShape::Expr)]), DEALLOC, "{n}");
    }
}

#[test]
fn everything_else_is_neither() {
    for n in [
        "PyObject_GetAttr",
        "PyObject_Size", // runs __len__
        "PySequence_Size",
        "PyDict_GetItem", // hashes the key: may run Python code
        "PyList_New",
        "PyErr_SetString",
        "PyGILState_Release",
        "PyThread_GetInfo",   // exception to PyThread_*
        "PyUnicode_GET_SIZE", // exception to *_GET_SIZE
        "PyMem_Malloc",
        "Py_CheckSomething",
    ] {
        assert_eq!(caps(n, &[function()]), NEITHER, "{n}");
    }
}

#[test]
fn utility_macros_are_gil_free_unless_excepted() {
    assert_eq!(caps("Py_MIN", &[mac(MacroShape::Utility)]), GIL_FREE);
    // A rule granting less does not take utility's gil_free away...
    assert_eq!(caps("Py_Is", &[mac(MacroShape::Utility)]), GIL_FREE);
    // ... but an exception does.
    assert_eq!(
        caps("PyUnicode_GET_SIZE", &[mac(MacroShape::Utility)]),
        NEITHER
    );
    // Every form must be utility.
    assert_eq!(
        caps("Py_MIN", &[mac(MacroShape::Utility), mac(MacroShape::Expr)]),
        NEITHER
    );
    assert_eq!(
        caps("Py_MIN", &[mac(MacroShape::Utility), function()]),
        NEITHER
    );
    assert_eq!(caps("PyT_X", &[mac(MacroShape::Syntax)]), NEITHER);
    assert_eq!(caps("PyT_X", &[]), NEITHER);
}

#[test]
fn rule_table_is_well_formed() {
    for (i, r) in RULES.iter().enumerate() {
        assert!(!r.why.is_empty(), "rule {i} has no reason");
        if r.class == Class::Neither {
            // An exception must override a broader rule listed after it.
            let Pat::Exact(name) = r.pat else {
                panic!("exception {i} must be an exact name")
            };
            assert!(
                RULES[i + 1..]
                    .iter()
                    .any(|later| later.pat.matches(name) && later.class != Class::Neither),
                "exception {name} overrides nothing"
            );
        }
    }
}

#[test]
fn checked_in_table_capabilities() {
    let table = Table::load_default().expect("api/table.json loads");
    let get = |n: &str| {
        table
            .entries
            .iter()
            .find(|e| e.name == n)
            .unwrap_or_else(|| panic!("{n} missing from api/table.json"))
    };
    for e in &table.entries {
        assert!(
            !e.gil_free || e.dealloc_safe,
            "{}: gil_free implies dealloc_safe",
            e.name
        );
        assert_eq!(
            caps(&e.name, &e.forms),
            Caps {
                gil_free: e.gil_free,
                dealloc_safe: e.dealloc_safe
            },
            "{}: table disagrees with classify.rs (regenerate)",
            e.name
        );
    }
    for n in [
        "PyMem_RawMalloc",
        "PyThread_acquire_lock",
        "PyGILState_Ensure",
        "Py_MIN",
        "Py_ARRAY_LENGTH",
    ] {
        assert!(get(n).gil_free, "{n}");
    }
    for n in [
        "Py_DECREF",
        "Py_CLEAR",
        "PyObject_GC_UnTrack",
        "PyObject_Del",
        "PyTuple_GET_ITEM",
        "PyErr_Fetch",
    ] {
        let e = get(n);
        assert!(e.dealloc_safe && !e.gil_free, "{n}");
    }
    for n in ["PyObject_GetAttr", "PyList_New", "PyErr_Format"] {
        let e = get(n);
        assert!(!e.dealloc_safe && !e.gil_free, "{n}");
    }
}

#[test]
fn discovery_picks_the_newest_patch_of_each_supported_minor() {
    let root = std::env::temp_dir().join(format!("pyctx-api-discover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for v in [
        "3.9.1",
        "3.9.18",
        "3.9.2",
        "3.12.1",
        "3.13.0t",
        "3.12-dev",
        "3.8.18",
        "pypy3.9-7.3",
        "3.11.7",
    ] {
        let bin = root.join(v).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("python3"), "").unwrap();
    }
    std::fs::create_dir_all(root.join("3.10.13")).unwrap(); // no interpreter inside
    let found = pyctx_api::pythons::discover_in(&root).unwrap();
    let names: Vec<&str> = found.supported.iter().map(|f| f.release.as_str()).collect();
    assert_eq!(names, ["3.9.18", "3.11.7", "3.12.1"]);
    for f in &found.supported {
        assert_eq!(f.path, root.join(&f.release).join("bin").join("python3"));
        assert!(f.release.starts_with(&format!("{}.", f.minor)), "{f:?}");
    }
    // 3.8 is CPython but not supported: listed apart, for tests of the refusal.
    let others: Vec<&str> = found
        .unsupported
        .iter()
        .map(|f| f.release.as_str())
        .collect();
    assert_eq!(others, ["3.8.18"]);
    assert_eq!(found.missing, ["3.10", "3.13"]);
    let versions: Vec<String> = pyctx_api::pythons::supported()
        .map(|(major, minor)| format!("{major}.{minor}"))
        .collect();
    assert_eq!(versions, pyctx_api::SUPPORTED_VERSIONS);
    assert_eq!(pyctx_api::pythons::oldest(), (3, 9));
    assert_eq!(
        pyctx_api::pythons::missing_versions(&["3.9".into(), "3.11".into(), "3.12".into()]),
        ["3.10", "3.13"]
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The hand-kept thread-state list names real, exported functions of the
/// table, each once, and the save/restore pair is the one the rewriter
/// relaxes (docs/migration-policy.md).
#[test]
fn thread_state_effects_name_table_functions() {
    use pyctx_api::exceptions::{thread_state_effect, ThreadStateEffect, THREAD_STATE_EFFECTS};
    let table = Table::load_default().expect("api/table.json loads");
    let mut seen = std::collections::BTreeSet::new();
    for (name, _, why) in THREAD_STATE_EFFECTS {
        assert!(seen.insert(*name), "{name} listed twice");
        assert!(!why.is_empty(), "{name}: no reason");
        let e = table
            .entries
            .iter()
            .find(|e| e.name == *name)
            .unwrap_or_else(|| panic!("{name} is not in api/table.json"));
        assert!(
            e.forms
                .iter()
                .all(|f| f.kind == Kind::Function && f.exported),
            "{name}: not an exported function in every version"
        );
    }
    let save_restore: Vec<&str> = THREAD_STATE_EFFECTS
        .iter()
        .filter(|(_, e, _)| *e == ThreadStateEffect::SaveRestore)
        .map(|(n, _, _)| *n)
        .collect();
    assert_eq!(save_restore, ["PyEval_SaveThread", "PyEval_RestoreThread"]);
    assert_eq!(thread_state_effect("PyThreadState_Get"), None);
    assert_eq!(
        thread_state_effect("PyGILState_Ensure"),
        Some(ThreadStateEffect::Switch)
    );
}
