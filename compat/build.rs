//! Generate the pool of compat stubs (x86_64 assembly): one stub per API
//! function an extension could call, so the pool is as large as the table
//! has exported functions plus their PY_SSIZE_T_CLEAN twins.
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let table_path = pyctx_api::Table::default_path();
    println!("cargo:rerun-if-changed={}", table_path.display());
    let table = pyctx_api::Table::load(&table_path).expect("API table loads");
    let functions = table
        .entries
        .iter()
        .filter(|e| e.forms.iter().any(|f| f.kind == pyctx_api::Kind::Function))
        .count();
    // Every function may also have a `_NAME_SizeT` twin (see redirect.rs).
    let pool = 2 * functions;
    let mut asm = String::new();
    let _ = writeln!(asm, ".set PYCTX_COMPAT_POOL, {pool}");
    let _ = writeln!(
        asm,
        ".section .text.pyctx_compat_stubs,\"ax\",@progbits\n.p2align 4\n.globl pyctx_compat_stubs\n.hidden pyctx_compat_stubs\npyctx_compat_stubs:"
    );
    for k in 0..pool {
        // 4 + 6 + 5 bytes, padded to 16: the stub for slot k is at
        // pyctx_compat_stubs + 16 * k.
        let _ = writeln!(
            asm,
            ".p2align 4\nendbr64\nmovl ${k}, %r11d\njmp pyctx_compat_stub_common"
        );
    }
    let _ = writeln!(
        asm,
        ".p2align 4\n.globl pyctx_compat_stubs_end\n.hidden pyctx_compat_stubs_end\npyctx_compat_stubs_end:"
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("stub_pool.s");
    std::fs::write(out, asm).unwrap();
}
