//! Running the C preprocessor over an interpreter's headers: the macro
//! definitions in force (`-dM`) and the identifiers declared (`-E`).

use crate::interp::Interpreter;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};

/// One `#define` as the preprocessor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroDef {
    pub name: String,
    /// `None` for an object-like macro.
    pub params: Option<Vec<String>>,
    pub variadic: bool,
    pub body: String,
}

impl MacroDef {
    pub fn is_function_like(&self) -> bool {
        self.params.is_some()
    }
}

/// What including `<Python.h>` and the extra public headers defines and
/// declares, for one setting of `PY_SSIZE_T_CLEAN`.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    pub macros: BTreeMap<String, MacroDef>,
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
    let directives = text.lines().map(str::trim).filter(|l| {
        !l.is_empty() && !l.starts_with("/*") && !l.starts_with('*') && !l.starts_with("//")
    });
    let mut pending: Option<&str> = None;
    for line in directives {
        let words: Vec<&str> = line.trim_start_matches('#').split_whitespace().collect();
        let is_directive = line.starts_with('#');
        match (is_directive, words.as_slice(), pending) {
            (true, ["define", name, ..], Some(want)) if *name == want => {
                return Some(want.to_string())
            }
            (true, ["ifndef", name], _) => pending = Some(name),
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
    let toks: Vec<Token> = tokenize(text)
        .into_iter()
        .filter(|t| !matches!(t, Token::Space(_)))
        .collect();
    let mut out = HashSet::new();
    let is_inline = |t: &Token| matches!(t.text(), "inline" | "__inline" | "__inline__");
    for (i, t) in toks.iter().enumerate() {
        if t.text() != "static" || !toks.get(i + 1).is_some_and(is_inline) {
            continue;
        }
        let mut last = None;
        // Parentheses of an attribute being skipped; `Some(0)`: its name
        // was seen, its `(` is next.
        let mut attribute: Option<usize> = None;
        for t in &toks[i + 2..] {
            match (attribute, t.text()) {
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
                (None, id) if matches!(t, Token::Ident(_)) => last = Some(id),
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
pub fn parse_defines(text: &str) -> BTreeMap<String, MacroDef> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let after = &rest[name_len..];
        let (params, variadic, body) = if let Some(p) = after.strip_prefix('(') {
            let Some(close) = p.find(')') else { continue };
            let mut variadic = false;
            let mut params = Vec::new();
            for raw in p[..close]
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                if let Some(named) = raw.strip_suffix("...") {
                    variadic = true;
                    if !named.is_empty() {
                        params.push(named.to_string());
                    }
                } else {
                    params.push(raw.to_string());
                }
            }
            (Some(params), variadic, p[close + 1..].trim())
        } else {
            (None, false, after.trim())
        };
        out.insert(
            name.to_string(),
            MacroDef {
                name: name.to_string(),
                params,
                variadic,
                body: body.to_string(),
            },
        );
    }
    out
}

/// Every identifier in C text, skipping string and character literals.
pub fn identifiers(text: &str) -> HashSet<String> {
    let mut set = HashSet::new();
    for tok in tokenize(text) {
        if let Token::Ident(s) = tok {
            set.insert(s.to_string());
        }
    }
    set
}

/// A deliberately small C tokenizer: enough to find identifiers and calls in
/// macro bodies without touching literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    Ident(&'a str),
    Space(&'a str),
    /// Anything else, literals included, verbatim.
    Other(&'a str),
}

impl<'a> Token<'a> {
    pub fn text(&self) -> &'a str {
        match self {
            Token::Ident(s) | Token::Space(s) | Token::Other(s) => s,
        }
    }
}

pub fn tokenize(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Token::Ident(&text[start..i]));
        } else if c.is_ascii_whitespace() {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(Token::Space(&text[start..i]));
        } else if c == b'"' || c == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            out.push(Token::Other(&text[start..i]));
        } else if c.is_ascii_digit() {
            // pp-numbers: digits, letters, dots, exponent signs
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'.'
                    || bytes[i] == b'_'
                    || ((bytes[i] == b'+' || bytes[i] == b'-')
                        && matches!(bytes[i - 1], b'e' | b'E' | b'p' | b'P')))
            {
                i += 1;
            }
            out.push(Token::Other(&text[start..i]));
        } else {
            // one (possibly multi-byte UTF-8) character
            i += 1;
            while i < bytes.len() && !text.is_char_boundary(i) {
                i += 1;
            }
            out.push(Token::Other(&text[start..i]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_object_and_function_like_defines() {
        let m = parse_defines(
            "#define A 1\n#define F(x, y) ((x) + (y))\n#define V(fmt, ...) g(fmt, __VA_ARGS__)\n#define Z() z()\n",
        );
        assert_eq!(m["A"].params, None);
        assert_eq!(m["A"].body, "1");
        assert_eq!(
            m["F"].params.as_deref(),
            Some(&["x".to_string(), "y".to_string()][..])
        );
        assert_eq!(m["F"].body, "((x) + (y))");
        assert!(m["V"].variadic);
        assert_eq!(m["Z"].params.as_deref(), Some(&[][..]));
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
