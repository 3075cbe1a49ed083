//! The pyctx runtime: the Rust side of the context API.
//!
//! Extensions call CPython through inline code generated into `pyctx_api.h`;
//! that code tests one bit of the context and comes here only when the bit
//! is clear: a restricted context (capability check), debug or stats mode,
//! or a bad context. Everything here is therefore off the fast path.
//!
//! - [`context`]: the encoding of `PyCtx` (shared with `pyctx.h`);
//! - [`mode`]: release / debug / stats, chosen from the environment at load;
//! - [`stats`]: per-API call counters and the report written at exit;
//! - [`check`]: the checked slow path and its error messages.

pub mod callbacks;
pub mod check;
pub mod context;
pub mod mode;
pub mod python;
pub mod stats;
pub mod symbolize;
pub mod tstate;
pub mod types;

/// Name and capability class of one API table entry.
#[derive(Debug, Clone, Copy)]
pub struct ApiInfo {
    pub name: &'static str,
    pub dealloc_safe: bool,
    pub gil_free: bool,
}

include!(concat!(env!("OUT_DIR"), "/api_table.rs"));

/// The API id whose legacy call a call of the exported symbol `name` is
/// (`_PyArg_ParseTuple_SizeT` is `PyArg_ParseTuple`'s), from the table's
/// `wrap_symbols` over every supported version.
pub fn legacy_id(symbol: &str) -> Option<u32> {
    LEGACY_SYMBOLS
        .binary_search_by(|(s, _)| s.cmp(&symbol))
        .ok()
        .map(|i| LEGACY_SYMBOLS[i].1)
}

/// The table entry for an id passed by generated code, if it is one.
pub fn api_info(id: u32) -> Option<&'static ApiInfo> {
    API.get(id as usize)
}
