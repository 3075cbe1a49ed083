//! `--write`: all files or none.
//!
//! A migration changes several files that only build together (a helper
//! gains `PyCtx ctx` in one file, its callers pass it in another), so
//! writing is one transaction over the project:
//!
//! 1. **check** every file: a symlink is written through to its target
//!    (the link stays a link); a file with more than one hard link, a
//!    read-only file (no write bit), a file we may not write, or one that
//!    changed on disk since it was read is refused, naming it and why;
//! 2. **stage** each new text in a temporary file beside its target, with
//!    the target's mode and owner (refused when the owner cannot be kept);
//! 3. check again that no file changed since it was read (content and
//!    stamp);
//! 4. **commit**: rename each staged file over its target, first keeping
//!    the original reachable under a backup name (a hard link, so the
//!    original inode survives); when a rename fails, the files already
//!    renamed get their originals back.
//!
//! Any failure before or during the commit leaves every original byte for
//! byte (and inode for inode) as it was, and no temporary file behind. The
//! window between the last check and a rename is the one unguarded moment:
//! an edit saved in it is overwritten, as with any editor's save.

use crate::sources::Stamp;
use crate::testing;
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// One file to replace.
pub struct Job<'a> {
    /// As given (reported in messages).
    pub path: &'a Path,
    pub old: &'a str,
    pub new: &'a str,
    pub stamp: &'a Stamp,
}

/// A file that could not be written, and why.
#[derive(Debug)]
pub struct Failure {
    pub path: PathBuf,
    pub message: String,
}

fn fail(path: &Path, message: impl Into<String>) -> Failure {
    Failure {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// A checked job: where the bytes go, and what the file is now.
struct Target<'a> {
    job: &'a Job<'a>,
    /// The file to replace (the symlink's target for a symlink).
    real: PathBuf,
    meta: fs::Metadata,
}

/// Write every job or none. `Err` lists each file refused or failed; the
/// originals are then unchanged (a failed restore is reported as such).
pub fn write_all(jobs: &[Job]) -> Result<(), Vec<Failure>> {
    let mut targets = Vec::with_capacity(jobs.len());
    let mut failures = Vec::new();
    for job in jobs {
        match check(job) {
            Ok(t) => targets.push(t),
            Err(f) => failures.push(f),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let staged = targets
        .iter()
        .map(stage)
        .collect::<Result<Vec<NamedTempFile>, Failure>>()
        .map_err(|f| vec![f])?;
    let failures: Vec<Failure> = targets.iter().filter_map(|t| unchanged(t).err()).collect();
    if !failures.is_empty() {
        return Err(failures);
    }
    commit(&targets, staged)
}

/// Step 1: may this file be replaced?
fn check<'a>(job: &'a Job<'a>) -> Result<Target<'a>, Failure> {
    let p = job.path;
    let link = fs::symlink_metadata(p)
        .map_err(|e| fail(p, format!("cannot stat: {e}")))?
        .file_type()
        .is_symlink();
    let real = if link {
        fs::canonicalize(p).map_err(|e| fail(p, format!("cannot resolve the symlink: {e}")))?
    } else {
        p.to_path_buf()
    };
    let meta = fs::metadata(&real).map_err(|e| fail(p, format!("cannot stat: {e}")))?;
    let shown = if link {
        format!(" (the symlink's target {})", real.display())
    } else {
        String::new()
    };
    if !meta.is_file() {
        return Err(fail(p, format!("not a regular file{shown}")));
    }
    if meta.permissions().mode() & 0o222 == 0 {
        return Err(fail(
            p,
            format!(
                "read-only (mode {:o}){shown}: pyctx does not change read-only files; \
                 make it writable to migrate it",
                meta.permissions().mode() & 0o7777
            ),
        ));
    }
    if let Err(e) = rustix::fs::access(&real, rustix::fs::Access::WRITE_OK) {
        return Err(fail(p, format!("not writable{shown}: {e}")));
    }
    if meta.nlink() > 1 {
        return Err(fail(
            p,
            format!(
                "has {} hard links{shown}: writing by rename would split them (the other \
                 names would keep the old text); pyctx leaves it alone",
                meta.nlink()
            ),
        ));
    }
    let target = Target {
        job,
        real,
        meta: meta.clone(),
    };
    if Stamp::of(&meta).ino != job.stamp.ino || Stamp::of(&meta).dev != job.stamp.dev {
        return Err(changed(&target));
    }
    Ok(target)
}

fn changed(t: &Target) -> Failure {
    fail(
        t.job.path,
        "changed on disk since pyctx read it: not overwritten; run pyctx again",
    )
}

fn dir_of(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn temp_prefix(p: &Path) -> String {
    format!(
        ".{}.",
        p.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    )
}

/// Step 2: the new text in a temporary file beside the target, with its
/// mode and owner.
fn stage(t: &Target) -> Result<NamedTempFile, Failure> {
    let p = t.job.path;
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(&t.real))
        .suffix(".pyctx-new")
        .tempfile_in(dir_of(&t.real))
        .map_err(|e| {
            fail(
                p,
                format!(
                    "cannot create a temporary file in {}: {e}",
                    dir_of(&t.real).display()
                ),
            )
        })?;
    let io = |e: io::Error| fail(p, format!("cannot write {}: {e}", tmp_name(&t.real)));
    tmp.write_all(t.job.new.as_bytes()).map_err(io)?;
    keep_owner(tmp.as_file(), &t.meta).map_err(|e| {
        fail(
            p,
            format!(
                "cannot keep its owner (uid {}, gid {}): {e}; pyctx leaves it alone",
                t.meta.uid(),
                t.meta.gid()
            ),
        )
    })?;
    // After chown, which may clear set-id bits.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(
            t.meta.permissions().mode() & 0o7777,
        ))
        .map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    Ok(tmp)
}

fn tmp_name(real: &Path) -> String {
    format!("a temporary file beside {}", real.display())
}

fn keep_owner(f: &fs::File, meta: &fs::Metadata) -> io::Result<()> {
    let now = f.metadata()?;
    if now.uid() == meta.uid() && now.gid() == meta.gid() {
        return Ok(());
    }
    std::os::unix::fs::fchown(f, Some(meta.uid()), Some(meta.gid()))
}

/// Step 3 (and before each rename): the file is still what was read.
fn unchanged(t: &Target) -> Result<(), Failure> {
    let now = fs::metadata(&t.real).map_err(|_| changed(t))?;
    if Stamp::of(&now) != *t.job.stamp {
        return Err(changed(t));
    }
    let mut bytes = Vec::with_capacity(t.job.old.len());
    fs::File::open(&t.real)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| fail(t.job.path, format!("cannot read it again: {e}")))?;
    if bytes != t.job.old.as_bytes() {
        return Err(changed(t));
    }
    Ok(())
}

