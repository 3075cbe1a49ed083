//! The one API table every other part of pyctx is derived from.
//!
//! `table.json` (checked in beside this crate) lists every public C API
//! function (`PyAPI_FUNC`, public static inline functions) and every public
//! function-like macro of each supported CPython minor version, with its
//! signature and capability class. It is produced by `pyctx api generate`
//! (module [`generate`], libclang) and consumed by the header generator, the
//! runtime's name table and the migration CLI.

pub mod abi;
pub mod classify;
pub mod coverage;
pub mod generate;
pub mod model;

pub use generate::{discover_interpreters, generate};

pub use abi::{LimitedApi, WrapSymbol};
pub use model::*;
