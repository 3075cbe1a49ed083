//! `pyctx api list`: every public `PyAPI_FUNC` of each installed CPython is
//! listed unless it is declared only for another platform, counted from the
//! header text (`pyctx_api::coverage`), not from the table the command
//! reads. Fails (never skips) when a supported CPython is missing.

use pyctx_api::coverage::declared_functions;
use pyctx_api::generate::Interpreter;
use pyctx_api::pythons;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

#[test]
fn lists_every_public_pyapi_func_except_platform_specific_ones() {
    let found = pythons::discover_interpreters().unwrap_or_else(|e| panic!("{e:#}"));
    let interps: Vec<Interpreter> = found
        .iter()
        .map(|p| Interpreter::query(p).unwrap_or_else(|e| panic!("{e:#}")))
        .collect();
    let minors: Vec<String> = interps.iter().map(|i| i.minor.clone()).collect();
    let missing = pythons::missing_versions(&minors);
    assert!(
        missing.is_empty(),
        "CPython {} not installed",
        missing.join(", ")
    );
    for interp in interps {
        let out = Command::new(env!("CARGO_BIN_EXE_pyctx"))
            .args(["api", "list", "--python"])
            .arg(&interp.path)
            .output()
            .expect("pyctx runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", interp.version);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let rows: BTreeMap<&str, Vec<&str>> = stdout
            .lines()
            .map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                assert_eq!(cols.len(), 5, "{}: malformed row {l:?}", interp.version);
                (cols[0], cols)
            })
            .collect();

        // name -> is every declaration platform-specific?
        let mut platform_only: BTreeMap<String, bool> = BTreeMap::new();
        for d in declared_functions(&interp.include_dir).unwrap() {
            let p = d.platform().is_some();
            *platform_only.entry(d.name).or_insert(p) &= p;
        }
        for (name, only) in &platform_only {
            assert_eq!(
                rows.contains_key(name.as_str()),
                !only,
                "{}: {name} (platform-specific: {only})",
                interp.version
            );
        }
        let left = platform_only.values().filter(|p| **p).count();
        let want = format!(
            "{} of {} public PyAPI_FUNC names listed",
            platform_only.len() - left,
            platform_only.len()
        );
        assert!(stderr.contains(&want), "{}: {stderr}", interp.version);

        // --offered keeps exactly the rows whose status is "ctx form".
        let offered = Command::new(env!("CARGO_BIN_EXE_pyctx"))
            .args(["api", "list", "--offered", "--python"])
            .arg(&interp.path)
            .output()
            .expect("pyctx runs");
        let offered: BTreeSet<String> = String::from_utf8(offered.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = rows
            .iter()
            .filter(|(_, c)| c[4] == "ctx form")
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(offered, want, "{}", interp.version);
        assert!(!offered.is_empty());
    }
}
