//! The runtime's table of `offsetof(PyThreadState, thread_id)` (used to
//! tell whether the calling thread holds the GIL on CPython 3.9-3.11, where
//! the headers hide nothing but the runtime is one build for every version)
//! agrees with the real headers of every installed interpreter.

use pyctx_flags::interp::Interpreter;
use std::process::Command;

const PROBE: &str = r#"
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
int main(void) { printf("%zu\n", offsetof(PyThreadState, thread_id)); return 0; }
"#;

#[test]
fn offsets_match_the_headers() {
    let root = pyctx_flags::project_root();
    let dir = std::env::temp_dir().join(format!("pyctx-tid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("probe.c"), PROBE).unwrap();
    let mut checked = 0;
    for (version, expected) in pyctx_runtime::tstate::THREAD_ID_OFFSETS {
        let python = root
            .join(".venvs")
            .join(format!("{}.{}", version.0, version.1))
            .join("bin")
            .join("python");
        if !python.is_file() {
            continue;
        }
        let interp = Interpreter::probe(python.to_str().unwrap()).unwrap();
        let exe = dir.join(format!("probe-{}", interp.minor_version()));
        let out = Command::new("cc")
            .arg(format!("-I{}", interp.include.display()))
            .arg(dir.join("probe.c"))
            .arg("-o")
            .arg(&exe)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = Command::new(&exe).output().unwrap();
        let got: usize = String::from_utf8_lossy(&got.stdout).trim().parse().unwrap();
        assert_eq!(got, *expected, "CPython {}.{}", version.0, version.1);
        checked += 1;
    }
    assert!(
        checked > 0,
        "no CPython 3.9-3.11 under .venvs/: run scripts/setup"
    );
}
