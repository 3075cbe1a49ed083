"""Build C extensions for the end-to-end tests: plain, through compat, or
against the context runtime.

Stable API (other tests import it; keep the signatures):

``ROOT``
    The repository root (a ``pathlib.Path``).
``BuildError``
    Raised by every helper here on failure; its message carries the command,
    the environment overrides and the full compiler / tool output.
``python_list() -> dict``
    What ``pyctx python list --json`` says: ``supported`` (the versions pyctx
    supports, oldest first), ``found`` (``minor``, ``release``, ``path`` of
    each interpreter found), ``missing``, ``unsupported`` (CPythons found that
    pyctx refuses). The one source of both facts; runs ``scripts/setup``
    first when the binary is not built yet.
``interpreters() -> dict[str, Path]``
    ``{"3.9": Path(".venvs/3.9/bin/python"), ...}`` for every supported
    CPython that has a virtualenv made by ``scripts/setup``, oldest first.
    Runs ``scripts/setup`` first when an interpreter ``python_list()`` found
    has no virtualenv yet (or there is none at all).
``pyctx_bin() -> Path``
    ``$PYCTX_BIN`` or ``<root>/target/release/pyctx``.
``pyctx_flags(python, compat=False) -> dict``
    ``{"CFLAGS": ..., "LDFLAGS": ...}`` from ``pyctx flags`` for that
    interpreter: ``--compat`` for a compat build of legacy sources (no
    compile flags; the link adds the runtime), plain for migrated sources. Merge into the ``env`` of
    ``pip_install``.
``pip_install(python, project_dir, target, env=None) -> Path``
    Copy ``project_dir`` to a scratch directory (the source tree is never
    built in) and run ``python -m pip install --no-build-isolation --no-deps
    --target target`` on the copy. ``env`` holds overrides on top of the
    current environment; ``CFLAGS``, ``LDFLAGS``, ``CPPFLAGS`` and ``LDSHARED``
    are dropped from the inherited environment, so only flags given in
    ``env`` reach the build. A value of ``None`` in ``env`` removes that
    variable. Returns ``Path(target)``.
``clean_env(pythonpath, **extra) -> dict``
    A minimal environment to run a built extension in: ``PATH``, ``HOME``,
    ``PYTHONPATH`` and the given extras only (no ``LD_LIBRARY_PATH``).
"""

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Inherited variables that would change how an extension is compiled.
_FLAG_VARS = ("CFLAGS", "LDFLAGS", "CPPFLAGS", "LDSHARED")
# Largest output quoted in an error message; compiler errors come first in
# the excerpt, then the tail of the log.
_MAX_OUTPUT = 60_000


class BuildError(RuntimeError):
    """A build step failed; the message holds everything needed to see why."""


def _setup():
    proc = subprocess.run([str(ROOT / "scripts" / "setup")], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("scripts/setup failed (exit %d):\n%s%s" % (
            proc.returncode, proc.stdout, proc.stderr))


_PYTHON_LIST = None


def python_list():
    """``pyctx python list --json``, asked once per process."""
    global _PYTHON_LIST
    if _PYTHON_LIST is None:
        if not pyctx_bin().exists():
            _setup()
        cmd = [str(pyctx_bin()), "python", "list", "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError("%s failed (exit %d):\n%s" % (
                shlex.join(cmd), proc.returncode, proc.stderr))
        _PYTHON_LIST = json.loads(proc.stdout)
    return _PYTHON_LIST


def venv_python(version):
    return ROOT / ".venvs" / version / "bin" / "python"


def interpreters():
    """``{minor: venv python}`` for every set-up supported CPython."""
    info = python_list()
    supported = info["supported"]
    have = [v for v in supported if venv_python(v).exists()]
    missing = [f["minor"] for f in info["found"] if f["minor"] not in have]
    if missing or not have:
        _setup()
        have = [v for v in supported if venv_python(v).exists()]
    if not have:
        raise BuildError("no virtualenv of a supported CPython (%s) under %s" % (
            ", ".join(supported), ROOT / ".venvs"))
    return {v: venv_python(v) for v in have}


def pyctx_bin():
    return Path(os.environ.get("PYCTX_BIN") or ROOT / "target" / "release" / "pyctx")


def _looks_like_flags(tokens):
    # Compiler/linker flags are options or absolute paths (e.g. libpyctx.a).
    return all(t.startswith("-") or os.path.isabs(t) for t in tokens)


def _run_flags(args):
    cmd = [str(pyctx_bin())] + args
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise BuildError("cannot run %s: %s" % (shlex.join(cmd), exc)) from None
    if proc.returncode != 0:
        raise BuildError("%s failed (exit %d):\n%s%s" % (
            shlex.join(cmd), proc.returncode, proc.stdout, proc.stderr))
    tokens = shlex.split(proc.stdout)
    if not _looks_like_flags(tokens):
        raise BuildError("%s printed %r, which is not a list of compiler/linker "
                         "flags (is `pyctx flags` implemented?)%s" % (
                             shlex.join(cmd), proc.stdout,
                             "\nstderr:\n" + proc.stderr if proc.stderr else ""))
    return " ".join(shlex.quote(t) for t in tokens)


def pyctx_flags(python, compat=False):
    """CFLAGS/LDFLAGS for building against pyctx with ``python``."""
    python = str(python)
    mode = ["--compat"] if compat else []
    return {
        "CFLAGS": _run_flags(["flags", "--cflags"] + mode + ["--python", python]),
        "LDFLAGS": _run_flags(["flags", "--ldflags"] + mode + ["--python", python]),
    }


def _excerpt(output):
    """The output, or for a very long log its diagnostics plus its tail."""
    if len(output) <= _MAX_OUTPUT:
        return output
    lines = output.splitlines()
    diags = [l for l in lines if "error" in l.lower() or "warning:" in l.lower()]
    head = "\n".join(diags)[: _MAX_OUTPUT // 2]
    tail = output[-(_MAX_OUTPUT // 2):]
    return "[diagnostics]\n%s\n[... last %d characters of the log]\n%s" % (
        head, len(tail), tail)


def _ignore(directory, names):
    return [n for n in names
            if n in ("build", "dist", "__pycache__", ".pytest_cache")
            or n.endswith((".egg-info", ".so", ".o", ".pyc"))]


def pip_install(python, project_dir, target, env=None):
    """Build ``project_dir`` with ``python``'s pip into ``target``."""
    project_dir = Path(project_dir)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if k not in _FLAG_VARS}
    full_env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = str(value)
    overrides = " ".join("%s=%s" % (k, shlex.quote(str(v)))
                         for k, v in (env or {}).items())
    with tempfile.TemporaryDirectory(prefix="pyctx-build-") as scratch:
        src = Path(scratch) / project_dir.name
        shutil.copytree(project_dir, src, ignore=_ignore)
        cmd = [str(python), "-m", "pip", "install", "-v", "--no-build-isolation",
               "--no-deps", "--no-index", "--no-cache-dir", "--upgrade",
               "--target", str(target), str(src)]
        proc = subprocess.run(cmd, cwd=scratch, env=full_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
    if proc.returncode != 0:
        raise BuildError("build of %s failed (exit %d)\ncommand: %s\nenvironment: %s\n"
                         "output:\n%s" % (project_dir, proc.returncode, shlex.join(cmd),
                                          overrides or "(no overrides)",
                                          _excerpt(proc.stdout)))
    return target


def clean_env(pythonpath, **extra):
    """Minimal environment for running a built extension."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "PYTHONPATH": str(pythonpath),
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env
