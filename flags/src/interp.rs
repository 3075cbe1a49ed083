//! Probing a Python interpreter: version, include dir, compiler.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What pyctx needs to know about one interpreter.
#[derive(Debug, Clone, Deserialize)]
pub struct Interpreter {
    /// The path or command the user gave (`--python`).
    #[serde(skip)]
    pub requested: String,
    pub executable: PathBuf,
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
    pub include: PathBuf,
    /// The C compiler CPython was built with (sysconfig `CC`), first word.
    pub cc: Option<String>,
    /// `sys.implementation.name`: pyctx works with `cpython` only.
    pub implementation: String,
    /// `sysconfig.get_platform()`, e.g. `linux-x86_64`.
    pub platform: String,
}

const PROBE: &str = r#"
import json, sys, sysconfig
cc = sysconfig.get_config_var("CC") or ""
print(json.dumps({
    "executable": sys.executable,
    "major": sys.version_info[0],
    "minor": sys.version_info[1],
    "micro": sys.version_info[2],
    "include": sysconfig.get_paths()["include"],
    "cc": cc.split()[0] if cc.split() else None,
    "implementation": sys.implementation.name,
    "platform": sysconfig.get_platform(),
}))
"#;

impl Interpreter {
    /// Probe `python` (a path, or a command looked up on PATH).
    pub fn probe(python: &str) -> Result<Interpreter> {
        let output = match Command::new(python).arg("-c").arg(PROBE).output() {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "--python {python}: no such interpreter (not a file, and not found on PATH); \
                 pass the path of a CPython 3.9-3.13 executable"
            ),
            Err(e) => bail!("--python {python}: cannot run it: {e}"),
        };
        if !output.status.success() {
            bail!(
                "--python {python}: running it failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let mut interp: Interpreter =
            serde_json::from_slice(&output.stdout).with_context(|| {
                format!(
                    "--python {python}: does not look like CPython (unexpected probe output {:?})",
                    String::from_utf8_lossy(&output.stdout)
                )
            })?;
        interp.requested = python.to_string();
        if interp.implementation != "cpython" {
            bail!(
                "--python {python}: this is {}, not CPython; pyctx works with CPython's C API only",
                interp.implementation
            );
        }
        if interp.major != 3 || !(9..=13).contains(&interp.minor) {
            bail!(
                "--python {python}: CPython {}.{} is not supported; pyctx supports 3.9 to 3.13",
                interp.major,
                interp.minor
            );
        }
        let header = interp.include.join("Python.h");
        if !header.is_file() {
            bail!(
                "--python {python}: this Python has no C headers ({} is missing); install its \
                 development package (e.g. Debian's python{}.{}-dev) or use a Python built from source",
                header.display(),
                interp.major,
                interp.minor
            );
        }
        Ok(interp)
    }

    /// Can compat redirect an extension's API calls for this interpreter?
    /// It rewrites the call slots of an ELF shared object at load, with
    /// stubs written for x86_64 (see `compat/src/redirect.rs`).
    pub fn compat_supported(&self) -> bool {
        self.platform == "linux-x86_64"
    }

    /// "3.12"
    pub fn minor_version(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// The C compiler used to preprocess its headers.
    pub fn compiler(&self) -> String {
        std::env::var("CC")
            .ok()
            .and_then(|cc| cc.split_whitespace().next().map(str::to_string))
            .or_else(|| self.cc.clone())
            .filter(|cc| which(cc).is_some())
            .unwrap_or_else(|| "cc".to_string())
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Path::new(cmd).is_file().then(|| PathBuf::from(cmd));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(cmd))
            .find(|p| p.is_file())
    })
}
