"""End to end: the spine fixture, built four ways on every CPython, passes one suite.

For each installed CPython 3.9-3.13 (``.venvs/3.X``) and each build:

plain     legacy sources, no pyctx at all
compat    legacy sources unmodified, built with ``pyctx flags --cflags --compat``
migrated  migrated sources, built with ``pyctx flags --cflags``
half      half-migrated sources, built with ``pyctx flags --cflags``
cli       legacy sources migrated by ``pyctx migrate --write``, built with ``--cflags``
cli-half  the same for a seeded random half of the functions (``--only``)
cli-tramp legacy sources migrated with ``pyctx migrate --write --trampolines``
          (callbacks receive their context), run in debug mode

the extension is pip-installed into a scratch directory and
``fixtures/spine/test_spine.py`` is run unchanged by that version's
interpreter in a clean environment (PATH, HOME, PYTHONPATH, PYCTX_STATS
only). Every build must pass with the same number of tests as the plain build
of its version, and the PYCTX_STATS lines must show where the calls went:
through compat for compat, only in ctx form for migrated, both for half.

Run with ``.venvs/3.11/bin/python -m pytest tests/test_spine_fixture.py -x -q``.
"""

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import build

FIXTURE = build.ROOT / "fixtures" / "spine"
SUITE = FIXTURE / "test_spine.py"
MODULES = ("spine", "spine_single")
BUILDS = ("plain", "compat", "migrated", "half", "cli", "cli-half", "cli-tramp")
SOURCES = {"plain": "legacy", "compat": "legacy", "migrated": "migrated", "half": "half",
           "cli": "legacy", "cli-half": "legacy", "cli-tramp": "legacy"}
HALF_SEED = 20261124
# Distinct API functions the spine module must be seen calling (it uses ~80).
MIN_DISTINCT = 20
SUITE_TIMEOUT = 900

INTERPRETERS = build.interpreters()
CASES = [(version, kind) for kind in BUILDS for version in INTERPRETERS]


# ------------------------------------------------------------------ running

@dataclass
class Outcome:
    version: str
    kind: str
    target: Path
    returncode: int
    output: str
    counts: dict
    sources: Path = None  # the folder of the .c files that were built
    stats: dict = field(default_factory=dict)  # module -> {"legacy_calls", "ctx_calls", "lines"}

    def describe(self):
        return "%s %s build: exit %d, %s\n%s" % (
            self.version, self.kind, self.returncode, self.counts, self.output[-20000:])


def _junit_counts(path):
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def _read_stats(path, target):
    """Aggregate the PYCTX_STATS lines written by the extensions in ``target``."""
    stats = {}
    if not path.exists():
        return stats
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        so = Path(entry["module"])
        if so.resolve().parent != target.resolve():
            continue
        name = so.name.split(".")[0]
        agg = stats.setdefault(name, {"legacy_calls": {}, "ctx_calls": {}, "lines": 0})
        agg["lines"] += 1
        for key in ("legacy_calls", "ctx_calls"):
            for fn, n in entry.get(key, {}).items():
                agg[key][fn] = agg[key].get(fn, 0) + n
    return stats


def _check_import(python, target, kind):
    """The build imports in a bare environment and is the variant asked for."""
    code = ("import json, spine, spine_single; print(json.dumps("
            "[spine.__file__, spine_single.__file__, spine.VARIANT, spine_single.VARIANT]))")
    proc = subprocess.run([str(python), "-c", code], env=build.clean_env(target),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "importing the %s build failed:\n%s%s" % (
        kind, proc.stdout, proc.stderr)
    files_and_variants = json.loads(proc.stdout)
    for so in files_and_variants[:2]:
        assert Path(so).resolve().parent == target.resolve(), so
    assert files_and_variants[2:] == [SOURCES[kind]] * 2


_outcomes = {}


def outcome(version, kind, tmp_root):
    """Build ``kind`` for ``version`` and run the suite (once per session)."""
    key = (version, kind)
    if key in _outcomes:
        return _outcomes[key]
    python = INTERPRETERS[version]
    work = tmp_root / ("%s-%s" % (version, kind))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = {"SPINE_VARIANT": SOURCES[kind]}
    if kind != "plain":
        env.update(build.pyctx_flags(python, compat=(kind == "compat")))
    project = FIXTURE
    if kind.startswith("cli"):
        project = migrate_with_cli(work / "project", half=(kind == "cli-half"),
                                   trampolines=(kind == "cli-tramp"))
    target = build.pip_install(python, project, work / "site", env)
    _check_import(python, target, kind)

    # Run a copy of the suite from a directory of its own, so nothing next to
    # the fixture's sources can shadow the build and nothing is written there.
    suite_dir = work / "suite"
    suite_dir.mkdir()
    shutil.copy(SUITE, suite_dir / SUITE.name)
    (suite_dir / "pytest.ini").write_text("[pytest]\n")
    junit = work / "junit.xml"
    stats_file = work / "stats.jsonl"
    proc = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--junitxml", str(junit), SUITE.name],
        cwd=suite_dir, env=build.clean_env(
            target, PYCTX_STATS=stats_file,
            **({"PYCTX_DEBUG": "1"} if kind == "cli-tramp" else {})),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        errors="replace", timeout=SUITE_TIMEOUT)
    counts = _junit_counts(junit) if junit.exists() else {}
    result = Outcome(version, kind, target, proc.returncode, proc.stdout, counts,
                     project / SOURCES[kind], _read_stats(stats_file, target))
    _outcomes[key] = result
    return result


