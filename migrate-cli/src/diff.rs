//! Unified diffs built from the engine's own edit list.
//!
//! A general diff (Myers, patience) costs time quadratic in the worst case
//! and needs both texts as line arrays; pyctx knows exactly where it
//! changed each file ([`TextEdit`]s: byte offsets in the old text). So the
//! changed lines are the lines the edits touch, and everything else is
//! context: one pass over the file to find line starts, then work
//! proportional to the edits. Output is the format `diff -u` and git
//! write, which `patch -p1` and `git apply` accept (tested).

use pyctx_rewrite::TextEdit;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// Lines of context around each change (as `diff -u`).
const CONTEXT: usize = 3;

/// How each kind of diff line is styled when colour is on.
struct Styles {
    header: anstyle::Style,
    hunk: anstyle::Style,
    added: anstyle::Style,
    removed: anstyle::Style,
}

const STYLES: Styles = Styles {
    header: anstyle::Style::new().bold(),
    hunk: anstyle::Style::new().fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Cyan))),
    added: anstyle::Style::new().fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Green))),
    removed: anstyle::Style::new().fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Red))),
};

/// The name git gives `path` in `a/NAME` / `b/NAME`: relative to the
/// current directory when the file is below it, otherwise the absolute path
/// without its leading `/` (as `git diff --no-index` does), so that
/// `patch -p1` / `git apply` run from the current directory find it.
pub fn git_name(path: &Path, cwd: &Path) -> String {
    let abs = lexical_absolute(path, cwd);
    let rel = abs
        .strip_prefix(cwd)
        .ok()
        .map(Path::to_path_buf)
        .or_else(|| {
            // A path spelled through a symlink (e.g. /tmp -> /private/tmp).
            let real = std::fs::canonicalize(&abs).ok()?;
            let real_cwd = std::fs::canonicalize(cwd).ok()?;
            real.strip_prefix(&real_cwd).ok().map(Path::to_path_buf)
        });
    let name = match rel {
        Some(r) => r,
        None => abs
            .components()
            .filter(|c| *c != Component::RootDir)
            .collect(),
    };
    name.to_string_lossy().into_owned()
}

/// `path` made absolute against `cwd`, with `.` and `..` resolved by text.
fn lexical_absolute(path: &Path, cwd: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in cwd.join(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A file name on a `---` / `+++` line, spelled as git does: C-quoted when
/// it holds a quote, a backslash or a control character, and followed by a
/// tab when it holds a space (so that readers know where it ends).
fn header_name(prefix: &str, name: &str) -> String {
    let full = format!("{prefix}{name}");
    if full
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        let mut q = String::from("\"");
        for c in full.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\t' => q.push_str("\\t"),
                c if c.is_control() => q.push_str(&format!("\\{:03o}", c as u32)),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    } else if full.contains(' ') {
        full + "\t"
    } else {
        full
    }
}

/// One run of changed lines: old lines `old.start..old.end` become `new`.
struct Change {
    old: std::ops::Range<usize>,
    new: Vec<String>,
}

/// Byte offsets where each line of `text` starts.
fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::with_capacity(text.len() / 32 + 1);
    if !text.is_empty() {
        starts.push(0);
    }
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' && i + 1 < text.len() {
            starts.push(i + 1);
        }
    }
    starts
}

/// The old text split into lines, each with its `\n` (the last one may
/// lack it).
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines {
            starts: line_starts(text),
            text,
        }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn start(&self, line: usize) -> usize {
        self.starts.get(line).copied().unwrap_or(self.text.len())
    }

    fn line(&self, line: usize) -> &'a str {
        &self.text[self.start(line)..self.start(line + 1)]
    }

    /// The line holding byte `at`; `len()` for the end of a text that ends
    /// with a newline (an insertion there adds lines after the last).
    fn line_of(&self, at: usize) -> usize {
        if at >= self.text.len() && (self.text.is_empty() || self.text.ends_with('\n')) {
            return self.len();
        }
        self.starts.partition_point(|&s| s <= at) - 1
    }
}

