//! `libpyctx.a`: the one static library an extension links. It bundles the
//! runtime and compat crates (one Rust staticlib per extension: two would
//! clash over the standard library's symbols).

pub use pyctx_compat;
pub use pyctx_runtime;
