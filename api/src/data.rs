//! Where a running `pyctx` finds its data: the API table, the runtime's C
//! headers and `libpyctx.a`, and where it may write (the generated-header
//! cache). The one place that knows the two layouts:
//!
//! | layout | table | headers | library | cache |
//! |---|---|---|---|---|
//! | checkout | `api/table.json` | `runtime/include/` | `target/release/libpyctx.a` (cargo keeps it current) | `target/pyctx/` |
//! | installed | `table.json` | `include/` | `lib/libpyctx.a` (prebuilt) | the user cache dir |
//!
//! Looked for in this order ([`DataDir::locate`]):
//!
//! 1. `$PYCTX_HOME`: a checkout or an installed data dir (an error when it
//!    is neither, so a typo is not silently ignored);
//! 2. `<dir of the executable>/../share/pyctx`, installed layout: where a
//!    wheel puts it (`<prefix>/bin/pyctx` beside `<prefix>/share/pyctx`, for
//!    a virtualenv, `--user`, `--target` and system installs alike) and
//!    where `scripts/stage-data PREFIX` puts it beside a `cargo install
//!    --root PREFIX`;
//! 3. the checkout this binary was built from, if it is still there (`cargo
//!    build`, `cargo install --path migrate-cli`).
//!
//! The cache is `$PYCTX_CACHE_DIR` when set; otherwise `target/pyctx/` in a
//! checkout and `<user cache dir>/pyctx` (`$XDG_CACHE_HOME/pyctx`,
//! `~/.cache/pyctx`) for an installed one, whose folders may not be
//! writable.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// How the files are laid out under [`DataDir::root`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A source checkout (the Cargo workspace).
    Checkout,
    /// `share/pyctx` of an installation.
    Installed,
}

/// pyctx's data, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub root: PathBuf,
    pub layout: Layout,
}

/// The checkout this crate was compiled from (`api/..`).
pub fn build_checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("api/ has a parent")
        .to_path_buf()
}

impl DataDir {
    /// Find the data (see the module documentation for the order).
    pub fn locate() -> Result<DataDir> {
        if let Some(home) = std::env::var_os("PYCTX_HOME").filter(|h| !h.is_empty()) {
            let home = PathBuf::from(home);
            return DataDir::at(&home).ok_or_else(|| {
                anyhow::anyhow!(
                    "PYCTX_HOME={}: neither a pyctx checkout (no api/table.json) nor an \
                     installed data directory (no table.json)",
                    home.display()
                )
            });
        }
        let beside = Self::beside_executable();
        if let Some(dir) = beside.as_deref().and_then(Self::installed_at) {
            return Ok(dir);
        }
        if let Some(dir) = Self::checkout_at(&build_checkout()) {
            return Ok(dir);
        }
        bail!(
            "cannot find pyctx's data (the API table, headers and libpyctx.a): looked in {} \
             and in the checkout it was built from ({}); reinstall pyctx, or set PYCTX_HOME \
             to a pyctx checkout or to an installed share/pyctx directory",
            beside.map_or_else(
                || "<executable>/../share/pyctx".to_string(),
                |p| p.display().to_string()
            ),
            build_checkout().display()
        )
    }

    /// The data at `root`, whichever layout it has.
    pub fn at(root: &Path) -> Option<DataDir> {
        Self::checkout_at(root).or_else(|| Self::installed_at(root))
    }

    fn checkout_at(root: &Path) -> Option<DataDir> {
        root.join("api")
            .join("table.json")
            .is_file()
            .then(|| DataDir {
                root: root.to_path_buf(),
                layout: Layout::Checkout,
            })
    }

    fn installed_at(root: &Path) -> Option<DataDir> {
        root.join("table.json").is_file().then(|| DataDir {
            root: root.to_path_buf(),
            layout: Layout::Installed,
        })
    }

    /// `<dir of the running executable>/../share/pyctx`.
    fn beside_executable() -> Option<PathBuf> {
        let exe = std::env::current_exe().ok()?;
        let prefix = exe.parent()?.parent()?;
        Some(prefix.join("share").join("pyctx"))
    }

    /// The API table.
    pub fn table(&self) -> PathBuf {
        match self.layout {
            Layout::Checkout => self.root.join("api").join("table.json"),
            Layout::Installed => self.root.join("table.json"),
        }
    }

    /// The folder of `pyctx.h` and the runtime's other fixed headers.
    pub fn include(&self) -> PathBuf {
        match self.layout {
            Layout::Checkout => self.root.join("runtime").join("include"),
            Layout::Installed => self.root.join("include"),
        }
    }

    /// `libpyctx.a`: built by cargo in a checkout, prebuilt when installed.
    pub fn static_library(&self) -> PathBuf {
        match self.layout {
            Layout::Checkout => self.root.join("target").join("release").join("libpyctx.a"),
            Layout::Installed => self.root.join("lib").join("libpyctx.a"),
        }
    }

    /// Where generated files go (see the module documentation).
    pub fn cache(&self) -> Result<PathBuf> {
        if let Some(dir) = std::env::var_os("PYCTX_CACHE_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        match self.layout {
            Layout::Checkout => Ok(self.root.join("target").join("pyctx")),
            Layout::Installed => match dirs::cache_dir() {
                Some(dir) => Ok(dir.join("pyctx")),
                None => bail!(
                    "no user cache directory (neither $XDG_CACHE_HOME nor $HOME is set): set \
                     PYCTX_CACHE_DIR to a writable directory for pyctx's generated headers"
                ),
            },
        }
    }
}
