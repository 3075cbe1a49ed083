//! Text edits: what an edit is, how each kind is spelled (a context
//! argument, a `PyCtx` parameter, the `PyCtx_Get()` prologue, the
//! `#include "pyctx.h"` line), and applying a file's edits.

use crate::scan::{self, CallInfo, FileScan, FuncDef};
use std::borrow::Cow;
use std::ops::Range;

/// Delete `del` bytes at `at`, insert `text` (the edits of a changed file
/// are also handed to the front end: [`crate::FileOutcome::text_edits`]).
pub(crate) type Edit = crate::TextEdit;

impl Edit {
    pub fn insert(at: usize, text: String) -> Edit {
        Edit {
            at,
            del: 0,
            text: text.into(),
        }
    }
}

/// One copy of each distinct text among `edits` (equal texts share it).
pub(crate) fn share_texts(edits: &mut [Edit]) {
    let mut seen: std::collections::HashSet<std::sync::Arc<str>> = Default::default();
    for e in edits {
        match seen.get(&e.text) {
            Some(t) => e.text = t.clone(),
            None => {
                seen.insert(e.text.clone());
            }
        }
    }
}

/// The context passed first in a call's argument list.
pub(crate) fn call_text(var: &str, c: &CallInfo) -> String {
    if c.empty {
        var.to_string()
    } else if c.newline_after_open {
        format!("{var},")
    } else {
        format!("{var}, ")
    }
}

/// `PyCtx V` first in a parameter list (`(void)` is replaced).
pub(crate) fn param_edit(p: &scan::ParamList, var: &str) -> Edit {
    match &p.shape {
        scan::ParamShape::Empty => Edit::insert(p.open + 1, format!("PyCtx {var}")),
        scan::ParamShape::Void(r) => Edit {
            at: r.start,
            del: r.end - r.start,
            text: format!("PyCtx {var}").into(),
        },
        scan::ParamShape::List { newline_after_open } => Edit::insert(
            p.open + 1,
            if *newline_after_open {
                format!("PyCtx {var},")
            } else {
                format!("PyCtx {var}, ")
            },
        ),
    }
}

/// End of the line holding `i`: the offset of its `\r\n` / `\n`, or the
/// end of the file.
fn line_end(src: &[u8], mut i: usize) -> usize {
    while i < src.len() && src[i] != b'\n' {
        i += 1;
    }
    if i > 0 && i < src.len() && src[i - 1] == b'\r' {
        i - 1
    } else {
        i
    }
}

fn indent_of_line(src: &[u8], start: usize) -> &[u8] {
    let mut i = start;
    while i < src.len() && (src[i] == b' ' || src[i] == b'\t') {
        i += 1;
    }
    &src[start..i]
}

/// The indentation of the body's first non-blank, non-directive line
/// after `from` (one level past the `}` for an empty body).
fn body_indent(src: &[u8], f: &FuncDef, from: usize) -> Vec<u8> {
    let mut ls = from;
    while ls <= f.body_close {
        let le = line_end(src, ls);
        let ind = indent_of_line(src, ls);
        let first = ls + ind.len();
        if first >= f.body_close {
            let mut v = ind.to_vec();
            v.extend_from_slice(b"    ");
            return v;
        }
        if first < le && src[first] != b'#' {
            return ind.to_vec();
        }
        if le >= src.len() {
            break;
        }
        ls = if src[le] == b'\r' { le + 2 } else { le + 1 };
    }
    b"    ".to_vec()
}

/// `PyCtx V = PyCtx_Get();` as the first line of the body.
pub(crate) fn prologue_edit(
    src: &[u8],
    f: &FuncDef,
    var: &str,
    eol: &str,
    void_cast: bool,
) -> Edit {
    let decl = if void_cast {
        // Every use is conditional: quiet -Wunused-variable where none is
        // compiled.
        format!("PyCtx {var} = PyCtx_Get(); (void){var};")
    } else {
        format!("PyCtx {var} = PyCtx_Get();")
    };
    let open = f.body_open;
    let mut j = open + 1;
    while j < src.len() && (src[j] == b' ' || src[j] == b'\t') {
        j += 1;
    }
    let rest_is_comment_only = || -> bool {
        if src[j..].starts_with(b"//") {
            return true;
        }
        if src[j..].starts_with(b"/*") {
            let le = line_end(src, j);
            if let Some(k) = src[j + 2..le].windows(2).position(|w| w == b"*/") {
                let after = j + 2 + k + 2;
                return src[after..le].iter().all(|c| *c == b' ' || *c == b'\t');
            }
        }
        false
    };
    let at_newline = j >= src.len() || src[j] == b'\n' || src[j] == b'\r';
    if !(at_newline || rest_is_comment_only()) {
        return Edit::insert(open + 1, format!(" {decl}"));
    }
    let at = line_end(src, j);
    let next = if src.get(at) == Some(&b'\r') {
        at + 2
    } else {
        at + 1
    };
    let indent = body_indent(src, f, next.min(src.len()));
    Edit::insert(
        at,
        format!("{eol}{}{decl}", String::from_utf8_lossy(&indent)),
    )
}

