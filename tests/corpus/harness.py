#!/usr/bin/env python3
"""Build real third-party C extensions unmodified, plain and through pyctx compat.

For each pinned package of packages.json and a given CPython interpreter:

1. fetch the sdist once into a cache (``.cache/sdists``) and check its sha256;
2. unpack it into a work directory (the pristine tree is never built in);
3. plain build: ``PY -m pip install --no-build-isolation --no-deps --target T``
   from a fresh copy of the source, with CFLAGS/LDFLAGS removed from the
   environment;
4. compat build: the same from another fresh copy, with env CFLAGS/LDFLAGS
   taken from ``pyctx flags --cflags --compat`` / ``pyctx flags --ldflags``;
5. run the package's own test suite with pytest against each build
   (PYTHONPATH=T, from a directory where the source tree cannot shadow the
   build), with PYCTX_STATS set, and record: pytest's counts, the per-test
   outcomes (junit xml), what the test process really imported (the
   pyctx_corpus_probe plugin), the same checks in a separate fresh process,
   the stats lines written for the extension, and the pyctx symbols of the
   built .so (``nm``).

Usable as a library (tests/test_corpus_compat.py) and as a script::

    python tests/corpus/harness.py --python .venvs/3.12/bin/python [--package markupsafe]

Standard library only; runs on CPython 3.9+.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PACKAGES_FILE = os.path.join(HERE, "packages.json")
DEFAULT_CACHE = os.path.join(REPO, ".cache", "sdists")
PROBE_MODULE = "pyctx_corpus_probe"
PROBE_SCRIPT = os.path.join(HERE, PROBE_MODULE + ".py")

# Environment variables that would leak flags into a build.
BUILD_ENV_DROP = ("CFLAGS", "CPPFLAGS", "LDFLAGS", "LDSHARED", "ARCHFLAGS",
                  "PYTHONPATH", "PYTHONHOME", "PYCTX_STATS", "PIP_TARGET")
# Symbols that only pyctx's runtime / compat layer can bring into a .so.
PYCTX_SYMBOL_RE = re.compile(r"^(pyctx_|PyCompat_|PyCtx_|_?pyctx)", re.I)


class HarnessError(Exception):
    pass


class FlagsUnavailable(HarnessError):
    pass


# --------------------------------------------------------------------------
# packages, interpreters, sdists


def load_packages(path: str = PACKAGES_FILE) -> Dict[str, dict]:
    with open(path) as f:
        return json.load(f)["packages"]


def installed_pythons(venv_root: Optional[str] = None) -> List[str]:
    """The per-version virtualenv interpreters created by scripts/setup."""
    root = venv_root or os.path.join(REPO, ".venvs")
    found = []
    if os.path.isdir(root):
        for name in os.listdir(root):
            py = os.path.join(root, name, "bin", "python")
            if re.fullmatch(r"3\.\d+", name) and os.access(py, os.X_OK):
                found.append(py)
    return sorted(found, key=lambda p: tuple(
        int(x) for x in os.path.basename(os.path.dirname(os.path.dirname(p))).split(".")))


def _abs_python(python: str) -> str:
    """Absolute path, symlinks kept (a venv's bin/python must stay in its venv)."""
    if os.sep in python:
        return os.path.abspath(python)
    found = shutil.which(python)
    if not found:
        raise HarnessError("interpreter not found: %s" % python)
    return found


def python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        check=True, stdout=subprocess.PIPE, universal_newlines=True)
    return out.stdout.strip()


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def fetch_sdist(name: str, pkg: dict, python: str,
                cache_dir: str = DEFAULT_CACHE) -> str:
    """Return the path of the cached sdist, downloading it on first use."""
    os.makedirs(cache_dir, exist_ok=True)
    dest = os.path.join(cache_dir, pkg["sdist"])
    if not os.path.exists(dest):
        tmp = tempfile.mkdtemp(prefix=".dl-", dir=cache_dir)
        try:
            cmd = [python, "-m", "pip", "download", "--no-binary", ":all:",
                   "--no-deps", "--no-build-isolation",
                   "--disable-pip-version-check", "-d", tmp,
                   "%s==%s" % (name, pkg["version"])]
            proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT,
                                  universal_newlines=True)
            got = os.path.join(tmp, pkg["sdist"])
            if proc.returncode != 0 or not os.path.exists(got):
                raise HarnessError("pip download failed (%s):\n%s" % (
                    " ".join(cmd), proc.stdout[-3000:]))
            os.replace(got, dest)  # atomic: concurrent runs never see half a file
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    digest = _sha256(dest)
    if digest != pkg["sha256"]:
        raise HarnessError("sha256 mismatch for %s: got %s, pinned %s" % (
            dest, digest, pkg["sha256"]))
    return dest


