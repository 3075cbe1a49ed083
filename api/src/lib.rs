//! The one API table every other part of pyctx is derived from.
//!
//! `table.json` (checked in beside this crate) lists every public C API
//! function (`PyAPI_FUNC`, public static inline functions) and every public
//! function-like macro of each supported CPython minor version, with its
//! signature, the header to include, its exported symbols and its
//! limited-API membership, plus each version's stable ABI. It is produced
//! by `pyctx api generate` (module [`generate`], libclang) and consumed by
//! the header generator, the runtime's name table, the migration CLI and
//! compat's link step. Capability classes come from [`classify`] when the
//! table loads.
//!
//! ```no_run
//! let table = pyctx_api::Table::load_default()?;
//! for (id, entry, form) in table.for_version("3.12") {
//!     println!("{id} {} {:?} exported={}", entry.name, form.kind, form.exported);
//! }
//! let abi3 = table.stable_abi_symbols("3.12")?; // what an abi3 .so may reference
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod abi;
pub mod classify;
pub mod coverage;
pub mod data;
pub mod exceptions;
pub mod generate;
pub mod model;
pub mod pythons;

pub use generate::generate;
pub use pythons::discover_interpreters;

pub use abi::{LimitedApi, WrapSymbol};
pub use model::*;
