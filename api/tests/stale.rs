//! The checked-in `api/table.json` must match what the generator produces
//! from the installed CPython headers (every supported version).
//!
//! Fails (never skips) when libclang is missing or a supported CPython is
//! not installed: CI has all of them. Regenerate with
//! `cargo run -p pyctx-api --example generate`.

use pyctx_api::generate::{clang, Interpreter};
use pyctx_api::Table;
use std::collections::BTreeMap;

#[test]
fn checked_in_table_matches_headers() {
    if let Err(e) = clang::ensure_loaded() {
        panic!("{e:#}");
    }
    let interpreters =
        pyctx_api::pythons::discover_interpreters().unwrap_or_else(|e| panic!("{e:#}"));
    let found: Vec<String> = interpreters
        .iter()
        .map(|p| {
            Interpreter::query(p)
                .unwrap_or_else(|e| panic!("{e:#}"))
                .minor
        })
        .collect();
    let missing = pyctx_api::pythons::missing_versions(&found);
    assert!(
        missing.is_empty(),
        "CPython {} not installed under {}/versions (found: {}); install them with pyenv",
        missing.join(", "),
        pyctx_api::pythons::pyenv_root()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<pyenv root>".into()),
        if found.is_empty() {
            "none".to_string()
        } else {
            found.join(", ")
        },
    );

    let fresh = pyctx_api::generate(&interpreters).unwrap_or_else(|e| panic!("{e:#}"));
    let path = Table::default_path();
    let on_disk_text = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh_text = fresh.to_canonical_json();
    if on_disk_text == fresh_text {
        return;
    }
    let summary = match Table::load(&path) {
        Ok(old) => diff_summary(&old, &fresh),
        Err(e) => format!("{e:#}"),
    };
    panic!(
        "{} is stale against the installed CPython headers:\n{summary}\n\
         regenerate it with `cargo run -p pyctx-api --example generate` and review the diff",
        path.display()
    );
}

fn diff_summary(old: &Table, new: &Table) -> String {
    const SHOW: usize = 20;
    let old_by: BTreeMap<&str, _> = old.entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let new_by: BTreeMap<&str, _> = new.entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let added: Vec<&str> = new_by
        .keys()
        .filter(|k| !old_by.contains_key(*k))
        .copied()
        .collect();
    let removed: Vec<&str> = old_by
        .keys()
        .filter(|k| !new_by.contains_key(*k))
        .copied()
        .collect();
    let changed: Vec<&str> = new_by
        .iter()
        .filter(|(k, e)| old_by.get(*k).is_some_and(|o| o != *e))
        .map(|(k, _)| *k)
        .collect();
    let list = |what: &str, names: &[&str]| {
        let mut s = format!("  {what}: {}", names.len());
        if !names.is_empty() {
            s.push_str(&format!(
                " ({}",
                names
                    .iter()
                    .take(SHOW)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            if names.len() > SHOW {
                s.push_str(&format!(", ... {} more", names.len() - SHOW));
            }
            s.push(')');
        }
        s
    };
    let mut out = vec![
        list("added", &added),
        list("removed", &removed),
        list("changed", &changed),
    ];
    if old.generated_from != new.generated_from {
        out.push(format!(
            "  generated_from: {:?} -> {:?}",
            old.generated_from, new.generated_from
        ));
    }
    if old.schema != new.schema {
        out.push(format!("  schema: {} -> {}", old.schema, new.schema));
    }
    if added.is_empty()
        && removed.is_empty()
        && changed.is_empty()
        && old.generated_from == new.generated_from
    {
        out.push(
            "  (same content, different layout: the file was not written by to_canonical_json)"
                .into(),
        );
    }
    out.join("\n")
}
