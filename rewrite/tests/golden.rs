//! Golden tests: every case under `fixtures/migrate/<case>/`.
//!
//! A case holds `before/` (the input project, any layout), `after/` (the
//! expected output, byte for byte, every file of `before/`), `expected.txt`
//! (the engine's rendered report, [`Outcome::render`]) and optionally
//! `options.json` (`{"only": [...], "exclude": [...], "entry": [...],
//! "only_files": [...], "units": [...], "ctx_name": "...", "trampolines":
//! true}`). Paths in reports are relative to `before/`.
//!
//! Each case also checks idempotence: migrating `after/` with the same
//! options changes nothing.
//!
//! `PYCTX_BLESS=1 cargo test -p pyctx-rewrite --test golden` rewrites
//! `after/` and `expected.txt` from the engine's output (review the diff!).

use pyctx_rewrite::{migrate, ApiNames, Options, Outcome, SourceFile};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/migrate")
}

fn read_tree(dir: &Path) -> Vec<SourceFile> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let text = String::from_utf8(bytes).expect("fixtures are UTF-8");
                out.push(SourceFile::new(p.strip_prefix(base).unwrap(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn options(case: &Path) -> Options {
    let mut o = Options::default();
    let p = case.join("options.json");
    if !p.exists() {
        return o;
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let set = |k: &str| -> Option<BTreeSet<String>> {
        v.get(k).map(|a| {
            a.as_array()
                .unwrap_or_else(|| panic!("{k}: array expected"))
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        })
    };
    o.only = set("only");
    o.exclude = set("exclude").unwrap_or_default();
    o.entry = set("entry").unwrap_or_default();
    o.only_files = set("only_files").map(|s| s.into_iter().map(PathBuf::from).collect());
    o.units = set("units").map(|s| s.into_iter().map(PathBuf::from).collect());
    if let Some(t) = v.get("trampolines") {
        o.trampolines = t.as_bool().unwrap();
    }
    if let Some(c) = v.get("ctx_name") {
        o.ctx_name = c.as_str().unwrap().to_string();
    }
    o
}

fn api() -> ApiNames {
    ApiNames::load_default().expect("API table loads")
}

fn run_case(case: &Path, api: &ApiNames) -> Result<(), String> {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let bless = std::env::var_os("PYCTX_BLESS").is_some();
    let before = read_tree(&case.join("before"));
    let opts = options(case);
    let out: Outcome = migrate(&before, api, &opts);
    let report = out.render();
    let mut errors = Vec::new();
    for (src, f) in before.iter().zip(&out.files) {
        let got = f.new_text.as_deref().unwrap_or(&src.text);
        let want_path = case.join("after").join(&src.path);
        if bless {
            std::fs::create_dir_all(want_path.parent().unwrap()).unwrap();
            std::fs::write(&want_path, got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&want_path)
            .map_err(|e| format!("{name}: {}: {e}", want_path.display()))?;
        if got != want {
            errors.push(format!(
                "{name}: {} differs from after/:\n{}",
                src.path.display(),
                first_difference(&want, got)
            ));
        }
    }
    let exp_path = case.join("expected.txt");
    if bless {
        std::fs::write(&exp_path, &report).unwrap();
    } else {
        let want = std::fs::read_to_string(&exp_path)
            .map_err(|e| format!("{name}: {}: {e}", exp_path.display()))?;
        if want != report {
            errors.push(format!(
                "{name}: report differs from expected.txt:\n--- expected\n{want}--- got\n{report}"
            ));
        }
    }
    // Idempotence: the engine's own output needs nothing more.
    let after: Vec<SourceFile> = before
        .iter()
        .zip(&out.files)
        .map(|(s, f)| SourceFile::new(s.path.clone(), f.new_text.clone().unwrap_or(s.text.clone())))
        .collect();
    let again = migrate(&after, api, &opts);
    for f in &again.files {
        if let Some(t) = &f.new_text {
            let old = &after.iter().find(|s| s.path == f.path).unwrap().text;
            errors.push(format!(
                "{name}: not idempotent, second run changes {}:\n{}",
                f.path.display(),
                first_difference(old, t)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

fn first_difference(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.split_inclusive('\n').collect();
    let g: Vec<&str> = got.split_inclusive('\n').collect();
    for i in 0..w.len().max(g.len()) {
        if w.get(i) != g.get(i) {
            return format!(
                "  line {}:\n    expected: {:?}\n    got:      {:?}",
                i + 1,
                w.get(i).copied().unwrap_or("<end>"),
                g.get(i).copied().unwrap_or("<end>")
            );
        }
    }
    "  (identical lines; trailing bytes differ)".to_string()
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root())
        .expect("fixtures/migrate exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("before").is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn golden_cases() {
    let api = api();
    let cases = cases();
    assert!(
        cases.len() >= 15,
        "expected the golden cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = run_case(c, &api) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every `after/` tree is a fixed point on its own (not only the engine's
/// output of `before/`, which `golden_cases` checks): guards against
/// hand-edited expectations the engine would change again.
#[test]
fn after_trees_are_fixed_points() {
    let api = api();
    for c in cases() {
        let after = read_tree(&c.join("after"));
        let out = migrate(&after, &api, &options(&c));
        let changed: Vec<String> = out
            .files
            .iter()
            .filter(|f| f.new_text.is_some())
            .map(|f| f.path.display().to_string())
            .collect();
        assert!(
            changed.is_empty(),
            "{}: second run changes {changed:?}",
            c.display()
        );
    }
}

/// The same input gives the same output whatever the file order or the
/// thread timing (parallel parsing).
#[test]
fn deterministic() {
    let api = api();
    for c in cases() {
        let before = read_tree(&c.join("before"));
        let opts = options(&c);
        let a = migrate(&before, &api, &opts).render();
        for _ in 0..3 {
            assert_eq!(a, migrate(&before, &api, &opts).render(), "{}", c.display());
        }
    }
}
