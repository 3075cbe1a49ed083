#!/usr/bin/env python3
"""Real third-party C extensions: built plain, through pyctx compat, and
migrated by ``pyctx migrate``, each build running the package's own tests.

For each pinned package of packages.json and each CPython interpreter:

1. fetch the sdist once into a cache (``.cache/sdists``) and check its
   sha256; install the package's pinned build and test dependencies once
   per CPython under ``.cache/corpus-deps/<X.Y>/`` (``pip install --target``);
2. unpack it once per session (the pristine tree is never built in);
3. build variants, each from a fresh copy with ``PY -m pip install
   --no-build-isolation --no-deps --target T`` (the package's own build
   settings; our flags only appended through CPPFLAGS/LDFLAGS, see
   ``flags_env`` in tests/support/build.py):
   * ``plain``: CFLAGS/CPPFLAGS/LDFLAGS removed from the environment;
   * ``compat``: ``pyctx flags --cflags --compat`` / ``--ldflags``;
   * ``migrated``: the sources after ``pyctx migrate --write`` over all of
     the extension's .c/.h files, built with ``pyctx flags --cflags`` /
     ``--ldflags``; the migrated tree is then checked with ``pyctx migrate
     --check`` (exit 0) and a second ``pyctx migrate`` (empty diff);
   * ``half``: the same with ``--only`` a seeded random half of the
     function names that ``pyctx status --json`` lists;
   the migrations do not depend on the interpreter: each is done once per
   session and built with every interpreter;
4. run the package's own test suite against each build (PYTHONPATH=T, from
   a directory where the source tree cannot shadow the build) with
   PYCTX_STATS set, and record pytest's counts, the per-test outcomes
   (junit xml), what the test process really imported (the
   pyctx_corpus_probe plugin, and again in a fresh process), the stats
   lines of the extension(s) and the pyctx symbols of the .so (``nm``).

A session (class Corpus) builds each (interpreter, package, variant) once,
two at a time by default (PYCTX_CORPUS_JOBS), and shares the plain builds
between the compat and the migration checks.

Usable as a library (tests/test_corpus_compat.py, tests/test_corpus_migrate.py)
and as a script::

    python tests/corpus/harness.py compat  [--python PY]... [--package NAME]...
    python tests/corpus/harness.py migrate [--python PY]... [--package NAME]... [--half-python PY]
    python tests/corpus/harness.py at-once          # one pyctx migrate over the whole corpus, timed

(``compat`` is the default when no command is given.) Standard library only;
runs on CPython 3.9+.

Fetching, checking and unpacking the sdists and installing the pinned
dependencies is tests/support/sdist.py; asking pyctx for interpreters and
flags, the build environment and the pip build itself is
tests/support/build.py (shared with the fixture suites and the bench).
"""

import argparse
import collections
import concurrent.futures
import dataclasses
import email.parser
import functools
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# tests/support (builds, sdists), imported as the pytest suites import it.
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import build as builds, sdist  # noqa: E402

DEFAULT_CACHE = str(sdist.SDIST_CACHE)
DEFAULT_DEPS = str(sdist.DEPS_CACHE)
PROBE_MODULE = "pyctx_corpus_probe"
PROBE_SCRIPT = os.path.join(HERE, PROBE_MODULE + ".py")

VARIANTS = ("plain", "compat", "migrated", "half")
MIGRATED_VARIANTS = ("migrated", "half")
# The seeded random half: random.Random("<HALF_SEED>:<package>").
HALF_SEED = 20261124

# Which interpreters a run uses, per package (PYCTX_CORPUS_PYTHONS):
# "edges" = the oldest and the newest installed CPython the package
# supports (CI, scripts/test), "all" = every one (scripts/test --full), or
# a comma-separated list of X.Y versions.
PYTHONS_ENV = "PYCTX_CORPUS_PYTHONS"
DEFAULT_PYTHONS = "edges"

# Extra environment for the packages' own test runs only (not builds, not
# the fresh-interpreter probe), as KEY=VALUE words: e.g. "PYCTX_DEBUG=1" to
# run every suite in pyctx's debug mode (docs/corpus.md). Read from the
# caller's environment; the harness drops every other PYCTX_ variable.
TEST_ENV_VAR = "PYCTX_CORPUS_TEST_ENV"

# C and C++ source and header suffixes: what `pyctx migrate` may change, and
# where compiler errors come from.
SOURCE_SUFFIXES = (".c", ".h", ".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx")

# Symbols that only pyctx's runtime / compat layer can bring into a .so.
PYCTX_SYMBOL_RE = re.compile(r"^(pyctx_|PyCompat_|PyCtx_|_?pyctx)", re.I)


class HarnessError(builds.BuildError):
    pass


# --------------------------------------------------------------------------
# packages, interpreters, sdists, dependencies


load_packages = sdist.load_packages


def _fallback_switches() -> List[str]:
    """Every corpus package's switches for building or importing without its
    C code: dropped from the environment of every build and test run."""
    global _SWITCHES
    if _SWITCHES is None:
        _SWITCHES = sorted({s for pkg in load_packages().values()
                            for s in pkg.get("fallback_switches", [])})
    return _SWITCHES


_SWITCHES: Optional[List[str]] = None


def extensions_of(pkg: dict) -> List[str]:
    return list(pkg.get("extensions") or [pkg["extension"]])


def unsupported(pkg: dict, version: str) -> Optional[str]:
    """Why this pinned release cannot be tested on CPython X.Y (None: it can):
    outside its Requires-Python (``requires_python``, checked against the
    sdist's PKG-INFO when it is unpacked), or listed in ``unsupported``."""
    spec = pkg.get("requires_python")
    if spec and not version_matches(version, spec):
        return "%s %s requires Python %s (Requires-Python of its sdist)" % (
            pkg.get("name", "this release"), pkg["version"], spec)
    return (pkg.get("unsupported") or {}).get(version)


_SPEC_RE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)*)(\.\*)?\s*$")


def version_matches(version: str, spec: str) -> bool:
    """Whether CPython X.Y satisfies a Requires-Python made of comparisons
    (``>=3.10``, ``>= 3.11, <4``), compared on (major, minor): enough for the
    specifiers the pinned sdists use; anything else is an error, not a guess."""
    have = tuple(int(x) for x in version.split(".")[:2])
    ok = True
    for clause in spec.split(","):
        m = _SPEC_RE.match(clause)
        if not m:
            raise HarnessError("unsupported Requires-Python clause %r in %r" % (clause, spec))
        op, want = m.group(1), tuple(int(x) for x in m.group(2).split("."))
        if m.group(3):      # X.Y.* (== / != only): a prefix of the version
            if op not in ("==", "!="):
                raise HarnessError("%r: .* only goes with == and !=" % clause)
            same = have[:len(want)] == want[:2]
            ok = ok and (same if op == "==" else not same)
            continue
        want2 = (want + (0,))[:2]
        ok = ok and {">=": have >= want2, ">": have > want2, "<=": have <= want2,
                     "<": have < want2, "==": have == want2, "!=": have != want2}[op]
    return ok


def sdist_requires_python(tree: str) -> Optional[str]:
    """The Requires-Python field of an unpacked sdist's PKG-INFO."""
    try:
        with open(os.path.join(tree, "PKG-INFO"), encoding="utf-8", errors="replace") as f:
            headers = email.parser.HeaderParser().parse(f)   # RFC 822, as the spec says
    except OSError:
        return None
    value = headers.get("Requires-Python")
    return value.strip() if value else None


def migratable(pkg: dict) -> bool:
    """Whether the corpus migrates this package (false for generated code)."""
    return pkg.get("migrate", True)


def expected_failure(pkg: dict, variant: str) -> Optional[str]:
    """Why this variant of the package is expected to fail today (None: it
    must pass). Removing the entry from packages.json flips it."""
    return (pkg.get("expect_fail") or {}).get(variant)


def select_pythons(pkg: dict, installed: Sequence[str],
                   which: Optional[str] = None) -> List[str]:
    """The interpreters a run builds this package with, oldest first:
    ``which`` (default: $PYCTX_CORPUS_PYTHONS, else "edges") is "edges" (the
    oldest and the newest installed interpreter the package supports), "all"
    (every supported one) or comma-separated X.Y versions."""
    which = (which or os.environ.get(PYTHONS_ENV) or DEFAULT_PYTHONS).strip()
    ok = [p for p in installed if not unsupported(pkg, python_version(p))]
    versions = list(dict.fromkeys(python_version(p) for p in ok))
    try:
        chosen = builds.select_versions(versions, which)
    except builds.BuildError as exc:
        raise HarnessError("%s=%s" % (PYTHONS_ENV, exc)) from None
    return [p for p in ok if python_version(p) in chosen]


def installed_pythons() -> List[str]:
    """The per-version virtualenv interpreters created by scripts/setup, of
    the versions pyctx supports, oldest first."""
    return [str(p) for p in builds.interpreters().values()]


def _abs_python(python: str) -> str:
    """Absolute path, symlinks kept (a venv's bin/python must stay in its venv)."""
    if os.sep in python:
        return os.path.abspath(python)
    found = shutil.which(python)
    if not found:
        raise HarnessError("interpreter not found: %s" % python)
    return found


python_version = builds.python_version


def check_requires_python(name: str, pkg: dict, tree: str) -> None:
    """packages.json's requires_python must be what the sdist declares (it
    decides which interpreters are skipped before anything is fetched)."""
    declared = sdist_requires_python(tree)
    pinned = pkg.get("requires_python")
    norm = (lambda v: re.sub(r"\s+", "", v) if v else None)
    if norm(declared) != norm(pinned):
        raise HarnessError("%s/PKG-INFO: Requires-Python is %r but packages.json pins "
                           "requires_python %r for %s; update packages.json" % (
                               tree, declared, pinned, name))


# --------------------------------------------------------------------------
# results


@dataclasses.dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    xfailed: int = 0
    xpassed: int = 0

    def short(self) -> str:
        s = "%d/%d/%d/%d" % (self.passed, self.failed, self.skipped, self.errors)
        if self.xfailed or self.xpassed:
            s += " x%d/%d" % (self.xfailed, self.xpassed)
        return s


@dataclasses.dataclass
class TestRun:
    returncode: int
    counts: Optional[Counts]          # None: no pytest summary (crash)
    outcomes: Dict[str, str]          # test id -> passed/failed/error/skipped
    probe: dict                       # from inside the pytest process
    script_probe: dict                # from a separate fresh process
    output_tail: str
    seconds: float
    # After a crash (no pytest summary): pyctx's own messages and the tail of
    # a rerun with `-x --capture=no` (pytest's fd capture swallows what a
    # dying process writes to stderr).
    crash_output: Optional[str] = None
    # Tests that failed in the run and passed when rerun alone (counted as
    # passed; see rerun_failures).
    flaky: List[str] = dataclasses.field(default_factory=list)

    def ids(self, outcome: str) -> List[str]:
        return sorted(k for k, v in self.outcomes.items() if v == outcome)