/// The changed lines, in order: edits touching the same lines form one
/// block; each block's new text is split into lines and the lines it shares
/// with the old text at either end become context again; runs of changed
/// lines that touch are joined.
fn changes(lines: &Lines, edits: &[TextEdit]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    let mut i = 0;
    while i < edits.len() {
        let first = lines.line_of(edits[i].at);
        let mut end = block_end(lines, &edits[i]);
        let mut j = i + 1;
        while j < edits.len() && lines.line_of(edits[j].at) < end {
            end = end.max(block_end(lines, &edits[j]));
            j += 1;
        }
        let (from, to) = (lines.start(first), lines.start(end));
        let mut new = String::with_capacity(to - from + 64);
        let mut pos = from;
        for e in &edits[i..j] {
            new.push_str(&lines.text[pos..e.at]);
            new.push_str(&e.text);
            pos = e.at + e.del;
        }
        new.push_str(&lines.text[pos..to]);
        if let Some(c) = trimmed(lines, first..end, &new) {
            match out.last_mut() {
                // Adjacent runs read as one: all removed lines, then all
                // added ones (as `diff -u` shows them).
                Some(prev) if prev.old.end == c.old.start => {
                    prev.old.end = c.old.end;
                    prev.new.extend(c.new);
                }
                _ => out.push(c),
            }
        }
        i = j;
    }
    out
}

/// One past the last old line an edit touches.
fn block_end(lines: &Lines, e: &TextEdit) -> usize {
    let last = if e.del > 0 { e.at + e.del - 1 } else { e.at };
    (lines.line_of(last) + 1).min(lines.len())
}

/// Old lines `old` replaced by the lines of `new`, without the lines both
/// share at the start and at the end; `None` when nothing is left.
fn trimmed(lines: &Lines, old: std::ops::Range<usize>, new: &str) -> Option<Change> {
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let (mut a, mut b) = (old.start, old.end);
    let (mut x, mut y) = (0, new_lines.len());
    while a < b && x < y && lines.line(a) == new_lines[x] {
        a += 1;
        x += 1;
    }
    while a < b && x < y && lines.line(b - 1) == new_lines[y - 1] {
        b -= 1;
        y -= 1;
    }
    if a == b && x == y {
        return None;
    }
    Some(Change {
        old: a..b,
        new: new_lines[x..y].iter().map(|s| s.to_string()).collect(),
    })
}

/// Write the unified diff turning `old` into the text `edits` make of it.
/// `name` is the path as [`git_name`] gives it. Nothing is written when the
/// edits change nothing.
pub fn write_unified(
    out: &mut impl Write,
    name: &str,
    old: &str,
    edits: &[TextEdit],
    color: bool,
) -> io::Result<()> {
    let lines = Lines::new(old);
    let changes = changes(&lines, edits);
    if changes.is_empty() {
        return Ok(());
    }
    let mut w = Styled { out, color };
    w.line(&STYLES.header, "--- ", &header_name("a/", name))?;
    w.line(&STYLES.header, "+++ ", &header_name("b/", name))?;
    let mut delta: isize = 0; // new line number minus old, before the hunk
    let mut k = 0;
    while k < changes.len() {
        // One hunk: changes whose context would touch or overlap.
        let mut last = k;
        while last + 1 < changes.len()
            && changes[last + 1].old.start <= changes[last].old.end + 2 * CONTEXT
        {
            last += 1;
        }
        let hunk = &changes[k..=last];
        let start = hunk[0].old.start.saturating_sub(CONTEXT);
        let end = (hunk[hunk.len() - 1].old.end + CONTEXT).min(lines.len());
        let grown: isize = hunk
            .iter()
            .map(|c| c.new.len() as isize - c.old.len() as isize)
            .sum();
        let old_count = end - start;
        let new_count = (old_count as isize + grown) as usize;
        let new_start = (start as isize + delta) as usize;
        let range = |s: usize, n: usize| {
            // `diff -u`: an empty range names the line before it; a count
            // of one is left out.
            match n {
                0 => format!("{s},0"),
                1 => format!("{}", s + 1),
                _ => format!("{},{n}", s + 1),
            }
        };
        let at = format!(
            "@@ -{} +{} @@",
            range(start, old_count),
            range(new_start, new_count)
        );
        w.line(&STYLES.hunk, "", &at)?;
        let mut pos = start;
        for c in hunk {
            for l in pos..c.old.start {
                w.text_line(None, ' ', lines.line(l))?;
            }
            for l in c.old.clone() {
                w.text_line(Some(&STYLES.removed), '-', lines.line(l))?;
            }
            for l in &c.new {
                w.text_line(Some(&STYLES.added), '+', l)?;
            }
            pos = c.old.end;
        }
        for l in pos..end {
            w.text_line(None, ' ', lines.line(l))?;
        }
        delta += grown;
        k = last + 1;
    }
    Ok(())
}

