//! Generate the API table from the real CPython headers with libclang
//! (loaded at run time through `clang-sys`).
//!
//! For each interpreter: ask it for its include dir and exact version, parse
//! one translation unit including `Python.h` and the public headers it does
//! not include (see [`crate::exceptions::EXTRA_HEADERS`]), collect functions and macros
//! ([`scan`]), decide macro shapes ([`shape`]), and parse again with
//! `PY_SSIZE_T_CLEAN` and each `Py_LIMITED_API` value ([`version`]); then
//! merge the versions into one [`Table`].

pub mod clang;
pub mod scan;
pub mod shape;
pub mod version;

use crate::classify;
pub use crate::exceptions::{ExtraHeader, EXTRA_HEADERS};
use crate::model::{Entry, Form, Table, SCHEMA_VERSION, SUPPORTED_VERSIONS};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use clang::LIBCLANG_MISSING;

/// Is `header` (an [`EXTRA_HEADERS`] name) one whose macros are not recorded?
pub fn records_functions_only(header: &str) -> bool {
    EXTRA_HEADERS
        .iter()
        .any(|h| h.name == header && h.functions_only)
}

/// What an interpreter says about itself.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub path: PathBuf,
    /// "3.12"
    pub minor: String,
    /// "3.12.1"
    pub version: String,
    pub include_dir: PathBuf,
    /// The standard library (`sysconfig.get_paths()['stdlib']`).
    pub stdlib_dir: PathBuf,
}

impl Interpreter {
    /// Run the interpreter to learn its version and include dir.
    pub fn query(path: &Path) -> Result<Interpreter> {
        let exe = if path.is_dir() {
            path.join("bin").join("python3")
        } else {
            path.to_path_buf()
        };
        let out = Command::new(&exe)
            .args([
                "-I",
                "-c",
                "import sys, sysconfig, platform\n\
                 print(platform.python_version())\n\
                 print('%d.%d' % sys.version_info[:2])\n\
                 print(sysconfig.get_paths()['include'])\n\
                 print(sysconfig.get_paths()['stdlib'])",
            ])
            .output()
            .with_context(|| format!("cannot run interpreter {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "interpreter {} failed ({}): {}",
                exe.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8(out.stdout).context("interpreter printed non-UTF-8")?;
        let mut lines = text.lines();
        let (Some(version), Some(minor), Some(include), Some(stdlib)) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            bail!(
                "interpreter {} printed unexpected output: {text:?}",
                exe.display()
            );
        };
        let include_dir = PathBuf::from(include);
        if !include_dir.join("Python.h").is_file() {
            bail!(
                "interpreter {} (CPython {version}): no Python.h in its include dir {}",
                exe.display(),
                include_dir.display()
            );
        }
        Ok(Interpreter {
            path: exe,
            minor: minor.to_string(),
            version: version.to_string(),
            include_dir,
            stdlib_dir: PathBuf::from(stdlib),
        })
    }
}

/// The translation unit for one include dir.
pub fn tu_source(include_dir: &Path) -> String {
    let mut s = String::from("#include <Python.h>\n");
    for h in EXTRA_HEADERS {
        if include_dir.join(h.name).is_file() {
            s.push_str(&format!("#include <{}>\n", h.name));
        }
    }
    s
}

/// The public API of one interpreter's headers: name -> form.
pub fn scan_interpreter(interp: &Interpreter) -> Result<BTreeMap<String, Form>> {
    Ok(version::scan_interpreter(interp)?.forms)
}

/// Generate the table from the given interpreters (executables, or install
/// prefixes holding `bin/python3`). Each must be a distinct supported minor.
pub fn generate(interpreters: &[PathBuf]) -> Result<Table> {
    clang::ensure_loaded()?;
    if interpreters.is_empty() {
        bail!(
            "no interpreters given (and none discovered): need CPython {}",
            SUPPORTED_VERSIONS.join(", ")
        );
    }
    let mut interps = interpreters
        .iter()
        .map(|p| Interpreter::query(p))
        .collect::<Result<Vec<_>>>()?;
    for i in &interps {
        if !SUPPORTED_VERSIONS.contains(&i.minor.as_str()) {
            bail!(
                "{}: CPython {} is not supported (pyctx supports {})",
                i.path.display(),
                i.version,
                SUPPORTED_VERSIONS.join(", ")
            );
        }
    }
    interps.sort_by_key(|i| version_rank(&i.minor));
    for w in interps.windows(2) {
        if w[0].minor == w[1].minor {
            bail!(
                "two interpreters for {}: {} and {}",
                w[0].minor,
                w[0].path.display(),
                w[1].path.display()
            );
        }
    }

    let per_version = scan_all(&interps);
    let scans = per_version.into_iter().collect::<Result<Vec<_>>>()?;
    let by_minor: Vec<(String, &version::VersionScan)> = interps
        .iter()
        .map(|i| i.minor.clone())
        .zip(scans.iter())
        .collect();
    let stable_abi = version::stable_abis(&by_minor);
    let versions = interps
        .iter()
        .zip(scans)
        .map(|(i, s)| (i.minor.clone(), s.forms))
        .collect();
    let mut table = merge(versions);
    table.stable_abi = stable_abi;
    table.generated_from = interps
        .iter()
        .map(|i| (i.minor.clone(), i.version.clone()))
        .collect();
    Ok(table)
}

/// Scan the interpreters on two threads (the machines have two cores),
/// newest first: they need the most parses. Results in `interps` order.
fn scan_all(interps: &[Interpreter]) -> Vec<Result<version::VersionScan>> {
    let lib = clang_sys::get_library();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut all: Vec<(usize, Result<version::VersionScan>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let lib = lib.clone();
                let next = &next;
                s.spawn(move || {
                    clang_sys::set_library(lib);
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if k >= interps.len() {
                            break done;
                        }
                        let i = interps.len() - 1 - k;
                        done.push((i, version::scan_interpreter(&interps[i])));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("scan thread panicked"))
            .collect()
    });
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

fn version_rank(minor: &str) -> usize {
    SUPPORTED_VERSIONS
        .iter()
        .position(|v| *v == minor)
        .unwrap_or(usize::MAX)
}

/// Merge per-version forms (oldest version first) into one table: entries
/// sorted by name, identical forms grouped with their versions in order, and
/// capabilities classified.
pub fn merge(versions: Vec<(String, BTreeMap<String, Form>)>) -> Table {
    let mut by_name: BTreeMap<String, Vec<Form>> = BTreeMap::new();
    for (minor, forms) in versions {
        for (name, mut form) in forms {
            let list = by_name.entry(name).or_default();
            form.versions.clear();
            if let Some(same) = list.iter_mut().find(|f| {
                let mut g = (*f).clone();
                g.versions.clear();
                g == form
            }) {
                same.versions.push(minor.clone());
            } else {
                form.versions.push(minor.clone());
                list.push(form);
            }
        }
    }
    let entries = by_name
        .into_iter()
        .map(|(name, forms)| {
            let caps = classify::classify(&name, &forms);
            Entry {
                name,
                dealloc_safe: caps.dealloc_safe,
                gil_free: caps.gil_free,
                forms,
            }
        })
        .collect();
    Table {
        schema: SCHEMA_VERSION,
        generated_from: BTreeMap::new(),
        entries,
        stable_abi: BTreeMap::new(),
    }
}