@dataclasses.dataclass
class MigrationRun:
    """One `pyctx migrate --write` over a copy of a package's sources."""
    package: str
    variant: str                      # "migrated" or "half"
    tree: str                         # the migrated copy of the sdist
    paths: List[str]                  # as given to pyctx (relative to tree)
    pristine: str = ""                # the unmodified sdist (report lines refer to it)
    only: Optional[List[str]] = None  # --only names (half)
    all_functions: List[str] = dataclasses.field(default_factory=list)
    error: Optional[str] = None       # could not run at all
    write_rc: Optional[int] = None
    write_stderr: str = ""
    seconds: float = 0.0              # wall time of the --write run
    report: dict = dataclasses.field(default_factory=dict)   # --json (diffs dropped)
    changed_files: List[str] = dataclasses.field(default_factory=list)
    check_rc: Optional[int] = None    # `pyctx migrate --check` on the output
    check_output: str = ""
    second_rc: Optional[int] = None   # `pyctx migrate` (diff) on the output
    second_diff: str = ""
    second_stderr: str = ""

    @property
    def totals(self) -> dict:
        return self.report.get("totals", {})

    def _source_texts(self) -> List[str]:
        """The texts of the migrated C/C++ sources (unreadable ones left out)."""
        texts = []
        for rel in self.paths:
            root = os.path.join(self.tree, rel)
            files = [root] if os.path.isfile(root) else [
                os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                if f.endswith(SOURCE_SUFFIXES)]
            for f in files:
                try:
                    with open(f, encoding="utf-8", errors="replace") as fh:
                        texts.append(fh.read())
                except OSError:
                    pass
        return texts

    def spelled_calls(self) -> set:
        """Names written followed by `(` in the migrated C sources."""
        return {n for t in self._source_texts() for n in re.findall(r"\b([A-Za-z_]\w*)\s*\(", t)}

    def spelled_identifiers(self) -> set:
        """Every identifier written in the migrated C sources (object-like
        macros such as Py_BEGIN_ALLOW_THREADS included)."""
        return {n for t in self._source_texts() for n in re.findall(r"\b[A-Za-z_]\w*", t)}

    def functions_where(self, pred) -> List[dict]:
        return [f for f in self.report.get("functions", []) if pred(f)]

    def refused(self) -> List[dict]:
        return self.functions_where(lambda f: f["status"]["kind"] == "refused")

    def not_fully_migrated(self) -> set:
        """Names of functions the CLI reports as keeping legacy calls:
        refused, not selected, or with legacy calls left (with a reason)."""
        return {f["name"] for f in self.report.get("functions", [])
                if f["status"]["kind"] in ("refused", "legacy") or f.get("legacy_calls")}

    def legacy_spelled_apis(self) -> set:
        """API names that functions the CLI left (partly) legacy still call
        in legacy form: in C++, such a function (a class member defined in
        its class is inline) may be inlined into a migrated caller, whose
        symbol PYCTX_STATS then names for those calls."""
        return {c["name"] for f in self.report.get("functions", [])
                if f["name"] in self.not_fully_migrated()
                for c in f.get("legacy_calls", [])}

    def legacy_macro_functions(self) -> List[Tuple[str, str, str]]:
        """(macro, prefix, suffix) of the functions that project macros left
        legacy define by token pasting (`bitarray_ ## name (...) {`): their
        expansions are functions the CLI cannot list, and the macro's report
        is what explains their legacy calls."""
        out = []
        for m in self.report.get("macros", []):
            if m["status"]["kind"] != "legacy":
                continue
            text = _macro_text(os.path.join(self.pristine, m["file"]), m["line"])
            for pre, suf in re.findall(r"(\w*)\s*##\s*\w+\s*(?:##\s*(\w*))?\s*\(", text):
                if pre or suf:
                    out.append((m["name"], pre, suf or ""))
        return out

    def diagnostics(self, *codes: str) -> List[dict]:
        return [d for d in self.report.get("diagnostics", []) if not codes or d["code"] in codes]


@dataclasses.dataclass
class BuildRun:
    package: str
    python: str
    version: str
    mode: str                         # "plain", "compat", "migrated" or "half"
    error: Optional[str] = None       # build (or flags, or migration) failure
    target: Optional[str] = None
    so_path: Optional[str] = None     # the main extension
    so_paths: List[str] = dataclasses.field(default_factory=list)  # all of them
    build_seconds: float = 0.0
    build_log: Optional[str] = None
    env: Dict[str, str] = dataclasses.field(default_factory=dict)
    tests: Optional[TestRun] = None
    stats_lines: List[dict] = dataclasses.field(default_factory=list)
    legacy_calls: Dict[str, int] = dataclasses.field(default_factory=dict)
    ctx_calls: Dict[str, int] = dataclasses.field(default_factory=dict)
    # caller (C function) -> API name -> legacy calls
    legacy_by_caller: Dict[str, Dict[str, int]] = dataclasses.field(default_factory=dict)
    pyctx_symbols: List[str] = dataclasses.field(default_factory=list)
    # Undefined pyctx symbols of the extension's own object files (before
    # linking): proof that the package's code, not just the linked runtime,
    # calls into pyctx. None when no object file was found.
    object_pyctx_refs: Optional[List[str]] = None
    # CPython functions the .so imports (undefined, data symbols excluded).
    capi_function_imports: List[str] = dataclasses.field(default_factory=list)
    # The Py_LIMITED_API value the sources were compiled with (None: not).
    limited_api: Optional[str] = None
    # Undefined CPython symbols of the package's own object files.
    object_python_refs: Optional[List[str]] = None
    wall_seconds: float = 0.0         # build + tests + evidence, this job

    @property
    def legacy_distinct(self) -> int:
        return sum(1 for v in self.legacy_calls.values() if v > 0)

    @property
    def legacy_total(self) -> int:
        return sum(self.legacy_calls.values())

    @property
    def ctx_total(self) -> int:
        return sum(self.ctx_calls.values())

    def is_mine(self, stats_line: dict) -> bool:
        return any(_same_file(stats_line.get("module", ""), p) for p in self.so_paths)


# --------------------------------------------------------------------------
# build


def _base_env() -> Dict[str, str]:
    """The environment of builds and test runs: tests/support/build.py's,
    without any corpus package's fallback switches."""
    return builds.build_env(drop=_fallback_switches())


def build(python: str, name: str, pkg: dict, pristine: str, workdir: str,
          mode: str, flags: Optional[Dict[str, str]] = None,
          version: Optional[str] = None, build_deps: Optional[str] = None) -> BuildRun:
    """Install a fresh copy of the source tree ``pristine`` (for migrated
    variants: the migrated tree) into workdir/<mode>/target, built in
    workdir/<mode>/src (kept: its object files are evidence)."""
    version = version or python_version(python)
    run = BuildRun(package=name, python=python, version=version, mode=mode)
    base = os.path.join(workdir, mode)
    src = os.path.join(base, "src")
    run.target = os.path.join(base, "target")
    run.build_log = os.path.join(base, "build.log")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    env = dict(pkg.get("build_env", {}))
    if build_deps:
        env["PYTHONPATH"] = build_deps
    if mode != "plain":
        if flags is None:
            raise HarnessError("%s build needs flags" % mode)
        env.update(flags)
        run.env = dict(flags)
    t0 = time.monotonic()
    try:
        builds.pip_install(python, pristine, run.target, env, src=src, log=run.build_log,
                           timeout=900, drop=_fallback_switches(), exact_copy=True)
        failed = None
    except builds.BuildError as exc:
        failed = exc
    run.build_seconds = time.monotonic() - t0
    output = ""
    if os.path.exists(run.build_log):   # not when pip could not even start
        with open(run.build_log, errors="replace") as f:
            output = f.read()
    run.limited_api = limited_api_of(output)
    if failed is not None:
        run.error = "%s build failed (exit %s); log %s:\n%s" % (
            mode, failed.returncode, run.build_log, _build_failure(output or str(failed)))
        return run
    missing = []
    for module in extensions_of(pkg):
        path = find_extension(run.target, module)
        if path is None:
            missing.append(module)
        else:
            run.so_paths.append(path)
    if missing:
        run.error = ("%s build installed no %s extension (pure-Python fallback?); log %s:\n%s"
                     % (mode, ", ".join(missing), run.build_log, _build_failure(output)))
        return run
    run.so_path = run.so_paths[0]
    _symbols(run, src)
    return run


def _symbols(run: BuildRun, src: str) -> None:
    """The pyctx symbols and CPython imports of the built .so files, and the
    undefined symbols of the package's own object files."""
    syms, imports = set(), set()
    for so in run.so_paths:
        syms.update(pyctx_symbols(so))
        imports.update(capi_function_imports(so))
    run.pyctx_symbols = sorted(syms)
    run.capi_function_imports = sorted(imports)
    objects = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(src, "build"))
               for f in files if f.endswith(".o")]
    if objects:
        refs, py_refs = set(), set()
        for obj in objects:
            undefined = nm_symbols(obj, undefined_only=True)
            refs.update(n for n in undefined if PYCTX_SYMBOL_RE.match(n))
            py_refs.update(n for n in undefined if _PYTHON_SYMBOL_RE.match(n))
        run.object_pyctx_refs = sorted(refs)
        run.object_python_refs = sorted(py_refs)


def _build_failure(output: str) -> str:
    """The compiler's error lines, or the tail of the log when there are none."""
    return builds.compiler_errors(output) or builds.tail(output, 30)


def find_extension(target: str, module: str) -> Optional[str]:
    parts = module.split(".")
    folder = os.path.join(target, *parts[:-1])
    if not os.path.isdir(folder):
        return None
    hits = [f for f in os.listdir(folder)
            if f.startswith(parts[-1] + ".") and f.endswith((".so", ".pyd"))]
    if len(hits) != 1:
        return None
    return os.path.realpath(os.path.join(folder, hits[0]))


