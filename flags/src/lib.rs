//! Build integration for extensions: everything `pyctx flags` prints.
//!
//! - [`interp`]: probe a Python interpreter (version, headers, compiler);
//! - [`cpp`]: run the preprocessor over its headers (its definitions read
//!   by the shared lexer, `pyctx-clex`);
//! - [`header`]: generate its `pyctx_api.h` from the API table;
//! - this module: cache the generated header and compute compiler / linker
//!   flags, building `libpyctx.a` with cargo when needed (in a checkout);
//!   where the data and the cache are: [`pyctx_api::data`].

pub mod cpp;
pub mod header;
pub mod interp;
pub mod pkgconfig;

use anyhow::{bail, Context, Result};
use interp::Interpreter;
use pyctx_api::data::{DataDir, Layout};
use pyctx_api::exceptions::RUNTIME_SYMBOLS;
use pyctx_api::Table;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The checkout this crate was built from (the tests find `.venvs/` there).
/// What a running `pyctx` reads is found by [`DataDir::locate`].
pub fn project_root() -> PathBuf {
    pyctx_api::data::build_checkout()
}

/// The generated header for `interp`, regenerated when the table, the
/// generator or the interpreter's headers changed. Returns its directory.
pub fn generated_include_dir(interp: &Interpreter) -> Result<PathBuf> {
    interp.require_compiler()?;
    let data = DataDir::locate()?;
    let table_path = data.table();
    let table_bytes = std::fs::read(&table_path)
        .with_context(|| format!("{}: cannot read the API table", table_path.display()))?;
    let python_h = std::fs::read(interp.include.join("Python.h")).unwrap_or_default();
    let pyconfig_h = std::fs::read(interp.include.join("pyconfig.h")).unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // The generator's own code: any change to it regenerates (no version
    // number to remember to bump).
    include_str!("header.rs").hash(&mut h);
    include_str!("cpp.rs").hash(&mut h);
    // The shared lexer and macro model read the headers' definitions.
    include_str!("../../clex/src/lib.rs").hash(&mut h);
    include_str!("../../clex/src/define.rs").hash(&mut h);
    include_str!("../../runtime/include/pyctx.h").hash(&mut h);
    include_str!("../../runtime/include/pyctx_types.h").hash(&mut h);
    table_bytes.hash(&mut h);
    // Capability classes are computed from these rules when the table
    // loads (not stored in it), and the header's checks depend on them.
    include_str!("../../api/src/classify.rs").hash(&mut h);
    header::VARIADIC_SHIM.hash(&mut h);
    header::FAST_PATHS.hash(&mut h);
    interp.include.hash(&mut h);
    python_h.hash(&mut h);
    pyconfig_h.hash(&mut h);
    interp.compiler().hash(&mut h);
    let dir = data.cache()?.join("include").join(format!(
        "{}.{}.{}-{:016x}",
        interp.major,
        interp.minor,
        interp.micro,
        h.finish()
    ));
    let path = dir.join("pyctx_api.h");
    if path.is_file() {
        return Ok(dir);
    }
    let table = Table::load(&table_path)?;
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create {} for the generated header (set PYCTX_CACHE_DIR to a writable directory)",
            dir.display()
        )
    })?;
    let version = interp.minor_version();
    let mut report = String::new();
    let apis = apis_for(interp);
    let extras = header::extra_headers(&table, &version);
    let guards = include_guards(interp, &extras);
    for &api in &apis {
        let limited = match api {
            header::Api::Full => None,
            header::Api::Limited(major, minor) => Some((major, minor)),
        };
        let read = |ssize_t_clean| {
            cpp::preprocess(
                interp,
                cpp::Variant {
                    ssize_t_clean,
                    limited,
                },
                &extras,
            )
        };
        let (plain, clean) = (read(false)?, read(true)?);
        let headers = header::Headers {
            plain: &plain,
            clean: &clean,
            guards: &guards,
        };
        let gen = header::generate(&table, &version, api, &headers);
        if gen.dispatched.is_empty() {
            bail!(
                "the API table has no entries for CPython {version}: regenerate it with `pyctx api generate`"
            );
        }
        for s in &gen.skipped {
            report.push_str(&format!("{}\t{}\t{}\n", api.file_name(), s.name, s.reason));
        }
        write_atomically(&dir.join(api.file_name()), gen.text.as_bytes())?;
    }
    write_atomically(&dir.join("skipped.tsv"), report.as_bytes())?;
    // The selector last: its presence marks a complete cache entry.
    write_atomically(&path, header::selector(&version, &apis).as_bytes())?;
    Ok(dir)
}

