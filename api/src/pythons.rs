//! Which CPython interpreters this machine has: the one place that finds
//! them. The table generator, `pyctx python list` (which `scripts/setup`
//! and the Python tests ask) and the Rust tests all come here; the versions
//! themselves are [`crate::SUPPORTED_VERSIONS`].
//!
//! Interpreters are the pyenv builds `<root>/versions/3.N.P/bin/python3`,
//! the newest patch release of each minor. The root is `$PYENV_ROOT` when
//! set (pyenv itself obeys it, so asking pyenv first would only cost a
//! process), else what `pyenv root` says, else `~/.pyenv`.
//!
//! ```no_run
//! let found = pyctx_api::pythons::discover()?;
//! for p in &found.supported {
//!     println!("{} {} {}", p.minor, p.release, p.path.display());
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

use crate::model::SUPPORTED_VERSIONS;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One interpreter found under the pyenv root.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Found {
    /// "3.12"
    pub minor: String,
    /// "3.12.1": the name of its folder under `versions/`.
    pub release: String,
    /// `<root>/versions/3.12.1/bin/python3`
    pub path: PathBuf,
}

/// Everything [`discover`] learnt.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Discovery {
    /// The pyenv root looked in (`None`: no `$PYENV_ROOT`, pyenv or `$HOME`).
    pub root: Option<PathBuf>,
    /// Newest release of each supported minor, oldest minor first.
    pub supported: Vec<Found>,
    /// Supported minors with no interpreter.
    pub missing: Vec<String>,
    /// Newest release of each other CPython 3 minor (3.8, 3.14, ...),
    /// oldest first: what pyctx refuses, for tests of that refusal.
    pub unsupported: Vec<Found>,
}

/// The pyenv root: `$PYENV_ROOT`, else `pyenv root`, else `~/.pyenv`.
pub fn pyenv_root() -> Option<PathBuf> {
    if let Some(r) = std::env::var_os("PYENV_ROOT").filter(|r| !r.is_empty()) {
        return Some(PathBuf::from(r));
    }
    if let Ok(out) = Command::new("pyenv").arg("root").output() {
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !s.is_empty() {
            return Some(PathBuf::from(s));
        }
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv"))
}

/// The interpreters under the pyenv root.
pub fn discover() -> Result<Discovery> {
    let root = pyenv_root();
    let mut found = match &root {
        Some(r) => discover_in(&r.join("versions"))?,
        None => discover_in(Path::new(""))?,
    };
    found.root = root;
    Ok(found)
}

/// Supported interpreters' paths, oldest minor first (the generator's input).
pub fn discover_interpreters() -> Result<Vec<PathBuf>> {
    Ok(discover()?.supported.into_iter().map(|f| f.path).collect())
}

/// [`discover`] for an explicit `versions` directory (`root` left `None`).
pub fn discover_in(versions_dir: &Path) -> Result<Discovery> {
    // minor -> (patch, release, python3)
    let mut best: BTreeMap<u32, (u32, String, PathBuf)> = BTreeMap::new();
    let entries = match std::fs::read_dir(versions_dir) {
        Ok(e) => Some(e),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", versions_dir.display())),
    };
    for entry in entries.into_iter().flatten() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((minor, patch)) = parse_release_dir(&name) else {
            continue;
        };
        let exe = entry.path().join("bin").join("python3");
        if !exe.is_file() {
            continue;
        }
        if best.get(&minor).is_none_or(|(p, _, _)| patch > *p) {
            best.insert(minor, (patch, name, exe));
        }
    }
    let mut out = Discovery {
        root: None,
        supported: Vec::new(),
        missing: Vec::new(),
        unsupported: Vec::new(),
    };
    for (minor, (_, release, path)) in best {
        let found = Found {
            minor: format!("3.{minor}"),
            release,
            path,
        };
        if SUPPORTED_VERSIONS.contains(&found.minor.as_str()) {
            out.supported.push(found);
        } else {
            out.unsupported.push(found);
        }
    }
    let minors: Vec<String> = out.supported.iter().map(|f| f.minor.clone()).collect();
    out.missing = missing_versions(&minors)
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok(out)
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

/// "3.9 to 3.13": the supported range, for messages.
pub fn supported_range() -> String {
    format!(
        "{} to {}",
        SUPPORTED_VERSIONS[0],
        SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1]
    )
}

/// Is `major.minor` a supported version?
pub fn is_supported(major: u32, minor: u32) -> bool {
    SUPPORTED_VERSIONS.contains(&format!("{major}.{minor}").as_str())
}

/// Every supported version as `(major, minor)`, oldest first: what code
/// that evaluates version conditions iterates over instead of a range of
/// its own.
pub fn supported() -> impl Iterator<Item = (u32, u32)> {
    SUPPORTED_VERSIONS.iter().map(|v| {
        let (major, minor) = v.split_once('.').expect("SUPPORTED_VERSIONS holds X.Y");
        (
            major.parse().expect("a number"),
            minor.parse().expect("a number"),
        )
    })
}

/// The oldest supported version as `(major, minor)`: `(3, 9)`.
pub fn oldest() -> (u32, u32) {
    supported().next().expect("SUPPORTED_VERSIONS is not empty")
}

/// The test interpreters `scripts/setup` makes in a checkout: one
/// virtualenv per supported version, `.venvs/3.X/bin/python`. The tests of
/// every crate find them here rather than listing `.venvs/` themselves.
#[derive(Debug, Clone)]
pub struct SetupVenvs {
    /// `(version, python)` of each present one, oldest first.
    pub present: Vec<(&'static str, PathBuf)>,
    /// Supported versions without one.
    pub missing: Vec<&'static str>,
}

impl SetupVenvs {
    pub fn in_checkout(checkout: &Path) -> SetupVenvs {
        let (present, missing): (Vec<_>, Vec<_>) = SUPPORTED_VERSIONS
            .iter()
            .map(|&v| {
                (
                    v,
                    checkout.join(".venvs").join(v).join("bin").join("python"),
                )
            })
            .partition(|(_, p)| p.is_file());
        SetupVenvs {
            present,
            missing: missing.into_iter().map(|(v, _)| v).collect(),
        }
    }

    /// The present pythons, oldest first; panics (a test's failure, never
    /// a skip) when there is none.
    pub fn pythons(&self) -> Vec<PathBuf> {
        assert!(
            !self.present.is_empty(),
            "no interpreter under .venvs/: run scripts/setup first"
        );
        self.present.iter().map(|(_, p)| p.clone()).collect()
    }

    pub fn oldest(&self) -> PathBuf {
        self.pythons().remove(0)
    }

    pub fn newest(&self) -> PathBuf {
        self.pythons().pop().expect("not empty")
    }

    /// Every supported version's python; panics naming the missing ones.
    pub fn all(&self) -> Vec<PathBuf> {
        assert!(
            self.missing.is_empty(),
            "interpreters missing under .venvs/ (run scripts/setup): {}",
            self.missing.join(", ")
        );
        self.pythons()
    }

    /// The python of `version` ("3.11"), if present.
    pub fn get(&self, version: &str) -> Option<&Path> {
        self.present
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, p)| p.as_path())
    }
}