def nm_symbols(path: str, undefined_only: bool = False) -> List[str]:
    """Names in the dynamic and (if not stripped) static symbol tables."""
    names = set()
    extra = ["--undefined-only"] if undefined_only else []
    for args in (["nm", "-D"], ["nm"]):
        proc = subprocess.run(args + extra + [path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True)
        for line in proc.stdout.splitlines():
            fields = line.split()
            if fields:
                names.add(fields[-1].split("@")[0])
    return sorted(names)


_CAPI_DATA_RE = re.compile(r"^(PyExc_|_?Py_\w*Struct$|\w+_Type$|Py_Version$|_PyRuntime$)")


def capi_function_imports(so_path: str) -> List[str]:
    """Public CPython functions the .so leaves for the interpreter to resolve."""
    return [n for n in nm_symbols(so_path, undefined_only=True)
            if re.match(r"^Py[A-Z]?[A-Za-z]*_\w+$", n) and not _CAPI_DATA_RE.match(n)]


def pyctx_symbols(so_path: str) -> List[str]:
    return [s for s in nm_symbols(so_path) if PYCTX_SYMBOL_RE.match(s)]


# --------------------------------------------------------------------------
# the stable ABI (builds of Py_LIMITED_API packages)


# Imported in the interpreter itself: its own list of stable-ABI symbols
# (CPython generates Lib/test/test_stable_abi_ctypes.py from
# Misc/stable_abi.toml; SYMBOL_NAMES there already holds the entries of the
# platform's feature macros, e.g. HAVE_FORK, and not Windows-only ones).
_STABLE_ABI_SCRIPT = r"""
import json, sys
try:
    from test import test_stable_abi_ctypes as m
except Exception as exc:
    json.dump({"error": "%s: %s" % (type(exc).__name__, exc)}, sys.stdout)
else:
    json.dump({"names": sorted(m.SYMBOL_NAMES), "file": m.__file__}, sys.stdout)
"""
_PYTHON_SYMBOL_RE = re.compile(r"^_?Py")


def _own_stable_abi(python: str) -> Optional[Tuple[frozenset, str]]:
    """(names, source) from the interpreter's own list; None when it ships
    none (test_stable_abi_ctypes exists from 3.11 on in these installs)."""
    proc = subprocess.run([python, "-c", _STABLE_ABI_SCRIPT], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise HarnessError("%s: reading the stable ABI list failed (exit %d): %s" % (
            python, proc.returncode, proc.stderr[-2000:]))
    if "names" not in data:
        return None
    return frozenset(data["names"]), data["file"]


def exported_names(python: str) -> frozenset:
    """Symbols the interpreter exports: the dynamic symbol table of its
    libpython (or of the executable when it is linked statically)."""
    script = ("import sysconfig as s, sys, os; "
              "lib = os.path.join(s.get_config_var('LIBDIR') or '', "
              "s.get_config_var('INSTSONAME') or ''); "
              "print(lib if s.get_config_var('Py_ENABLE_SHARED') and os.path.exists(lib) "
              "else os.path.realpath(sys.executable))")
    out = subprocess.run([python, "-c", script], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.strip()
    proc = subprocess.run(["nm", "-D", "--defined-only", out], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    names = frozenset(line.split()[-1].split("@")[0] for line in proc.stdout.splitlines()
                      if line.split())
    if not names:
        raise HarnessError("nm -D --defined-only %s listed nothing: %s" % (out, proc.stderr))
    return names


def stable_abi_names(python: str, others: Sequence[str]) -> Tuple[frozenset, str]:
    """The stable-ABI symbol names of CPython X.Y and where they come from.

    The interpreter's own list when it has one. Otherwise (3.9 and 3.10 do
    not install it) the newest list among ``others`` restricted to the names
    this interpreter exports. That restriction drops names added later, but
    keeps a name that existed as a non-limited export before it joined the
    stable ABI (e.g. PyMemoryView_FromBuffer, stable from 3.11): a
    limited-API build cannot reach such a name without declaring it itself.
    """
    own = _own_stable_abi(python)
    if own is not None:
        return own
    ranked = sorted(others, key=lambda p: tuple(int(x) for x in python_version(p).split(".")))
    for other in reversed(ranked):
        found = _own_stable_abi(other) if other != python else None
        if found is not None:
            exported = exported_names(python)
            names = found[0] & exported
            return names, "%s (CPython %s) restricted to the %d of its names that CPython %s " \
                "exports" % (found[1], python_version(other), len(names), python_version(python))
    raise HarnessError("no installed interpreter ships test/test_stable_abi_ctypes.py; "
                       "cannot check %s against the stable ABI" % python)


def python_imports(so_path: str) -> List[str]:
    """CPython symbols (Py*, _Py*) the .so leaves for the dynamic linker."""
    proc = subprocess.run(["nm", "-D", "--undefined-only", so_path], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    names = {line.split()[-1].split("@")[0] for line in proc.stdout.splitlines() if line.split()}
    return sorted(n for n in names if _PYTHON_SYMBOL_RE.match(n))


_LIMITED_API_RE = re.compile(r"-DPy_LIMITED_API=(\w+)")


def limited_api_of(build_log_text: str) -> Optional[str]:
    """The Py_LIMITED_API value the build compiled with (from its log)."""
    found = sorted(set(_LIMITED_API_RE.findall(build_log_text)))
    return ",".join(found) if found else None


def stable_abi_problems(run: "BuildRun", names: frozenset, source: str) -> List[str]:
    """A limited-API build: every .so is named abi3, was compiled with
    Py_LIMITED_API, and references only stable-ABI symbols of CPython."""
    if run.error:
        return [run.error]
    out = []
    if not run.limited_api:
        out.append("%s build did not compile with -DPy_LIMITED_API (log %s)" % (
            run.mode, run.build_log))
    for so in run.so_paths:
        if not os.path.basename(so).endswith(".abi3.so"):
            out.append("%s is not an abi3 extension" % so)
        bad = [n for n in python_imports(so) if n not in names]
        if bad:
            out.append("%s references %d CPython symbol(s) outside the stable ABI of %s: %s "
                       "(list: %s)" % (so, len(bad), run.version, ", ".join(bad[:30]), source))
    return out


# --------------------------------------------------------------------------
# tests


_SUMMARY_WORD = re.compile(
    r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|warnings?|deselected)")


def parse_pytest_summary(output: str) -> Optional[Counts]:
    """Counts from pytest's final summary line ('3 passed, 1 skipped in 0.1s')."""
    for line in reversed(output.splitlines()):
        line = line.strip().strip("=").strip()
        if not re.search(r"\bin \d+(\.\d+)?s\b", line):
            continue
        words = _SUMMARY_WORD.findall(line)
        if not words and "no tests ran" not in line:
            continue
        c = Counts()
        for n, word in words:
            word = {"error": "errors", "warning": "warnings"}.get(word, word)
            if hasattr(c, word):
                setattr(c, word, int(n))
        return c
    return None


_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in \d+(\.\d+)?s$", re.M)
_UNITTEST_VERDICT = re.compile(r"^(OK|FAILED)\b", re.M)


def unittest_counts(output: str, probe: dict) -> Optional[Counts]:
    """Counts of a unittest run: None unless the runner printed its summary
    ("Ran N tests in Xs" then OK/FAILED: the process did not die); then
    counted from the outcomes the probe recorded per test. (Tests that a
    package's own result class drops, like tornado's abstract base classes,
    are in neither.)"""
    ran = _UNITTEST_RAN.search(output)
    if not ran or not _UNITTEST_VERDICT.search(output, ran.end()):
        return None
    outcomes = probe.get("outcomes")
    if not isinstance(outcomes, dict):
        return None
    return counts_of(outcomes)


def counts_of(outcomes: Dict[str, str]) -> Counts:
    """Counts from per-test outcomes (passed, failed, error, skipped, ...)."""
    c = Counts()
    for outcome in outcomes.values():
        field = {"error": "errors"}.get(outcome, outcome)
        setattr(c, field, getattr(c, field) + 1)
    return c


def parse_junit(path: str) -> Dict[str, str]:
    outcomes = {}
    if not os.path.exists(path):
        return outcomes
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return outcomes
    for case in root.iter("testcase"):
        tid = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
        outcome = "passed"
        for child in case:
            if child.tag == "failure":
                outcome = "failed"
            elif child.tag == "error":
                outcome = "error"
            elif child.tag == "skipped":
                outcome = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
        # A test can fail and then error in teardown: keep the worst.
        prev = outcomes.get(tid)
        if prev in ("failed", "error") and outcome == "passed":
            continue
        outcomes[tid] = outcome
    return outcomes


def _run(cmd: List[str], cwd: str, env: Dict[str, str], timeout: float):
    """Output captured; a timeout becomes exit code -9."""
    return builds.run(cmd, cwd=cwd, env=env, timeout=timeout)


_tail = builds.tail


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        return {"error": "no probe output (%s)" % exc}


def _test_dir(base: str, tcfg: dict, pristine: str) -> str:
    """A fresh directory to run the suite in (see tests.cwd / tests.copy)."""
    if tcfg["cwd"] == "source":
        cwd = os.path.join(base, "testsrc")
        shutil.rmtree(cwd, ignore_errors=True)
        shutil.copytree(pristine, cwd, symlinks=True)
    elif tcfg["cwd"] == "scratch":
        cwd = os.path.join(base, "scratch")
        shutil.rmtree(cwd, ignore_errors=True)
        os.makedirs(cwd)
    else:
        raise HarnessError("unknown tests.cwd %r" % tcfg["cwd"])
    for rel in tcfg.get("copy", []):
        src = os.path.join(pristine, rel)
        dst = os.path.join(cwd, os.path.basename(rel.rstrip("/")))
        if os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst)
    return cwd


def _test_command(python: str, tcfg: dict, junit: str) -> List[str]:
    runner = tcfg.get("runner", "pytest")
    if runner == "pytest":
        return [python, "-m", "pytest", "-p", PROBE_MODULE, "-p", "no:cacheprovider",
                "-q", "-rfE", "--junitxml", junit] + list(tcfg["pytest_args"])
    if runner == "unittest":
        return [python, PROBE_SCRIPT, "--run", tcfg["module"]] + list(tcfg.get("args", []))
    raise HarnessError("unknown tests.runner %r" % runner)


def _fresh_probe(run: BuildRun, probe_cfg: dict, env: Dict[str, str], out: str) -> dict:
    """The probe's checks in a fresh interpreter: no test runner, no stats."""
    env2 = dict(env)
    env2.pop("PYCTX_STATS", None)
    env2["PYTHONPATH"] = run.target
    cfg = {k: v for k, v in probe_cfg.items() if k != "hypothesis"}
    env2["PYCTX_CORPUS_PROBE"] = json.dumps(dict(cfg, out=out))
    cwd = os.path.join(os.path.dirname(out), "probe-cwd")
    os.makedirs(cwd, exist_ok=True)
    proc = _run([run.python, PROBE_SCRIPT], cwd=cwd, env=env2, timeout=300)
    probe = _read_json(out)
    if proc.returncode != 0:
        probe["exit"] = "%d: %s" % (proc.returncode, _tail(proc.stdout, 20))
    return probe


def _crash_output(run: BuildRun, tcfg: dict, proc, cwd: str, env: Dict[str, str]) -> str:
    """What a test process that died left: pyctx's own messages first. A
    unittest runner does not capture, so its output has them; pytest's fd
    capture swallows them, so the suite is rerun with `-x --capture=no`."""
    if tcfg.get("runner", "pytest") == "unittest":
        mine = [line for line in proc.stdout.splitlines() if line.startswith("pyctx:")]
        return "\n".join(mine[:10] + ["[exit %d; last lines]" % proc.returncode,
                                       _tail(proc.stdout, 20)])
    env3 = {k: v for k, v in env.items() if k not in ("PYCTX_STATS", "PYCTX_CORPUS_PROBE")}
    cmd3 = [run.python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x",
            "--capture=no"] + list(tcfg["pytest_args"])
    p3 = _run(cmd3, cwd=cwd, env=env3, timeout=1200)
    with open(os.path.join(os.path.dirname(cwd), "tests-rerun.log"), "w") as f:
        f.write("$ (cd %s && %s)\n%s" % (cwd, " ".join(shlex.quote(c) for c in cmd3), p3.stdout))
    mine = [line for line in p3.stdout.splitlines() if line.startswith("pyctx:")]
    return "\n".join(mine[:10] + ["[rerun -x --capture=no, exit %d; last lines]"
                                   % p3.returncode, _tail(p3.stdout, 12)])


def extra_test_env(value: Optional[str] = None) -> Dict[str, str]:
    """The KEY=VALUE words of PYCTX_CORPUS_TEST_ENV (or ``value``)."""
    value = os.environ.get(TEST_ENV_VAR, "") if value is None else value
    out = {}
    for word in shlex.split(value):
        key, sep, val = word.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise HarnessError("%s: %r is not KEY=VALUE" % (TEST_ENV_VAR, word))
        out[key] = val
    return out


def run_tests(run: BuildRun, pkg: dict, pristine: str, workdir: str,
              test_deps: Optional[str] = None) -> TestRun:
    base = os.path.join(workdir, run.mode)
    tcfg = pkg["tests"]
    cwd = _test_dir(base, tcfg, pristine)
    stats = os.path.join(base, "stats.jsonl")
    junit = os.path.join(base, "junit.xml")
    probe_out = os.path.join(base, "probe.json")
    for p in (stats, junit, probe_out, os.path.join(base, "probe-script.json")):
        if os.path.exists(p):
            os.unlink(p)
    probe_cfg = {"target": run.target, "imports": pkg.get("imports", []),
                 "checks": pkg.get("checks", [])}
    if tcfg.get("hypothesis"):
        probe_cfg["hypothesis"] = tcfg["hypothesis"]
    if tcfg.get("skip_tests"):
        probe_cfg["skip_tests"] = tcfg["skip_tests"]

    env = _base_env()
    env.update(tcfg.get("env", {}))
    env.update(extra_test_env())
    env["PYTHONPATH"] = os.pathsep.join([run.target, HERE] + ([test_deps] if test_deps else []))
    env["PYCTX_STATS"] = stats
    env["PYCTX_CORPUS_PROBE"] = json.dumps(dict(probe_cfg, out=probe_out))
    cmd = _test_command(run.python, tcfg, junit)
    t0 = time.monotonic()
    proc = _run(cmd, cwd=cwd, env=env, timeout=1200)
    seconds = time.monotonic() - t0
    with open(os.path.join(base, "tests.log"), "w") as f:
        f.write("$ (cd %s && %s)\n%s" % (cwd, " ".join(shlex.quote(c) for c in cmd), proc.stdout))
    script_probe = _fresh_probe(run, probe_cfg, env, os.path.join(base, "probe-script.json"))

    probe = _read_json(probe_out)
    if tcfg.get("runner", "pytest") == "unittest":
        counts, outcomes = unittest_counts(proc.stdout, probe), probe.get("outcomes", {})
    else:
        counts, outcomes = parse_pytest_summary(proc.stdout), parse_junit(junit)
    run.tests = TestRun(returncode=proc.returncode, counts=counts, outcomes=outcomes,
                        crash_output=(_crash_output(run, tcfg, proc, cwd, env)
                                      if counts is None else None),
                        probe=probe, script_probe=script_probe,
                        output_tail=_tail(proc.stdout, 80), seconds=seconds)
    if tcfg.get("runner", "pytest") == "unittest" and counts is not None:
        rerun_failures(run, tcfg, cwd, env, probe_out)
    _collect_stats(run, stats)
    return run.tests


# At most this many failing tests are rerun; more is not a timing accident.
MAX_RERUN = 10


def rerun_failures(run: BuildRun, tcfg: dict, cwd: str, env: Dict[str, str],
                   probe_out: str) -> None:
    """Rerun the failing tests of a unittest suite once, by name, in a fresh
    process; those that pass count as passed and are listed as flaky.

    tornado's suite has timing tests (a 0.1 s request timeout, a TLS
    handshake timeout, autoreload's subprocess) that fail on a 2-core
    machine at load 15 in a plain build. Rerunning only what failed keeps
    the comparison between builds about the builds. Same environment (the
    stats of the rerun add to the build's), same runner."""
    t = run.tests
    bad = t.ids("failed") + t.ids("error")
    if not bad or len(bad) > MAX_RERUN:
        return
    out = os.path.join(os.path.dirname(probe_out), "probe-rerun.json")
    env2 = dict(env)
    env2["PYCTX_CORPUS_PROBE"] = json.dumps(dict(json.loads(env["PYCTX_CORPUS_PROBE"]), out=out))
    cmd = [run.python, PROBE_SCRIPT, "--run", tcfg["module"]] + list(tcfg.get("args", [])) + bad
    proc = _run(cmd, cwd=cwd, env=env2, timeout=1200)
    with open(os.path.join(os.path.dirname(probe_out), "tests-rerun.log"), "w") as f:
        f.write("$ (cd %s && %s)\n%s" % (cwd, " ".join(shlex.quote(c) for c in cmd), proc.stdout))
    again = _read_json(out).get("outcomes", {})
    if unittest_counts(proc.stdout, {"outcomes": again}) is None:
        return
    t.flaky = sorted(tid for tid in bad if again.get(tid) == "passed")
    for tid in t.flaky:
        t.outcomes[tid] = "passed"
    t.counts = counts_of(t.outcomes)
    if t.flaky == sorted(bad) and proc.returncode == 0:
        t.returncode = 0


def _collect_stats(run: BuildRun, path: str) -> None:
    """The PYCTX_STATS lines of this build's .so files, summed."""
    run.stats_lines = read_stats(path)
    legacy, ctx, by_caller = {}, {}, {}
    for line in run.stats_lines:
        if not run.is_mine(line):
            continue
        for k, v in (line.get("legacy_calls") or {}).items():
            legacy[k] = legacy.get(k, 0) + int(v)
        for k, v in (line.get("ctx_calls") or {}).items():
            ctx[k] = ctx.get(k, 0) + int(v)
        for caller, calls in (line.get("legacy_by_caller") or {}).items():
            mine = by_caller.setdefault(caller, {})
            for k, v in calls.items():
                mine[k] = mine.get(k, 0) + int(v)
    run.legacy_calls, run.ctx_calls, run.legacy_by_caller = legacy, ctx, by_caller


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def read_stats(path: str) -> List[dict]:
    lines = []
    if not os.path.exists(path):
        return lines
    with open(path) as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"unparsable": raw[:500]})
    return lines


# --------------------------------------------------------------------------
# migration


def _pyctx(args: List[str], cwd: str, timeout: float = 600):
    cmd = [str(builds.pyctx_bin())] + args
    try:
        return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, errors="replace", timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, -9, "", "[harness] %s: %s" % (" ".join(cmd), exc))


def status_function_names(tree: str, paths: List[str]) -> List[str]:
    """Every function name `pyctx status --json` lists, sorted, unique."""
    proc = _pyctx(["status", "--json"] + paths, cwd=tree)
    # Exit 2 with a report: some code could not be parsed (the migration
    # run reports that); its functions are listed all the same.
    try:
        return sorted({f["name"] for f in json.loads(proc.stdout)["functions"]})
    except (ValueError, KeyError) as exc:
        raise HarnessError("pyctx status --json %s exited %d without a report (%s):\n%s" % (
            " ".join(paths), proc.returncode, exc, proc.stderr[-3000:]))


def half_selection(package: str, names: Sequence[str], seed: int = HALF_SEED) -> List[str]:
    """A seeded random half of the names (same for every run and interpreter)."""
    names = sorted(set(names))
    return sorted(random.Random("%d:%s" % (seed, package)).sample(names, len(names) // 2))


def _tree_files(root: str) -> Dict[str, str]:
    out = {}
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = sdist.sha256_file(p)
    return out


def migrate_tree(package: str, pkg: dict, pristine: str, dest: str,
                 variant: str, verify_python: Optional[str] = None) -> MigrationRun:
    """Copy the pristine sdist to dest, run `pyctx migrate --write` over the
    extension's C sources (all functions, or the seeded half; with
    `--verify --python verify_python` when given: a compiler backs out what
    would break), then check the output: `--check` must exit 0 and a second
    run must print no diff."""
    if variant not in MIGRATED_VARIANTS:
        raise HarnessError("not a migration variant: %r" % variant)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(pristine, dest, symlinks=True)
    paths = list(pkg["c_sources"])
    mig = MigrationRun(package=package, variant=variant, tree=dest, paths=paths,
                       pristine=pristine)
    only: List[str] = []
    try:
        mig.all_functions = status_function_names(dest, paths)
    except HarnessError as exc:
        mig.error = str(exc)
        return mig
    if variant == "half":
        mig.only = half_selection(package, mig.all_functions)
        only = ["--only", ",".join(mig.only)]
    before = _tree_files(dest)
    t0 = time.monotonic()
    verify = ["--verify", "--python", verify_python] if verify_python else []
    proc = _pyctx(["migrate", "--write", "--json"] + verify + only + paths, cwd=dest)
    mig.seconds = time.monotonic() - t0
    mig.write_rc, mig.write_stderr = proc.returncode, proc.stderr
    base = os.path.dirname(dest)
    with open(os.path.join(base, "migrate-%s.json" % variant), "w") as f:
        f.write(proc.stdout)
    with open(os.path.join(base, "migrate-%s.stderr" % variant), "w") as f:
        f.write(proc.stderr)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        mig.error = "pyctx migrate --write --json exited %d without a JSON report:\n%s" % (
            proc.returncode, proc.stderr[-3000:])
        return mig
    for f in report.get("files", []):
        f.pop("diff", None)
    mig.report = report
    after = _tree_files(dest)
    mig.changed_files = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))

    check = _pyctx(["migrate", "--check"] + only + paths, cwd=dest)
    mig.check_rc, mig.check_output = check.returncode, (check.stdout + check.stderr)[-4000:]
    again = _pyctx(["migrate", "--color", "never"] + only + paths, cwd=dest)
    mig.second_rc, mig.second_diff, mig.second_stderr = again.returncode, again.stdout, again.stderr
    return mig


def _macro_text(path: str, line: int) -> str:
    """The #define starting at (1-based) line, continuation lines joined."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    out, i = [], line - 1
    while 0 <= i < len(lines):
        out.append(lines[i])
        if not lines[i].rstrip().endswith("\\"):
            break
        i += 1
    return "\n".join(out)


def migration_problems(mig: MigrationRun) -> List[str]:
    """What is wrong with a migration run itself (empty list: nothing)."""
    if mig.error:
        return [mig.error]
    out = []
    if mig.write_rc != 0:
        out.append("pyctx migrate --write exited %d:\n%s" % (
            mig.write_rc, "\n".join(line for line in mig.write_stderr.splitlines()
                                    if "error" in line or line.startswith("pyctx:"))[-3000:]))
    errors = [d for d in mig.report.get("diagnostics", []) if d["severity"] == "error"]
    if errors:
        out.append("error diagnostics: %s" % errors[:10])
    c_roots = [os.path.normpath(p) for p in mig.paths]
    outside = [p for p in mig.changed_files
               if not p.endswith(SOURCE_SUFFIXES)
               or not any(p == r or p.startswith(r + os.sep) for r in c_roots)]
    if outside:
        out.append("files changed outside the extension's C sources: %s" % outside)
    if not mig.changed_files:
        out.append("pyctx migrate --write changed no file")
    return out


def idempotence_problems(mig: MigrationRun) -> List[str]:
    if mig.error:
        return [mig.error]
    out = []
    if mig.check_rc != 0:
        out.append("pyctx migrate --check on the migrated output exited %s:\n%s" % (
            mig.check_rc, _tail(mig.check_output, 10)))
    if mig.second_diff.strip():
        out.append("second pyctx migrate run printed a diff:\n%s" % mig.second_diff[:4000])
    elif mig.second_rc != 0:
        out.append("second pyctx migrate run printed no diff but exited %s:\n%s" % (
            mig.second_rc, _tail(mig.second_stderr, 10)))
    return out


# --------------------------------------------------------------------------
# a session: every (interpreter, package, variant) built and tested once


Key = Tuple[str, str, str]            # (absolute python, package, variant)


class Corpus:
    """Builds and tests on demand, each (python, package, variant) once.

    ``plan(keys)`` queues builds in a thread pool (``jobs`` at a time) in
    the given order; ``result(python, package, variant)`` waits for one
    (queuing it first if needed). Thread-safe.
    """

    def __init__(self, workdir: str, packages: Optional[Dict[str, dict]] = None,
                 cache_dir: str = DEFAULT_CACHE, deps_dir: str = DEFAULT_DEPS,
                 jobs: Optional[int] = None, keep_build_trees: bool = False):
        self.workdir = workdir
        self.packages = packages or load_packages()
        self.cache_dir = cache_dir
        self.deps_dir = deps_dir
        self.keep_build_trees = keep_build_trees
        if jobs is None:
            jobs = int(os.environ.get("PYCTX_CORPUS_JOBS") or min(2, os.cpu_count() or 1))
        self.jobs = max(1, jobs)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.jobs, thread_name_prefix="corpus")
        self._lock = threading.Lock()
        self._locks: Dict[object, threading.Lock] = {}
        self._memo: Dict[object, object] = {}
        self._futures: Dict[Key, concurrent.futures.Future] = {}
        self.started = time.monotonic()

    # -- memoised steps (each computed once, errors included) ---------------

    def _once(self, key, compute):
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._memo:
                try:
                    self._memo[key] = (True, compute())
                except Exception as exc:  # remembered: never retried in a session
                    self._memo[key] = (False, exc)
            ok, value = self._memo[key]
        if not ok:
            raise value
        return value

    def deps(self, python: str, name: str, kind: str) -> Optional[str]:
        pins = self.packages[name].get(kind, [])
        return self._once(("deps", python, tuple(pins)),
                          lambda: sdist.install_deps(python, pins, self.deps_dir))

    def pristine(self, name: str, python: str) -> str:
        def compute():
            pkg = self.packages[name]
            archive = sdist.fetch(name, pkg, python, self.cache_dir, self.deps_dir)
            dest = os.path.join(self.workdir, name, "pristine")
            shutil.rmtree(dest, ignore_errors=True)
            tree = str(sdist.unpack(archive, dest))
            check_requires_python(name, pkg, tree)
            return tree
        return self._once(("pristine", name), compute)

    def stable_abi(self, python: str) -> Tuple[frozenset, str]:
        """stable_abi_names for this interpreter (the installed ones as the
        fallback's candidates)."""
        return self._once(("stable-abi", python),
                          lambda: stable_abi_names(python, installed_pythons()))

    def flags(self, python: str, compat: bool) -> Dict[str, str]:
        return self._once(("flags", python, compat),
                          lambda: builds.pyctx_flags(python, compat))

    def migration(self, name: str, variant: str, python: str) -> MigrationRun:
        def compute():
            pristine = self.pristine(name, python)
            dest = os.path.join(self.workdir, name, variant, os.path.basename(pristine))
            return migrate_tree(name, self.packages[name], pristine, dest, variant,
                                verify_python=python)
        return self._once(("migration", name, variant), compute)

    # -- builds --------------------------------------------------------------

    def key(self, python: str, name: str, variant: str) -> Key:
        if variant not in VARIANTS:
            raise HarnessError("unknown variant %r" % variant)
        if name not in self.packages:
            raise HarnessError("unknown package %r" % name)
        return (_abs_python(python), name, variant)

    def submit(self, python: str, name: str, variant: str) -> concurrent.futures.Future:
        key = self.key(python, name, variant)
        with self._lock:
            fut = self._futures.get(key)
            if fut is None:
                fut = self._futures[key] = self._pool.submit(self._job, *key)
        return fut

    def plan(self, keys: Sequence[Tuple[str, str, str]]) -> None:
        for python, name, variant in keys:
            self.submit(python, name, variant)

    def result(self, python: str, name: str, variant: str) -> BuildRun:
        return self.submit(python, name, variant).result()

    def results(self, python: str, name: str, variants: Sequence[str]) -> Dict[str, BuildRun]:
        futs = {v: self.submit(python, name, v) for v in variants}
        return {v: f.result() for v, f in futs.items()}

    def _job(self, python: str, name: str, variant: str) -> BuildRun:
        t0 = time.monotonic()
        pkg = self.packages[name]
        version = python_version(python)
        run = BuildRun(package=name, python=python, version=version, mode=variant)
        workdir = os.path.join(self.workdir, "%s-%s" % (name, version))
        try:
            source = self.pristine(name, python)
            flags = None
            if variant != "plain":
                try:
                    flags = self.flags(python, compat=(variant == "compat"))
                except builds.BuildError as exc:
                    run.error = "pyctx flags unavailable: %s" % exc
                    return run
            if variant in MIGRATED_VARIANTS:
                mig = self.migration(name, variant, python)
                problems = migration_problems(mig)
                if mig.error or not mig.changed_files:
                    run.error = "migration failed: %s" % "; ".join(problems)
                    return run
                source = mig.tree
            run = build(python, name, pkg, source, workdir, variant, flags, version,
                        self.deps(python, name, "build_deps"))
            if not self.keep_build_trees:
                shutil.rmtree(os.path.join(workdir, variant, "src"), ignore_errors=True)
            if run.error is None:
                run_tests(run, pkg, self.pristine(name, python), workdir,
                          self.deps(python, name, "test_deps"))
                if not self.keep_build_trees:
                    for d in ("testsrc", "scratch"):
                        shutil.rmtree(os.path.join(workdir, variant, d), ignore_errors=True)
        except Exception as exc:  # fetch/unpack/deps trouble: a result, not a crash
            run.error = "harness error: %s: %s" % (type(exc).__name__, exc)
        finally:
            run.wall_seconds = time.monotonic() - t0
        return run

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


_SESSIONS: Dict[str, Corpus] = {}
_SESSIONS_LOCK = threading.Lock()


def session(workdir: str, **kwargs) -> Corpus:
    """The Corpus of this process for ``workdir`` (tests share one)."""
    with _SESSIONS_LOCK:
        if workdir not in _SESSIONS:
            _SESSIONS[workdir] = Corpus(workdir, **kwargs)
        return _SESSIONS[workdir]


def run_package(python: str, name: str, workdir: str,
                packages: Optional[Dict[str, dict]] = None,
                cache_dir: str = DEFAULT_CACHE,
                modes=("plain", "compat"),
                keep_build_trees: bool = False) -> Dict[str, BuildRun]:
    """Build and test some variants of one package with one interpreter."""
    corpus = Corpus(workdir, packages, cache_dir, keep_build_trees=keep_build_trees)
    try:
        return corpus.results(python, name, modes)
    finally:
        corpus.close()


# --------------------------------------------------------------------------
# verdicts shared by the pytest files and the script


def suite_problems(plain: BuildRun, run: BuildRun) -> List[str]:
    """The variant's test run against the plain one: same passed count, no
    test failing or erroring that does not in plain."""
    if plain.error:
        return ["plain build failed: %s" % plain.error]
    if run.error:
        return [run.error]
    pt, t = plain.tests, run.tests
    if pt is None or pt.counts is None:
        return ["plain test run produced no pytest summary"]
    if t is None or t.counts is None:
        if t is not None and t.crash_output:
            return ["%s test run crashed (exit %s):\n%s" % (run.mode, t.returncode,
                                                          t.crash_output)]
        return ["%s test run produced no pytest summary (exit %s):\n%s" % (
            run.mode, t.returncode if t else "?", _tail(t.output_tail, 25) if t else "")]
    out = []
    new_bad = sorted(set(t.ids("failed") + t.ids("error"))
                     - set(pt.ids("failed") + pt.ids("error")))
    if new_bad:
        out.append("fail only in the %s build: %s\n%s" % (run.mode, new_bad[:30], t.output_tail))
    if t.counts.passed != pt.counts.passed:
        out.append("passed: plain %s vs %s %s (passed/failed/skipped/errors)\n%s" % (
            pt.counts.short(), run.mode, t.counts.short(), t.output_tail))
    if t.counts.failed > pt.counts.failed or t.counts.errors > pt.counts.errors:
        out.append("more failures/errors: plain %s vs %s %s" % (
            pt.counts.short(), run.mode, t.counts.short()))
    return out


def probe_problems(run: BuildRun, pkg: dict) -> List[str]:
    """The C extension(s) of this build, and nothing else, ran the tests."""
    if run.error or run.tests is None:
        return [run.error or "no test run"]
    out = []
    for where, probe in (("inside the pytest process", run.tests.probe),
                         ("in a fresh interpreter", run.tests.script_probe)):
        if "error" in probe or "exit" in probe:
            out.append("probe %s: %s" % (where, probe.get("error") or probe.get("exit")))
            continue
        checks = probe.get("checks", {})
        failed = {k: v for k, v in checks.items() if v is not True}
        if not checks or failed:
            out.append("speedups checks failed %s: %r\nimports: %r" % (
                where, failed or "(none recorded)", probe.get("imports")))
        loaded = probe.get("loaded_extensions", {})
        for module, so in zip(extensions_of(pkg), run.so_paths):
            if module not in loaded and module in pkg.get("imports", []):
                out.append("%s not loaded %s: %r" % (module, where, loaded))
            elif module in loaded and not _same_file(loaded[module], so):
                out.append("%s loaded from %s, not the build's %s (%s)" % (
                    module, loaded[module], so, where))
        if pkg["extension"] not in loaded:
            out.append("%s not loaded %s: %r" % (pkg["extension"], where, loaded))
    return out


# What runtime/src/symbolize.rs names the caller of a call made by a tail
# jump: no return address points into the function that made it.
TAIL_CALL_CALLER = "(a tail call)"


@functools.lru_cache(maxsize=None)
def cpython_header_calls(python: str) -> Dict[str, frozenset]:
    """For each macro and static inline function of the interpreter's
    headers, the names its body calls or uses (read from the headers
    themselves, so it follows each version's definitions)."""
    include = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    graph: Dict[str, set] = {}
    for d, _, files in os.walk(include):
        for name in files:
            if not name.endswith(".h"):
                continue
            with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
                text = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S).replace("\\\n", " ")
            for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\([^)]*\))?(.*)$", text, re.M):
                graph.setdefault(m.group(1), set()).update(
                    re.findall(r"\b[A-Za-z_]\w*", m.group(3)))
            for m in re.finditer(r"\bstatic\s+inline\b[^;{}()]*?\b(\w+)\s*\([^;{}]*?\)\s*\{", text):
                depth, i = 1, m.end()
                while depth and i < len(text):
                    depth += {"{": 1, "}": -1}.get(text[i], 0)
                    i += 1
                graph.setdefault(m.group(1), set()).update(
                    re.findall(r"\b([A-Za-z_]\w*)\s*\(", text[m.end():i]))
    return {k: frozenset(v) for k, v in graph.items()}