def unpack(sdist: str, dest_dir: str) -> str:
    """Unpack the sdist under dest_dir; return its single top directory."""
    os.makedirs(dest_dir, exist_ok=True)
    with tarfile.open(sdist) as tf:
        tops = {m.name.split("/")[0] for m in tf.getmembers()}
        if len(tops) != 1:
            raise HarnessError("%s: expected one top directory, got %s" % (sdist, tops))
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest_dir, filter="data")
        else:  # 3.9 without the backported filter
            for m in tf.getmembers():
                if m.name.startswith("/") or ".." in m.name.split("/"):
                    raise HarnessError("unsafe member in %s: %s" % (sdist, m.name))
            tf.extractall(dest_dir)
    return os.path.join(dest_dir, tops.pop())


# --------------------------------------------------------------------------
# pyctx flags


def pyctx_bin() -> str:
    return os.environ.get("PYCTX_BIN") or os.path.join(REPO, "target", "release", "pyctx")


_OPTS_WITH_ARG = {"-include", "-imacros", "-isystem", "-iquote", "-idirafter",
                  "-I", "-L", "-D", "-U", "-l", "-x", "-Xlinker", "-Xassembler"}


def _flag_output(args: List[str]) -> List[str]:
    cmd = [pyctx_bin()] + args
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FlagsUnavailable("%s: %s" % (" ".join(cmd), exc))
    text = proc.stdout.strip()
    if proc.returncode != 0:
        raise FlagsUnavailable("%s exited %d: %s" % (
            " ".join(cmd), proc.returncode, (proc.stderr or text).strip()[-2000:]))
    tokens = shlex.split(text)
    # Compiler/linker flags are options, absolute paths (e.g. a .a file) or
    # the argument of an option that takes one (-include pyctx_compat.h).
    bad = [t for i, t in enumerate(tokens)
           if not (t.startswith("-") or os.path.isabs(t)
                   or (i > 0 and tokens[i - 1] in _OPTS_WITH_ARG))]
    if not tokens or bad:
        raise FlagsUnavailable("%s printed %r, which is not a list of compiler/linker flags" % (
            " ".join(cmd), text[:300]))
    return tokens


def pyctx_flags(python: str) -> Dict[str, str]:
    """CFLAGS and LDFLAGS for a compat build with this interpreter."""
    cflags = _flag_output(["flags", "--cflags", "--compat", "--python", python])
    ldflags = _flag_output(["flags", "--ldflags", "--python", python])
    return {"CFLAGS": " ".join(shlex.quote(t) for t in cflags),
            "LDFLAGS": " ".join(shlex.quote(t) for t in ldflags)}


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

    def ids(self, outcome: str) -> List[str]:
        return sorted(k for k, v in self.outcomes.items() if v == outcome)


