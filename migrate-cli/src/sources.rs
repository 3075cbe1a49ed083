//! Finding the sources to migrate: files, folders (every `.c` / `.h` below)
//! or a `compile_commands.json`.

use anyhow::{bail, Context, Result};
use pyctx_rewrite::SourceFile;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e))
}

fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list folder", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list folder", dir.display()))?;
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            let name = entry.file_name();
            if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                walk(&path, out)?;
            }
        } else if ty.is_file() && is_source(&path) {
            out.insert(path);
        }
    }
    Ok(())
}

/// The files named by the command line, sorted, without duplicates.
pub fn collect(paths: &[PathBuf], compile_commands: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut out = BTreeSet::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .with_context(|| format!("{}: no such file or folder", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.insert(p.clone());
        }
    }
    if let Some(cc) = compile_commands {
        for f in from_compile_commands(cc)? {
            out.insert(f);
        }
    }
    if out.is_empty() {
        bail!("no .c or .h files found in the given paths");
    }
    Ok(out.into_iter().collect())
}

/// The translation units of a compile_commands.json, plus every header in
/// the folders holding them (the call graph needs the project's headers).
pub fn from_compile_commands(path: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON array of compile commands", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = BTreeSet::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(file) = e.get("file").and_then(|f| f.as_str()) else {
            bail!("{}: entry {i} has no \"file\"", path.display());
        };
        let dir = e
            .get("directory")
            .and_then(|d| d.as_str())
            .map(PathBuf::from)
            .unwrap_or_else(|| base.to_path_buf());
        let f = dir.join(file);
        if !f.is_file() {
            bail!(
                "{}: entry {i}: {} does not exist",
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
    for d in dirs {
        for entry in std::fs::read_dir(&d)?.flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "h") {
                files.insert(p);
            }
        }
    }
    Ok(files.into_iter().collect())
}

/// Read every file; a file that is not UTF-8 is an error naming it.
pub fn read(paths: &[PathBuf]) -> Result<Vec<SourceFile>> {
    paths
        .iter()
        .map(|p| {
            let bytes =
                std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not UTF-8 text (byte offset {}); pyctx leaves such files alone",
                    p.display(),
                    e.utf8_error().valid_up_to()
                )
            })?;
            Ok(SourceFile::new(p.clone(), text))
        })
        .collect()
}