/// The diff as a string, uncoloured.
#[cfg(test)]
pub fn unified_string(name: &str, old: &str, edits: &[TextEdit]) -> String {
    let mut v = Vec::new();
    write_unified(&mut v, name, old, edits, false).expect("writing to memory");
    String::from_utf8(v).expect("the diff of UTF-8 texts is UTF-8")
}

struct Styled<'a, W: Write> {
    out: &'a mut W,
    color: bool,
}

impl<W: Write> Styled<'_, W> {
    fn line(&mut self, style: &anstyle::Style, prefix: &str, body: &str) -> io::Result<()> {
        if self.color {
            writeln!(
                self.out,
                "{}{prefix}{body}{}",
                style.render(),
                style.render_reset()
            )
        } else {
            writeln!(self.out, "{prefix}{body}")
        }
    }

    /// A context, removed or added line (`line` with its own newline, if
    /// it has one; a line without marks the end of a file lacking one).
    fn text_line(
        &mut self,
        style: Option<&anstyle::Style>,
        mark: char,
        line: &str,
    ) -> io::Result<()> {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(b) => (b, true),
            None => (line, false),
        };
        match style.filter(|_| self.color) {
            Some(s) => write!(self.out, "{}{mark}{body}{}", s.render(), s.render_reset())?,
            None => write!(self.out, "{mark}{body}")?,
        }
        if eol {
            self.out.write_all(b"\n")
        } else {
            self.out.write_all(b"\n\\ No newline at end of file\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(at: usize, text: &str) -> TextEdit {
        TextEdit {
            at,
            del: 0,
            text: text.into(),
        }
    }

    #[test]
    fn insertion_within_a_line_and_a_new_line() {
        let old = "a\nb\nf(x);\nc\n{\nd\n";
        let at_call = old.find("x)").unwrap();
        let at_brace = old.find("{").unwrap() + 1;
        let d = unified_string(
            "m.c",
            old,
            &[ins(at_call, "ctx, "), ins(at_brace, "\n    PyCtx ctx;")],
        );
        assert_eq!(
            d,
            "--- a/m.c\n+++ b/m.c\n@@ -1,6 +1,7 @@\n a\n b\n-f(x);\n+f(ctx, x);\n c\n {\n+    PyCtx ctx;\n d\n"
        );
    }

    #[test]
    fn end_of_file_without_newline_and_empty_file() {
        let d = unified_string("m.c", "x", &[ins(1, "\ny")]);
        assert_eq!(
            d,
            "--- a/m.c\n+++ b/m.c\n@@ -1 +1,2 @@\n-x\n\\ No newline at end of file\n+x\n+y\n\\ No newline at end of file\n"
        );
        let d = unified_string("m.c", "", &[ins(0, "#include \"pyctx.h\"\n")]);
        assert_eq!(
            d,
            "--- a/m.c\n+++ b/m.c\n@@ -0,0 +1 @@\n+#include \"pyctx.h\"\n"
        );
    }

    #[test]
    fn distant_changes_make_separate_hunks_with_shifted_numbers() {
        let old: String = (1..=20).map(|i| format!("l{i}\n")).collect();
        let at2 = old.find("l2\n").unwrap();
        let at18 = old.find("l18\n").unwrap();
        let d = unified_string("m.c", &old, &[ins(at2, "new\n"), ins(at18, "X")]);
        assert!(d.contains("@@ -1,4 +1,5 @@\n l1\n+new\n l2\n"), "{d}");
        assert!(d.contains("@@ -15,6 +16,6 @@\n"), "{d}");
        assert!(d.contains("-l18\n+Xl18\n"), "{d}");
    }

    #[test]
    fn git_names() {
        let cwd = Path::new("/home/me/proj");
        assert_eq!(git_name(Path::new("src/m.c"), cwd), "src/m.c");
        assert_eq!(git_name(Path::new("./src/./m.c"), cwd), "src/m.c");
        assert_eq!(git_name(Path::new("/home/me/proj/m.c"), cwd), "m.c");
        assert_eq!(git_name(Path::new("/usr/src/m.c"), cwd), "usr/src/m.c");
        assert_eq!(
            git_name(Path::new("../other/m.c"), cwd),
            "home/me/other/m.c"
        );
        assert_eq!(header_name("a/", "my file.c"), "a/my file.c\t");
        assert_eq!(header_name("a/", "q\"x.c"), "\"a/q\\\"x.c\"");
    }
}
