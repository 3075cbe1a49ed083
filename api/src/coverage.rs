//! An independent count of the public `PyAPI_FUNC` declarations of an
//! include dir, from the header text alone (no libclang, no preprocessor),
//! to check the table against: every declared name must be in the table
//! for its version, or be declared only under a platform condition
//! ([`PLATFORM_CONDITIONS`]).
//!
//! The scan strips comments, joins continued lines, follows `#if` /
//! `#ifdef` / `#ifndef` / `#elif` / `#else` / `#endif` nesting and records
//! for each declaration the conditions of the branches it sits in (as
//! written, negated for `#else`). Headers under `internal/` are skipped:
//! they need `Py_BUILD_CORE` and are not public.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::exceptions::PLATFORM_CONDITIONS;

/// One `PyAPI_FUNC` declaration found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    /// Relative to the include dir.
    pub header: String,
    pub line: usize,
    /// Conditions of the enclosing `#if` branches, outermost first.
    pub conditions: Vec<String>,
}

impl Declared {
    /// The [`PLATFORM_CONDITIONS`] entry one of its conditions names.
    pub fn platform(&self) -> Option<(&'static str, &'static str)> {
        platform_of(&self.conditions)
    }
}

/// Every public (no leading `_`) `PyAPI_FUNC` declaration of the headers
/// under `include_dir`, except `internal/`, sorted by header and line. A
/// header's declarations also carry the conditions of the `#include` that
/// brings it in (`cpython/pthread_stubs.h` is included only under
/// `HAVE_PTHREAD_STUBS`); of several including sites, the one without a
/// platform condition counts.
pub fn declared_functions(include_dir: &Path) -> std::io::Result<Vec<Declared>> {
    let mut files = Vec::new();
    collect_headers(include_dir, include_dir, &mut files)?;
    files.sort();
    let mut scanned = Vec::new();
    for rel in &files {
        let text = std::fs::read_to_string(include_dir.join(rel))?;
        scanned.push((rel.clone(), scan_file(rel, &text)));
    }
    // header -> conditions of the site that includes it (transitively).
    let mut inherited: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for _ in 0..8 {
        let mut next: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (rel, file) in &scanned {
            let outer = inherited.get(rel).cloned().unwrap_or_default();
            for (target, local) in &file.includes {
                let Some(target) = resolve(include_dir, rel, target) else {
                    continue;
                };
                let conds: Vec<String> = outer.iter().chain(local).cloned().collect();
                let better = match next.get(&target) {
                    None => true,
                    Some(old) => platform_of(old).is_some() && platform_of(&conds).is_none(),
                };
                if better {
                    next.insert(target, conds);
                }
            }
        }
        if next == inherited {
            break;
        }
        inherited = next;
    }
    let mut out = Vec::new();
    for (rel, file) in scanned {
        let outer = inherited.get(&rel).cloned().unwrap_or_default();
        for mut d in file.declared {
            d.conditions = outer.iter().chain(&d.conditions).cloned().collect();
            out.push(d);
        }
    }
    Ok(out)
}

/// `#include "x.h"` in `from` -> the header's path relative to the include
/// dir, if it is one of them (root-relative, as CPython writes them, or
/// relative to the including header).
fn resolve(include_dir: &Path, from: &str, target: &str) -> Option<String> {
    if include_dir.join(target).is_file() {
        return Some(target.to_string());
    }
    let dir = Path::new(from).parent()?;
    let rel = dir.join(target);
    include_dir
        .join(&rel)
        .is_file()
        .then(|| rel.to_string_lossy().replace('\\', "/"))
}

fn platform_of(conditions: &[String]) -> Option<(&'static str, &'static str)> {
    PLATFORM_CONDITIONS.iter().copied().find(|(m, _)| {
        conditions.iter().any(|c| {
            c.split(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_')
                .any(|w| w == *m)
        })
    })
}

/// Every line of every header under `include_dir` (`internal/` included),
/// for tests that look for a directive by text.
pub fn header_lines(include_dir: &Path) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    collect_headers(include_dir, include_dir, &mut files)?;
    let mut out = Vec::new();
    for rel in files {
        let text = std::fs::read_to_string(include_dir.join(rel))?;
        out.extend(text.lines().map(str::to_string));
    }
    Ok(out)
}

fn collect_headers(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p: PathBuf = e?.path();
        let rel = p
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        if p.is_dir() {
            if rel != "internal" {
                collect_headers(root, &p, out)?;
            }
        } else if rel.ends_with(".h") {
            out.push(rel);
        }
    }
    Ok(())
}

/// What one header's text holds: its declarations and its `#include`s,
/// each with the conditions it sits under.
#[derive(Debug, Default)]
pub struct ScannedFile {
    pub declared: Vec<Declared>,
    /// (header as written, conditions)
    pub includes: Vec<(String, Vec<String>)>,
}

