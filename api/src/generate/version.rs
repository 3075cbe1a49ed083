//! Everything the table records about one interpreter, from several parses
//! of its headers:
//!
//! 1. the default parse (no `PY_SSIZE_T_CLEAN`, no `Py_LIMITED_API`): the
//!    forms, their headers, `needs_include`, `exported`;
//! 2. the same with `PY_SSIZE_T_CLEAN`: `clean_alias_of`, and the alias
//!    targets of both modes (`links_to`);
//! 3. one parse per `Py_LIMITED_API` value from 3.9 up to the interpreter's
//!    own version: `limited_since`, and the symbols a limited build may
//!    reference (the stable ABI derived from the headers);
//! 4. the interpreter's own stable-ABI list, where it ships one (the
//!    table's stable ABI is assembled from all versions: [`stable_abis`]).

use super::scan::Scan;
use super::{tu_source, Interpreter};
use crate::model::{Form, StableAbi, ABI_FROM_CPYTHON, ABI_FROM_HEADERS, SUPPORTED_VERSIONS};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// What one interpreter contributes to the table.
#[derive(Debug)]
pub struct VersionScan {
    /// Name -> form, every fact filled (`versions` empty).
    pub forms: BTreeMap<String, Form>,
    /// CPython's own stable-ABI list, when the interpreter ships one
    /// ([`cpython_stable_abi`]).
    pub cpython_list: Option<BTreeSet<String>>,
    /// Every exported symbol (functions and data, private ones included)
    /// declared under some `Py_LIMITED_API` value up to this version, in
    /// either `PY_SSIZE_T_CLEAN` mode: the stable ABI as the headers see it.
    pub limited_symbols: BTreeSet<String>,
    /// `Py_LIMITED_API` version ("3.9") -> public names declared under it.
    pub limited_names: BTreeMap<String, BTreeSet<String>>,
}

/// `-DPy_LIMITED_API=0x030N0000` for a minor version "3.N".
pub fn limited_api_define(minor: &str) -> String {
    let n: u32 = minor
        .strip_prefix("3.")
        .and_then(|m| m.parse().ok())
        .expect("supported versions are 3.N");
    format!("-DPy_LIMITED_API=0x03{n:02x}0000")
}

/// Supported minor versions up to and including `minor`, oldest first.
fn versions_up_to(minor: &str) -> Vec<&'static str> {
    let end = SUPPORTED_VERSIONS
        .iter()
        .position(|v| *v == minor)
        .map_or(0, |i| i + 1);
    SUPPORTED_VERSIONS[..end].to_vec()
}

/// Scan one interpreter (see the module documentation).
pub fn scan_interpreter(interp: &Interpreter) -> Result<VersionScan> {
    let what = || {
        format!(
            "CPython {} ({})",
            interp.version,
            interp.include_dir.display()
        )
    };
    let source = tu_source(&interp.include_dir);
    let run = |args: &[String]| Scan::run(&interp.include_dir, &source, args);
    let plain = run(&[]).with_context(what)?;
    let clean_arg = "-DPY_SSIZE_T_CLEAN".to_string();
    let clean = run(std::slice::from_ref(&clean_arg)).with_context(what)?;

    let mut limited_names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut limited_symbols = BTreeSet::new();
    let mut limited_functions = BTreeSet::new();
    for l in versions_up_to(&interp.minor) {
        let define = limited_api_define(l);
        let mut modes = vec![vec![define.clone()]];
        if l == interp.minor {
            modes.push(vec![define.clone(), clean_arg.clone()]);
        }
        for args in modes {
            let scan = run(&args).with_context(|| format!("{} with {define}", what()))?;
            limited_symbols.extend(scan.exported_symbols());
            limited_functions.extend(scan.exported_functions());
            if args.len() == 1 {
                limited_names.insert(l.to_string(), scan.forms().into_keys().collect());
            }
        }
    }

    let mut forms = plain.forms();
    for (name, form) in forms.iter_mut() {
        // 3.9 declares `Py_CompileString` as a function only under the
        // limited API (a macro otherwise): the symbol is exported all the same.
        form.exported |= limited_functions.contains(name);
        let clean_alias = clean.alias_of(name);
        if clean_alias != form.alias_of {
            form.clean_alias_of = clean_alias;
        }
        let links: BTreeSet<String> = [plain.link_symbol(name), clean.link_symbol(name)]
            .into_iter()
            .flatten()
            .filter(|s| s != name)
            .collect();
        form.links_to = links.into_iter().collect();
        // In version order: as map keys "3.10" sorts before "3.9".
        form.limited_since = versions_up_to(&interp.minor)
            .into_iter()
            .find(|l| limited_names[*l].contains(name))
            .map(str::to_string);
    }

    let cpython_list = cpython_stable_abi(interp)?.map(|l| l.into_iter().collect());
    Ok(VersionScan {
        forms,
        cpython_list,
        limited_symbols,
        limited_names,
    })
}

