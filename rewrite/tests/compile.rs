//! The engine's output compiles against the runtime.
//!
//! - the spine fixture (`fixtures/spine/legacy/`), fully migrated (with
//!   and without `trampolines`), and with seeded random halves of its
//!   functions selected (`only`);
//! - every golden case's `after/` tree (except cases marked `nocompile`),
//!   in every configuration its `configurations` file lists (one line of
//!   `-D` flags each; the default configuration is always checked).
//!
//! Each translation unit (a `.c` file no other file of the tree includes)
//! is checked with `cc -fsyntax-only -Wall -Werror` and the flags `pyctx
//! flags --cflags` gives, for every interpreter `scripts/setup` made
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
    pyctx_api::pythons::SetupVenvs::in_checkout(&repo())
        .pythons()
        .iter()
        .map(|p| p.display().to_string())
        .collect()
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
        self.check_configs(label, files, &[vec![]])
    }

    /// Check every configuration (a list of extra flags each).
    fn check_configs(
        &self,
        label: &str,
        files: &[(PathBuf, String)],
        configs: &[Vec<String>],
    ) -> Result<(), String> {
        let errors: Vec<String> = self
            .0
            .iter()
            .flat_map(|c| configs.iter().map(move |d| (c, d)))
            .filter_map(|(c, defs)| {
                let tag = defs.join("").replace(['-', '='], "");
                c.check(&format!("{label}-{}{tag}", c.version), files, defs)
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

/// C++ sources (`pyctx_rewrite::CPP_EXTENSIONS`).
fn is_cpp(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| pyctx_rewrite::CPP_EXTENSIONS.contains(&e))
}

impl Compiler {
    /// The commands compiling `p`: the interpreter's C compiler for C; for
    /// C++, g++ in C++11 and clang++ in C++20 (the oldest and newest
    /// standards `pyctx.h` supports, with both compilers).
    fn compilers_for(&self, p: &Path) -> Vec<Vec<String>> {
        if is_cpp(p) {
            vec![
                vec!["g++".into(), "-std=c++11".into()],
                vec!["clang++".into(), "-std=c++20".into()],
            ]
        } else {
            vec![self.cc.split_whitespace().map(String::from).collect()]
        }
    }

    /// Syntax-check every translation unit of `files` (written under a
    /// fresh directory, so `#include "x.h"` finds the migrated headers).
    fn check(
        &self,
        label: &str,
        files: &[(PathBuf, String)],
        defines: &[String],
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
            if !is_unit(p, files) {
                continue;
            }
            let dest = dir.join(p);
            for cc in self.compilers_for(p) {
                let out = Command::new(&cc[0])
                    .args(&cc[1..])
                    .args(["-fsyntax-only", "-Wall", "-Werror"])
                    .args(&self.flags)
                    .args(defines)
                    .arg(format!("-I{}", dest.parent().unwrap().display()))
                    .arg(&dest)
                    .output()
                    .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", cc[0]));
                if !out.status.success() {
                    errors.push(format!(
                        "{label}: {} does not compile with {}:\n{}",
                        p.display(),
                        cc.join(" "),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
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

/// A `.c` file or C++ source (not a header) that no file of `files`
/// includes (`#include "NAME"` where `NAME` is the file's name): a unity
/// build compiles only its root.
fn is_unit(p: &Path, files: &[(PathBuf, String)]) -> bool {
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let source = matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("c" | "cpp" | "cc" | "cxx")
    );
    source
        && !files.iter().any(|(_, text)| {
            text.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with('#')
                    && l.contains("include")
                    && (l.contains(&format!("\"{name}\"")) || l.contains(&format!("/{name}\"")))
            })
        })
}

/// The extra configurations of a golden case (`configurations`: one line
/// of flags each), after the default one.
fn configurations(case: &Path) -> Vec<Vec<String>> {
    let mut v = vec![vec![]];
    if let Ok(t) = std::fs::read_to_string(case.join("configurations")) {
        v.extend(
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.split_whitespace().map(String::from).collect()),
        );
    }
    v
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
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("c" | "h"))
                || is_cpp(&p)
            {
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
        let files: Vec<(PathBuf, String)> = read_dir_files(&c.join("after"))
            .into_iter()
            .map(|s| (s.path, s.text))
            .collect();
        let label = c.file_name().unwrap().to_string_lossy().to_string();
        if let Err(e) = cc.check_configs(&label, &files, &configurations(&c)) {
            errors.push(e);
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Every golden case's `before/` tree is valid C for plain CPython in each
/// of its configurations: a case tests the engine, not a broken input
/// (cases whose input is a deliberate half migration say so in
/// `before-nocompile`).
#[test]
fn golden_before_trees_compile() {
    let cc = compiler();
    let root = repo().join("fixtures/migrate");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.join("before").is_dir()
                && !p.join("nocompile").exists()
                && !p.join("before-nocompile").exists()
        })
        .collect();
    cases.sort();
    let mut errors = Vec::new();
    for c in cases {
        let files: Vec<(PathBuf, String)> = read_dir_files(&c.join("before"))
            .into_iter()
            .map(|s| (s.path, s.text))
            .collect();
        let label = format!("{}-before", c.file_name().unwrap().to_string_lossy());
        if let Err(e) = cc.check_configs(&label, &files, &configurations(&c)) {
            errors.push(e);
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
