//! Running the C preprocessor over an interpreter's headers: the macro
//! definitions in force (`-dM`) and the identifiers declared (`-E`).

use crate::interp::Interpreter;
use anyhow::{bail, Context, Result};
pub use pyctx_clex::Macro;
use pyctx_clex::{lex_lang, scan_directives_in, Lang, Tok, Token};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};

/// What including `<Python.h>` and the extra public headers defines and
/// declares, for one setting of `PY_SSIZE_T_CLEAN`.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    pub macros: BTreeMap<String, Macro>,
    /// Every identifier in the preprocessed translation unit.
    pub identifiers: HashSet<String>,
    /// Functions the headers define `static inline` (compiled into the
    /// caller, never a call of an exported symbol).
    pub inline_functions: HashSet<String>,
}

/// Which API the headers are read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub ssize_t_clean: bool,
    /// `Py_LIMITED_API` as `(major, minor)`, or `None` for the full API.
    pub limited: Option<(u32, u32)>,
}

fn source(variant: Variant, extras: &[String]) -> String {
    let mut s = String::new();
    if let Some((major, minor)) = variant.limited {
        s.push_str(&format!(
            "#define Py_LIMITED_API 0x{major:02X}{minor:02X}0000\n"
        ));
    }
    if variant.ssize_t_clean {
        s.push_str("#define PY_SSIZE_T_CLEAN 1\n");
    }
    s.push_str("#include <Python.h>\n");
    for header in extras {
        s.push_str(&format!("#include <{header}>\n"));
    }
    s
}

