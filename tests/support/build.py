"""Build C extensions for the end-to-end tests, the corpus harness and the
benchmarks: plain, through compat, or against the context runtime. The one
place that asks ``pyctx`` for interpreters and flags, runs pip to build, and
says what environment a build or a built extension runs in. Standard
library only; runs on CPython 3.9+ (the corpus harness runs it there).

Stable API (tests/, tests/corpus/harness.py, bench/run.py and scripts/demo.py
import it; keep the signatures):

``ROOT``
    The repository root (a ``pathlib.Path``).
``BuildError``
    Raised by every helper here on failure; its message carries the command,
    the environment overrides and the compiler / tool output. ``output`` and
    ``returncode`` hold the command's full output and exit status when a
    command failed (else ``""`` and ``None``).
``run(cmd, cwd=None, env=None, timeout=None, check=False)``
    ``subprocess.run`` with stdout and stderr merged into ``.stdout`` (text,
    undecodable bytes replaced). A timeout becomes exit status -9 with a
    note at the end of the output. ``check=True`` raises ``BuildError``
    naming the command when the exit status is not 0.
``capture(cmd) -> str``
    A command's stdout, stripped; ``""`` when it cannot run (facts about the
    machine that may be missing).
``tail(text, lines)``, ``excerpt(output)``, ``compiler_errors(output)``
    Views of a long log: its last lines; all of it, or for a very long log
    its diagnostics plus its tail; the compiler's error lines only.
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
``python_version(python) -> str``
    ``"X.Y"`` of an interpreter (asked once per process and interpreter).
``select_versions(available, spec, strict=False) -> list``
    The versions of ``available`` (oldest first) that ``spec`` names:
    ``"edges"`` (the oldest and the newest), ``"all"``, or comma-separated
    ``X.Y``. Versions not available are left out, or with ``strict`` an
    error; anything else is an error.
``pyctx_bin() -> Path``
    ``$PYCTX_BIN`` or ``<root>/target/release/pyctx``.
``pyctx_flags(python, compat=False) -> dict``
    The build environment for pyctx's flags for that interpreter: ``--compat``
    for a compat build of legacy sources (its compile flags may be empty:
    compat by linking), plain for migrated sources. Merge into the ``env``
    of ``pip_install``. See ``flags_env`` for which variable gets what.
``flags_env(python, cflags, ldflags) -> dict``
    The same from the words of ``pyctx flags --cflags`` / ``--ldflags`` (of
    any pyctx, e.g. an installed wheel's): preprocessor flags (``-I``,
    ``-D``, ...) in ``CPPFLAGS``, linker flags in ``LDFLAGS``, anything else
    in ``CFLAGS`` and ``CXXFLAGS`` after the interpreter's own ``CFLAGS``. A
    variable with nothing to say is left out.
``compile_flags(env) -> str``
    The C compile flags such an environment holds (``CPPFLAGS`` then
    ``CFLAGS``): for a compiler called directly.
``build_env(overrides=None, drop=()) -> dict``
    The environment a build runs in: the caller's, without the variables
    that would leak flags or modules into it (``BUILD_ENV_DROP``,
    ``LD_LIBRARY_PATH``, ``LD_PRELOAD``, every ``PYCTX_*``, and ``drop``),
    then ``overrides`` (a value of ``None`` removes that variable).
``pip_install(python, project_dir, target, env=None, *, src=None, log=None,
timeout=None, drop=(), exact_copy=False) -> Path``
    Copy ``project_dir`` to a scratch directory (``src`` when given, kept;
    the source tree is never built in; build litter such as ``build/`` and
    ``*.so`` is left out unless ``exact_copy``) and run ``python -m pip
    install --no-build-isolation --no-deps --target target`` on the copy,
    in ``build_env(env, drop)``: only flags given in ``env`` reach the
    build. ``log``: write the command, the overrides and the full output
    there. Returns ``Path(target)``.
``clean_env(pythonpath, **extra) -> dict``
    A minimal environment to run a built extension in: ``PATH``, ``HOME``,
    ``PYTHONPATH`` and the given extras only (no ``LD_LIBRARY_PATH``).

Sdists from PyPI (fetch, verify, unpack, pinned dependencies): ``sdist.py``.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Inherited variables that would change how an extension is compiled or
# linked, which modules the build sees, or where pip puts the result.
BUILD_ENV_DROP = ("CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "LDSHARED", "LDCXXSHARED",
                  "ARCHFLAGS", "PYTHONPATH", "PYTHONHOME", "PIP_TARGET", "HYPOTHESIS_PROFILE")
# Largest output quoted in an error message; compiler errors come first in
# the excerpt, then the tail of the log.
_MAX_OUTPUT = 60_000


class BuildError(RuntimeError):
    """A build step failed; the message holds everything needed to see why."""

    def __init__(self, message, output="", returncode=None):
        super().__init__(message)
        self.output = output
        self.returncode = returncode


# ---------------------------------------------------------------------------
# running commands


def _words(cmd):
    return shlex.join(str(c) for c in cmd)


def run(cmd, cwd=None, env=None, timeout=None, check=False):
    """Run ``cmd`` with its output captured (stderr into stdout)."""
    cmd = [str(c) for c in cmd]
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.output or ""
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        proc = subprocess.CompletedProcess(
            cmd, -9, out + "\n[timed out after %ss: %s]" % (timeout, _words(cmd)))
    except OSError as exc:
        raise BuildError("cannot run %s: %s" % (_words(cmd), exc)) from None
    if check and proc.returncode != 0:
        raise BuildError("%s failed (exit %d):\n%s" % (
            _words(cmd), proc.returncode, excerpt(proc.stdout, 6000)),
            proc.stdout, proc.returncode)
    return proc


def capture(cmd):
    """stdout of ``cmd``, stripped; "" when it cannot run."""
    try:
        return subprocess.run([str(c) for c in cmd], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


def tail(text, lines):
    return "\n".join(text.splitlines()[-lines:])


_COMPILER_ERROR = re.compile(
    r"\.(c|h|cpp|cc|cxx|hpp|hh|hxx):\d+:\d+: (fatal )?error:|\berror: #error\b")


def compiler_errors(output, limit=20):
    """The compiler's error lines of a build log (at most ``limit``)."""
    lines = [line.strip() for line in output.splitlines() if _COMPILER_ERROR.search(line)]
    return "\n".join(lines[:limit])


