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
    /// A function CPython exports (`PyAPI_FUNC`) in some version: calls of
    /// it go through the caller's call slots, which compat can redirect.
    pub exported: bool,
}

include!(concat!(env!("OUT_DIR"), "/api_table.rs"));

/// The table entry for an id passed by generated code, if it is one.
pub fn api_info(id: u32) -> Option<&'static ApiInfo> {
    API.get(id as usize)
}