def header_calls_reached(python: str, used: set) -> set:
    """The names that CPython's macros and inline functions reached from
    `used` (what a package spells) call, transitively."""
    graph = cpython_header_calls(python)
    seen, todo = set(), [n for n in used if n in graph]
    while todo:
        for callee in graph.get(todo.pop(), ()):
            if callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return seen


# Itanium C++ ABI operator names (the few a report may need), as the CLI
# spells them (`DictItem::operator<`).
_CXX_OPERATORS = {"lt": "<", "gt": ">", "le": "<=", "ge": ">=", "eq": "==", "ne": "!=",
                  "cl": "()", "ix": "[]", "aS": "=", "pl": "+", "mi": "-"}


def cxx_function_names(symbol: str) -> Optional[List[str]]:
    """The names the CLI may report for a C++ function symbol (Itanium
    mangling, as PYCTX_STATS gives callers): `_ZN9PyHandler6HandleEP7_object`
    → ["PyHandler::Handle", "Handle"]; the anonymous namespace is left out,
    compiler clones (`.isra.0`) stripped. None: not a mangled name."""
    m = re.match(r"_Z(L?)(N?)", symbol)
    if not m:
        return None
    rest, nested = symbol[m.end():].split(".")[0], bool(m.group(2))
    if nested:
        rest = re.sub(r"^[rVKRO]+", "", rest)
    parts: List[str] = []
    while rest:
        num = re.match(r"(\d+)", rest)
        if num:
            n = int(num.group(1))
            name, rest = rest[num.end():num.end() + n], rest[num.end() + n:]
            if not name.startswith("_GLOBAL__N"):
                parts.append(name)
        elif rest[:2] in ("C1", "C2", "C3") and parts:
            parts.append(parts[-1])
            rest = rest[2:]
        elif rest[:2] in ("D0", "D1", "D2") and parts:
            parts.append("~" + parts[-1])
            rest = rest[2:]
        elif rest[:2] in _CXX_OPERATORS:
            parts.append("operator" + _CXX_OPERATORS[rest[:2]])
            rest = rest[2:]
        else:
            break
        if not nested:
            break
    if not parts:
        return None
    full = "::".join(parts)
    return [full] if len(parts) == 1 else [full, parts[-1]]