def excerpt(output, limit=_MAX_OUTPUT):
    """The output, or for a very long log its diagnostics plus its tail."""
    if len(output) <= limit:
        return output
    lines = output.splitlines()
    diags = [l for l in lines if "error" in l.lower() or "warning:" in l.lower()]
    head = "\n".join(diags)[: limit // 2]
    end = output[-(limit // 2):]
    return "[diagnostics]\n%s\n[... last %d characters of the log]\n%s" % (
        head, len(end), end)


# ---------------------------------------------------------------------------
# interpreters


def _setup():
    proc = run([ROOT / "scripts" / "setup"], cwd=ROOT)
    if proc.returncode != 0:
        raise BuildError("scripts/setup failed (exit %d):\n%s" % (
            proc.returncode, excerpt(proc.stdout)), proc.stdout, proc.returncode)


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


_VERSIONS = {}


def python_version(python):
    """"X.Y" of the interpreter ``python``."""
    python = str(python)
    if python not in _VERSIONS:
        proc = run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                   check=True)
        _VERSIONS[python] = proc.stdout.strip()
    return _VERSIONS[python]


def select_versions(available, spec, strict=False):
    """The versions of ``available`` (oldest first) that ``spec`` names."""
    available = list(available)
    spec = spec.strip()
    if spec == "all":
        return available
    if spec == "edges":
        return available[:1] + available[-1:] if len(available) > 1 else available
    wanted = [v.strip() for v in spec.split(",") if v.strip()]
    if not wanted or any(not re.fullmatch(r"3\.\d+", v) for v in wanted):
        raise BuildError("%r: expected edges, all or comma-separated X.Y versions" % spec)
    missing = [v for v in wanted if v not in available]
    if strict and missing:
        raise BuildError("no interpreter for %s (have %s)" % (
            ", ".join(missing), ", ".join(available) or "none"))
    return [v for v in available if v in wanted]


# ---------------------------------------------------------------------------
# pyctx and its flags


def pyctx_bin():
    return Path(os.environ.get("PYCTX_BIN") or ROOT / "target" / "release" / "pyctx")


# Options whose argument may be the next word (-include pyctx_compat.h).
_OPTS_WITH_ARG = {"-include", "-imacros", "-isystem", "-iquote", "-idirafter",
                  "-I", "-L", "-D", "-U", "-l", "-x", "-Xlinker", "-Xassembler"}
# Preprocessor options: what goes in CPPFLAGS.
_PREPROCESSOR = ("-I", "-D", "-U", "-isystem", "-include", "-iquote")


def _flag_words(args, allow_empty=False):
    """The words ``pyctx ARGS`` prints, checked to be compiler/linker flags."""
    cmd = [str(pyctx_bin())] + args
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError("cannot run %s: %s" % (shlex.join(cmd), exc)) from None
    if proc.returncode != 0:
        raise BuildError("%s failed (exit %d):\n%s%s" % (
            shlex.join(cmd), proc.returncode, proc.stdout, proc.stderr),
            proc.stdout + proc.stderr, proc.returncode)
    words = shlex.split(proc.stdout)
    # Flags are options, absolute paths (libpyctx.a) or an option's argument.
    bad = [w for i, w in enumerate(words)
           if not (w.startswith("-") or os.path.isabs(w)
                   or (i > 0 and words[i - 1] in _OPTS_WITH_ARG))]
    if bad or (not words and not allow_empty):
        raise BuildError("%s printed %r, which is not a list of compiler/linker flags%s" % (
            shlex.join(cmd), proc.stdout[:300],
            "\nstderr:\n" + proc.stderr if proc.stderr else ""))
    return words


def _split_preprocessor(words):
    """(preprocessor flags, the rest), an option's separate argument kept
    with it."""
    cpp, other, i = [], [], 0
    while i < len(words):
        if words[i] in _PREPROCESSOR:
            cpp.extend(words[i:i + 2])
            i += 2
            continue
        (cpp if words[i].startswith(_PREPROCESSOR) else other).append(words[i])
        i += 1
    return cpp, other


def _config_var(python, name):
    code = "import sysconfig, sys; sys.stdout.write(sysconfig.get_config_var(sys.argv[1]) or '')"
    return run([str(python), "-c", code, name], check=True).stdout.strip()


def flags_env(python, cflags, ldflags):
    """Build environment for the words of ``pyctx flags --cflags`` and
    ``--ldflags``.

    Preprocessor flags go in CPPFLAGS: every setuptools appends CPPFLAGS to
    the interpreter's flags for C and C++ alike, while CFLAGS is appended
    by some versions (75, the virtualenvs' pin), *replaces* the
    interpreter's CFLAGS (-O3 -DNDEBUG ...) in others (80, which msgpack
    pins) and is ignored for C++. Anything else would go in CFLAGS and
    CXXFLAGS after the interpreter's own CFLAGS, so the build keeps its
    optimisation either way. A variable with nothing to say is not set: a
    compat build by linking compiles exactly as the plain build does.
    """
    quote = (lambda words: " ".join(shlex.quote(w) for w in words))
    env = {}
    cpp, other = _split_preprocessor(list(cflags))
    if cpp:
        env["CPPFLAGS"] = quote(cpp)
    if other:
        stock = _config_var(python, "CFLAGS")
        env["CFLAGS"] = env["CXXFLAGS"] = (stock + " " + quote(other)).strip()
    if ldflags:
        env["LDFLAGS"] = quote(ldflags)
    return env


def pyctx_flags(python, compat=False):
    """Build environment for pyctx's flags with ``python``."""
    python = str(python)
    mode = ["--compat"] if compat else []
    cflags = _flag_words(["flags", "--cflags"] + mode + ["--python", python],
                         allow_empty=compat)
    ldflags = _flag_words(["flags", "--ldflags"] + mode + ["--python", python])
    return flags_env(python, cflags, ldflags)


def compile_flags(env):
    """The C compile flags of a build environment, for calling cc directly."""
    return " ".join(env[k] for k in ("CPPFLAGS", "CFLAGS") if env.get(k))


# ---------------------------------------------------------------------------
# building


def build_env(overrides=None, drop=()):
    """The environment of a build (and of the corpus' test runs)."""
    env = {k: v for k, v in os.environ.items()
           if k not in BUILD_ENV_DROP and k not in drop
           # Built extensions must import without help from the environment,
           # and pyctx's own switches (PYCTX_DEBUG, ...) must not change what
           # is built or measured.
           and k not in ("LD_LIBRARY_PATH", "LD_PRELOAD") and not k.startswith("PYCTX_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def _litter(directory, names):
    return [n for n in names
            if n in ("build", "dist", "__pycache__", ".pytest_cache")
            or n.endswith((".egg-info", ".so", ".o", ".pyc"))]


def _write_log(log, cmd, env, output):
    with open(log, "w") as f:
        f.write("$ %s\n" % _words(cmd))
        for key in sorted(env or {}):
            f.write("# %s=%s\n" % (key, env[key]))
        f.write(output)


def pip_install(python, project_dir, target, env=None, *, src=None, log=None,
                timeout=None, drop=(), exact_copy=False):
    """Build ``project_dir`` with ``python``'s pip into ``target``."""
    project_dir = Path(project_dir)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    overrides = " ".join("%s=%s" % (k, shlex.quote(str(v))) for k, v in (env or {}).items())
    with tempfile.TemporaryDirectory(prefix="pyctx-build-") as scratch:
        copy = Path(src) if src else Path(scratch) / project_dir.name
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(project_dir, copy, symlinks=True,
                        ignore=None if exact_copy else _litter)
        cmd = [str(python), "-m", "pip", "install", "-v", "--no-build-isolation",
               "--no-deps", "--no-index", "--no-cache-dir", "--upgrade",
               "--target", str(target), str(copy)]
        proc = run(cmd, cwd=copy.parent, env=build_env(env, drop), timeout=timeout)
    if log:
        _write_log(log, cmd, env, proc.stdout)
    if proc.returncode != 0:
        raise BuildError("build of %s failed (exit %d)\ncommand: %s\nenvironment: %s\n"
                         "output:\n%s" % (project_dir, proc.returncode, _words(cmd),
                                          overrides or "(no overrides)",
                                          excerpt(proc.stdout)),
                         proc.stdout, proc.returncode)
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
