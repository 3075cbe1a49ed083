//! Symbol facts of the checked-in table against the installed interpreters:
//! what `exported`, `links_to` and the stable ABI name exists in each
//! libpython, the stable ABI agrees with CPython's own list, `limited_since`
//! agrees with it, and the accessors of `pyctx_api::abi` answer from them.
//!
//! Needs `nm` (binutils) and every supported CPython; fails, never skips.

mod common;

use pyctx_api::generate::{version, Interpreter};
use pyctx_api::{LimitedApi, Table, ABI_FROM_CPYTHON, ABI_FROM_HEADERS, SUPPORTED_VERSIONS};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn table() -> Table {
    Table::load_default().unwrap_or_else(|e| panic!("{e:#}"))
}

/// Symbols the interpreter's libpython (or executable, for a static build)
/// defines in its dynamic symbol table.
fn dynamic_symbols(interp: &Interpreter) -> BTreeSet<String> {
    let out = Command::new(&interp.path)
        .args([
            "-I",
            "-c",
            "import os, sys, sysconfig\n\
             lib = os.path.join(sysconfig.get_config_var('LIBDIR'), sysconfig.get_config_var('LDLIBRARY'))\n\
             print(lib if lib.endswith('.so') and os.path.exists(lib) else os.path.realpath(sys.executable))",
        ])
        .output()
        .expect("run interpreter");
    let lib = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let nm = Command::new("nm")
        .args(["-D", "--defined-only", &lib])
        .output()
        .unwrap_or_else(|e| panic!("cannot run nm (install binutils): {e}"));
    assert!(nm.status.success(), "nm -D {lib} failed");
    String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(|s| s.split('@').next().unwrap().to_string())
        .collect()
}

