//! A fuzzer for the migration engine that needs no nightly compiler: seeded
//! mutations of real sources and generated C, each checked against the
//! engine's contract (lib.rs, docs/migration-policy.md):
//!
//! - `panic`: `migrate` returns (a panic is caught and reported);
//! - `edits`: every edit is an insertion, or one of the two documented
//!   replacements (`void` in `(void)` → `PyCtx NAME`, a bridge's
//!   `PyCtx_Get()` → the caller's variable), and applying the edits to the
//!   input gives the reported new text;
//! - `idempotent`: migrating the output again changes nothing;
//! - `untouched`: no edit lands strictly inside a function the report calls
//!   refused or "no context needed";
//! - `compiles` (optional, it runs gcc): input accepted by
//!   `cc -fsyntax-only` with `pyctx flags --cflags` ⇒ output accepted.
//!
//! Shared by the bounded run in `cargo test` (`tests/fuzz_props.rs`) and
//! the long run (`examples/fuzz.rs`, `scripts/fuzz`). Known failures are
//! listed in `fixtures/migrate/FOUND.md` (see [`Found`]).
#![allow(dead_code)] // each user takes what it needs

use pyctx_rewrite::{migrate, ApiNames, Options, Outcome, SourceFile, Status};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// xorshift64*: deterministic for a seed on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ------------------------------------------------------------------ seeds

/// One input: a project of one or more files (the first is mutated).
#[derive(Clone, Debug)]
pub struct Case {
    pub origin: String,
    pub files: Vec<SourceFile>,
}

/// C++ sources and headers (parsed with tree-sitter-cpp by the engine).
pub fn is_cpp(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| pyctx_rewrite::CPP_EXTENSIONS.contains(&e))
}

fn c_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            c_files_under(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("c" | "h")) || is_cpp(&p) {
            out.push(p);
        }
    }
}

/// The real sources: every golden case's `before/` tree (one project
/// each), the spine fixture's legacy sources and the other fixtures' C
/// and C++ files (one file each), plus every C/C++ source under `extra` (unpacked
/// corpus sdists: scripts/fuzz does that).
pub fn seeds(extra: &[PathBuf]) -> Vec<Case> {
    let root = repo().join("fixtures");
    let mut cases = Vec::new();
    let mut golden: Vec<PathBuf> = std::fs::read_dir(root.join("migrate"))
        .expect("fixtures/migrate")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("before"))
        .filter(|p| p.is_dir())
        .collect();
    golden.sort();
    for before in golden {
        let mut paths = Vec::new();
        c_files_under(&before, &mut paths);
        let files = read_files(&before, &paths);
        if !files.is_empty() {
            cases.push(Case {
                origin: before.strip_prefix(repo()).unwrap().display().to_string(),
                files,
            });
        }
    }
    let mut singles = Vec::new();
    for dir in [
        "spine/legacy",
        "stress",
        "types",
        "capability",
        "meaning",
        "limited",
        "cpp",
    ] {
        c_files_under(&root.join(dir), &mut singles);
    }
    for dir in extra {
        c_files_under(dir, &mut singles);
    }
    for p in singles {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue; // not UTF-8: the engine's input is text
        };
        if text.len() > 400_000 {
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        cases.push(Case {
            origin: p.display().to_string(),
            files: vec![SourceFile::new(name, text)],
        });
    }
    cases
}

fn read_files(base: &Path, paths: &[PathBuf]) -> Vec<SourceFile> {
    // the .c files first: the mutated file is the first one
    let mut files: Vec<SourceFile> = paths
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            Some(SourceFile::new(p.strip_prefix(base).unwrap(), text))
        })
        .collect();
    files.sort_by_key(|f| (f.is_header(), f.path.clone()));
    files
}

// ------------------------------------------------------- generated C

