//! The bounded fuzz run (seconds, fixed seed) and the found cases.
//!
//! `bounded_fuzz_run`: [`CASES`] mutated or generated inputs against the
//! engine's properties (tests/fuzz/mod.rs), and [`COMPILE_CASES`] of them
//! against `compiles` too. A violation that an open entry of
//! `fixtures/migrate/FOUND.md` explains (same property, its `matches` text
//! in the detail) is counted as known and listed in
//! `target/fuzz/bounded.txt`; any other fails the test with its minimised
//! input. `found_cases_still_fail`: every open entry's case must still
//! show its property's violation (a strict expected failure: once the
//! engine is fixed the test says so, and the entry becomes a golden case
//! and is marked fixed); fixed entries must pass.
//!
//! Longer runs: `scripts/fuzz` (examples/fuzz.rs).

mod fuzz;

use fuzz::{check, check_compiles, found_list, known, minimise, Compiler, Rng, Violation};
use pyctx_rewrite::{ApiNames, SourceFile};
use std::collections::BTreeMap;
use std::fmt::Write;

const SEED: u64 = 20_261_201;
const CASES: usize = 250;
const COMPILE_CASES: usize = 16;

fn api() -> ApiNames {
    ApiNames::load_default().expect("api/table.json")
}

#[test]
fn bounded_fuzz_run() {
    let api = api();
    let seeds = fuzz::seeds(&[]);
    assert!(seeds.len() > 20, "too few seed sources: {}", seeds.len());
    let list = found_list();
    let cc = Compiler::new(
        std::env::var("PYCTX_TEST_PYTHON").ok(),
        scratch("bounded-cc"),
    );
    let mut rng = Rng::new(SEED);
    let mut known_hits: BTreeMap<String, usize> = BTreeMap::new();
    let mut new: Vec<String> = Vec::new();
    let mut compiled = 0;
    for n in 0..CASES {
        let case = fuzz::next_case(&mut rng, &seeds);
        let mut viols = check(&case.files, &api);
        if n % (CASES / COMPILE_CASES) == 0 {
            compiled += 1;
            viols.extend(check_compiles(&case.files, &api, &cc));
        }
        for viol in dedup(viols) {
            match known(&list, &viol) {
                Some(f) => *known_hits.entry(f.id.clone()).or_default() += 1,
                None => new.push(report_new(n, &case, &viol, &api, &cc)),
            }
        }
    }
    let mut summary = format!(
        "bounded fuzz run: seed {SEED}, {CASES} cases ({compiled} compiled), {} new violation(s), known:",
        new.len()
    );
    for (id, hits) in &known_hits {
        let _ = write!(summary, " {id} x{hits}");
    }
    eprintln!("{summary}");
    std::fs::write(
        scratch("").join("bounded.txt"),
        format!("{summary}\n{}", new.join("\n")),
    )
    .unwrap();
    assert!(new.is_empty(), "{summary}\n\n{}", new.join("\n\n"));
}

fn dedup(mut v: Vec<Violation>) -> Vec<Violation> {
    v.dedup();
    v
}

fn report_new(
    n: usize,
    case: &fuzz::Case,
    viol: &Violation,
    api: &ApiNames,
    cc: &Compiler,
) -> String {
    let prop = viol.property;
    let still = |files: &[SourceFile]| {
        if prop == "compiles" {
            check_compiles(files, api, cc).is_some()
        } else {
            check(files, api).iter().any(|v| v.property == prop)
        }
    };
    let small = minimise(&case.files, prop, &still);
    format!(
        "case {n} (from {}): {}: {}\nminimised {}:\n{}",
        case.origin,
        prop,
        viol.detail,
        small[0].path.display(),
        small[0].text
    )
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = fuzz::repo().join("target/fuzz").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn found_cases_still_fail() {
    let api = api();
    let list = found_list();
    assert!(!list.is_empty(), "fixtures/migrate/FOUND.md lists no case");
    let cc = Compiler::new(std::env::var("PYCTX_TEST_PYTHON").ok(), scratch("found-cc"));
    let mut wrong = Vec::new();
    for f in &list {
        let text = std::fs::read_to_string(&f.case)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", f.id, f.case.display()));
        let name = f.case.file_name().unwrap().to_string_lossy().to_string();
        let files = vec![SourceFile::new(name, text)];
        let viols = if f.property == "compiles" {
            check_compiles(&files, &api, &cc).into_iter().collect()
        } else {
            check(&files, &api)
        };
        let shown = viols
            .iter()
            .any(|v| v.property == f.property && v.detail.contains(&f.matches));
        match (f.open, shown) {
            (true, true) => eprintln!("known failure {}: {} ({})", f.id, f.title, f.property),
            (true, false) => wrong.push(format!(
                "{} ({}) no longer fails: turn it into a golden case and mark it fixed in FOUND.md (violations now: {viols:?})",
                f.id, f.title
            )),
            (false, true) => wrong.push(format!("{} ({}) is marked fixed but fails again: {viols:?}", f.id, f.title)),
            (false, false) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
