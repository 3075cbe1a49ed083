//! Probing a Python interpreter: version, include dir, compiler.

use anyhow::{bail, Context, Result};
use pyctx_api::pythons;
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
                 pass the path of a CPython {} executable",
                pythons::supported_range()
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
        if !pythons::is_supported(interp.major, interp.minor) {
            bail!(
                "--python {python}: CPython {}.{} is not supported; pyctx supports {}",
                interp.major,
                interp.minor,
                pythons::supported_range()
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

    /// [`Interpreter::compiler`], or an error saying what is missing when
    /// none of the candidates is there: generating the header runs it, and
    /// the extension's build would need it next.
    pub fn require_compiler(&self) -> Result<String> {
        let cc = self.compiler();
        if which(&cc).is_some() {
            return Ok(cc);
        }
        let env_cc = std::env::var("CC").ok().filter(|c| !c.trim().is_empty());
        bail!(
            "--python {}: no C compiler found: tried {}CPython's own ({}) and `cc` on PATH; \
             install one (e.g. Debian's gcc) or set CC to its path",
            self.requested,
            env_cc.map_or_else(String::new, |c| format!("$CC ({c}), ")),
            self.cc.as_deref().unwrap_or("none recorded"),
        )
    }

    /// The C compiler used to preprocess its headers: `$CC`, else the one
    /// CPython was built with, whichever is found first, else `cc`.
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