const API_CALLS: &[&str] = &[
    "PyLong_FromLong(n)",
    "PyErr_Occurred()",
    "PyErr_SetString(PyExc_ValueError, \"bad\")",
    "PyList_New(0)",
    "PyTuple_New(2)",
    "PyUnicode_FromString(\"s\")",
    "PyObject_IsTrue(o)",
    "PyErr_Format(PyExc_TypeError, \"%d\", (int)n)",
    "Py_BuildValue(\"(ii)\", 1, 2)",
    "PyDict_New()",
];

/// A small extension module: helpers that call the API and each other,
/// entry points in a method table, optional `#ifdef` groups, `(void)`
/// parameter lists and a module init.
pub fn generate(rng: &mut Rng) -> Case {
    let n = 2 + rng.below(5);
    let mut s = String::from("#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n\n");
    for i in 0..n {
        let guard = rng.below(5) == 0;
        if guard {
            s.push_str("#ifdef FEATURE\n");
        }
        let void = rng.below(3) == 0;
        let params = if void {
            "(void)".to_string()
        } else {
            "(PyObject *o, long n)".to_string()
        };
        s.push_str(&format!("static PyObject *\nhelper{i}{params}\n{{\n"));
        if void {
            s.push_str("    PyObject *o = Py_None;\n    long n = 1;\n");
        }
        for _ in 0..1 + rng.below(3) {
            let call = rng.pick(API_CALLS);
            s.push_str(&format!("    (void){call};\n"));
        }
        if i > 0 && rng.below(2) == 0 {
            let j = rng.below(i);
            s.push_str(&format!("    (void)helper{j}{};\n", call_args(&s, j)));
        }
        s.push_str("    (void)o; (void)n;\n    return PyLong_FromLong(n);\n}\n");
        if guard {
            s.push_str(&format!(
                "#else\nstatic PyObject *\nhelper{i}{params}\n{{\n    return NULL;\n}}\n#endif\n"
            ));
        }
        s.push('\n');
    }
    s.push_str("static PyObject *\nentry(PyObject *self, PyObject *arg)\n{\n");
    let k = rng.below(n);
    let args = if call_args(&s, k) == "()" {
        "()"
    } else {
        "(arg, 1)"
    };
    s.push_str(&format!("    return helper{k}{args};\n}}\n\n"));
    s.push_str(
        "static PyMethodDef methods[] = {\n    {\"entry\", entry, METH_O, NULL},\n    \
         {NULL, NULL, 0, NULL}\n};\n\nstatic struct PyModuleDef def = {\n    \
         PyModuleDef_HEAD_INIT, \"gen\", NULL, -1, methods,\n};\n\nPyMODINIT_FUNC\n\
         PyInit_gen(void)\n{\n    return PyModule_Create(&def);\n}\n",
    );
    Case {
        origin: "generated".into(),
        files: vec![SourceFile::new("gen.c", s)],
    }
}

fn call_args(text: &str, j: usize) -> &'static str {
    if text.contains(&format!("helper{j}(void)")) {
        "()"
    } else {
        "(o, n)"
    }
}

// ------------------------------------------------------------ mutations

/// Snippets that the engine's known weak spots are made of (issue 11):
/// preprocessor groups, the header, `PyCtx` and `ctx` as plain names,
/// `VOID`, braces, line endings.
const SNIPPETS: &[&str] = &[
    "#ifdef FOO\n",
    "#endif\n",
    "#if 0\n",
    "#else\n",
    "#include \"pyctx.h\"\n",
    "#define VOID void\n",
    "#define PyCtx int\n",
    "static int vfn(VOID) { return PyErr_Occurred() != NULL; }\n",
    "static int pfn(PyCtx *out) { (void)out; return PyErr_Occurred() != NULL; }\n",
    "static int cfn(int ctx) { return ctx + (PyErr_Occurred() != NULL); }\n",
    "{\n",
    "}\n",
    "/* comment with PyErr_Occurred() */\n",
    "#define CALL_IT(x) PyLong_FromLong(x)\n",
    "    if (PyErr_Occurred()) { return NULL; }\n",
    "    PyObject *ctx = NULL; (void)ctx;\n",
];
const NAMES: &[&str] = &[
    "ctx",
    "PyCtx",
    "VOID",
    "PyErr_Occurred",
    "self",
    "FOO",
    "int",
];