fn run_cpp(
    interp: &Interpreter,
    mode: &[&str],
    variant: Variant,
    extras: &[String],
) -> Result<String> {
    let cc = interp.compiler();
    let mut child = Command::new(&cc)
        .args(["-x", "c", "-E"])
        .args(mode)
        .arg("-I")
        .arg(&interp.include)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run the C compiler `{cc}` (set CC to choose one)"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(source(variant, extras).as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`{cc}` could not preprocess <Python.h> (and {extras:?}) from {}: {}",
            interp.include.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Preprocess `<Python.h>` followed by `extras` (public headers it does not
/// include itself, `datetime.h`, ...). None of them changes a macro
/// `Python.h` defines, so one run serves the names of every header.
pub fn preprocess(
    interp: &Interpreter,
    variant: Variant,
    extras: &[String],
) -> Result<Preprocessed> {
    let defines = run_cpp(interp, &["-dM"], variant, extras)?;
    let text = run_cpp(interp, &["-P"], variant, extras)?;
    Ok(Preprocessed {
        macros: parse_defines(&defines),
        identifiers: identifiers(&text),
        inline_functions: inline_functions(&text),
    })
}

/// The include guard of a header's text: the first `#ifndef X` directly
/// followed by `#define X` (`DATETIME_H` in datetime.h, after its
/// `#ifndef Py_LIMITED_API`). Comments and blank lines between them are
/// allowed.
pub fn include_guard(text: &str) -> Option<String> {
    let src = text.as_bytes();
    let toks = lex_lang(src, Lang::C);
    let dir = scan_directives_in(src, &toks, Lang::C);
    // The first two words of each directive line (after `#`), and where
    // the line ends.
    let word = |t: &Token| &text[t.start()..t.end()];
    let lines = dir.directive_lines.iter().map(|r| {
        let words: Vec<&str> = toks[r.start + 1..r.end]
            .iter()
            .filter(|t| t.kind != Tok::Comment)
            .take(3)
            .map(word)
            .collect();
        (r.clone(), words)
    });
    let mut pending: Option<(&str, usize)> = None;
    for (r, words) in lines {
        let only_space_since = |end: usize| {
            toks[end..r.start]
                .iter()
                .all(|t| matches!(t.kind, Tok::Comment | Tok::Newline))
        };
        match (words.as_slice(), pending) {
            (["define", name, ..], Some((want, end))) if *name == want && only_space_since(end) => {
                return Some(want.to_string())
            }
            (["ifndef", name], _) => pending = Some((name, r.end)),
            _ => pending = None,
        }
    }
    None
}

/// Names of the functions defined `static inline` in preprocessed text:
/// after `static` and an inline keyword, the last identifier before the
/// first `(` that does not open an attribute (`static inline
/// __attribute__((always_inline)) void Py_INCREF(...)`, `Py_ALWAYS_INLINE`
/// expanded).
fn inline_functions(text: &str) -> HashSet<String> {
    let src = text.as_bytes();
    let toks: Vec<(Tok, &str)> = lex_lang(src, Lang::C)
        .into_iter()
        .filter(|t| !matches!(t.kind, Tok::Newline | Tok::Comment))
        .map(|t| (t.kind, &text[t.start()..t.end()]))
        .collect();
    let mut out = HashSet::new();
    let is_inline = |t: &(Tok, &str)| matches!(t.1, "inline" | "__inline" | "__inline__");
    for (i, t) in toks.iter().enumerate() {
        if t.1 != "static" || !toks.get(i + 1).is_some_and(is_inline) {
            continue;
        }
        let mut last = None;
        // Parentheses of an attribute being skipped; `Some(0)`: its name
        // was seen, its `(` is next.
        let mut attribute: Option<usize> = None;
        for &(kind, word) in &toks[i + 2..] {
            match (attribute, word) {
                (Some(depth), "(") => attribute = Some(depth + 1),
                (Some(1), ")") => attribute = None,
                (Some(depth), ")") => attribute = Some(depth - 1),
                (Some(_), _) => {}
                (None, "__attribute__" | "__attribute" | "__declspec") => attribute = Some(0),
                (None, "(") => break,
                (None, ";" | "{") => {
                    last = None;
                    break;
                }
                (None, id) if kind == Tok::Ident => last = Some(id),
                _ => {}
            }
        }
        if let Some(name) = last {
            out.insert(name.to_string());
        }
    }
    out
}

/// Parse `-dM` output: one `#define NAME[(params)] body` per line.
pub fn parse_defines(text: &str) -> BTreeMap<String, Macro> {
    text.lines()
        .filter_map(|line| Macro::parse(line.strip_prefix("#define ")?))
        .map(|m| (m.name().to_string(), m))
        .collect()
}

/// Every identifier in C text, skipping comments, string and character
/// literals.
pub fn identifiers(text: &str) -> HashSet<String> {
    lex_lang(text.as_bytes(), Lang::C)
        .into_iter()
        .filter(|t| t.kind == Tok::Ident)
        .map(|t| text[t.start()..t.end()].to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_object_and_function_like_defines() {
        let m = parse_defines(
            "#define A 1\n#define F(x, y) ((x) + (y))\n#define V(fmt, ...) g(fmt, __VA_ARGS__)\n#define Z() z()\n",
        );
        assert_eq!(m["A"].def().params, None);
        assert_eq!(m["A"].body_text(), "1");
        assert_eq!(
            m["F"].def().params.as_deref(),
            Some(&["x".to_string(), "y".to_string()][..])
        );
        assert_eq!(m["F"].body_text(), "((x) + (y))");
        assert!(m["V"].def().variadic);
        assert_eq!(m["Z"].def().params.as_deref(), Some(&[][..]));
    }

    #[test]
    fn include_guards_are_found_after_other_conditions() {
        let datetime = "/* datetime.h */\n#ifndef Py_LIMITED_API\n#ifndef DATETIME_H\n#define DATETIME_H\n#ifdef __cplusplus\n";
        assert_eq!(include_guard(datetime).as_deref(), Some("DATETIME_H"));
        let plain = "#ifndef Py_MARSHAL_H\n  /* why */\n#define Py_MARSHAL_H\n";
        assert_eq!(include_guard(plain).as_deref(), Some("Py_MARSHAL_H"));
        // an #ifndef followed by anything else is not a guard
        assert_eq!(include_guard("#ifndef A\nint x;\n#define A\n"), None);
        assert_eq!(include_guard("#ifndef A\n#define B 1\n"), None);
        // A directive inside a comment is none; a comment after a name is
        // no word.
        let commented = "/*\n#ifndef X\n#define X\n*/\n#ifndef Y /* y */\n#define Y\n";
        assert_eq!(include_guard(commented).as_deref(), Some("Y"));
        assert_eq!(
            include_guard("#ifndef A\n/* c\n */ int x;\n#define A\n"),
            None
        );
    }

    #[test]
    fn inline_functions_are_named_past_attributes() {
        let found = inline_functions(
            "static inline __attribute__((always_inline)) void Py_INCREF(PyObject *op) { }\n\
             static inline int f(void) { return 0; }\nstatic inline int g;\n",
        );
        let mut found: Vec<&str> = found.iter().map(String::as_str).collect();
        found.sort();
        assert_eq!(found, ["Py_INCREF", "f"]);
    }

    #[test]
    fn identifiers_skip_literals() {
        let ids = identifiers("int f(void) { return g(\"h(1)\", 'i'); }");
        assert!(ids.contains("g"));
        assert!(!ids.contains("h"));
        assert!(!ids.contains("i"));
    }
}
