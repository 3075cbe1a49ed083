//! Finding the sources to migrate: files, folders (every C source or
//! header below: `.c`, `.h`, and C++'s `.cpp`, `.cc`, `.cxx`, `.hpp`,
//! `.hh`, `.hxx`)
//! or a `compile_commands.json`; reading them.
//!
//! Each file is taken once, whatever the spellings it was reached by
//! (`dir/./m.c`, a symlink, a folder and a file in it, a hard link): files
//! are told apart by device and inode. Folders are walked with `walkdir`,
//! following symlinks; a link that loops back to a folder above it, or one
//! that cannot be followed, is reported (`walk` warning) and skipped.

use anyhow::{bail, Context, Result};
use pyctx_rewrite::{Code, Diagnostic, Severity, SourceFile};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// C's; C++'s are `pyctx_rewrite::CPP_EXTENSIONS`.
const SOURCE_EXTENSIONS: &[&str] = &["c", "h"];
/// Folders never searched: VCS metadata, virtualenvs, build output.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "__pycache__",
    "node_modules",
];

fn is_source(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        SOURCE_EXTENSIONS.contains(&e) || pyctx_rewrite::CPP_EXTENSIONS.contains(&e)
    })
}

/// The files to migrate and what was skipped on the way.
pub struct Found {
    /// Sorted, each file once.
    pub paths: Vec<PathBuf>,
    /// With `--compile-commands`: the files it compiles (spelled as in
    /// `paths`), the engine's translation units.
    pub units: Option<BTreeSet<PathBuf>>,
    /// `walk` warnings: folder entries that could not be followed.
    pub warnings: Vec<Diagnostic>,
}

fn walk_warning(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        severity: Severity::Warning,
        code: Code::Walk,
        message,
    }
}

fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>, warnings: &mut Vec<Diagnostic>) {
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir() && SKIPPED_DIRS.iter().any(|s| e.file_name() == *s))
        });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() && is_source(e.path()) => {
                out.insert(tidy(e.path()));
            }
            Ok(_) => {}
            Err(err) => {
                let path = err.path().unwrap_or(dir).to_path_buf();
                if let Some(ancestor) = err.loop_ancestor() {
                    let msg = format!(
                        "symlink loop: leads back to {}; not followed",
                        ancestor.display()
                    );
                    warnings.push(walk_warning(&path, msg));
                } else if is_source(&path) || err.depth() == 0 || path.is_dir() {
                    // A dangling link to a source, an unreadable folder.
                    let why = err
                        .io_error()
                        .map_or_else(|| err.to_string(), |e| e.to_string());
                    warnings.push(walk_warning(
                        &path,
                        format!("cannot follow: {why}; skipped"),
                    ));
                }
            }
        }
    }
}

/// `path` without `.` components and doubled separators (`..` is kept:
/// through a symlink it means something else than the text says).
fn tidy(path: &Path) -> PathBuf {
    let mut out: PathBuf = path
        .components()
        .filter(|c| *c != std::path::Component::CurDir)
        .collect();
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The files named by the command line, sorted, each file once.
pub fn collect(paths: &[PathBuf], compile_commands: Option<&Path>) -> Result<Found> {
    let mut out = BTreeSet::new();
    let mut warnings = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .with_context(|| format!("{}: no such file or folder", p.display()))?;
        if meta.is_dir() {
            walk(&tidy(p), &mut out, &mut warnings);
        } else {
            out.insert(tidy(p));
        }
    }
    let mut compiled = Vec::new();
    if let Some(cc) = compile_commands {
        let db = from_compile_commands(cc)?;
        for f in db.units.iter().chain(&db.headers) {
            out.insert(tidy(f));
        }
        compiled = db.units;
    }
    if out.is_empty() {
        bail!("no C or C++ sources (.c, .h, .cpp, .cc, .cxx, .hpp, .hh, .hxx) found in the given paths");
    }
    let paths = once_each(out)?;
    let units = compile_commands.map(|_| units_as_spelled(&compiled, &paths));
    Ok(Found {
        paths,
        units,
        warnings,
    })
}