fn line_starts(text: &str) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    if *v.last().unwrap() == text.len() && v.len() > 1 {
        v.pop();
    }
    v
}

/// One mutation of `text`; `donor` gives spliced code.
pub fn mutate(rng: &mut Rng, text: &str, donor: &str) -> String {
    let lines = line_starts(text);
    let at = |i: usize| lines.get(i).copied().unwrap_or(text.len());
    let i = rng.below(lines.len() + 1);
    match rng.below(9) {
        0 => {
            // delete a few lines
            let j = (i + 1 + rng.below(4)).min(lines.len());
            format!("{}{}", &text[..at(i)], &text[at(j)..])
        }
        1 => {
            // duplicate a line
            let j = (i + 1).min(lines.len());
            format!("{}{}", &text[..at(j)], &text[at(i)..])
        }
        2 | 3 => {
            let snip = rng.pick(SNIPPETS);
            format!("{}{}{}", &text[..at(i)], snip, &text[at(i)..])
        }
        4 => {
            // wrap lines in a preprocessor group
            let j = (i + 1 + rng.below(12)).min(lines.len());
            format!(
                "{}#ifdef FOO\n{}#endif\n{}",
                &text[..at(i)],
                &text[at(i)..at(j)],
                &text[at(j)..]
            )
        }
        5 => {
            // rename one identifier occurrence
            let words: Vec<(usize, &str)> = text
                .match_indices(|c: char| c.is_ascii_alphabetic() || c == '_')
                .filter(|(k, _)| {
                    *k == 0
                        || !text.as_bytes()[k - 1].is_ascii_alphanumeric()
                            && text.as_bytes()[k - 1] != b'_'
                })
                .collect();
            if words.is_empty() {
                return text.to_string();
            }
            let (k, _) = *rng.pick(&words);
            let end = text[k..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(text.len(), |e| k + e);
            format!("{}{}{}", &text[..k], rng.pick(NAMES), &text[end..])
        }
        6 => {
            // splice lines of another source
            let dl = line_starts(donor);
            let a = rng.below(dl.len());
            let b = (a + 1 + rng.below(30)).min(dl.len());
            let da = dl[a];
            let db = dl.get(b).copied().unwrap_or(donor.len());
            format!("{}{}{}", &text[..at(i)], &donor[da..db], &text[at(i)..])
        }
        7 => {
            if rng.below(2) == 0 {
                format!("\u{feff}{text}")
            } else {
                text.replace("\r\n", "\n").replace('\n', "\r\n")
            }
        }
        _ => {
            // swap two adjacent lines
            if i + 2 > lines.len() {
                return text.to_string();
            }
            format!(
                "{}{}{}{}",
                &text[..at(i)],
                &text[at(i + 1)..at(i + 2)],
                &text[at(i)..at(i + 1)],
                &text[at(i + 2)..]
            )
        }
    }
}

// ----------------------------------------------------------- properties

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub property: &'static str,
    pub detail: String,
}

fn v(property: &'static str, detail: String) -> Violation {
    Violation { property, detail }
}

pub fn run_engine(files: &[SourceFile], api: &ApiNames) -> Result<Outcome, String> {
    let opts = Options::default();
    catch_unwind(AssertUnwindSafe(|| migrate(files, api, &opts))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "(non-string panic)".into())
    })
}

