//! The engine's output compiles against the runtime.
//!
//! - the spine fixture (`fixtures/spine/legacy/`), fully migrated (with
//!   and without `trampolines`), and with seeded random halves of its
//!   functions selected (`only`);
//! - every golden case's `after/` tree (except cases marked `nocompile`).
//!
//! Each file is checked with `cc -fsyntax-only -Wall -Werror` and the flags
//! `pyctx flags --cflags` gives, for every interpreter `scripts/setup` made
//! (`.venvs/3.*/bin/python`), or only `PYCTX_TEST_PYTHON` when set.

use pyctx_flags::interp::Interpreter;
use pyctx_rewrite::{migrate, ApiNames, Options, SourceFile, Status};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Compiler {
    version: String,
    cc: String,
    flags: Vec<String>,
}

/// One compiler setup per interpreter.
struct Compilers(Vec<Compiler>);

fn interpreters() -> Vec<String> {
    if let Ok(py) = std::env::var("PYCTX_TEST_PYTHON") {
        return vec![py];
    }
    let mut v: Vec<String> = std::fs::read_dir(repo().join(".venvs"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("3."))
                .map(|e| e.path().join("bin/python"))
                .filter(|p| p.is_file())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn compiler() -> Compilers {
    let pythons = interpreters();
    assert!(
        !pythons.is_empty(),
        "no interpreter: run scripts/setup, or set PYCTX_TEST_PYTHON"
    );
    eprintln!("compile checks with {}", pythons.join(", "));
    Compilers(
        pythons
            .iter()
            .map(|py| {
                let interp = Interpreter::probe(py).unwrap_or_else(|e| {
                    panic!("{py}: {e:#} (run scripts/setup, or set PYCTX_TEST_PYTHON)")
                });
                let mut flags = pyctx_flags::cflags(&interp, false).expect("pyctx cflags");
                flags.push(format!("-I{}", interp.include.display()));
                Compiler {
                    version: interp.minor_version(),
                    cc: interp.compiler(),
                    flags,
                }
            })
            .collect(),
    )
}

impl Compilers {
    fn check(&self, label: &str, files: &[(PathBuf, String)]) -> Result<(), String> {
        self.check_with(label, files, &[])
    }

    /// [`Compilers::check`] with extra flags (`-DNDEBUG`: a configuration).
    fn check_with(
        &self,
        label: &str,
        files: &[(PathBuf, String)],
        extra: &[String],
    ) -> Result<(), String> {
        let errors: Vec<String> = self
            .0
            .iter()
            .filter_map(|c| {
                c.check(&format!("{label}-{}", c.version), files, extra)
                    .err()
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }
}

impl Compiler {
    /// Syntax-check every `.c` file of `files` (written under a fresh
    /// directory, so `#include "x.h"` finds the migrated headers).
    fn check(
        &self,
        label: &str,
        files: &[(PathBuf, String)],
        extra: &[String],
    ) -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!(
            "pyctx-rewrite-compile-{}-{}",
            std::process::id(),
            label.replace(['/', ' '], "_")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (p, text) in files {
            let dest = dir.join(p);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(&dest, text).unwrap();
        }
        let mut errors = Vec::new();
        for (p, _) in files {
            if p.extension().and_then(|e| e.to_str()) != Some("c") {
                continue;
            }
            let dest = dir.join(p);
            let cc_words: Vec<&str> = self.cc.split_whitespace().collect();
            let out = Command::new(cc_words[0])
                .args(&cc_words[1..])
                .args(["-fsyntax-only", "-Wall", "-Werror"])
                .args(&self.flags)
                .args(extra)
                .arg(format!("-I{}", dest.parent().unwrap().display()))
                .arg(&dest)
                .output()
                .expect("the C compiler runs");
            if !out.status.success() {
                errors.push(format!(
                    "{label}: {} does not compile:\n{}",
                    p.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        if errors.is_empty() {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }
}

fn read_dir_files(dir: &Path) -> Vec<SourceFile> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, out);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("c" | "h")) {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push(SourceFile::new(p.strip_prefix(base).unwrap(), text));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn migrated(files: &[SourceFile], opts: &Options) -> Vec<(PathBuf, String)> {
    let api = ApiNames::load_default().unwrap();
    let out = migrate(files, &api, opts);
    files
        .iter()
        .zip(&out.files)
        .map(|(s, f)| (s.path.clone(), f.new_text.clone().unwrap_or(s.text.clone())))
        .collect()
}

fn spine() -> Vec<SourceFile> {
    read_dir_files(&repo().join("fixtures/spine/legacy"))
}

#[test]
fn spine_full_migration_compiles() {
    let files = spine();
    let api = ApiNames::load_default().unwrap();
    let out = migrate(&files, &api, &Options::default());
    // Fully migrated: nothing refused, nothing left legacy, no warning.
    for r in &out.functions {
        assert!(
            !matches!(r.status, Status::Refused { .. } | Status::Legacy),
            "{}:{} {} {:?}",
            r.file.display(),
            r.line,
            r.name,
            r.status
        );
        assert!(
            r.legacy_calls.is_empty(),
            "{}: {:?}",
            r.name,
            r.legacy_calls
        );
    }
    assert!(
        out.diagnostics
            .iter()
            .all(|d| d.severity == pyctx_rewrite::Severity::Note),
        "{:#?}",
        out.diagnostics
    );
    assert!(
        out.totals.threaded >= 8 && out.totals.entry_points >= 50,
        "{:?}",
        out.totals
    );
    compiler()
        .check("spine-full", &migrated(&files, &Options::default()))
        .unwrap();
}

#[test]
fn spine_trampolines_compile() {
    let files = spine();
    let api = ApiNames::load_default().unwrap();
    let opts = Options {
        trampolines: true,
        ..Options::default()
    };
    let out = migrate(&files, &api, &opts);
    let tramps = out
        .functions
        .iter()
        .filter(|r| r.trampoline.is_some())
        .count();
    assert!(tramps >= 40, "{tramps} trampolines");
    assert!(
        out.diagnostics
            .iter()
            .all(|d| d.severity == pyctx_rewrite::Severity::Note),
        "{:#?}",
        out.diagnostics
    );
    let texts = migrated(&files, &opts);
    assert!(texts.iter().any(|(_, t)| t.contains("PYCTX_DEALLOC(")));
    compiler().check("spine-trampolines", &texts).unwrap();
    let again: Vec<SourceFile> = texts
        .iter()
        .map(|(p, t)| SourceFile::new(p.clone(), t.clone()))
        .collect();
    let second = migrate(&again, &api, &opts);
    assert!(!second.changed(), "not idempotent");
    assert!(
        second
            .diagnostics
            .iter()
            .all(|d| d.severity == pyctx_rewrite::Severity::Note),
        "{:#?}",
        second.diagnostics
    );
}

/// A small deterministic generator (xorshift), so the test needs no crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn spine_random_halves_compile() {
    let files = spine();
    let api = ApiNames::load_default().unwrap();
    let all = migrate(&files, &api, &Options::default());
    let names: BTreeSet<String> = all.functions.iter().map(|r| r.name.clone()).collect();
    let names: Vec<String> = names.into_iter().collect();
    let cc = compiler();
    for seed in [1u64, 2, 3, 20260101] {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut pool = names.clone();
        let mut only = BTreeSet::new();
        while only.len() < names.len() / 2 {
            let k = (rng.next() % pool.len() as u64) as usize;
            only.insert(pool.swap_remove(k));
        }
        let opts = Options {
            only: Some(only),
            ..Options::default()
        };
        let out = migrate(&files, &api, &opts);
        assert!(out.totals.legacy > 0 && out.totals.threaded + out.totals.entry_points > 0);
        let texts = migrated(&files, &opts);
        cc.check(&format!("spine-half-{seed}"), &texts).unwrap();
        // A second run with the same selection changes nothing.
        let again: Vec<SourceFile> = texts
            .iter()
            .map(|(p, t)| SourceFile::new(p.clone(), t.clone()))
            .collect();
        assert!(
            !migrate(&again, &api, &opts).changed(),
            "seed {seed}: not idempotent"
        );
        // And migrating the rest afterwards compiles too.
        cc.check(
            &format!("spine-half-{seed}-then-all"),
            &migrated(&again, &Options::default()),
        )
        .unwrap();
    }
}

/// The configurations of a golden case: each line of its `configs` file
/// is one set of extra flags (`-DNDEBUG`; an empty line: none). Without
/// the file, one configuration without extra flags.
fn configs(case: &Path) -> Vec<Vec<String>> {
    match std::fs::read_to_string(case.join("configs")) {
        Ok(text) => text
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect(),
        Err(_) => vec![vec![]],
    }
}

#[test]
fn golden_after_trees_compile() {
    let cc = compiler();
    let root = repo().join("fixtures/migrate");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("after").is_dir() && !p.join("nocompile").exists())
        .collect();
    cases.sort();
    let mut errors = Vec::new();
    for c in cases {
        // A case with configurations also proves a compiler accepts its
        // input: `before/` compiles in each of them too.
        let trees: &[&str] = if c.join("configs").exists() {
            &["before", "after"]
        } else {
            &["after"]
        };
        for tree in trees {
            let files: Vec<(PathBuf, String)> = read_dir_files(&c.join(tree))
                .into_iter()
                .map(|s| (s.path, s.text))
                .collect();
            for flags in configs(&c) {
                let label = format!(
                    "{}-{tree}{}",
                    c.file_name().unwrap().to_string_lossy(),
                    flags.concat()
                );
                if let Err(e) = cc.check_with(&label, &files, &flags) {
                    errors.push(e);
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
