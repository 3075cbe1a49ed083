//! Every public `PyAPI_FUNC` an installed interpreter's headers declare is
//! in the checked-in table for its version (with `exported`), or is
//! declared only for another platform or build variant; and every form the
//! table calls `exported` is such a declaration. Counted from the header
//! text ([`pyctx_api::coverage`]), independently of the libclang generator.
//! Run with `--nocapture` for the counts quoted in docs/api-table.md.
//!
//! Fails (never skips) when a supported CPython is not installed.

use pyctx_api::coverage::{declared_functions, Declared};
mod common;

use pyctx_api::Table;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn every_public_pyapi_func_is_in_the_table_or_platform_specific() {
    let table = Table::load_default().unwrap_or_else(|e| panic!("{e:#}"));
    let mut problems = Vec::new();
    for interp in common::interpreters() {
        let v = interp.minor.as_str();
        let declared = declared_functions(&interp.include_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", interp.include_dir.display()));
        let mut by_name: BTreeMap<&str, Vec<&Declared>> = BTreeMap::new();
        for d in &declared {
            by_name.entry(d.name.as_str()).or_default().push(d);
        }
        let exported: BTreeSet<&str> = table
            .for_version(v)
            .filter(|(_, _, f)| f.exported)
            .map(|(_, e, _)| e.name.as_str())
            .collect();
        let mut left: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, decls) in &by_name {
            if exported.contains(name) {
                continue;
            }
            match decls
                .iter()
                .map(|d| d.platform())
                .collect::<Option<Vec<_>>>()
            {
                Some(why) => left.entry(why[0].1).or_default().push(name),
                None => {
                    let d = decls.iter().find(|d| d.platform().is_none()).unwrap();
                    problems.push(format!(
                        "{v}: {}:{}: {name} is declared with PyAPI_FUNC (conditions: {:?}) but the \
                         table has no exported form of it",
                        d.header, d.line, d.conditions
                    ));
                }
            }
        }
        for name in &exported {
            if !by_name.contains_key(name) {
                problems.push(format!(
                    "{v}: the table says {name} is exported, but no header declares it with PyAPI_FUNC"
                ));
            }
        }
        let n_left: usize = left.values().map(Vec::len).sum();
        println!(
            "CPython {}: {} public PyAPI_FUNC names, {} in the table, {} left",
            interp.version,
            by_name.len(),
            by_name.len() - n_left,
            n_left
        );
        for (why, names) in &left {
            println!("  left, {why}: {} ({})", names.len(), names.join(", "));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