def stats_problems(run: BuildRun, mig: Optional[MigrationRun]) -> List[str]:
    """PYCTX_STATS evidence: a migrated build makes ctx calls, and its only
    legacy calls come from functions the CLI reported as not (fully)
    migrated, or from functions defined by project macros it reported as
    legacy; a half build makes both kinds."""
    if run.error or run.tests is None:
        return [run.error or "no test run"]
    mine = [line for line in run.stats_lines if run.is_mine(line)]
    if not mine:
        others = sorted({line.get("module", "?") for line in run.stats_lines})
        return ["no PYCTX_STATS line for %s (lines for: %s)" % (run.so_paths, others)]
    out = []
    if run.ctx_total == 0:
        out.append("no ctx-form call counted (legacy: %d)" % run.legacy_total)
    if run.mode == "half" and run.legacy_total == 0:
        out.append("half migration made no legacy call (ctx: %d)" % run.ctx_total)
    if mig is not None and not mig.error:
        reported = mig.not_fully_migrated()
        known = {f["name"] for f in mig.report.get("functions", [])}
        generated = mig.legacy_macro_functions()

        def explained(caller):
            names = cxx_function_names(caller) or [caller]
            if any(n in reported for n in names):
                return True
            if any(n in known for n in names):   # a function the CLI says it migrated
                return False
            # A function the CLI cannot see: defined by a legacy macro?
            return any(caller.startswith(pre) and caller.endswith(suf)
                       and len(caller) > len(pre + suf) for _, pre, suf in generated)
        spelled = mig.spelled_calls()
        # CPython's own macros and inline functions that the package uses
        # make calls of their own: PyObject_TypeCheck(ctx, o, t) expands to
        # CPython's inline function that calls PyType_IsSubtype, and
        # Py_BEGIN_ALLOW_THREADS calls PyEval_SaveThread. Those calls are in
        # CPython's code, not the package's, so the CLI had nothing to
        # rewrite; they count as legacy wherever they were expanded.
        from_headers = header_calls_reached(run.python, mig.spelled_identifiers())
        # A function the CLI left legacy (it switches the thread state, say)
        # may be inlined into a migrated one, whose symbol then shows its
        # calls.
        kept = {c["name"] for f in mig.report.get("functions", [])
                for c in f.get("legacy_calls", [])}
        inlinable = mig.legacy_spelled_apis()

        def inevitable(caller, api):
            if api not in spelled or api in from_headers or api in kept:
                return True
            # A C++ caller's legacy call of an API that a function left
            # legacy spells: that function inlined (in-class members are
            # inline; see legacy_spelled_apis); likewise a call whose caller
            # is unknown (a tail call leaves no return address to name it).
            loose = cxx_function_names(caller) is not None or caller == TAIL_CALL_CALLER
            return loose and api in inlinable

        unexplained = {}
        for c, calls in run.legacy_by_caller.items():
            if explained(c):
                continue
            left = {api: n for api, n in calls.items() if not inevitable(c, api)}
            if left:
                unexplained[c] = left
        if unexplained:
            out.append("legacy calls from functions the CLI reported as migrated: %s" %
                       dict(sorted(unexplained.items())[:15]))
    return out


