//! Derive the runtime's API name/capability table from api/table.json, so
//! the ids the generated header passes (an entry's index) name the same
//! function here.
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let table_path = pyctx_api::Table::default_path();
    println!("cargo:rerun-if-changed={}", table_path.display());
    let table = pyctx_api::Table::load(&table_path).expect("API table loads");
    let mut out = String::from("/// One record per API table entry, in table order (the entry's id).\npub static API: &[ApiInfo] = &[\n");
    for e in &table.entries {
        let _ = writeln!(
            out,
            "    ApiInfo {{ name: {:?}, dealloc_safe: {}, gil_free: {}, exported: {} }},",
            e.name,
            e.dealloc_safe,
            e.gil_free,
            e.forms.iter().any(|f| f.kind == pyctx_api::Kind::Function)
        );
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("api_table.rs");
    std::fs::write(dest, out).unwrap();
}
