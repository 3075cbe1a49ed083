//! `pyctx migrate --write`: every file or none (docs/cli.md, "Writing").
//! Each test makes the failure really happen (permissions, links, owners,
//! an edit made while pyctx runs) and checks that every original is byte
//! for byte, inode for inode, what it was, and that no temporary file is
//! left behind.

mod common;
use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// fixtures/migrate/threading spread over two folders: `lib/` (helpers.c,
/// helpers.h: `make_pair` & co. gain `PyCtx ctx`) and `src/` (mod.c, whose
/// calls must pass it). Only all three together build. pyctx handles them
/// in path order: lib/helpers.c, lib/helpers.h, src/mod.c.
fn split_project(name: &str) -> PathBuf {
    let dir = scratch(name);
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/migrate/threading/before");
    for (sub, file) in [("lib", "helpers.c"), ("lib", "helpers.h"), ("src", "mod.c")] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::copy(fx.join(file), dir.join(sub).join(file)).unwrap();
    }
    dir
}

#[test]
fn a_folder_that_cannot_be_written_leaves_the_whole_project_as_it_was() {
    // The reproducer of issue 11: one folder not writable. Before, the
    // helpers were rewritten and mod.c was not (a project that no longer
    // builds), and the summary said "3 file(s) written".
    let dir = split_project("ro-folder");
    give_away(&dir);
    let src = dir.join("src");
    // mod.c itself stays writable for the user; its folder does not. The
    // two helpers are staged before mod.c fails: their staged copies must
    // go too.
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = snapshot(&dir);
    let out = pyctx_unprivileged(&["migrate", "--write", "--json", s(&dir)], &[]);
    let after = snapshot(&dir);
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("src/mod.c: error[write]: cannot create a temporary file in"),
        "{err}"
    );
    assert!(
        err.contains("pyctx: nothing written (3 file(s) to change)"),
        "{err}"
    );
    assert_same(&after, &before, "every original and nothing else");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["written"], 0);
    for f in report["files"].as_array().unwrap() {
        assert_eq!(f["changed"], true, "{f}");
        assert_eq!(f["written"], false, "{f}");
    }
    let codes: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"write"), "{codes:?}");

    // With the folder writable again, the same run writes all three and
    // says so.
    let out = pyctx(&["migrate", "--write", "--json", s(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("pyctx: 3 file(s) written"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["written"], 3);
    assert!(report["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["written"] == true));
    let m = std::fs::read_to_string(dir.join("src/mod.c")).unwrap();
    assert!(m.contains("make_pair(ctx, a, b)"), "{m}");
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
}

#[test]
fn a_rename_failing_half_way_puts_the_replaced_files_back() {
    let dir = split_project("rename-fails");
    let before = snapshot(&dir);
    // Files are committed in path order: lib/helpers.c, lib/helpers.h, then
    // src/mod.c fails; the first two must get their originals back.
    let out = pyctx_env(
        &["migrate", "--write", s(&dir)],
        &[("PYCTX_TEST_FAIL_RENAME", "3")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("src/mod.c: error[write]: cannot replace it"),
        "{err}"
    );
    assert!(err.contains("nothing written"), "{err}");
    // Same bytes and the same inodes: the originals themselves came back.
    assert_same(&snapshot(&dir), &before, "restored");
}

#[test]
fn a_read_only_file_is_an_error_naming_it() {
    let dir = project("read-only");
    std::fs::write(dir.join("other.c"), needs_ctx("other")).unwrap();
    let ro = dir.join("mod.c");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = snapshot(&dir);
    // As root too: permissions would not stop root, pyctx's check does.
    let out = pyctx(&["migrate", "--write", s(&dir)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: error[write]: read-only (mode 444)",
            ro.display()
        )),
        "{err}"
    );
    assert_same(&snapshot(&dir), &before, "other.c not written either");
}

#[test]
fn a_symlink_is_written_through_to_its_target() {
    let dir = scratch("symlink");
    std::fs::create_dir(dir.join("real")).unwrap();
    std::fs::create_dir(dir.join("proj")).unwrap();
    std::fs::write(dir.join("real/mod.c"), LEGACY).unwrap();
    std::os::unix::fs::symlink("../real/mod.c", dir.join("proj/mod.c")).unwrap();
    let out = pyctx(&["migrate", "--write", s(&dir.join("proj"))]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = std::fs::symlink_metadata(dir.join("proj/mod.c")).unwrap();
    assert!(link.file_type().is_symlink(), "the link stays a link");
    assert_eq!(
        std::fs::read_link(dir.join("proj/mod.c")).unwrap(),
        Path::new("../real/mod.c")
    );
    let text = std::fs::read_to_string(dir.join("real/mod.c")).unwrap();
    assert!(text.contains("helper(PyCtx ctx, PyObject *o)"), "{text}");
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
}

#[test]
fn a_hard_linked_file_is_refused_and_both_names_keep_the_old_text() {
    let dir = project("hardlink");
    let elsewhere = scratch("hardlink-other");
    std::fs::hard_link(dir.join("mod.c"), elsewhere.join("copy.c")).unwrap();
    let before = snapshot(&dir);
    let out = pyctx(&["migrate", "--write", s(&dir)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("mod.c: error[write]: has 2 hard links"),
        "{err}"
    );
    assert_same(&snapshot(&dir), &before, "unchanged");
    let a = std::fs::metadata(dir.join("mod.c")).unwrap();
    let b = std::fs::metadata(elsewhere.join("copy.c")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2), "still one file");
}

#[test]
fn owner_group_and_mode_are_kept() {
    let dir = project("owner");
    let file = dir.join("mod.c");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    // As root, hand the file to another user: a rename-based write must
    // give the new file the same owner. (Not root: the owner is ours and
    // only the mode is exercised.)
    let owner = if is_root() {
        std::os::unix::fs::chown(&file, Some(1234), Some(4321)).unwrap();
        (1234, 4321)
    } else {
        let m = std::fs::metadata(&file).unwrap();
        (m.uid(), m.gid())
    };
    let out = pyctx(&["migrate", "--write", s(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = std::fs::metadata(&file).unwrap();
    assert_eq!((m.uid(), m.gid()), owner);
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("PyCtx ctx"));
}

#[test]
fn an_owner_that_cannot_be_kept_is_refused() {
    // Run as an unprivileged user on a file owned by root that this user
    // may write: the replacement would belong to the user.
    if !is_root() {
        // Needs a file owned by someone else: only root can make one.
        eprintln!("not root: covered by owner_group_and_mode_are_kept only");
        return;
    }
    let dir = project("owner-refused");
    give_away(&dir);
    let file = dir.join("mod.c");
    std::os::unix::fs::chown(&file, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = snapshot(&dir);
    let out = pyctx_unprivileged(&["migrate", "--write", s(&dir)], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error[write]: cannot keep its owner (uid 0, gid 0)"),
        "{err}"
    );
    assert_same(&snapshot(&dir), &before, "unchanged");
}

#[test]
fn a_file_the_user_may_not_write_is_refused() {
    // Root-owned and 0644, in a folder the user may write: a rename would
    // succeed, but the user has no right to change the file.
    if !is_root() {
        eprintln!("not root: needs a file owned by someone else");
        return;
    }
    let dir = project("not-writable");
    std::fs::write(dir.join("other.c"), needs_ctx("other")).unwrap();
    give_away(&dir);
    let file = dir.join("mod.c");
    std::os::unix::fs::chown(&file, Some(0), Some(0)).unwrap();
    let before = snapshot(&dir);
    let out = pyctx_unprivileged(&["migrate", "--write", s(&dir)], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}: error[write]: not writable", file.display())),
        "{err}"
    );
    assert_same(&snapshot(&dir), &before, "unchanged");
}

#[test]
fn a_file_edited_while_pyctx_runs_is_not_overwritten() {
    let dir = project("edited");
    std::fs::write(dir.join("other.c"), needs_ctx("other")).unwrap();
    let file = dir.join("mod.c");
    // The edit lands after pyctx read and migrated the files, before it
    // writes: an editor saving in between.
    let edit = format!("printf '/* saved by an editor */\\n' >> '{}'", s(&file));
    let before_other = std::fs::read(dir.join("other.c")).unwrap();
    let out = pyctx_env(
        &["migrate", "--write", s(&dir)],
        &[("PYCTX_TEST_BEFORE_WRITE", &edit)],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: error[write]: changed on disk since pyctx read it",
            file.display()
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{LEGACY}/* saved by an editor */\n"),
        "the edit is kept"
    );
    assert_eq!(std::fs::read(dir.join("other.c")).unwrap(), before_other);
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn engine_errors_write_nothing() {
    // A panic while migrating one file is an error for that file: the rest
    // is reported, and --write writes none of it (the project without that
    // file might not build).
    let dir = project("engine-error");
    std::fs::write(dir.join("other.c"), needs_ctx("other")).unwrap();
    let before = snapshot(&dir);
    let out = pyctx_env(
        &["migrate", "--write", s(&dir)],
        &[("PYCTX_TEST_PANIC", "engine:other.c")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing written (1 file(s) to change)"));
    assert_same(&snapshot(&dir), &before, "unchanged");
}

#[test]
fn a_project_definition_of_pyctx_stops_that_file_with_an_error() {
    // The migrated code would use the project's `PyCtx`, not the runtime's
    // context type: an error naming the definition, and nothing written.
    let dir = project("pyctx-defined");
    let defines =
        "#include <Python.h>\n#define PyCtx int\n".to_string() + &needs_ctx("other")[20..];
    std::fs::write(dir.join("other.c"), defines).unwrap();
    let before = snapshot(&dir);
    let out = pyctx(&["migrate", "--write", s(&dir)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("other.c:2:9: error[check]: the file defines `PyCtx` (a macro)"),
        "{err}"
    );
    // The summary counts what the run did (nothing), not what it would
    // have done without the error.
    assert!(
        err.contains(
            "nothing written (0 file(s) to change), 0 call(s) rewritten, 0 function(s) threaded"
        ),
        "{err}"
    );
    assert_same(&snapshot(&dir), &before, "unchanged");
    let json = pyctx(&["migrate", "--json", s(&dir)]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    for f in report["functions"].as_array().unwrap() {
        assert_ne!(f["status"], "threaded", "nothing was threaded: {f}");
        assert_eq!(f["calls_rewritten"], 0, "{f}");
    }
}