def object_problems(run: BuildRun) -> List[str]:
    if run.error:
        return [run.error]
    out = []
    if not run.pyctx_symbols:
        out.append("%s .so has no pyctx symbols (flags: %r)" % (run.mode, run.env))
    if not run.object_pyctx_refs:
        out.append("%s object files reference no pyctx symbol (%r)" % (
            run.mode, run.object_pyctx_refs))
    return out


# --------------------------------------------------------------------------
# the whole corpus in one pyctx migrate invocation


def migrate_at_once(corpus: Corpus, names: Sequence[str], python: str) -> dict:
    """One `pyctx migrate --json` (dry run) over every package's C sources,
    then one `--write`, timed; compared with the per-package runs."""
    root = os.path.join(corpus.workdir, "at-once")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    paths = []
    for n in names:
        pristine = corpus.pristine(n, python)
        top = os.path.basename(pristine)
        shutil.copytree(pristine, os.path.join(root, top), symlinks=True)
        paths += [os.path.join(top, p) for p in corpus.packages[n]["c_sources"]]
    files = sum(1 for p in paths for _ in _c_files(os.path.join(root, p)))
    result = {"paths": paths, "files": files}
    for mode, extra in (("dry-run", ["--json"]), ("write", ["--write"])):
        t0 = time.monotonic()
        proc = _pyctx(["migrate"] + extra + paths, cwd=root)
        result[mode] = {"seconds": time.monotonic() - t0, "rc": proc.returncode,
                        "stderr_tail": _tail(proc.stderr, 5)}
        if mode == "dry-run":
            try:
                report = json.loads(proc.stdout)
                result["totals"] = report["totals"]
                result["refused"] = [
                    "%s:%s: %s: %s" % (f["file"], f["line"], f["name"], f["status"]["reason"])
                    for f in report["functions"] if f["status"]["kind"] == "refused"]
                result["unparsed"] = [
                    "%s:%s: %s" % (d["file"], d["line"], d["message"])
                    for d in report["diagnostics"]
                    if d["code"] == "parse-error" or d["severity"] == "error"]
                result["lines"] = sum(_count_lines(os.path.join(root, f["path"]))
                                      for f in report["files"])
            except (ValueError, KeyError) as exc:
                result["error"] = "no JSON report (%s): %s" % (exc, proc.stderr[-2000:])
    return result


def _c_files(path: str):
    if os.path.isfile(path):
        yield path
        return
    for d, _, files in os.walk(path):
        for f in files:
            if f.endswith(SOURCE_SUFFIXES):
                yield os.path.join(d, f)