/// The include guard of each extra header that has one (a header without
/// one gets no part: its names are reported in `skipped.tsv`).
fn include_guards(
    interp: &Interpreter,
    extras: &[String],
) -> std::collections::BTreeMap<String, String> {
    extras
        .iter()
        .filter_map(|h| {
            let text = std::fs::read_to_string(interp.include.join(h)).ok()?;
            Some((h.clone(), cpp::include_guard(&text)?))
        })
        .collect()
}

/// The APIs a source may ask for on `interp`: the full API, and
/// `Py_LIMITED_API` at every level from the oldest CPython pyctx supports
/// to the interpreter's own version.
fn apis_for(interp: &Interpreter) -> Vec<header::Api> {
    let mut apis = vec![header::Api::Full];
    let (_, oldest) = pyctx_api::pythons::oldest();
    apis.extend((oldest..=interp.minor).map(|minor| header::Api::Limited(interp.major, minor)));
    apis
}

/// Writes `bytes` to `path` through a temporary file renamed over it, so a
/// reader never sees a partial file. The temporary name is unique per
/// process *and* per call: two threads of one process (cargo runs tests
/// side by side) generating the same cache entry must not share it, or one
/// renames away the file the other is about to rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{serial}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(())
}

/// C compiler flags for sources that include `pyctx.h`: the generated
/// header's directory and the runtime's headers. With `compat` (unmodified
/// sources) there are none: compat is a matter of the link alone, and
/// nothing in the compile step may change what a source means.
pub fn cflags(interp: &Interpreter, compat: bool) -> Result<Vec<String>> {
    if compat {
        return Ok(Vec::new());
    }
    let generated = generated_include_dir(interp)?;
    Ok(vec![
        format!("-I{}", generated.display()),
        format!("-I{}", DataDir::locate()?.include().display()),
    ])
}

/// Linker flags: the static runtime, its symbols hidden from other modules.
/// With `compat`, the interpreter's platform must be one where compat can
/// redirect an extension's calls.
pub fn ldflags(interp: &Interpreter, compat: bool) -> Result<Vec<String>> {
    if compat && !interp.compat_supported() {
        bail!(
            "--python {}: compat by linking redirects the call slots of x86_64 ELF shared objects;              this interpreter is {}. Migrate the sources (`pyctx migrate`) and build them with              `pyctx flags --cflags`, whose ctx forms need no redirection",
            interp.requested,
            interp.platform
        );
    }
    let lib = static_library()?;
    let mut flags: Vec<String> = RUNTIME_SYMBOLS
        .iter()
        .map(|s| format!("-Wl,-u,{s}"))
        .collect();
    flags.push(lib.display().to_string());
    flags.push("-Wl,--exclude-libs,libpyctx.a".to_string());
    Ok(flags)
}

/// `libpyctx.a`: in a checkout `target/release/libpyctx.a`, built (or
/// brought up to date) with cargo unless `PYCTX_NO_CARGO` is set; installed,
/// the prebuilt `lib/libpyctx.a`, never cargo.
pub fn static_library() -> Result<PathBuf> {
    let data = DataDir::locate()?;
    let lib = data.static_library();
    if data.layout == Layout::Installed {
        if !lib.is_file() {
            bail!(
                "{} does not exist: this pyctx installation lacks its prebuilt runtime library; \
                 reinstall pyctx (a wheel from scripts/wheel carries it)",
                lib.display()
            );
        }
        return Ok(lib);
    }
    if std::env::var_os("PYCTX_NO_CARGO").is_none() {
        cargo_build_library(&data.root)?;
    }
    if !lib.is_file() {
        bail!(
            "{} does not exist: run scripts/setup (or `cargo build --release -p pyctx-capi`)",
            lib.display()
        );
    }
    Ok(lib)
}

/// Bring the checkout's `libpyctx.a` up to date with cargo.
fn cargo_build_library(checkout: &Path) -> Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "pyctx-capi",
            "--manifest-path",
        ])
        .arg(checkout.join("Cargo.toml"))
        .output()
        .context(
            "cannot run cargo to build libpyctx.a (set PYCTX_NO_CARGO=1 to use a prebuilt one)",
        )?;
    if !out.status.success() {
        bail!(
            "building libpyctx.a failed:\n{}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write_atomically;

    /// Threads of one process writing the same file at once all succeed and
    /// leave one of their contents, whole (the cache entry is shared by
    /// tests running side by side).
    #[test]
    fn concurrent_atomic_writes_of_one_path_all_succeed() {
        let dir = std::env::temp_dir().join(format!("pyctx-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("entry.h");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    let body = vec![b'a' + t; 64 * 1024];
                    for _ in 0..50 {
                        write_atomically(path, &body).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read(&path).unwrap();
        assert_eq!(text.len(), 64 * 1024);
        assert!(text.iter().all(|&b| b == text[0]), "a torn file");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "entry.h")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