/// Step 4: rename every staged file into place, or restore what was
/// renamed.
fn commit(targets: &[Target], staged: Vec<NamedTempFile>) -> Result<(), Vec<Failure>> {
    let mut backups: Vec<PathBuf> = Vec::with_capacity(targets.len());
    for (n, (t, tmp)) in targets.iter().zip(staged).enumerate() {
        let step = || -> Result<PathBuf, Failure> {
            let now = fs::metadata(&t.real).map_err(|_| changed(t))?;
            if Stamp::of(&now) != *t.job.stamp {
                return Err(changed(t));
            }
            let backup = backup(t)?;
            let renamed = if testing::rename_fails(n + 1) {
                Err("injected failure".to_string())
            } else {
                tmp.persist(&t.real).map_err(|e| e.error.to_string())
            };
            match renamed {
                Ok(_) => Ok(backup),
                Err(e) => {
                    // This file was not replaced: its backup is not needed.
                    let _ = fs::remove_file(&backup);
                    Err(fail(t.job.path, format!("cannot replace it: {e}")))
                }
            }
        };
        match step() {
            Ok(b) => backups.push(b),
            Err(f) => {
                let mut failures = vec![f];
                failures.extend(restore(&targets[..backups.len()], backups));
                return Err(failures);
            }
        }
    }
    sync_dirs(targets);
    for b in backups {
        let _ = fs::remove_file(b);
    }
    Ok(())
}

/// The original kept under a temporary name until the commit is over: a
/// hard link (the same inode), or, where the file system has none, a copy
/// of the same bytes and mode. Not removed automatically: should pyctx die
/// half-way (a panic unwinding, a kill), the originals stay on disk.
fn backup(t: &Target) -> Result<PathBuf, Failure> {
    let prefix = temp_prefix(&t.real);
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix(&prefix).suffix(".pyctx-orig");
        b
    };
    let dir = dir_of(&t.real);
    let linked = builder().make_in(dir, |b| fs::hard_link(&t.real, b));
    let kept = linked.or_else(|_| {
        builder().make_in(dir, |b| {
            fs::write(b, t.job.old)?;
            fs::set_permissions(b, t.meta.permissions())
        })
    });
    kept.and_then(|k| k.into_temp_path().keep().map_err(|e| e.error))
        .map_err(|e| fail(t.job.path, format!("cannot keep the original: {e}")))
}

/// Put the originals back after a failed commit; what could not be put
/// back is reported with the backup's name.
fn restore(done: &[Target], backups: Vec<PathBuf>) -> Vec<Failure> {
    let mut failures = Vec::new();
    for (t, b) in done.iter().zip(backups) {
        if let Err(e) = fs::rename(&b, &t.real) {
            failures.push(fail(
                t.job.path,
                format!(
                    "was written, and its original could not be put back ({e}); the original \
                     is kept at {}",
                    b.display()
                ),
            ));
        }
    }
    failures
}

/// Make the renames durable (best effort: a folder that cannot be synced
/// changes nothing about what was written).
fn sync_dirs(targets: &[Target]) {
    let dirs: BTreeSet<&Path> = targets.iter().map(|t| dir_of(&t.real)).collect();
    for d in dirs {
        if let Ok(f) = fs::File::open(d) {
            let _ = f.sync_all();
        }
    }
}