def _count_lines(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


# --------------------------------------------------------------------------
# script


def imports_counted(plain: BuildRun, compat: BuildRun) -> str:
    """How many CPython functions the plain .so imports show up in compat's stats."""
    imported = set(plain.capi_function_imports)
    return "%d/%d" % (len(imported & set(compat.legacy_calls)), len(imported))


def _cell(run: Optional[BuildRun]) -> str:
    if run is None:
        return "-"
    if run.error:
        if "flags unavailable" in run.error:
            return "NO FLAGS"
        return "MIGRATION ERROR" if run.error.startswith("migration failed") else "BUILD ERROR"
    if run.tests is None or run.tests.counts is None:
        return "CRASH rc=%s" % (run.tests.returncode if run.tests else "?")
    return run.tests.counts.short()


def _table(head: List[str], body: List[List[str]], markdown: bool) -> str:
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    fmt = " | ".join("%%-%ds" % w for w in widths)
    sep = "-+-".join("-" * w for w in widths)
    if markdown:
        fmt, sep = "| " + fmt + " |", "|-" + sep.replace("+", "|") + "-|"
    return "\n".join([fmt % tuple(head), sep] + [fmt % tuple(b) for b in body])


def format_table(rows: List[Dict[str, BuildRun]], markdown: bool = False,
                 packages: Optional[Dict[str, dict]] = None,
                 abis: Optional[Dict[str, Tuple[frozenset, str]]] = None) -> str:
    """The compat table: one row per (package, python)."""
    packages = packages or load_packages()
    head = ["package", "python", "plain p/f/s/e", "compat p/f/s/e",
            "legacy fns", "legacy calls", "imports counted", "pyctx syms", "result"]
    body = []
    for r in rows:
        plain, compat = r.get("plain"), r.get("compat")
        any_run = plain or compat
        ok_compat = compat is not None and compat.error is None
        pkg = packages[any_run.package]
        if compat is None:
            result = "-"
        else:
            abi = abis.get(compat.python) if abis else None
            problems = compat_verdict(plain, compat, pkg, abi) if plain else ["no plain build"]
            result = judged(problems, pkg, "compat")
        body.append([
            any_run.package, any_run.version, _cell(plain), _cell(compat),
            str(compat.legacy_distinct) if ok_compat else "-",
            str(compat.legacy_total) if ok_compat else "-",
            imports_counted(plain, compat) if ok_compat and plain and not plain.error else "-",
            ("%d (plain %d)" % (len(compat.pyctx_symbols),
                                len(plain.pyctx_symbols) if plain else -1))
            if ok_compat else "-",
            result,
        ])
    return _table(head, body, markdown)


def verdict(plain: BuildRun, run: BuildRun, mig: Optional[MigrationRun],
            pkg: dict, abi: Optional[Tuple[frozenset, str]] = None) -> List[str]:
    """Every problem of one migrated/half build (empty: it passes). ``abi``:
    the interpreter's stable ABI, checked for packages with "abi3": true."""
    out = []
    if mig is not None:
        out += migration_problems(mig) + idempotence_problems(mig)
    if run.error:
        return out + [run.error]
    out += suite_problems(plain, run) + probe_problems(run, pkg) + stats_problems(run, mig)
    out += object_problems(run)
    if pkg.get("abi3") and abi is not None:
        out += stable_abi_problems(run, *abi)
    return out


def compat_verdict(plain: BuildRun, run: BuildRun, pkg: dict,
                   abi: Optional[Tuple[frozenset, str]] = None) -> List[str]:
    """Every problem of one compat build (empty: it passes)."""
    if run.error:
        return [run.error]
    out = suite_problems(plain, run) + probe_problems(run, pkg)
    out += compat_stats_problems(plain, run, pkg) + compat_symbol_problems(plain, run)
    if pkg.get("abi3") and abi is not None:
        out += stable_abi_problems(run, *abi)
    return out


def judged(problems: List[str], pkg: dict, variant: str) -> str:
    """A row's result: ok / FAIL, or for an expected failure xfail / XPASS
    (passes now: remove its expect_fail entry)."""
    if expected_failure(pkg, variant):
        return "xfail" if problems else "XPASS"
    return "FAIL" if problems else "ok"


# Evidence floors for "the calls really went through compat".
MIN_DISTINCT_LEGACY = 10
MIN_TOTAL_LEGACY = 1000


def compat_stats_problems(plain: BuildRun, run: BuildRun, pkg: dict) -> List[str]:
    """PYCTX_STATS of a compat build: legacy calls only, enough of them, of
    enough distinct functions, including the package's expect_legacy."""
    if run.error or run.tests is None:
        return [run.error or "no test run"]
    mine = [line for line in run.stats_lines if run.is_mine(line)]
    if not mine:
        others = sorted({line.get("module", "?") for line in run.stats_lines})
        return ["no PYCTX_STATS line for %s (lines for: %s)" % (run.so_paths, others)]
    top = sorted(run.legacy_calls.items(), key=lambda kv: -kv[1])[:15]
    # An extension cannot call more distinct out-of-line API functions than
    # it imports: markupsafe's _speedups.c imports two (PyUnicode_New,
    # PyModule_Create2); everything else it uses is a CPython macro or
    # static inline function.
    imported = plain.capi_function_imports
    need = min(MIN_DISTINCT_LEGACY, len(imported))
    out = []
    if need == 0:
        out.append("plain .so imports no CPython functions? %s" % plain.so_paths)
    if run.legacy_distinct < need:
        out.append("only %d distinct legacy functions (need %d; plain imports %d: %s): %s" % (
            run.legacy_distinct, need, len(imported), imported[:20], top))
    if run.legacy_total < MIN_TOTAL_LEGACY:
        out.append("only %d legacy calls (need %d): %s" % (run.legacy_total, MIN_TOTAL_LEGACY,
                                                            top))
    if run.ctx_total:
        out.append("ctx-form calls in an unmodified source: %s" % run.ctx_calls)
    missing = [n for n in pkg.get("expect_legacy", []) if not run.legacy_calls.get(n)]
    if missing:
        out.append("expected legacy calls missing: %s (have %s)" % (missing, top))
    return out


def compat_symbol_problems(plain: BuildRun, run: BuildRun) -> List[str]:
    """The compat .so carries pyctx and the plain one does not; and the
    compile step did what the route promises: with compat flags for the
    compiler (header route) the package's objects call pyctx; with none
    (compat by linking) they are what a plain build compiles, reference for
    reference."""
    if run.error or plain.error:
        return [run.error or plain.error]
    out = []
    if not run.pyctx_symbols:
        out.append("compat .so %s has no pyctx symbols (flags: %r)" % (run.so_paths, run.env))
    if plain.pyctx_symbols:
        out.append("plain .so has pyctx symbols: %s" % plain.pyctx_symbols[:10])
    if plain.object_pyctx_refs:
        out.append("plain object files reference pyctx: %s" % plain.object_pyctx_refs)
    if builds.compile_flags(run.env):
        if not run.object_pyctx_refs:
            out.append("compat object files reference no pyctx symbol (found: %r)"
                       % run.object_pyctx_refs)
    elif run.object_pyctx_refs or run.object_python_refs != plain.object_python_refs:
        out.append("compat by linking, yet the compile step changed the objects: pyctx refs "
                   "%s; CPython refs only in compat %s, only in plain %s" % (
                       run.object_pyctx_refs,
                       sorted(set(run.object_python_refs or []) - set(plain.object_python_refs or [])),
                       sorted(set(plain.object_python_refs or []) - set(run.object_python_refs or []))))
    return out


def _fmt_calls(n: int) -> str:
    return "%.1fM" % (n / 1e6) if n >= 1e6 else ("%.0fk" % (n / 1e3) if n >= 1e4 else str(n))


def format_migrate_table(rows: List[Tuple[BuildRun, BuildRun, Optional[MigrationRun]]],
                         packages: Dict[str, dict], markdown: bool = False,
                         abis: Optional[Dict[str, Tuple[frozenset, str]]] = None) -> str:
    """The migration table: one row per (package, python, variant)."""
    head = ["package", "python", "variant", "functions", "calls rewritten", "entry points",
            "bridges", "refusals", "build", "tests (plain)", "ctx / legacy calls", "result"]
    body = []
    for plain, run, mig in rows:
        t = mig.totals if mig and not mig.error else {}
        fns = str(t.get("functions", "-"))
        if mig and mig.only is not None and t:
            fns = "%d of %s" % (len(mig.only), t.get("functions"))
        if run.error:
            build_cell = ("MIGRATION ERROR" if run.error.startswith("migration failed")
                          else "FAILED")
        else:
            build_cell = "ok %.0fs" % run.build_seconds
        tests_cell = _cell(run) if not run.error else "-"
        if plain.tests is not None and plain.tests.counts is not None and not run.error:
            tests_cell += " (%s)" % plain.tests.counts.short()
        calls = ("%s / %s" % (_fmt_calls(run.ctx_total), _fmt_calls(run.legacy_total))
                 if not run.error and run.tests else "-")
        pkg = packages[run.package]
        problems = verdict(plain, run, mig, pkg, abis.get(run.python) if abis else None)
        body.append([run.package, run.version, run.mode, fns,
                     str(t.get("calls_rewritten", "-")), str(t.get("entry_points", "-")),
                     str(t.get("bridges", "-")), str(t.get("refused", "-")),
                     build_cell, tests_cell, calls, judged(problems, pkg, run.mode)])
    return _table(head, body, markdown)


def _details(run: BuildRun) -> List[str]:
    lines = []
    if run.error:
        lines.append("[%s %s %s] %s" % (run.package, run.version, run.mode, run.error))
        return lines
    t = run.tests
    if t is None:
        return lines
    if t.flaky:
        lines.append("[%s %s %s] failed, then passed when rerun alone (counted as passed): %s"
                     % (run.package, run.version, run.mode, ", ".join(t.flaky)))
    bad = t.ids("failed") + t.ids("error")
    if bad or t.counts is None or t.returncode not in (0,):
        lines.append("[%s %s %s] pytest exit %d; failing: %s\n%s" % (
            run.package, run.version, run.mode, t.returncode, bad[:20],
            _tail(t.output_tail, 30)))
    for where, probe in (("pytest", t.probe), ("script", t.script_probe)):
        failed = {k: v for k, v in probe.get("checks", {}).items() if v is not True}
        if failed or "error" in probe or "exit" in probe:
            bad_imports = {k: v for k, v in probe.get("imports", {}).items()
                           if not isinstance(v, str) or v.startswith("error:")}
            lines.append("[%s %s %s] %s probe: failed checks %s; failed imports %s %s" % (
                run.package, run.version, run.mode, where, failed, bad_imports,
                probe.get("error", "") or probe.get("exit", "")))
    return lines


def _pythons_and_names(args, ap, packages):
    """(interpreters considered, package names, {name: interpreters used})."""
    if args.test_env:
        for word in args.test_env:
            extra_test_env(shlex.quote(word))  # same check, same message
        os.environ[TEST_ENV_VAR] = " ".join(
            [os.environ.get(TEST_ENV_VAR, "")] + [shlex.quote(w) for w in args.test_env]).strip()
    names = args.package or list(packages)
    for n in names:
        if n not in packages:
            ap.error("unknown package %r (known: %s)" % (n, ", ".join(packages)))
    pythons = [_abs_python(p) for p in (args.python or installed_pythons())]
    if not pythons:
        ap.error("no interpreters found; pass --python")
    # Interpreters named with --python are all used (where supported).
    which = "all" if args.python else args.pythons
    try:
        per = {n: select_pythons(packages[n], pythons, which) for n in names}
    except HarnessError as exc:
        ap.error(str(exc))
    return pythons, names, per


HALF_ENV = "PYCTX_CORPUS_HALF"


def half_pythons(pkg: dict, selected: Sequence[str], installed: Sequence[str],
                 wanted: Optional[str] = None) -> List[str]:
    """Interpreters for the seeded-half build of one package: ``wanted``
    (default $PYCTX_CORPUS_HALF, else "newest") is "newest" (the newest of
    ``selected``), "all" (all of ``selected``) or X.Y versions (any installed
    interpreter the package supports)."""
    wanted = (wanted or os.environ.get(HALF_ENV) or "newest").strip()
    if wanted == "newest":
        return list(selected[-1:])
    if wanted == "all":
        return list(selected)
    return select_pythons(pkg, installed, wanted)


def _common_args(ap):
    ap.add_argument("--python", action="append",
                    help="interpreter to build with (repeatable; default: every .venvs/3.*)")
    ap.add_argument("--package", action="append",
                    help="package from packages.json (repeatable; default: all)")
    ap.add_argument("--workdir", help="keep builds here (default: a temp dir, removed)")
    ap.add_argument("--cache", default=DEFAULT_CACHE, help="sdist cache directory")
    ap.add_argument("--jobs", type=int, help="builds at a time (default: PYCTX_CORPUS_JOBS or 2)")
    ap.add_argument("--test-env", metavar="KEY=VALUE", action="append", default=[],
                    help="extra environment for the packages' test runs (adds to %s)"
                    % TEST_ENV_VAR)
    ap.add_argument("--pythons", metavar="edges|all|X.Y,...",
                    help="interpreters per package without --python: the oldest and newest "
                         "it supports (edges), every one (all) or these versions (default: "
                         "$%s or %s)" % (PYTHONS_ENV, DEFAULT_PYTHONS))
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def main_compat(argv) -> int:
    ap = argparse.ArgumentParser(prog="harness.py compat",
                                 description="Plain and compat builds of the corpus, tested.")
    _common_args(ap)
    ap.add_argument("--mode", choices=["plain", "compat", "both"], default="both")
    ap.add_argument("--json", help="also write the full results as JSON here")
    ap.add_argument("--top", type=int, default=0,
                    help="also list the N most called legacy functions per compat build")
    args = ap.parse_args(argv)
    packages = load_packages()
    pythons, names, per = _pythons_and_names(args, ap, packages)
    modes = ("plain", "compat") if args.mode == "both" else (args.mode,)
    workdir = args.workdir or tempfile.mkdtemp(prefix="pyctx-corpus-")
    corpus = Corpus(workdir, packages, args.cache, jobs=args.jobs,
                    keep_build_trees=bool(args.workdir))
    rows, t0 = [], time.monotonic()
    try:
        pairs = [(py, n) for py in pythons for n in names if py in per[n]]
        corpus.plan([(py, n, m) for py, n in pairs for m in modes])
        rows = [corpus.results(py, n, modes) for py, n in pairs]
    finally:
        corpus.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    abis = _abis(corpus, [run for r in rows for run in r.values()], packages)
    print(format_table(rows, args.markdown, packages, abis))
    print("(%.1fs; counts are passed/failed/skipped/errors)" % (time.monotonic() - t0))
    _print_unsupported(pythons, names, packages)
    for r in rows:
        for run in r.values():
            for line in _details(run):
                print(line)
            plain = r.get("plain")
            if run.mode == "compat" and plain and not plain.error and not run.error:
                missing = sorted(set(plain.capi_function_imports) - set(run.legacy_calls))
                if missing:
                    print("[%s %s] imported by the plain .so but never counted as legacy: %s"
                          % (run.package, run.version, ", ".join(missing)))
            if args.top and run.mode == "compat" and run.legacy_calls:
                top = sorted(run.legacy_calls.items(), key=lambda kv: -kv[1])[:args.top]
                print("[%s %s] top legacy calls: %s" % (
                    run.package, run.version, ", ".join("%s=%d" % kv for kv in top)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{m: dataclasses.asdict(v) for m, v in r.items()} for r in rows],
                      f, indent=1, sort_keys=True)
    ok = all(judged(compat_verdict(r["plain"], r["compat"], packages[r["plain"].package],
                                   abis.get(r["plain"].python)),
                    packages[r["plain"].package], "compat") in ("ok", "xfail")
             if "compat" in r else r["plain"].error is None for r in rows)
    return 0 if ok else 1


def main_migrate(argv) -> int:
    ap = argparse.ArgumentParser(
        prog="harness.py migrate",
        description="Full and seeded-half migrations of the corpus, built and tested "
                    "against plain builds.")
    _common_args(ap)
    ap.add_argument("--half", metavar="newest|all|X.Y,...",
                    help="interpreters for the half migrations, among those of the package "
                         "(default: $%s or newest)" % HALF_ENV)
    ap.add_argument("--no-half", action="store_true", help="skip the half migrations")
    ap.add_argument("--compat", action="store_true",
                    help="also build through compat (packages with compat: true) and "
                         "print the compat table first")
    ap.add_argument("--json", help="also write the full results as JSON here")
    ap.add_argument("--from-json", metavar="FILE",
                    help="build nothing: judge and print the results a --json run saved")
    args = ap.parse_args(argv)
    packages = load_packages()
    if args.from_json:
        rows, data = load_migrate_results(args.from_json)
        print(format_migrate_table(rows, packages, args.markdown))
        for plain, run, mig in rows:
            for p in verdict(plain, run, mig, packages[run.package]):
                print("[%s %s %s] FAIL: %s" % (run.package, run.version, run.mode,
                                               p.splitlines()[0][:300]))
        return 0 if _rows_ok(rows, packages, {}) else 1
    pythons, names, per = _pythons_and_names(args, ap, packages)
    workdir = args.workdir or tempfile.mkdtemp(prefix="pyctx-corpus-")
    corpus = Corpus(workdir, packages, args.cache, jobs=args.jobs,
                    keep_build_trees=bool(args.workdir))
    t0 = time.monotonic()
    builds = []      # (python, package, variant) of the migrated/half rows
    for n in names:
        if not migratable(packages[n]):
            continue
        halves = [] if args.no_half else half_pythons(packages[n], per[n], pythons, args.half)
        builds += [(py, n, "migrated") for py in per[n]]
        builds += [(py, n, "half") for py in halves]
    compat_pairs = [(py, n) for n in names for py in per[n]
                    if args.compat and packages[n].get("compat")]
    keys = [k for py, n, v in builds for k in ((py, n, "plain"), (py, n, v))]
    keys += [(py, n, v) for py, n in compat_pairs for v in ("plain", "compat")]
    rows = []
    try:
        corpus.plan(keys)
        for py, n, v in builds:
            plain, run = corpus.result(py, n, "plain"), corpus.result(py, n, v)
            mig = None
            try:
                mig = corpus.migration(n, v, py)
            except Exception as exc:
                run.error = run.error or "migration: %s" % exc
            rows.append((plain, run, mig))
        compat_rows = [corpus.results(py, n, ("plain", "compat")) for py, n in compat_pairs]
        at_once = migrate_at_once(corpus, [n for n in names if migratable(packages[n])],
                                  pythons[-1])
        total = time.monotonic() - t0
        abis = _abis(corpus, [r for row in rows for r in row[:2]], packages)
        if compat_rows:
            print(format_table(compat_rows, args.markdown, packages, abis))
            for r in compat_rows:
                for line in _details(r["compat"]):
                    print(line)
            print()
        print(format_migrate_table(rows, packages, args.markdown, abis))
        print("(%.1fs with %d job(s); tests are passed/failed/skipped/errors of the variant, "
              "the plain build's in parentheses)" % (total, corpus.jobs))
        _print_unsupported(pythons, names, packages)
        _print_migrate_details(rows, corpus, names, packages, at_once)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rows": [{"plain": dataclasses.asdict(p), "run": dataclasses.asdict(r),
                                     "migration": dataclasses.asdict(m) if m else None}
                                    for p, r, m in rows],
                           "at_once": at_once, "seconds": total}, f, indent=1, sort_keys=True)
    finally:
        corpus.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if _rows_ok(rows, packages, abis) else 1


