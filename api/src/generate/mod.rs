//! Generate the API table from the real CPython headers with libclang
//! (loaded at run time through `clang-sys`).
//!
//! For each interpreter: ask it for its include dir and exact version, parse
//! one translation unit including `Python.h` and the optional public headers
//! (see [`TU_HEADERS`]), collect functions and function-like macros
//! ([`scan`]), decide macro shapes ([`shape`]); then merge the versions into
//! one [`Table`] and classify capabilities ([`crate::classify`]).

pub mod clang;
pub mod scan;
pub mod shape;

use crate::classify;
use crate::model::{Entry, Form, Table, SCHEMA_VERSION, SUPPORTED_VERSIONS};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use clang::LIBCLANG_MISSING;

/// Headers the translation unit includes (after `Python.h`), when present.
pub const TU_HEADERS: &[&str] = &["structmember.h", "datetime.h", "marshal.h", "frameobject.h"];

/// What an interpreter says about itself.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub path: PathBuf,
    /// "3.12"
    pub minor: String,
    /// "3.12.1"
    pub version: String,
    pub include_dir: PathBuf,
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
                 print(sysconfig.get_paths()['include'])",
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
        let (Some(version), Some(minor), Some(include)) =
            (lines.next(), lines.next(), lines.next())
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
        })
    }
}

/// The pyenv root: `pyenv root`, else `$PYENV_ROOT`, else `~/.pyenv`.
pub fn pyenv_root() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pyenv").arg("root").output() {
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !s.is_empty() {
            return Some(PathBuf::from(s));
        }
    }
    if let Some(r) = std::env::var_os("PYENV_ROOT").filter(|r| !r.is_empty()) {
        return Some(PathBuf::from(r));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv"))
}

/// Interpreters `<pyenv root>/versions/3.N.P/bin/python3`, newest patch per
/// supported minor, oldest minor first. Versions that are missing are simply
/// absent from the result (see [`missing_versions`]).
pub fn discover_interpreters() -> Result<Vec<PathBuf>> {
    let root = pyenv_root()
        .ok_or_else(|| anyhow!("cannot find the pyenv root (no `pyenv`, $PYENV_ROOT or $HOME)"))?;
    discover_in(&root.join("versions"))
}

/// [`discover_interpreters`] for an explicit `versions` directory.
pub fn discover_in(versions_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut best: BTreeMap<u32, (u32, PathBuf)> = BTreeMap::new();
    let entries = match std::fs::read_dir(versions_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", versions_dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((minor, patch)) = parse_release_dir(&name) else {
            continue;
        };
        if !SUPPORTED_VERSIONS.contains(&format!("3.{minor}").as_str()) {
            continue;
        }
        let exe = entry.path().join("bin").join("python3");
        if !exe.is_file() {
            continue;
        }
        let newer = match best.get(&minor) {
            Some((p, _)) => patch > *p,
            None => true,
        };
        if newer {
            best.insert(minor, (patch, exe));
        }
    }
    Ok(best.into_values().map(|(_, p)| p).collect())
}

/// "3.12.1" -> (12, 1); anything else (3.13.0t, 3.12-dev, pypy...) -> None.
fn parse_release_dir(name: &str) -> Option<(u32, u32)> {
    let mut parts = name.split('.');
    if parts.next()? != "3" {
        return None;
    }
    let minor = parts.next()?;
    let patch = parts.next()?;
    if parts.next().is_some()
        || !minor.bytes().all(|b| b.is_ascii_digit())
        || !patch.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((minor.parse().ok()?, patch.parse().ok()?))
}

/// Supported minor versions that `found` (minor versions) lacks.
pub fn missing_versions(found: &[String]) -> Vec<&'static str> {
    SUPPORTED_VERSIONS
        .iter()
        .copied()
        .filter(|v| !found.iter().any(|f| f == v))
        .collect()
}

/// The translation unit for one include dir.
pub fn tu_source(include_dir: &Path) -> String {
    let mut s = String::from("#include <Python.h>\n");
    for h in TU_HEADERS {
        if include_dir.join(h).is_file() {
            s.push_str(&format!("#include <{h}>\n"));
        }
    }
    s
}

/// The public API of one interpreter's headers: name -> form.
pub fn scan_interpreter(interp: &Interpreter) -> Result<BTreeMap<String, Form>> {
    let scan = scan::Scan::run(&interp.include_dir, &tu_source(&interp.include_dir), &[])
        .with_context(|| {
            format!(
                "CPython {} ({})",
                interp.version,
                interp.include_dir.display()
            )
        })?;
    Ok(scan.forms())
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

    // Parse the versions on two threads (the machines have two cores).
    let lib = clang_sys::get_library();
    let per_version: Vec<Result<BTreeMap<String, Form>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let lib = lib.clone();
                let interps = &interps;
                s.spawn(move || {
                    clang_sys::set_library(lib);
                    (0..interps.len())
                        .filter(|i| i % 2 == t)
                        .map(|i| (i, scan_interpreter(&interps[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Result<_>)> = Vec::new();
        for h in handles {
            all.extend(h.join().expect("scan thread panicked"));
        }
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    });
    let mut versions = Vec::new();
    for (interp, forms) in interps.iter().zip(per_version) {
        versions.push((interp.minor.clone(), forms?));
    }
    let mut table = merge(versions);
    table.generated_from = interps
        .iter()
        .map(|i| (i.minor.clone(), i.version.clone()))
        .collect();
    Ok(table)
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
    }
}