@dataclasses.dataclass
class BuildRun:
    package: str
    python: str
    version: str
    mode: str                         # "plain" or "compat"
    error: Optional[str] = None       # build (or flags) failure, with output
    target: Optional[str] = None
    so_path: Optional[str] = None
    build_seconds: float = 0.0
    build_log: Optional[str] = None
    env: Dict[str, str] = dataclasses.field(default_factory=dict)
    tests: Optional[TestRun] = None
    stats_lines: List[dict] = dataclasses.field(default_factory=list)
    legacy_calls: Dict[str, int] = dataclasses.field(default_factory=dict)
    ctx_calls: Dict[str, int] = dataclasses.field(default_factory=dict)
    pyctx_symbols: List[str] = dataclasses.field(default_factory=list)
    # Undefined pyctx symbols of the extension's own object files (before
    # linking): proof that the package's code, not just the linked runtime,
    # calls into pyctx. None when no object file was found.
    object_pyctx_refs: Optional[List[str]] = None
    # CPython functions the .so imports (undefined, data symbols excluded).
    capi_function_imports: List[str] = dataclasses.field(default_factory=list)

    @property
    def legacy_distinct(self) -> int:
        return sum(1 for v in self.legacy_calls.values() if v > 0)

    @property
    def legacy_total(self) -> int:
        return sum(self.legacy_calls.values())


# --------------------------------------------------------------------------
# build


def _base_env() -> Dict[str, str]:
    env = dict(os.environ)
    for k in BUILD_ENV_DROP:
        env.pop(k, None)
    # Built extensions must import without help from the environment, and
    # pyctx's own switches (PYCTX_DEBUG, ...) must not change what we measure.
    for k in list(env):
        if k in ("LD_LIBRARY_PATH", "LD_PRELOAD") or k.startswith("PYCTX_"):
            del env[k]
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def build(python: str, name: str, pkg: dict, pristine: str, workdir: str,
          mode: str, flags: Optional[Dict[str, str]] = None,
          version: Optional[str] = None) -> BuildRun:
    """Install a fresh copy of the pristine source into workdir/<mode>/target."""
    version = version or python_version(python)
    run = BuildRun(package=name, python=python, version=version, mode=mode)
    base = os.path.join(workdir, mode)
    src = os.path.join(base, "src")
    run.target = os.path.join(base, "target")
    run.build_log = os.path.join(base, "build.log")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    shutil.copytree(pristine, src, symlinks=True)

    env = _base_env()
    env.update(pkg.get("build_env", {}))
    if mode == "compat":
        if flags is None:
            raise HarnessError("compat build needs flags")
        env.update(flags)
        run.env = dict(flags)
    cmd = [python, "-m", "pip", "install", "-v", "--no-build-isolation",
           "--no-deps", "--no-index", "--no-cache-dir", "--target", run.target, src]
    t0 = time.monotonic()
    proc = _run(cmd, cwd=base, env=env, timeout=900)
    run.build_seconds = time.monotonic() - t0
    with open(run.build_log, "w") as f:
        f.write("$ %s\n" % " ".join(shlex.quote(c) for c in cmd))
        for k in sorted(run.env):
            f.write("# %s=%s\n" % (k, run.env[k]))
        f.write(proc.stdout)
    if proc.returncode != 0:
        run.error = "%s build failed (exit %d); log %s; last output:\n%s" % (
            mode, proc.returncode, run.build_log, _tail(proc.stdout, 60))
        return run
    run.so_path = find_extension(run.target, pkg["extension"])
    if run.so_path is None:
        run.error = ("%s build installed no %s extension (pure-Python fallback?); log %s:\n%s"
                     % (mode, pkg["extension"], run.build_log, _tail(proc.stdout, 40)))
        return run
    run.pyctx_symbols = pyctx_symbols(run.so_path)
    run.capi_function_imports = capi_function_imports(run.so_path)
    objects = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(src, "build"))
               for f in files if f.endswith(".o")]
    if objects:
        refs = set()
        for obj in objects:
            refs.update(n for n in nm_symbols(obj, undefined_only=True)
                        if PYCTX_SYMBOL_RE.match(n))
        run.object_pyctx_refs = sorted(refs)
    return run


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


def parse_junit(path: str) -> Dict[str, str]:
    outcomes = {}
    if not os.path.exists(path):
        return outcomes
    root = ET.parse(path).getroot()
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
    """subprocess.run with output captured; a timeout becomes exit code -9."""
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.output or ""
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        return subprocess.CompletedProcess(
            cmd, -9, out + "\n[harness] timed out after %ss: %s" % (timeout, " ".join(cmd)))


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        return {"error": "no probe output (%s)" % exc}