#[test]
fn exported_names_aliases_and_stable_abi_exist_in_libpython() {
    let table = table();
    let mut problems = Vec::new();
    for interp in common::interpreters() {
        let v = interp.minor.as_str();
        let have = dynamic_symbols(&interp);
        let mut want: BTreeMap<String, String> = BTreeMap::new();
        for (_, e, f) in table.for_version(v) {
            if f.exported {
                want.insert(e.name.clone(), format!("{} (exported)", e.name));
            }
            for s in &f.links_to {
                want.insert(s.clone(), format!("{} (links_to of {})", s, e.name));
            }
        }
        for s in table.stable_abi_symbols(v).unwrap() {
            want.entry(s.clone())
                .or_insert_with(|| format!("{s} (stable ABI)"));
        }
        for (s, what) in want {
            if !have.contains(&s) {
                problems.push(format!("{v}: {what} is not defined by libpython"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Does some header of `interp` rename `name` with an object-like macro
/// (`#define PyModule_Create2 PyModule_Create2TraceRefs` under
/// `Py_TRACE_REFS`)? CPython's ctypes list leaves such symbols out.
fn renamed_by_a_header(interp: &Interpreter, name: &str) -> bool {
    pyctx_api::coverage::header_lines(&interp.include_dir)
        .unwrap()
        .iter()
        .any(|l| {
            let mut w = l.trim_start().trim_start_matches('#').split_whitespace();
            w.next() == Some("define") && w.next() == Some(name) && w.next().is_some()
        })
}

#[test]
fn stable_abi_agrees_with_cpythons_own_list() {
    let table = table();
    let mut problems = Vec::new();
    let interps = common::interpreters();
    let lists: BTreeMap<&str, Option<BTreeSet<String>>> = interps
        .iter()
        .map(|i| {
            let l = version::cpython_stable_abi(i).unwrap_or_else(|e| panic!("{e:#}"));
            (i.minor.as_str(), l.map(|l| l.into_iter().collect()))
        })
        .collect();
    let newest = lists
        .values()
        .flatten()
        .max_by_key(|l| l.len())
        .expect("some installed CPython ships its stable-ABI list");
    for interp in &interps {
        let v = interp.minor.as_str();
        let abi = &table.stable_abi[v];
        let stored: BTreeSet<String> = abi.symbols.iter().cloned().collect();
        // Nothing outside the newest list, nothing both in and out.
        for s in stored.difference(newest) {
            problems.push(format!("{v}: {s} is stored but no CPython lists it"));
        }
        for s in &abi.not_stable {
            if stored.contains(s) || newest.contains(s) {
                problems.push(format!(
                    "{v}: {s} is called not_stable but is in the stable ABI"
                ));
            }
        }
        if let Some(own) = &lists[v] {
            assert!(
                abi.source.starts_with(ABI_FROM_CPYTHON),
                "{v}: {}",
                abi.source
            );
            let added: BTreeSet<String> = abi.added_from_headers.iter().cloned().collect();
            if stored != own.union(&added).cloned().collect() {
                problems.push(format!(
                    "{v}: stored stable ABI is not CPython's list plus added_from_headers"
                ));
            }
            for s in &added {
                if own.contains(s) || !renamed_by_a_header(interp, s) {
                    problems.push(format!(
                        "{v}: {s}: added from the headers, but CPython's list has it or no header \
                         renames it in a build variant (the one reason the list leaves a symbol out)"
                    ));
                }
            }
        } else {
            assert!(
                abi.source.starts_with(ABI_FROM_HEADERS),
                "{v}: {}",
                abi.source
            );
        }
        // Every public exported function of the limited API is in it,
        // unless the headers leak it (not_stable).
        for (_, e, f) in table.for_version(v) {
            if f.exported
                && f.limited_since.is_some()
                && !stored.contains(&e.name)
                && !abi.not_stable.contains(&e.name)
            {
                problems.push(format!(
                    "{v}: {} has limited_since {:?} but is not in the stable ABI",
                    e.name, f.limited_since
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn limited_api_names_grow_with_the_limited_version_and_stay_in_the_stable_abi() {
    let table = table();
    for v in SUPPORTED_VERSIONS {
        let abi: BTreeSet<&str> = table
            .stable_abi_symbols(v)
            .unwrap()
            .iter()
            .map(String::as_str)
            .collect();
        let mut previous: BTreeSet<usize> = BTreeSet::new();
        let own = LimitedApi::parse(v).unwrap();
        for l in SUPPORTED_VERSIONS
            .iter()
            .take_while(|l| **l != *v)
            .chain([v])
        {
            let limited = LimitedApi::parse(l).unwrap();
            let ids: BTreeSet<usize> = table
                .limited_api(v, limited)
                .unwrap()
                .map(|(id, _, _)| id)
                .collect();
            assert!(
                previous.is_subset(&ids),
                "{v}: Py_LIMITED_API={l} lost names"
            );
            assert!(!ids.is_empty(), "{v}: Py_LIMITED_API={l} offers nothing");
            for (_, e, f) in table.limited_api(v, limited).unwrap() {
                if f.exported {
                    assert!(
                        abi.contains(e.name.as_str()),
                        "{v}: {} not in the stable ABI",
                        e.name
                    );
                }
            }
            previous = ids;
        }
        // The full API is larger than the limited one.
        assert!(previous.len() < table.for_version(v).count(), "{v}");
        let newer = LimitedApi {
            minor: own.minor + 1,
        };
        let err = table
            .limited_api(v, newer)
            .err()
            .expect("newer than the interpreter");
        assert!(err.to_string().contains("newer than CPython"), "{err}");
    }
}

#[test]
fn limited_api_values_parse_or_say_what_to_use() {
    assert_eq!(LimitedApi::parse("0x030a0000").unwrap().version(), "3.10");
    assert_eq!(LimitedApi::parse("0x030C00F0").unwrap().minor, 12);
    assert_eq!(LimitedApi::parse("3.9").unwrap().hex(), "0x03090000");
    for bad in ["3", "0x03080000", "3.8", "0x02070000"] {
        let e = LimitedApi::parse(bad).unwrap_err().to_string();
        assert!(e.contains("0x03090000 or later"), "{bad}: {e}");
    }
    for bad in ["abc", "0xzz", "3.x"] {
        let e = LimitedApi::parse(bad).unwrap_err().to_string();
        assert!(e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn wrap_symbols_cover_exported_names_and_alias_targets_once() {
    let table = table();
    for v in SUPPORTED_VERSIONS {
        let wrap = table.wrap_symbols(v).unwrap();
        let by_symbol: BTreeMap<&str, usize> =
            wrap.iter().map(|w| (w.symbol.as_str(), w.id)).collect();
        assert_eq!(by_symbol.len(), wrap.len(), "{v}: a symbol listed twice");
        let mut reached_by: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for (id, e, f) in table.for_version(v) {
            if f.exported {
                assert_eq!(by_symbol.get(e.name.as_str()), Some(&id), "{v}: {}", e.name);
            }
            for s in &f.links_to {
                assert!(by_symbol.contains_key(s.as_str()), "{v}: {s} of {}", e.name);
                reached_by.entry(s).or_default().insert(id);
            }
            if let Some(t) = &f.clean_alias_of {
                if f.links_to.contains(t) {
                    // A `_SizeT` target is nobody's own name: its calls are
                    // the legacy calls of the name that renames to it.
                    assert_eq!(by_symbol[t.as_str()], id, "{v}: {t} of {}", e.name);
                }
            }
        }
        for (s, ids) in reached_by {
            if !table
                .for_version(v)
                .any(|(_, e, f)| e.name == s && f.exported)
            {
                assert_eq!(
                    ids.len(),
                    1,
                    "{v}: {s} is reached from several names: {ids:?}"
                );
            }
        }
    }
    let e = table.wrap_symbols("3.8").unwrap_err().to_string();
    assert!(e.contains("not supported"), "{e}");
}

/// Every `#define NAME _NAME_SizeT` of the headers (text) is in the table:
/// the form of NAME has it as `clean_alias_of` (or `alias_of`) and in
/// `links_to`, and it is a wrap symbol with NAME's id.
#[test]
fn every_ssize_t_clean_rename_is_recorded() {
    let table = table();
    let mut seen = 0;
    for interp in common::interpreters() {
        let v = interp.minor.as_str();
        let wrap: BTreeMap<String, usize> = table
            .wrap_symbols(v)
            .unwrap()
            .into_iter()
            .map(|w| (w.symbol, w.id))
            .collect();
        for line in pyctx_api::coverage::header_lines(&interp.include_dir).unwrap() {
            let mut w = line.trim_start().trim_start_matches('#').split_whitespace();
            let (Some("define"), Some(name), Some(target), None) =
                (w.next(), w.next(), w.next(), w.next())
            else {
                continue;
            };
            if name.starts_with('_') || !target.ends_with("_SizeT") || name.contains('(') {
                continue;
            }
            seen += 1;
            let (id, _, form) = table
                .for_version(v)
                .find(|(_, e, _)| e.name == name)
                .unwrap_or_else(|| panic!("{v}: {name} (renamed to {target}) is not in the table"));
            let recorded = form.clean_alias_of.as_deref() == Some(target)
                || form.alias_of.as_deref() == Some(target);
            assert!(recorded, "{v}: {name} -> {target} not recorded: {form:?}");
            assert!(form.links_to.iter().any(|s| s == target), "{v}: {name}");
            assert_eq!(wrap.get(target), Some(&id), "{v}: wrap {target}");
        }
    }
    assert!(
        seen > 0,
        "no _SizeT renames found: the test looks at nothing"
    );
}