/// Every property but `compiles`.
pub fn check(files: &[SourceFile], api: &ApiNames) -> Vec<Violation> {
    let out = match run_engine(files, api) {
        Ok(o) => o,
        Err(msg) => return vec![v("panic", msg)],
    };
    let mut found = Vec::new();
    for (f, o) in files.iter().zip(&out.files) {
        check_edits(f, o, &mut found);
    }
    check_untouched(files, &out, &mut found);
    let again: Vec<SourceFile> = files
        .iter()
        .zip(&out.files)
        .map(|(f, o)| SourceFile::new(f.path.clone(), o.new_text.clone().unwrap_or(f.text.clone())))
        .collect();
    match run_engine(&again, api) {
        Err(msg) => found.push(v("panic", format!("second run: {msg}"))),
        Ok(o2) => {
            for f in o2.files.iter().filter(|f| f.new_text.is_some()) {
                let edits: Vec<String> = f
                    .text_edits
                    .iter()
                    .take(3)
                    .map(|e| format!("@{} -{} +{:?}", e.at, e.del, e.text))
                    .collect();
                found.push(v(
                    "idempotent",
                    format!(
                        "{}: second run edits: {}",
                        f.path.display(),
                        edits.join(", ")
                    ),
                ));
            }
        }
    }
    found
}

