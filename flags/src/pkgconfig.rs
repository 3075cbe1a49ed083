//! pkg-config files for one interpreter, for build systems that ask
//! pkg-config (meson's `dependency()`, autotools, CMake's `pkg_check_modules`):
//!
//! - `pyctx-X.Y.pc`: sources that include `pyctx.h` (`--cflags` and
//!   `--ldflags` of `pyctx flags`);
//! - `pyctx-compat-X.Y.pc`: unmodified sources, compat by linking (no
//!   compile flags, the link flags of `--ldflags --compat`).
//!
//! They name the interpreter's generated header, so they are written beside
//! it, in the cache entry for that interpreter (see
//! [`crate::generated_include_dir`]), and their directory is what
//! `pyctx flags --pkg-config` prints for `PKG_CONFIG_PATH`.

use crate::interp::Interpreter;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Write both files for `interp`; returns their directory.
pub fn write(interp: &Interpreter) -> Result<PathBuf> {
    let dir = crate::generated_include_dir(interp)?.join("pkgconfig");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let version = interp.minor_version();
    let files = [
        (
            format!("pyctx-{version}"),
            "sources that include pyctx.h",
            crate::cflags(interp, false)?,
            crate::ldflags(interp, false)?,
        ),
        (
            format!("pyctx-compat-{version}"),
            "unmodified sources, compat by linking",
            crate::cflags(interp, true)?,
            crate::ldflags(interp, true)?,
        ),
    ];
    for (name, what, cflags, libs) in files {
        let text = format!(
            "# Written by `pyctx flags --pkg-config --python {}` for {} (CPython {}.{}.{}).\n\
             Name: {name}\n\
             Description: pyctx runtime for CPython {version}: {what}\n\
             Version: {}\n\
             Cflags: {}\n\
             Libs: {}\n",
            interp.requested,
            interp.executable.display(),
            interp.major,
            interp.minor,
            interp.micro,
            env!("CARGO_PKG_VERSION"),
            quote(&cflags),
            quote(&libs),
        );
        crate::write_atomically(&dir.join(format!("{name}.pc")), text.as_bytes())?;
    }
    Ok(dir)
}

/// Flags joined as pkg-config reads them (it splits on blanks; a path with
/// a blank needs a backslash).
fn quote(flags: &[String]) -> String {
    flags
        .iter()
        .map(|f| f.replace('\\', "\\\\").replace(' ', "\\ "))
        .collect::<Vec<_>>()
        .join(" ")
}