/// `#include "pyctx.h"` on a line of its own, outside every conditional
/// group (so every configuration sees it): after the file's `#include
/// <Python.h>`; without one, after its last include before the first
/// line of code; with none, after a leading include guard, else before
/// the first line of code (before the group that holds it, if one does).
pub(crate) fn include_edit(src: &[u8], fs: &FileScan) -> Edit {
    let eol = fs.eol;
    let line = "#include \"pyctx.h\"";
    let lines = &fs.dir.directive_lines;
    let depths = &fs.dir_depths;
    let top_level = |hash_tok: usize| {
        lines
            .iter()
            .position(|r| r.start == hash_tok)
            .is_some_and(|k| depths[k].0 == 0)
    };
    // Only an include between declarations: one inside a parameter list
    // or a function would put the new line there too.
    let incs: Vec<&crate::lex::Include> = fs
        .dir
        .includes
        .iter()
        .zip(&fs.include_at_file_scope)
        .filter_map(|(i, &file_scope)| file_scope.then_some(i))
        .collect();
    let py = incs
        .iter()
        .find(|i| i.path == "Python.h" && top_level(i.hash_tok));
    let last = incs
        .iter()
        .rfind(|i| i.hash_tok < fs.dir.first_code_tok && top_level(i.hash_tok));
    if let Some(i) = py.or(last) {
        return Edit::insert(i.line_end, format!("{eol}{line}"));
    }
    if let Some(g) = fs.dir.guard_define_end {
        return Edit::insert(g, format!("{eol}{line}"));
    }
    let first = fs.dir.first_code_tok;
    // The code starts inside a group: go before the outermost `#if`
    // around it.
    let mut start = fs.first_code_at;
    if crate::pp::depth_at(lines, depths, first) > 0 {
        let n = lines.partition_point(|r| r.start < first);
        if let Some(j) = (0..n).rev().find(|&j| depths[j].0 == 0) {
            start = Some(fs.dir_at[j]);
        }
    }
    let at = start
        .map(|s| crate::lex::line_start_of(src, s))
        .unwrap_or(0)
        .max(crate::lex::bom_len(src)); // the mark stays the file's first bytes
    Edit::insert(at, format!("{line}{eol}"))
}

/// `#include "pyctx.h"` on a line of its own right after the include line
/// ending at `line_end` (one outside every conditional group).
pub(crate) fn include_edit_at(line_end: usize, eol: &str) -> Edit {
    Edit::insert(line_end, format!("{eol}#include \"pyctx.h\""))
}

/// Apply edits (any order; they must not overlap).
#[cfg(test)]
pub(crate) fn apply(src: &str, mut edits: Vec<Edit>) -> Result<String, String> {
    edits.sort_by_key(|e| e.at);
    check_sorted(src, &edits)?;
    Ok(String::from_utf8(Output::new(src.as_bytes(), &edits).text()).unwrap())
}

/// Can `edits` (sorted by offset) be applied to `src`: none overlaps
/// another, each starts and ends on a character boundary?
pub(crate) fn check_sorted(src: &str, edits: &[Edit]) -> Result<(), String> {
    let mut pos = 0;
    for e in edits {
        if e.at < pos || !src.is_char_boundary(e.at) || !src.is_char_boundary(e.at + e.del) {
            return Err(format!(
                "internal error: overlapping edits at byte {}",
                e.at
            ));
        }
        pos = e.at + e.del;
    }
    Ok(())
}