fn check_edits(f: &SourceFile, o: &pyctx_rewrite::FileOutcome, found: &mut Vec<Violation>) {
    let Some(new) = &o.new_text else {
        if !o.text_edits.is_empty() {
            found.push(v(
                "edits",
                format!("{}: edits but no new text", f.path.display()),
            ));
        }
        return;
    };
    let mut rebuilt = String::new();
    let mut pos = 0;
    for e in &o.text_edits {
        if e.at < pos || e.at + e.del > f.text.len() || !f.text.is_char_boundary(e.at) {
            found.push(v(
                "edits",
                format!("{}: edit @{} out of order or range", f.path.display(), e.at),
            ));
            return;
        }
        let gone = &f.text[e.at..e.at + e.del];
        let documented = e.del == 0
            || ((gone == "void" || defines_as_void(&f.text, gone)) && e.text.starts_with("PyCtx "))
            || (gone == "PyCtx_Get()" && is_ident(&e.text));
        if !documented {
            found.push(v(
                "edits",
                format!(
                    "{}: replaces {:?} with {:?} at byte {}",
                    f.path.display(),
                    gone,
                    e.text,
                    e.at
                ),
            ));
        }
        rebuilt.push_str(&f.text[pos..e.at]);
        rebuilt.push_str(&e.text);
        pos = e.at + e.del;
    }
    rebuilt.push_str(&f.text[pos..]);
    if &rebuilt != new {
        found.push(v(
            "edits",
            format!("{}: edits do not give the new text", f.path.display()),
        ));
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Byte ranges of function definitions, keyed by (name, line of the name).
/// (A C++ member's report name is `Class::name`: only its plain name is
/// found here, so the property skips members.)
fn function_ranges(path: &Path, text: &str) -> Vec<(String, usize, usize, usize)> {
    let mut parser = tree_sitter::Parser::new();
    let lang: tree_sitter::Language = if is_cpp(path) {
        tree_sitter_cpp::LANGUAGE.into()
    } else {
        tree_sitter_c::LANGUAGE.into()
    };
    parser.set_language(&lang).expect("tree-sitter grammar");
    let Some(tree) = parser.parse(text, None) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        if n.kind() == "function_definition" {
            if let Some(id) = n.child_by_field_name("declarator").and_then(name_of) {
                let name = text[id.byte_range()].to_string();
                out.push((
                    name,
                    id.start_position().row + 1,
                    n.start_byte(),
                    n.end_byte(),
                ));
            }
        }
        let mut c = n.walk();
        stack.extend(n.children(&mut c));
    }
    out
}

fn name_of(mut d: tree_sitter::Node) -> Option<tree_sitter::Node> {
    loop {
        match d.kind() {
            "identifier" => return Some(d),
            "function_declarator"
            | "pointer_declarator"
            | "parenthesized_declarator"
            | "reference_declarator" => {
                d = d
                    .child_by_field_name("declarator")
                    .or_else(|| d.named_child(0))?;
            }
            _ => return None,
        }
    }
}

fn check_untouched(files: &[SourceFile], out: &Outcome, found: &mut Vec<Violation>) {
    for (f, o) in files.iter().zip(&out.files) {
        if o.text_edits.is_empty() {
            continue;
        }
        let ranges = function_ranges(&f.path, &f.text);
        for r in out.functions.iter().filter(|r| r.file == f.path) {
            let kept = match &r.status {
                Status::Refused { .. } => "refused",
                Status::NoContext => "no context needed",
                _ => continue,
            };
            let Some(&(_, _, start, end)) = ranges
                .iter()
                .find(|(n, line, _, _)| *n == r.name && *line == r.line)
            else {
                continue; // the engine saw a function tree-sitter did not
            };
            if let Some(e) = o.text_edits.iter().find(|e| {
                (e.at > start && e.at < end) || (e.del > 0 && e.at < end && e.at + e.del > start)
            }) {
                found.push(v(
                    "untouched",
                    format!(
                        "{}:{}: {} ({kept}) edited at byte {}: {:?}",
                        f.path.display(),
                        r.line,
                        r.name,
                        e.at,
                        e.text
                    ),
                ));
            }
        }
    }
}

// ------------------------------------------------------------- compiling

/// `cc -fsyntax-only` with `pyctx flags --cflags` of one interpreter.
pub struct Compiler {
    cc: String,
    flags: Vec<String>,
    dir: PathBuf,
}

impl Compiler {
    /// For `python` (default: the newest `.venvs/3.*`).
    pub fn new(python: Option<String>, dir: PathBuf) -> Compiler {
        let py = python.unwrap_or_else(|| {
            pyctx_api::pythons::SetupVenvs::in_checkout(&repo())
                .newest()
                .display()
                .to_string()
        });
        let interp = pyctx_flags::interp::Interpreter::probe(&py).expect("probe interpreter");
        let mut flags = pyctx_flags::cflags(&interp, false).expect("pyctx cflags");
        flags.push(format!("-I{}", interp.include.display()));
        std::fs::create_dir_all(&dir).unwrap();
        Compiler {
            cc: interp.compiler(),
            flags,
            dir,
        }
    }

    /// Does every `.c` file and C++ source (g++) of the project compile?
    /// (Err: the first error.)
    pub fn accepts(&self, files: &[(PathBuf, String)]) -> Result<(), String> {
        let _ = std::fs::remove_dir_all(&self.dir);
        for (p, text) in files {
            let dest = self.dir.join(p);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(&dest, text).unwrap();
        }
        let unit = |p: &Path| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("c" | "cpp" | "cc" | "cxx")
            )
        };
        for (p, _) in files.iter().filter(|(p, _)| unit(p)) {
            let (cc, std) = if is_cpp(p) {
                ("g++", "-std=gnu++17")
            } else {
                (self.cc.as_str(), "-std=gnu11")
            };
            let out = Command::new(cc)
                .env("LC_ALL", "C") // plain quotes in messages, whatever the locale
                .args(["-fsyntax-only", "-w", std])
                .args(&self.flags)
                .arg(self.dir.join(p))
                .output()
                .expect("run the C compiler");
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let first = err
                    .lines()
                    .find(|l| l.contains("error"))
                    .unwrap_or("")
                    .to_string();
                return Err(format!("{}: {}", p.display(), first));
            }
        }
        Ok(())
    }
}

pub fn check_compiles(files: &[SourceFile], api: &ApiNames, cc: &Compiler) -> Option<Violation> {
    let before: Vec<(PathBuf, String)> = files
        .iter()
        .map(|f| (f.path.clone(), f.text.clone()))
        .collect();
    if cc.accepts(&before).is_err() {
        return None; // the property says nothing about broken input
    }
    let out = run_engine(files, api).ok()?;
    let after: Vec<(PathBuf, String)> = files
        .iter()
        .zip(&out.files)
        .map(|(f, o)| (f.path.clone(), o.new_text.clone().unwrap_or(f.text.clone())))
        .collect();
    cc.accepts(&after)
        .err()
        .map(|e| v("compiles", format!("input compiles, output does not: {e}")))
}