def _rows_ok(rows, packages, abis) -> bool:
    """Every migrated/half row passes, or fails where that is expected."""
    return all(judged(verdict(p, r, m, packages[r.package], abis.get(r.python)),
                      packages[r.package], r.mode) in ("ok", "xfail") for p, r, m in rows)


def _abis(corpus: Corpus, runs: Sequence[BuildRun], packages) -> Dict[str, Tuple[frozenset, str]]:
    """The stable ABI of every interpreter that built an abi3 package."""
    return {r.python: corpus.stable_abi(r.python) for r in runs
            if packages[r.package].get("abi3")}


def _build_run_from_dict(d: dict) -> BuildRun:
    d = dict(d)
    t = d.pop("tests", None)
    run = BuildRun(**d)
    if t:
        t = dict(t)
        c = t.pop("counts", None)
        run.tests = TestRun(counts=Counts(**c) if c else None, **t)
    return run


def load_migrate_results(path: str):
    """The rows of a `harness.py migrate --json` file, to re-judge or re-print."""
    with open(path) as f:
        data = json.load(f)
    rows = [(_build_run_from_dict(r["plain"]), _build_run_from_dict(r["run"]),
             MigrationRun(**r["migration"]) if r["migration"] else None)
            for r in data["rows"]]
    return rows, data


def _print_unsupported(pythons, names, packages) -> None:
    for py in pythons:
        for n in names:
            why = unsupported(packages[n], python_version(py))
            if why:
                print("[%s %s] not tested: %s" % (n, python_version(py), why))


def _print_migrate_details(rows, corpus, names, packages, at_once) -> None:
    print("\nwall time per package (build + tests of each job; jobs overlap):")
    per = collections.OrderedDict((n, collections.defaultdict(float)) for n in names)
    for (py, n, v), fut in corpus._futures.items():
        if n in per and fut.done():
            per[n][v] += fut.result().wall_seconds
    for n, d in per.items():
        print("  %-11s %6.1fs  (%s)" % (n, sum(d.values()), ", ".join(
            "%s %.1fs" % kv for kv in sorted(d.items()))))
    seen = set()
    for plain, run, mig in rows:
        if mig is not None and (mig.package, mig.variant) not in seen:
            seen.add((mig.package, mig.variant))
            head = "[%s %s]" % (mig.package, mig.variant)
            if mig.error:
                print("%s migration error: %s" % (head, mig.error))
                continue
            print("%s pyctx migrate --write: %.2fs, %d file(s) changed; --check exit %s; "
                  "second run diff %s" % (head, mig.seconds, len(mig.changed_files),
                                          mig.check_rc,
                                          "empty" if not mig.second_diff.strip() else
                                          "%d lines" % len(mig.second_diff.splitlines())))
            for f in mig.refused():
                print("%s refused %s:%s %s: %s" % (head, f["file"], f["line"], f["name"],
                                                   f["status"]["reason"]))
            for d in mig.diagnostics("parse-error"):
                print("%s %s:%s: %s" % (head, d["file"], d["line"], d["message"]))
        for p in verdict(plain, run, mig, packages[run.package]):
            print("[%s %s %s] FAIL: %s" % (run.package, run.version, run.mode, p))
    print("\none `pyctx migrate` over the whole corpus (%d paths, %d files, %s lines):" % (
        len(at_once["paths"]), at_once["files"], at_once.get("lines", "?")))
    for mode in ("dry-run", "write"):
        r = at_once.get(mode, {})
        print("  %-8s %.2fs wall, exit %s; %s" % (mode, r.get("seconds", 0), r.get("rc"),
                                                  r.get("stderr_tail", "").splitlines()[-1:]))
    if "totals" in at_once:
        print("  totals: %s" % json.dumps(at_once["totals"], sort_keys=True))
    for line in at_once.get("refused", []):
        print("  refused: %s" % line)
    for line in at_once.get("unparsed", []):
        print("  not parsed (exit 2): %s" % line)
    if "error" in at_once:
        print("  error: %s" % at_once["error"])


def main_at_once(argv) -> int:
    ap = argparse.ArgumentParser(prog="harness.py at-once",
                                 description="Time one pyctx migrate over the whole corpus.")
    ap.add_argument("--python", help="interpreter used to fetch the sdists")
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    args = ap.parse_args(argv)
    packages = load_packages()
    python = _abs_python(args.python) if args.python else (installed_pythons() or [sys.executable])[-1]
    workdir = tempfile.mkdtemp(prefix="pyctx-corpus-")
    corpus = Corpus(workdir, packages, args.cache, jobs=1)
    try:
        r = migrate_at_once(corpus, list(packages), python)
    finally:
        corpus.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(r, indent=1, sort_keys=True))
    return 0 if r.get("dry-run", {}).get("rc") == 0 and r.get("write", {}).get("rc") == 0 else 1


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"compat": main_compat, "migrate": main_migrate, "at-once": main_at_once}
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    return main_compat(argv)


if __name__ == "__main__":
    sys.exit(main())