/// A text with edits applied, without the edited text held whole: the
/// check reads a large output one piece at a time, each piece's bytes
/// made when it is read (a whole output text is as large as the input).
/// The edits are sorted by offset and pass [`check_sorted`].
#[derive(Clone, Copy)]
pub(crate) struct Output<'a> {
    src: &'a [u8],
    edits: &'a [Edit],
}

impl<'a> Output<'a> {
    pub fn new(src: &'a [u8], edits: &'a [Edit]) -> Output<'a> {
        Output { src, edits }
    }

    pub fn len(&self) -> usize {
        let added: usize = self.edits.iter().map(|e| e.text.len()).sum();
        let removed: usize = self.edits.iter().map(|e| e.del).sum();
        self.src.len() + added - removed
    }

    /// The bytes at `range` of the edited text (borrowed when there are
    /// no edits).
    pub fn bytes(&self, range: Range<usize>) -> Cow<'a, [u8]> {
        if self.edits.is_empty() {
            return Cow::Borrowed(&self.src[range]);
        }
        let mut out = Vec::with_capacity(range.len());
        // Walk the output as runs of input bytes and inserted texts,
        // copying the part of each run inside `range`.
        let mut copy = |at: usize, run: &[u8]| {
            let (lo, hi) = (range.start.max(at), range.end.min(at + run.len()));
            if lo < hi {
                out.extend_from_slice(&run[lo - at..hi - at]);
            }
        };
        let (mut pos, mut at) = (0, 0); // input and output offsets
        for e in self.edits {
            if at >= range.end {
                break;
            }
            copy(at, &self.src[pos..e.at]);
            at += e.at - pos;
            copy(at, e.text.as_bytes());
            at += e.text.len();
            pos = e.at + e.del;
        }
        if at < range.end {
            copy(at, &self.src[pos..]);
        }
        Cow::Owned(out)
    }

    /// The whole edited text.
    pub fn text(&self) -> Vec<u8> {
        self.bytes(0..self.len()).into_owned()
    }
}

impl<'a> From<&'a [u8]> for Output<'a> {
    /// A text without edits.
    fn from(src: &'a [u8]) -> Output<'a> {
        Output::new(src, &[])
    }
}

/// The output offset of input offset `at`, given the edits applied
/// (sorted by offset): after what was inserted before `at`, before what
/// was inserted at it. None: an edit replaces bytes around `at`.
pub(crate) fn output_offset(edits: &[Edit], at: usize) -> Option<usize> {
    let mut shift: isize = 0;
    for e in edits.iter().take_while(|e| e.at < at) {
        if at < e.at + e.del {
            return None;
        }
        shift += e.text.len() as isize - e.del as isize;
    }
    Some((at as isize + shift) as usize)
}