def run_tests(run: BuildRun, pkg: dict, pristine: str, workdir: str) -> TestRun:
    base = os.path.join(workdir, run.mode)
    tcfg = pkg["tests"]
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
        shutil.copy2(os.path.join(pristine, rel), os.path.join(cwd, os.path.basename(rel)))

    stats = os.path.join(base, "stats.jsonl")
    junit = os.path.join(base, "junit.xml")
    probe_out = os.path.join(base, "probe.json")
    script_out = os.path.join(base, "probe-script.json")
    for p in (stats, junit, probe_out, script_out):
        if os.path.exists(p):
            os.unlink(p)
    probe_cfg = {"target": run.target, "imports": pkg.get("imports", []),
                 "checks": pkg.get("checks", [])}

    env = _base_env()
    env.update(tcfg.get("env", {}))
    env["PYTHONPATH"] = os.pathsep.join([run.target, HERE])
    env["PYCTX_STATS"] = stats
    env["PYCTX_CORPUS_PROBE"] = json.dumps(dict(probe_cfg, out=probe_out))
    cmd = [run.python, "-m", "pytest", "-p", PROBE_MODULE, "-p", "no:cacheprovider",
           "-q", "-rfE", "--junitxml", junit] + list(tcfg["pytest_args"])
    t0 = time.monotonic()
    proc = _run(cmd, cwd=cwd, env=env, timeout=900)
    seconds = time.monotonic() - t0
    with open(os.path.join(base, "tests.log"), "w") as f:
        f.write("$ (cd %s && %s)\n%s" % (cwd, " ".join(shlex.quote(c) for c in cmd), proc.stdout))

    # Same checks in a fresh interpreter: no pytest, no stats collection.
    env2 = dict(env)
    env2.pop("PYCTX_STATS")
    env2["PYTHONPATH"] = run.target
    env2["PYCTX_CORPUS_PROBE"] = json.dumps(dict(probe_cfg, out=script_out))
    scratch2 = os.path.join(base, "probe-cwd")
    os.makedirs(scratch2, exist_ok=True)
    p2 = _run([run.python, PROBE_SCRIPT], cwd=scratch2, env=env2, timeout=300)
    script_probe = _read_json(script_out)
    if p2.returncode != 0:
        script_probe["exit"] = "%d: %s" % (p2.returncode, _tail(p2.stdout, 20))

    tests = TestRun(returncode=proc.returncode,
                    counts=parse_pytest_summary(proc.stdout),
                    outcomes=parse_junit(junit),
                    probe=_read_json(probe_out),
                    script_probe=script_probe,
                    output_tail=_tail(proc.stdout, 80),
                    seconds=seconds)
    run.tests = tests
    run.stats_lines = read_stats(stats)
    legacy, ctx = {}, {}
    for line in run.stats_lines:
        if run.so_path and _same_file(line.get("module", ""), run.so_path):
            for k, v in (line.get("legacy_calls") or {}).items():
                legacy[k] = legacy.get(k, 0) + int(v)
            for k, v in (line.get("ctx_calls") or {}).items():
                ctx[k] = ctx.get(k, 0) + int(v)
    run.legacy_calls, run.ctx_calls = legacy, ctx
    return tests


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
# one package, both builds


