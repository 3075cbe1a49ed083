//! Questions about symbols and the limited API, answered from the table:
//! what a `Py_LIMITED_API` build may call, the stable ABI of an interpreter,
//! and which exported symbols compat-by-linking wraps.
//!
//! ```no_run
//! let table = pyctx_api::Table::load_default()?;
//! let limited = pyctx_api::LimitedApi::parse("0x030a0000")?;
//! let callable = table.limited_api("3.12", limited)?.count();
//! let wrap = table.wrap_symbols("3.12")?; // `--wrap=SYMBOL` for each
//! # Ok::<(), anyhow::Error>(())
//! ```

use crate::model::{Entry, Form, Table, SUPPORTED_VERSIONS};
use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// A `Py_LIMITED_API` value pyctx supports: a minor version from 3.9 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LimitedApi {
    /// The minor version number: 9 for 3.9.
    pub minor: u32,
}

impl LimitedApi {
    /// Parse a `Py_LIMITED_API` value as written in C (`0x030a0000`, with
    /// any micro/release bytes) or a version (`3.10`). `3` (the original
    /// stable ABI of 3.2) and values older than 3.9 are refused with a
    /// message saying what to use instead.
    pub fn parse(value: &str) -> Result<LimitedApi> {
        let v = value.trim();
        let (major, minor) = if let Some(hex) = v.strip_prefix("0x").or(v.strip_prefix("0X")) {
            match u32::from_str_radix(hex.trim_end_matches(['u', 'U', 'l', 'L']), 16) {
                Ok(n) => (n >> 24, (n >> 16) & 0xff),
                Err(_) => bail!("Py_LIMITED_API={value}: not a hexadecimal version"),
            }
        } else if let Some((a, b)) = v.split_once('.') {
            match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) => (a, b),
                _ => bail!("Py_LIMITED_API={value}: expected a version such as 3.10 or 0x030a0000"),
            }
        } else if v == "3" {
            (3, 2)
        } else {
            bail!("Py_LIMITED_API={value}: expected a version such as 3.10 or 0x030a0000");
        };
        let oldest = SUPPORTED_VERSIONS[0];
        if major != 3 || minor_of(oldest).is_some_and(|o| minor < o) {
            bail!(
                "Py_LIMITED_API={value} targets CPython {major}.{minor}, older than the oldest \
                 CPython pyctx supports ({oldest}): define Py_LIMITED_API as 0x03090000 or later"
            );
        }
        Ok(LimitedApi { minor })
    }

    /// "3.10"
    pub fn version(&self) -> String {
        format!("3.{}", self.minor)
    }

    /// The C value: `0x030a0000`.
    pub fn hex(&self) -> String {
        format!("0x03{:02x}0000", self.minor)
    }
}

/// Minor version "3.N" -> N, for ordering.
fn minor_of(version: &str) -> Option<u32> {
    version.strip_prefix("3.")?.parse().ok()
}

/// One exported function symbol to wrap at link time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapSymbol {
    /// The symbol (`PyObject_Free`, `_PyArg_ParseTuple_SizeT`).
    pub symbol: String,
    /// The table id (entry index) whose legacy call reaching this symbol
    /// is: the entry of the same name when there is one, else the public
    /// name whose alias leads here (`PyArg_ParseTuple`).
    pub id: usize,
}

impl Table {
    fn check_version(&self, version: &str) -> Result<()> {
        if !SUPPORTED_VERSIONS.contains(&version) {
            bail!(
                "CPython {version} is not supported (pyctx supports {})",
                SUPPORTED_VERSIONS.join(", ")
            );
        }
        Ok(())
    }

    /// The names a `Py_LIMITED_API=limited` build may call on CPython
    /// `version`: entries whose form there has `limited_since` at most
    /// `limited`, except exported functions that are not in the stable ABI
    /// although the headers declare them (`StableAbi::not_stable`, 3.9 and
    /// 3.10 only). A `limited` newer than `version` is refused (the headers
    /// of `version` cannot build for it).
    pub fn limited_api<'a>(
        &'a self,
        version: &'a str,
        limited: LimitedApi,
    ) -> Result<impl Iterator<Item = (usize, &'a Entry, &'a Form)> + 'a> {
        self.check_version(version)?;
        if minor_of(version).is_some_and(|v| limited.minor > v) {
            bail!(
                "Py_LIMITED_API={} is newer than CPython {version}: build against CPython {} or later",
                limited.hex(),
                limited.version()
            );
        }
        let not_stable: &[String] = self.stable_abi.get(version).map_or(&[], |a| &a.not_stable);
        Ok(self.for_version(version).filter(move |(_, e, f)| {
            f.limited_since
                .as_deref()
                .and_then(minor_of)
                .is_some_and(|since| since <= limited.minor)
                && !(f.exported && not_stable.contains(&e.name))
        }))
    }

    /// The stable-ABI symbols of CPython `version` (functions and data,
    /// private ones included, sorted): what a `.so` built with
    /// `Py_LIMITED_API` may reference. See [`crate::StableAbi`].
    pub fn stable_abi_symbols(&self, version: &str) -> Result<&[String]> {
        self.check_version(version)?;
        match self.stable_abi.get(version) {
            Some(abi) => Ok(&abi.symbols),
            None => bail!("the API table was generated without CPython {version}"),
        }
    }

    /// Exported function symbols to wrap for CPython `version` (GNU ld
    /// `--wrap=SYMBOL`), sorted by symbol, each with the id whose legacy
    /// call it is: every name that is itself exported (`Form::exported`),
    /// and every symbol an alias leads to (`Form::links_to`, e.g. the
    /// `_SizeT` functions of `PY_SSIZE_T_CLEAN`). A symbol that is also an
    /// entry's own name belongs to that entry (`PyObject_Del` calls count as
    /// `PyObject_Free`: the object file cannot tell them apart).
    pub fn wrap_symbols(&self, version: &str) -> Result<Vec<WrapSymbol>> {
        self.check_version(version)?;
        let mut own: BTreeMap<&str, usize> = BTreeMap::new();
        let mut via_alias: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, entry, form) in self.for_version(version) {
            if form.exported {
                own.insert(&entry.name, id);
            }
            for s in &form.links_to {
                // Lowest id wins: deterministic (a test checks that no
                // symbol is reached through two different public names).
                via_alias.entry(s.as_str()).or_insert(id);
            }
        }
        for (s, id) in via_alias {
            own.entry(s).or_insert(id);
        }
        Ok(own
            .into_iter()
            .map(|(symbol, id)| WrapSymbol {
                symbol: symbol.to_string(),
                id,
            })
            .collect())
    }
}