/// The input offset an output offset comes from, given the edits applied
/// (sorted by offset). A position inside inserted text maps to where the
/// insertion was made.
pub(crate) fn input_offset(edits: &[Edit], out: usize) -> usize {
    let mut shift: isize = 0; // output minus input, before the current edit
    for e in edits {
        let out_at = (e.at as isize + shift) as usize;
        if out < out_at {
            break;
        }
        if out < out_at + e.text.len() {
            return e.at;
        }
        shift += e.text.len() as isize - e.del as isize;
    }
    (out as isize - shift) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str) -> FileScan {
        let l = scan::lex_file(src.as_bytes());
        let model = crate::macros::MacroModel::default();
        let roles = model.for_file(0);
        scan::scan_file_in_pieces(src.as_bytes(), l, roles.roles(), scan::PIECE, true).0
    }

    fn with_include(src: &str) -> String {
        let fs = scan(src);
        apply(src, vec![include_edit(src.as_bytes(), &fs)]).unwrap()
    }

    #[test]
    fn include_goes_after_python_h() {
        assert_eq!(
            with_include("#include <Python.h>\n#include <x.h>\nint a;\n"),
            "#include <Python.h>\n#include \"pyctx.h\"\n#include <x.h>\nint a;\n"
        );
    }

    #[test]
    fn include_never_lands_in_a_conditional_group() {
        let src = "#include \"common.h\"\n#ifdef DEBUG\n#include <stdio.h>\n#endif\nint a;\n";
        assert_eq!(
            with_include(src),
            "#include \"common.h\"\n#include \"pyctx.h\"\n#ifdef DEBUG\n#include <stdio.h>\n#endif\nint a;\n"
        );
        // Python.h itself inside a group: the last top-level include.
        let src = "#include <a.h>\n#ifdef X\n#include <Python.h>\n#endif\nint a;\n";
        assert!(with_include(src).starts_with("#include <a.h>\n#include \"pyctx.h\"\n#ifdef X"));
        // Only grouped includes and code inside a group: before the group.
        let src = "/* c */\n#ifdef X\n#include <a.h>\nint a;\n#endif\n";
        assert_eq!(
            with_include(src),
            "/* c */\n#include \"pyctx.h\"\n#ifdef X\n#include <a.h>\nint a;\n#endif\n"
        );
    }

    #[test]
    fn include_never_lands_inside_a_declaration() {
        // Python.h inside a parameter list: the include before it.
        let src = "#include <a.h>\nstatic int f(int a,\n#include <Python.h>\nint b);\nint c;\n";
        assert!(with_include(src).starts_with("#include <a.h>\n#include \"pyctx.h\"\nstatic"));
        // Inside a function body: before the first line of code.
        let src = "int g(void)\n{\n#include <Python.h>\nreturn 0;\n}\n";
        assert!(with_include(src).starts_with("#include \"pyctx.h\"\nint g"));
        // Between two functions, inside `extern "C" {`: right after it.
        let src = "extern \"C\" {\nint g(void);\n#include <Python.h>\nint h(void);\n}\n";
        assert!(with_include(src).contains("#include <Python.h>\n#include \"pyctx.h\"\nint h"));
    }

    #[test]
    fn include_after_a_guard() {
        let src = "#ifndef H\n#define H\nint f(void);\n#endif\n";
        assert_eq!(
            with_include(src),
            "#ifndef H\n#define H\n#include \"pyctx.h\"\nint f(void);\n#endif\n"
        );
    }

    #[test]
    fn include_stays_after_a_byte_order_mark() {
        let bom = "\u{feff}";
        let src = format!("{bom}#include <Python.h>\nint f(void);\n");
        assert_eq!(
            with_include(&src),
            format!("{bom}#include <Python.h>\n#include \"pyctx.h\"\nint f(void);\n")
        );
        let src = format!("{bom}int f(void);\n");
        assert_eq!(
            with_include(&src),
            format!("{bom}#include \"pyctx.h\"\nint f(void);\n")
        );
    }

    /// Any range of an edited text read alone is that range of the text
    /// made whole (edits at the start, the end, side by side, replacing).
    #[test]
    fn an_output_range_reads_as_the_whole_text() {
        let src = "f(a); g(void);";
        let edits = vec![
            Edit::insert(0, "/* h */".into()),
            Edit::insert(2, "ctx, ".into()),
            Edit {
                at: 8,
                del: 4,
                text: "PyCtx ctx".into(),
            },
            Edit::insert(12, "1".into()),
            Edit::insert(14, "\n".into()),
        ];
        let whole = apply(src, edits.clone()).unwrap();
        assert_eq!(whole, "/* h */f(ctx, a); g(PyCtx ctx1);\n");
        let out = Output::new(src.as_bytes(), &edits);
        assert_eq!(out.len(), whole.len());
        for a in 0..=whole.len() {
            for b in a..=whole.len() {
                assert_eq!(&out.bytes(a..b)[..], &whole.as_bytes()[a..b], "{a}..{b}");
            }
        }
    }

    #[test]
    fn output_offsets_map_back_to_the_input() {
        let src = "f(a); g(void);";
        let edits = vec![
            Edit::insert(2, "ctx, ".into()),
            Edit {
                at: 8,
                del: 4,
                text: "PyCtx ctx".into(),
            },
        ];
        let out = apply(src, edits.clone()).unwrap();
        assert_eq!(out, "f(ctx, a); g(PyCtx ctx);");
        for (o, i) in [
            (0, 0),
            (3, 2),
            (7, 2),
            (8, 3),
            (12, 7),
            (13, 8),
            (22, 12),
            (23, 13),
        ] {
            assert_eq!(input_offset(&edits, o), i, "output {o}");
        }
    }

    #[test]
    fn overlapping_edits_are_refused() {
        let e = vec![
            Edit {
                at: 1,
                del: 3,
                text: "x".into(),
            },
            Edit::insert(2, "y".into()),
        ];
        assert!(apply("abcdef", e).is_err());
    }
}