// --------------------------------------------------------- minimising

/// The smallest text (by removing line ranges, then single lines) of the
/// first file that still shows a violation of `property`.
pub fn minimise(
    files: &[SourceFile],
    property: &str,
    still: &dyn Fn(&[SourceFile]) -> bool,
) -> Vec<SourceFile> {
    let _ = property;
    let mut cur = files.to_vec();
    let mut chunk = line_starts(&cur[0].text).len() / 2;
    while chunk >= 1 {
        let mut i = 0;
        loop {
            let text = &cur[0].text;
            let lines = line_starts(text);
            if i >= lines.len() {
                break;
            }
            let j = (i + chunk).min(lines.len());
            let end = lines.get(j).copied().unwrap_or(text.len());
            let cand = format!("{}{}", &text[..lines[i]], &text[end..]);
            let mut trial = cur.clone();
            trial[0].text = cand;
            if still(&trial) {
                cur = trial;
            } else {
                i += chunk;
            }
        }
        chunk /= 2;
    }
    cur
}

// ------------------------------------------------------ the found list

/// An entry of `fixtures/migrate/FOUND.md`:
///
/// ```text
/// ## F3: a one-line title
/// - property: compiles
/// - status: open            (or: fixed)
/// - case: found/F3.c        (the minimised input, under fixtures/migrate/)
/// - matches: text           (a violation whose detail contains this is F3)
/// ```
#[derive(Clone, Debug)]
pub struct Found {
    pub id: String,
    pub title: String,
    pub property: String,
    pub open: bool,
    pub case: PathBuf,
    pub matches: String,
}

pub fn found_list() -> Vec<Found> {
    let path = repo().join("fixtures/migrate/FOUND.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out: Vec<Found> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("## ") {
            let (id, title) = rest.split_once(": ").unwrap_or((rest, ""));
            out.push(Found {
                id: id.to_string(),
                title: title.to_string(),
                property: String::new(),
                open: true,
                case: PathBuf::new(),
                matches: String::new(),
            });
        } else if let (Some(f), Some(item)) = (out.last_mut(), line.strip_prefix("- ")) {
            let (k, val) = item
                .split_once(": ")
                .unwrap_or_else(|| panic!("{}:{}: `- key: value` expected", path.display(), n + 1));
            let val = val.trim().trim_matches('`').to_string();
            match k {
                "property" => f.property = val,
                "status" => f.open = val == "open",
                "case" => f.case = repo().join("fixtures/migrate").join(val),
                "matches" => f.matches = val,
                _ => panic!("{}:{}: unknown key {k:?}", path.display(), n + 1),
            }
        }
    }
    out
}

/// The open entry that explains `viol`, if any.
pub fn known<'a>(list: &'a [Found], viol: &Violation) -> Option<&'a Found> {
    list.iter().find(|f| {
        f.open
            && f.property == viol.property
            && !f.matches.is_empty()
            && viol.detail.contains(&f.matches)
    })
}

/// The next input: a seed (or, one time in four, generated C) with one to
/// four mutations of its first file, code spliced from another seed.
pub fn next_case(rng: &mut Rng, seeds: &[Case]) -> Case {
    let mut case = if rng.below(4) == 0 {
        generate(rng)
    } else {
        rng.pick(seeds).clone()
    };
    let donor = rng.pick(seeds).files[0].text.clone();
    for _ in 0..1 + rng.below(4) {
        case.files[0].text = mutate(rng, &case.files[0].text, &donor);
    }
    case
}

/// `#define NAME void` somewhere in the file: the engine reads NAME as
/// `void` (a macro model without positions, like the rest of its macros).
fn defines_as_void(text: &str, name: &str) -> bool {
    text.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        matches!(w.as_slice(), ["#define", n, "void"] if *n == name)
            || matches!(w.as_slice(), ["#", "define", n, "void"] if *n == name)
    })
}
