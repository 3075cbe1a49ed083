//! Bad options and odd inputs: each a clear message and the documented
//! exit status, never a silent no-op or output that does not compile.

mod common;
use common::*;

#[test]
fn context_names_that_cannot_work_are_usage_errors() {
    let dir = project("ctx-names");
    for (name, why) in [
        ("int", "a C keyword"),
        ("NULL", "a name the C library defines"),
        ("errno", "a name the C library defines"),
        ("Py_None", "CPython"),
        ("Py_INCREF", "a name of CPython's C API"),
        ("__func__", "reserved for the compiler"),
        ("PyCtx", "CPython's namespace"),
        ("1x", "not a C identifier"),
        ("a b", "not a C identifier"),
    ] {
        let out = pyctx(&["migrate", "--ctx-name", name, s(&dir)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("--ctx-name {name:?}: ")) && err.contains(why),
            "{name}: {err}"
        );
        assert!(out.stdout.is_empty(), "{name}: no diff");
    }
    // A good one still works.
    let out = pyctx(&["migrate", "--ctx-name", "c", s(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("helper(PyCtx c, PyObject *o)"));
}

#[test]
fn function_names_that_match_nothing_are_errors_like_an_unmatched_glob() {
    let dir = project("names");
    for (args, msg) in [
        (
            vec!["--only", "does_not_exist"],
            "--only does_not_exist: no function of that name is defined in the 1 file(s)",
        ),
        (
            vec!["--only", "helper,nope,nada"],
            "--only nope,nada: no function of those names is defined",
        ),
        (vec!["--only", ""], "--only: an empty function name"),
        (vec!["--only", "helper,"], "--only: an empty function name"),
        (
            vec!["--exclude", "nope"],
            "--exclude nope: no function of that name",
        ),
        (
            vec!["--entry", "nope"],
            "--entry nope: no function of that name",
        ),
        (
            vec!["--files", "*/nothing*.c"],
            "--files \"*/nothing*.c\" matches none of the 1 files",
        ),
    ] {
        let mut a = vec!["migrate"];
        a.extend(&args);
        a.push(s(&dir));
        let out = pyctx(&a);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = pyctx(&["migrate", "--only", "helper", s(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn compile_commands_entry_without_directory_names_file_and_entry() {
    let dir = project("cc");
    let cc = dir.join("compile_commands.json");
    std::fs::write(
        &cc,
        format!(
            "[{{\"directory\": \"{}\", \"file\": \"mod.c\", \"command\": \"cc -c mod.c\"}},\n \
             {{\"file\": \"other.c\", \"command\": \"cc -c other.c\"}}]",
            s(&dir)
        ),
    )
    .unwrap();
    let out = pyctx(&["migrate", "--compile-commands", s(&cc)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: entry 1 (\"file\": \"other.c\") has no \"directory\"",
            cc.display()
        )),
        "{err}"
    );
}

#[test]
fn symlink_loops_in_a_folder_are_reported_and_the_rest_migrated() {
    let dir = project("loops");
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("missing.c", dir.join("dangling.c")).unwrap();
    let out = pyctx(&["migrate", "--json", s(&dir)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "{}: warning[walk]: symlink loop: leads back to {}",
            dir.join("sub/up").display(),
            dir.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("dangling.c: warning[walk]: cannot follow"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["changed"], true);
}

#[test]
fn one_file_under_several_spellings_is_processed_once() {
    let dir = project("twice");
    std::os::unix::fs::symlink("mod.c", dir.join("alias.c")).unwrap();
    let dotted = dir.join(".").join("mod.c");
    let up = dir.join("..").join(dir.file_name().unwrap()).join("mod.c");
    let out = pyctx(&[
        "migrate",
        "--json",
        s(&dir),
        s(&dotted),
        s(&up),
        s(&dir.join("alias.c")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:#?}");
    assert_eq!(
        files[0]["path"],
        s(&dir.join("mod.c")),
        "the plain spelling"
    );
    assert_eq!(v["totals"]["threaded"], 1, "helper counted once");
    // --write writes it once: migrating the result again changes nothing.
    let out = pyctx(&["migrate", "--write", s(&dir), s(&dir.join("alias.c"))]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = pyctx(&["migrate", "--check", s(&dir)]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}

#[test]
fn bad_colour_choice_is_a_usage_error() {
    let dir = project("colour-arg");
    let out = pyctx(&["migrate", "--color", "sometimes", s(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("sometimes"));
}
