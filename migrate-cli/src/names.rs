//! Checking the names given on the command line before anything runs:
//! `--ctx-name` must be usable as a local variable in every migrated
//! function, and `--only` / `--exclude` / `--entry` must name functions the
//! project defines (a typo would otherwise select nothing, silently).

use anyhow::{bail, Result};
use pyctx_api::Table;
use pyctx_clex::GNU11_KEYWORDS;
use std::collections::BTreeSet;

/// The keywords C23 adds (GNU C11's, `asm` and `typeof` included, are
/// [`GNU11_KEYWORDS`]; its underscore spellings are reserved names anyway).
const C23_KEYWORDS: &[&str] = &[
    "alignas",
    "alignof",
    "bool",
    "constexpr",
    "false",
    "nullptr",
    "static_assert",
    "thread_local",
    "true",
    "typeof_unqual",
];

/// Names that `Python.h` brings in as macros or types from the C library
/// (a variable of that name does not compile or shadows the type), and
/// GCC's predefined macros without a leading underscore (`linux` is `1` in
/// GNU modes).
const LIBRARY_NAMES: &[&str] = &[
    "NULL",
    "EOF",
    "errno",
    "stdin",
    "stdout",
    "stderr",
    "assert",
    "offsetof",
    "va_list",
    "va_start",
    "va_arg",
    "va_end",
    "va_copy",
    "size_t",
    "ssize_t",
    "ptrdiff_t",
    "wchar_t",
    "FILE",
    "linux",
    "unix",
    "i386",
];

/// Why `name` cannot be the context variable, if it cannot. `table` is the
/// API table: none of its names (functions, macros, `Py_None`) may be
/// shadowed.
pub fn ctx_name_problem(name: &str, table: &Table) -> Option<String> {
    let b = name.as_bytes();
    if b.is_empty()
        || !(b[0].is_ascii_alphabetic() || b[0] == b'_')
        || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return Some("not a C identifier".into());
    }
    if name.starts_with("__") || (b[0] == b'_' && b.get(1).is_some_and(u8::is_ascii_uppercase)) {
        return Some("reserved for the compiler and C library (C11 7.1.3)".into());
    }
    // After the reserved names: GNU's underscore keywords (`__asm__`,
    // `_Bool`) are reserved names and reported as such.
    if GNU11_KEYWORDS.contains(&name) || C23_KEYWORDS.contains(&name) {
        return Some("a C keyword".into());
    }
    if LIBRARY_NAMES.contains(&name) {
        return Some("a name the C library defines (Python.h includes it)".into());
    }
    if table.entries.iter().any(|e| e.name == name) {
        return Some("a name of CPython's C API".into());
    }
    let lower = name.to_ascii_lowercase();
    if name.starts_with("Py") || name.starts_with("_Py") || name.starts_with("PY") {
        return Some("in CPython's namespace (`Py`, `_Py`, `PY` prefixes)".into());
    }
    if lower.starts_with("pyctx_") || lower == "pyctx" {
        return Some("in pyctx's own namespace (`pyctx_`)".into());
    }
    None
}

/// `--only a,b`, `--exclude`, `--entry`: empty names are a usage error.
pub fn check_nonempty(option: &str, names: &[String]) -> Result<()> {
    if names.iter().any(|n| n.trim().is_empty()) {
        bail!("{option}: an empty function name (give NAME,... without empty entries)");
    }
    Ok(())
}

/// Names given to `option` that no function of the project defines.
pub fn check_defined(
    option: &str,
    names: &[String],
    defined: &BTreeSet<&str>,
    files: usize,
) -> Result<()> {
    let missing: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !defined.contains(n))
        .collect();
    if !missing.is_empty() {
        let which = if missing.len() == 1 {
            "that name"
        } else {
            "those names"
        };
        bail!(
            "{option} {}: no function of {which} is defined in the {files} file(s)",
            missing.join(","),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_context_names_are_refused_and_good_ones_pass() {
        let table = Table::load_default().unwrap();
        for bad in [
            "int",
            "NULL",
            "errno",
            "Py_None",
            "__func__",
            "PyCtx",
            "1x",
            "",
            "a-b",
            "_Foo",
            "linux",
            "pyctx_ctx",
        ] {
            assert!(ctx_name_problem(bad, &table).is_some(), "{bad} accepted");
        }
        // Table names outside the `Py` prefixes are found through the table.
        let odd = table
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .find(|n| !n.starts_with("Py") && !n.starts_with("_Py") && !n.starts_with("PY"));
        if let Some(n) = odd {
            assert_eq!(
                ctx_name_problem(n, &table).as_deref(),
                Some("a name of CPython's C API")
            );
        }
        for good in ["ctx", "c", "context", "py_ctx", "_ctx", "ctx2"] {
            assert_eq!(ctx_name_problem(good, &table), None, "{good}");
        }
    }
}