/// The compiled files, each spelled as the file of `paths` it is (same
/// device and inode): the engine knows files by those spellings.
fn units_as_spelled(compiled: &[PathBuf], paths: &[PathBuf]) -> BTreeSet<PathBuf> {
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let wanted: BTreeSet<(u64, u64)> = compiled.iter().filter_map(|p| id(p)).collect();
    paths
        .iter()
        .filter(|p| id(p).is_some_and(|i| wanted.contains(&i)))
        .cloned()
        .collect()
}

/// One spelling per file (device and inode): a name that is not a symlink
/// before one that is, then the shorter, then the first in order.
fn once_each(paths: BTreeSet<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut by_id: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    let rank = |p: &Path| {
        let link = std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
        (link, p.as_os_str().len(), p.to_path_buf())
    };
    for p in paths {
        let m = std::fs::metadata(&p).with_context(|| format!("{}: cannot stat", p.display()))?;
        let id = (m.dev(), m.ino());
        match by_id.get(&id) {
            Some(kept) if rank(kept) <= rank(&p) => {}
            _ => {
                by_id.insert(id, p);
            }
        }
    }
    let mut out: Vec<PathBuf> = by_id.into_values().collect();
    out.sort();
    Ok(out)
}

/// What a compile_commands.json names: the files it compiles, and every
/// header in the folders holding them (the call graph needs the project's
/// headers).
pub struct CompileDb {
    pub units: Vec<PathBuf>,
    pub headers: Vec<PathBuf>,
}

pub fn from_compile_commands(path: &Path) -> Result<CompileDb> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON array of compile commands", path.display()))?;
    let mut files = BTreeSet::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(file) = e.get("file").and_then(|f| f.as_str()) else {
            bail!("{}: entry {i} has no \"file\"", path.display());
        };
        // The format requires "directory": "file" is relative to it, and
        // guessing a folder would migrate a different file.
        let Some(dir) = e.get("directory").and_then(|d| d.as_str()) else {
            bail!(
                "{}: entry {i} (\"file\": {file:?}) has no \"directory\" (the compilation \
                 database format requires one: the folder the command ran in)",
                path.display()
            );
        };
        let f = Path::new(dir).join(file);
        if !f.is_file() {
            bail!(
                "{}: entry {i} (\"file\": {file:?}): {} does not exist",
                path.display(),
                f.display()
            );
        }
        files.insert(f);
    }
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    let mut headers = BTreeSet::new();
    for d in dirs {
        let entries = std::fs::read_dir(&d)
            .with_context(|| format!("{}: cannot list folder", d.display()))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let header = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "h" | "hh" | "hpp" | "hxx"));
            if header && p.is_file() {
                headers.insert(p);
            }
        }
    }
    Ok(CompileDb {
        units: files.into_iter().collect(),
        headers: headers.into_iter().collect(),
    })
}

/// What a file was when pyctx read it: `--write` refuses to replace a file
/// that changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime: (i64, i64),
}

impl Stamp {
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
        }
    }
}

/// Read every file (its stamp taken from the same open file); a file that
/// is not UTF-8 is an error naming it.
pub fn read(paths: &[PathBuf]) -> Result<(Vec<SourceFile>, Vec<Stamp>)> {
    let mut files = Vec::with_capacity(paths.len());
    let mut stamps = Vec::with_capacity(paths.len());
    for p in paths {
        let cannot = || format!("{}: cannot read", p.display());
        let mut f = std::fs::File::open(p).with_context(cannot)?;
        let stamp = Stamp::of(&f.metadata().with_context(cannot)?);
        let mut bytes = Vec::with_capacity(stamp.len as usize);
        f.read_to_end(&mut bytes).with_context(cannot)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            anyhow::anyhow!(
                "{}: not UTF-8 text (byte offset {}); pyctx leaves such files alone",
                p.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        files.push(SourceFile::new(p.clone(), text));
        stamps.push(stamp);
    }
    Ok((files, stamps))
}
