//! The runtime's tables of CPython 3.9-3.11 layouts agree with the real
//! headers of every installed interpreter: `offsetof(PyThreadState,
//! thread_id)` (to tell whether the calling thread holds the GIL; the
//! runtime is one build for every version) and `offsetof(_PyRuntimeState,
//! gilstate.tstate_current)` (where `PyCtx_Get()` reads the GIL holder's
//! thread state inline; internal headers).

use pyctx_flags::interp::Interpreter;
use std::process::Command;

const PROBE: &str = r#"
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
int main(void) { printf("%zu\n", offsetof(PyThreadState, thread_id)); return 0; }
"#;

const RUNTIME_PROBE: &str = r#"
#define Py_BUILD_CORE 1
#include <Python.h>
#include "internal/pycore_runtime.h"
#include <stddef.h>
#include <stdio.h>
int main(void) { printf("%zu\n", offsetof(_PyRuntimeState, gilstate.tstate_current)); return 0; }
"#;

#[test]
fn thread_id_offsets_match_the_headers() {
    check_offsets("tid", PROBE, pyctx_runtime::tstate::THREAD_ID_OFFSETS);
}

#[test]
fn tstate_current_offsets_match_the_internal_headers() {
    check_offsets(
        "cur",
        RUNTIME_PROBE,
        pyctx_runtime::tstate::TSTATE_CURRENT_OFFSETS,
    );
}

fn check_offsets(tag: &str, probe: &str, table: &[((u32, u32), usize)]) {
    let venvs = pyctx_api::pythons::SetupVenvs::in_checkout(&pyctx_flags::project_root());
    let dir = std::env::temp_dir().join(format!("pyctx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("probe.c"), probe).unwrap();
    let mut checked = 0;
    for (version, expected) in table {
        let Some(python) = venvs.get(&format!("{}.{}", version.0, version.1)) else {
            continue;
        };
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
        "none of the table's CPython versions under .venvs/: run scripts/setup"
    );
}