def pyctx(*args, check=True):
    proc = subprocess.run([str(build.pyctx_bin()), *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode not in (0, 1):
        raise AssertionError("pyctx %s: exit %d\n%s%s" % (
            " ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
    return proc


def migrate_with_cli(project, half, trampolines=False):
    """A copy of the fixture whose legacy/ sources `pyctx migrate` rewrote
    (all functions, or a seeded random half); checks the run is idempotent."""
    shutil.copytree(FIXTURE, project)
    sources = project / "legacy"
    only = ["--trampolines"] if trampolines else []
    if half:
        import random
        status = json.loads(pyctx("status", "--json", sources).stdout)
        names = sorted({f["name"] for f in status["functions"]})
        only = ["--only", ",".join(random.Random(HALF_SEED).sample(names, len(names) // 2))]
    proc = pyctx("migrate", "--write", *only, sources)
    assert proc.returncode == 0, proc.stderr
    assert "refused" not in proc.stdout
    again = pyctx("migrate", "--check", *only, sources, check=False)
    assert again.returncode == 0, "second run still finds work:\n" + again.stderr
    assert pyctx("migrate", *only, sources).stdout == "", "second run's diff is not empty"
    return project


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("spine")


def _distinct(calls):
    return sorted(fn for fn, n in calls.items() if n > 0)


def _spelled(sources):
    """Every identifier the C sources in ``sources`` spell (outside comments
    and strings)."""
    names = set()
    for path in sources.glob("*.[ch]"):
        code = _COMMENT_OR_STRING.sub('""', path.read_text())
        names.update(re.findall(r"[A-Za-z_]\w*", code))
    return names


def _spelled_legacy(calls, sources):
    """The legacy calls a migrated source makes itself. Compat counts every
    call of an exported API function; those made inside CPython's own macros
    and inline functions (Py_BEGIN_ALLOW_THREADS's PyEval_SaveThread,
    PyObject_TypeCheck's PyType_IsSubtype) are not the source's, and are
    recognised by their names not being spelled in it."""
    spelled = _spelled(sources)
    return [fn for fn in _distinct(calls) if fn in spelled]


@pytest.mark.parametrize("version,kind", CASES, ids=["%s-%s" % c for c in CASES])
def test_spine_build(version, kind, tmp_root):
    plain = outcome(version, "plain", tmp_root)
    assert plain.returncode == 0 and plain.counts, plain.describe()
    assert plain.counts["failures"] == plain.counts["errors"] == 0, plain.describe()
    assert plain.counts["passed"] >= 30, plain.describe()

    res = outcome(version, kind, tmp_root)
    assert res.returncode == 0, res.describe()
    assert res.counts["failures"] == res.counts["errors"] == 0, res.describe()
    assert res.counts["passed"] == plain.counts["passed"], res.describe()
    assert res.counts["tests"] == plain.counts["tests"], res.describe()

    stats = res.stats
    if kind == "plain":
        # No runtime linked in: nothing may report.
        assert stats == {}, stats
        return
    for name in MODULES:
        assert name in stats, "no PYCTX_STATS line from %s (got %s)" % (name, sorted(stats))
        assert stats[name]["lines"] == 1, stats[name]
    spine, single = stats["spine"], stats["spine_single"]
    if kind == "compat":
        assert len(_distinct(spine["legacy_calls"])) >= MIN_DISTINCT, spine
        assert _distinct(single["legacy_calls"]), single
        for s in (spine, single):
            assert _distinct(s["ctx_calls"]) == [], s  # legacy source: no ctx calls
    elif kind in ("migrated", "cli", "cli-tramp"):
        for s in (spine, single):
            assert _spelled_legacy(s["legacy_calls"], res.sources) == [], s
        assert len(_distinct(spine["ctx_calls"])) >= MIN_DISTINCT, spine
        assert _distinct(single["ctx_calls"]), single
    elif kind == "cli-half":
        assert _distinct(spine["legacy_calls"]) and _distinct(spine["ctx_calls"]), spine
    elif kind == "half":
        for s in (spine, single):
            assert _distinct(s["legacy_calls"]) and _distinct(s["ctx_calls"]), s
        # Bridged helpers and migrated functions really run in ctx form.
        for fn in ("PyArg_ParseTuple", "PyErr_Format"):
            assert spine["ctx_calls"].get(fn) and spine["legacy_calls"].get(fn), (fn, spine)


# ----------------------------------------------------- the sources themselves

def strip_ctx(text):
    """A migrated / half-migrated source with every context argument removed."""
    text = text[text.index("#define PY_SSIZE_T_CLEAN"):]  # drop the header comment
    text = text.replace('#include "pyctx.h"', "#include <Python.h>")
    text = re.sub(r'#define SPINE_VARIANT "\w+"', '#define SPINE_VARIANT ""', text)
    text = re.sub(r"^ *PyCtx d?ctx = [^\n]*;\n", "", text, flags=re.M)
    text = re.sub(r"\bPyCtx ctx, ", "", text)
    text = re.sub(r"\bPyCtx_Get\(\), ", "", text)
    text = re.sub(r"\(d?ctx, ", "(", text)
    text = re.sub(r"\(d?ctx\)", "()", text)
    return text


@pytest.mark.parametrize("variant", ["migrated", "half"])
@pytest.mark.parametrize("name", MODULES)
def test_sources_are_one_program(variant, name):
    """Without the context arguments, migrated and half are the legacy source."""
    legacy = strip_ctx((FIXTURE / "legacy" / (name + ".c")).read_text())
    other = strip_ctx((FIXTURE / variant / (name + ".c")).read_text())
    if other != legacy:
        import difflib
        diff = "\n".join(difflib.unified_diff(legacy.splitlines(), other.splitlines(),
                                              "legacy", variant, lineterm="", n=1))
        pytest.fail("%s/%s.c differs from legacy beyond context arguments:\n%s"
                    % (variant, name, diff[:6000]))


_COMMENT_OR_STRING = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', re.S)
_API_CALL = re.compile(r"(?<![\w.>])(Py[A-Za-z]*_\w+)\s*\((?=\s*(\w*))")
_NOT_CALLS = {"PyCtx_Get", "PyCtx_AsDealloc", "PyVarObject_HEAD_INIT", "Py_VISIT"}


def api_calls(text):
    """(name, first argument token) of every API call in C source text."""
    code = _COMMENT_OR_STRING.sub('""', text)
    calls = []
    for m in _API_CALL.finditer(code):
        name = m.group(1)
        at_line_start = m.start() == 0 or code[m.start() - 1] == "\n"
        if name in _NOT_CALLS or name.startswith("PyInit_") or at_line_start:
            continue
        calls.append((name, m.group(2)))
    return calls


@pytest.mark.parametrize("name", MODULES)
def test_migrated_sources_pass_a_context_everywhere(name):
    calls = api_calls((FIXTURE / "migrated" / (name + ".c")).read_text())
    assert len(calls) > 20
    legacy_form = sorted({n for n, first in calls if first not in ("ctx", "dctx")})
    assert legacy_form == [], "API calls without a context in migrated/%s.c" % name


@pytest.mark.parametrize("name", MODULES)
def test_half_sources_mix_both_forms(name):
    calls = api_calls((FIXTURE / "half" / (name + ".c")).read_text())
    with_ctx = [c for c in calls if c[1] in ("ctx", "dctx")]
    without = [c for c in calls if c[1] not in ("ctx", "dctx")]
    assert len(with_ctx) > 10 and len(without) > 10, (len(with_ctx), len(without))
    assert "PyCtx_Get(), " in (FIXTURE / "half" / (name + ".c")).read_text()  # a bridge