def run_package(python: str, name: str, workdir: str,
                packages: Optional[Dict[str, dict]] = None,
                cache_dir: str = DEFAULT_CACHE,
                modes=("plain", "compat"),
                keep_build_trees: bool = False) -> Dict[str, BuildRun]:
    """Plain and compat build of one package with one interpreter, tested.

    The built source copies (objects, build/ dirs) are deleted once their
    symbols are recorded unless keep_build_trees; targets and logs stay.
    """
    packages = packages or load_packages()
    pkg = packages[name]
    python = _abs_python(python)
    version = python_version(python)
    workdir = os.path.join(workdir, "%s-%s" % (name, version))
    sdist = fetch_sdist(name, pkg, python, cache_dir)
    shutil.rmtree(workdir, ignore_errors=True)
    pristine = unpack(sdist, os.path.join(workdir, "pristine"))
    results = {}
    for mode in modes:
        flags = None
        if mode == "compat":
            try:
                flags = pyctx_flags(python)
            except FlagsUnavailable as exc:
                results[mode] = BuildRun(package=name, python=python, version=version,
                                         mode=mode, error="pyctx flags unavailable: %s" % exc)
                continue
        run = build(python, name, pkg, pristine, workdir, mode, flags, version)
        if not keep_build_trees:
            shutil.rmtree(os.path.join(workdir, mode, "src"), ignore_errors=True)
        if run.error is None:
            run_tests(run, pkg, pristine, workdir)
            if not keep_build_trees:
                shutil.rmtree(os.path.join(workdir, mode, "testsrc"), ignore_errors=True)
        results[mode] = run
    return results


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
        return "BUILD ERROR" if "flags unavailable" not in run.error else "NO FLAGS"
    if run.tests is None or run.tests.counts is None:
        return "CRASH rc=%s" % (run.tests.returncode if run.tests else "?")
    return run.tests.counts.short()


def format_table(rows: List[Dict[str, BuildRun]], markdown: bool = False) -> str:
    head = ["package", "python", "plain p/f/s/e", "compat p/f/s/e",
            "legacy fns", "legacy calls", "imports counted", "pyctx syms"]
    body = []
    for r in rows:
        plain, compat = r.get("plain"), r.get("compat")
        any_run = plain or compat
        ok_compat = compat is not None and compat.error is None
        body.append([
            any_run.package, any_run.version, _cell(plain), _cell(compat),
            str(compat.legacy_distinct) if ok_compat else "-",
            str(compat.legacy_total) if ok_compat else "-",
            imports_counted(plain, compat) if ok_compat and plain and not plain.error else "-",
            ("%d (plain %d)" % (len(compat.pyctx_symbols),
                                len(plain.pyctx_symbols) if plain else -1))
            if ok_compat else "-",
        ])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    fmt = " | ".join("%%-%ds" % w for w in widths)
    sep = "-+-".join("-" * w for w in widths)
    if markdown:
        fmt, sep = "| " + fmt + " |", "|-" + sep.replace("+", "|") + "-|"
    out = [fmt % tuple(head), sep]
    out += [fmt % tuple(b) for b in body]
    return "\n".join(out)


def _details(run: BuildRun) -> List[str]:
    lines = []
    if run.error:
        lines.append("[%s %s %s] %s" % (run.package, run.version, run.mode, run.error))
        return lines
    t = run.tests
    if t is None:
        return lines
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append",
                    help="interpreter to build with (repeatable; default: every .venvs/3.*)")
    ap.add_argument("--package", action="append",
                    help="package from packages.json (repeatable; default: all)")
    ap.add_argument("--mode", choices=["plain", "compat", "both"], default="both")
    ap.add_argument("--workdir", help="keep builds here (default: a temp dir, removed)")
    ap.add_argument("--cache", default=DEFAULT_CACHE, help="sdist cache directory")
    ap.add_argument("--json", help="also write the full results as JSON here")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--top", type=int, default=0,
                    help="also list the N most called legacy functions per compat build")
    args = ap.parse_args(argv)

    packages = load_packages()
    names = args.package or sorted(packages)
    for n in names:
        if n not in packages:
            ap.error("unknown package %r (known: %s)" % (n, ", ".join(sorted(packages))))
    pythons = args.python or installed_pythons()
    if not pythons:
        ap.error("no interpreters found; pass --python")
    modes = ("plain", "compat") if args.mode == "both" else (args.mode,)

    workdir = args.workdir or tempfile.mkdtemp(prefix="pyctx-corpus-")
    rows, t0 = [], time.monotonic()
    try:
        for py in pythons:
            for n in names:
                rows.append(run_package(py, n, workdir, packages, args.cache, modes,
                                        keep_build_trees=bool(args.workdir)))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(format_table(rows, args.markdown))
    print("(%.1fs; counts are passed/failed/skipped/errors)" % (time.monotonic() - t0))
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
    ok = all(run.error is None and run.tests is not None and run.tests.returncode == 0
             for r in rows for run in r.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
