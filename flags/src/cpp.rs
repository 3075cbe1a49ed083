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

/// What including `<Python.h>` defines and declares, for one setting of
/// `PY_SSIZE_T_CLEAN`.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    pub macros: BTreeMap<String, MacroDef>,
    /// Every identifier in the preprocessed translation unit.
    pub identifiers: HashSet<String>,
    /// Functions the headers define `static inline` (compiled into the
    /// caller, never a call of an exported symbol).
    pub inline_functions: HashSet<String>,
}

fn source(ssize_t_clean: bool) -> String {
    let mut s = String::new();
    if ssize_t_clean {
        s.push_str("#define PY_SSIZE_T_CLEAN 1\n");
    }
    s.push_str("#include <Python.h>\n");
    s
}

fn run_cpp(interp: &Interpreter, mode: &[&str], ssize_t_clean: bool) -> Result<String> {
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
        .write_all(source(ssize_t_clean).as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`{cc}` could not preprocess <Python.h> from {}: {}",
            interp.include.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn preprocess(interp: &Interpreter, ssize_t_clean: bool) -> Result<Preprocessed> {
    let defines = run_cpp(interp, &["-dM"], ssize_t_clean)?;
    let text = run_cpp(interp, &["-P"], ssize_t_clean)?;
    Ok(Preprocessed {
        macros: parse_defines(&defines),
        identifiers: identifiers(&text),
        inline_functions: inline_functions(&text),
    })
}

/// Names of the functions defined `static inline` in preprocessed text:
/// after `static` and an inline keyword, the last identifier before the
/// first `(`.
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
        for t in &toks[i + 2..] {
            match t {
                Token::Ident(id) => last = Some(*id),
                t if t.text() == "(" => break,
                t if t.text() == ";" || t.text() == "{" => {
                    last = None;
                    break;
                }
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
    fn identifiers_skip_literals() {
        let ids = identifiers("int f(void) { return g(\"h(1)\", 'i'); }");
        assert!(ids.contains("g"));
        assert!(!ids.contains("h"));
        assert!(!ids.contains("i"));
    }
}