/// The interpreter's own list of its stable ABI: `SYMBOL_NAMES` of
/// `test.test_stable_abi_ctypes` (shipped from 3.11), which the module
/// computes for the platform it runs on (Windows-only symbols left out,
/// `HAVE_FORK` ones in, ...). `None` when the interpreter ships no such
/// module.
pub fn cpython_stable_abi(interp: &Interpreter) -> Result<Option<Vec<String>>> {
    let module = interp
        .stdlib_dir
        .join("test")
        .join("test_stable_abi_ctypes.py");
    if !module.is_file() {
        return Ok(None);
    }
    let out = Command::new(&interp.path)
        .args([
            "-I",
            "-c",
            "from test import test_stable_abi_ctypes as t\n\
             print('\\n'.join(sorted(set(t.SYMBOL_NAMES))))",
        ])
        .output()
        .with_context(|| format!("cannot run interpreter {}", interp.path.display()))?;
    if !out.status.success() {
        bail!(
            "{}: importing {} failed ({}): {}",
            interp.path.display(),
            module.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8(out.stdout).context("interpreter printed non-UTF-8")?;
    let symbols: Vec<String> = text.lines().map(str::to_string).collect();
    if symbols.is_empty() {
        bail!("{}: SYMBOL_NAMES is empty", module.display());
    }
    Ok(Some(symbols))
}

/// The stable ABI of each version (`(minor, scan)` oldest first), judged by
/// the newest list CPython ships among them:
///
/// - a version that ships its own list: that list, plus what its limited
///   headers declare that the newest list holds (`added_from_headers`:
///   3.11 and 3.12 leave out `PyModule_Create2`, which a `Py_TRACE_REFS`
///   build renames, though `PyModule_Create` calls it);
/// - older versions: what their limited headers declare, less what the
///   newest list lacks (`not_stable`: declarations 3.9 and 3.10 leak into
///   the limited API, such as `PyNode_New`, fixed by PEP 652 in 3.10/3.11);
/// - with no list at all: the limited headers' declarations as they are.
pub fn stable_abis(scans: &[(String, &VersionScan)]) -> BTreeMap<String, StableAbi> {
    let newest = scans
        .iter()
        .rev()
        .find_map(|(v, s)| s.cpython_list.as_ref().map(|l| (v, l)));
    let mut out = BTreeMap::new();
    for (v, scan) in scans {
        let declared = &scan.limited_symbols;
        let abi = match (&scan.cpython_list, newest) {
            (Some(own), Some((_, newest))) => {
                let added: BTreeSet<String> = declared
                    .iter()
                    .filter(|s| !own.contains(*s) && newest.contains(*s))
                    .cloned()
                    .collect();
                StableAbi {
                    source: format!("{ABI_FROM_CPYTHON} of {v}"),
                    symbols: own.union(&added).cloned().collect(),
                    added_from_headers: added.into_iter().collect(),
                    not_stable: declared
                        .iter()
                        .filter(|s| !own.contains(*s) && !newest.contains(*s))
                        .cloned()
                        .collect(),
                }
            }
            (None, Some((newest_v, newest))) => StableAbi {
                source: format!(
                    "{ABI_FROM_HEADERS} of {v}, filtered by {ABI_FROM_CPYTHON} of {newest_v}"
                ),
                symbols: declared.intersection(newest).cloned().collect(),
                added_from_headers: Vec::new(),
                not_stable: declared.difference(newest).cloned().collect(),
            },
            _ => StableAbi {
                source: format!("{ABI_FROM_HEADERS} of {v}"),
                symbols: declared.iter().cloned().collect(),
                added_from_headers: Vec::new(),
                not_stable: Vec::new(),
            },
        };
        out.insert(v.clone(), abi);
    }
    out
}