/// The declarations in one header's text (conditions local to it).
pub fn scan_text(header: &str, text: &str) -> Vec<Declared> {
    scan_file(header, text).declared
}

fn scan_file(header: &str, text: &str) -> ScannedFile {
    let mut includes = Vec::new();
    let text = strip_comments(text);
    let mut stack: Vec<Vec<String>> = Vec::new(); // per #if: branch conditions so far
    let mut code = String::new(); // code lines, directives blanked
    let mut line_conditions: Vec<Vec<String>> = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(first) = lines.next() {
        let mut line = first.to_string();
        let mut extra = 0;
        while line.ends_with('\\') {
            line.pop();
            line.push_str(lines.next().unwrap_or(""));
            extra += 1;
        }
        let current: Vec<String> = stack.iter().filter_map(|b| b.last().cloned()).collect();
        if let Some(d) = line.trim_start().strip_prefix('#') {
            if let Some(target) = included(d.trim_start()) {
                includes.push((target, current.clone()));
            }
            directive(d.trim_start(), &mut stack);
            line.clear();
        }
        for _ in 0..=extra {
            line_conditions.push(current.clone());
        }
        code.push_str(&line);
        code.push_str(&"\n".repeat(extra + 1));
    }
    let declared = find_declarations(&code)
        .into_iter()
        .filter(|(name, _)| !name.starts_with('_'))
        .map(|(name, line)| Declared {
            name,
            header: header.to_string(),
            line: line + 1,
            conditions: line_conditions.get(line).cloned().unwrap_or_default(),
        })
        .collect();
    ScannedFile { declared, includes }
}

/// `include "x.h"` (text after `#`) -> `x.h`; system includes are not
/// headers of the include dir.
fn included(d: &str) -> Option<String> {
    let rest = d.strip_prefix("include")?.trim();
    let inner = rest.strip_prefix('"')?;
    Some(inner[..inner.find('"')?].to_string())
}

/// Update the `#if` stack for one directive (text after `#`).
fn directive(d: &str, stack: &mut Vec<Vec<String>>) {
    let word: String = d.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let rest = d[word.len()..].trim().to_string();
    let negate_all = |b: &Vec<String>| -> Vec<String> {
        b.iter().map(|c| format!("!({c})")).collect::<Vec<_>>()
    };
    match word.as_str() {
        "if" => stack.push(vec![rest]),
        "ifdef" => stack.push(vec![format!("defined({rest})")]),
        "ifndef" => stack.push(vec![format!("!defined({rest})")]),
        "elif" => {
            if let Some(b) = stack.last_mut() {
                let mut c = negate_all(b);
                c.push(rest);
                b.push(c.join(" && "));
            }
        }
        "else" => {
            if let Some(b) = stack.last_mut() {
                let c = negate_all(b).join(" && ");
                b.push(c);
            }
        }
        "endif" => {
            stack.pop();
        }
        _ => {}
    }
}

/// Replace comments by spaces, keeping newlines (so line numbers hold).
fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            for ch in text[i..end].chars() {
                out.push(if ch == '\n' { '\n' } else { ' ' });
            }
            i = end;
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            let end = text[i..].find('\n').map_or(b.len(), |e| i + e);
            i = end;
        } else if b[i] == b'"' {
            // String literals may hold "/*"; copy them whole.
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' && b[j] != b'\n' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            out.push_str(&text[i..end]);
            i = end;
        } else {
            let ch = text[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// `PyAPI_FUNC(TYPE) NAME(` -> (NAME, 0-based line of `PyAPI_FUNC`).
fn find_declarations(code: &str) -> Vec<(String, usize)> {
    const KEY: &str = "PyAPI_FUNC";
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = code[from..].find(KEY).map(|p| p + from) {
        from = pos + KEY.len();
        let before_ok = pos == 0 || !is_ident(b[pos - 1]);
        let mut i = skip_ws(b, from);
        if !before_ok || b.get(i) != Some(&b'(') {
            continue;
        }
        // The return type, parentheses balanced.
        let mut depth = 0;
        while i < b.len() {
            match b[i] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        // Then the name, maybe after attributes such as `_Py_NO_RETURN`:
        // the first identifier followed by `(` (or `)`: `(*name)(...)`).
        i += 1;
        loop {
            while matches!(b.get(i), Some(b'*' | b'('))
                || b.get(i).is_some_and(u8::is_ascii_whitespace)
            {
                i += 1;
            }
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            if start == i {
                break;
            }
            let j = skip_ws(b, i);
            if matches!(b.get(j), Some(b'(' | b')')) {
                out.push((
                    code[start..i].to_string(),
                    code[..pos].matches('\n').count(),
                ));
                break;
            }
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}
