"""`pyctx migrate` on C++ (fixtures/cpp/cppext.cpp): the CLI rewrites a
copy of the fixture's plain spelling (CPPEXT_PYCTX unset), a second run
finds nothing (`--check`), and the migrated source builds with g++ and
clang++, C++11 and C++20, on the oldest and newest installed CPython,
gives the plain build's answers (tests/test_cpp.py's probe) and makes
API calls in ctx form at run time (PYCTX_STATS). What the engine does
not parse (functions whose calls go through the fixture's own `CTX`
macro) is refused and reported, never half rewritten; the C++ class's
members keep their signature."""

import json
import shutil
import subprocess

import pytest

from support import build
import test_cpp

VERSIONS = list(build.interpreters())
EDGES = sorted(set(VERSIONS[:1] + VERSIONS[-1:]))
BUILDS = [("g++", "c++11"), ("clang++", "c++20")]
CASES = [(v, cxx, std) for v in EDGES for cxx, std in BUILDS]
IDS = ["-".join(c) for c in CASES]


def pyctx(*args):
    return subprocess.run([str(build.pyctx_bin()), *map(str, args)], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """The fixture, migrated by the CLI; with the run's JSON report."""
    project = tmp_path_factory.mktemp("cppmig") / "cpp"
    shutil.copytree(test_cpp.FIXTURE, project)
    source = project / "cppext.cpp"
    before = source.read_text()
    report = pyctx("migrate", "--json", source)
    assert report.returncode in (0, 1), report.stderr
    proc = pyctx("migrate", "--write", source)
    assert proc.returncode == 0, proc.stderr
    after = source.read_text()
    assert after != before and '#include "pyctx.h"' in after
    again = pyctx("migrate", "--check", source)
    assert again.returncode == 0, "second run still finds work:\n" + again.stderr
    assert pyctx("migrate", source).stdout == "", "second run's diff is not empty"
    return project, json.loads(report.stdout)


def test_what_is_refused_is_reported_and_left_as_written(migrated):
    project, report = migrated
    by_name = {f["name"]: f for f in report["functions"]}
    # The C++ class's members keep their signature (entry points where
    # they call the API; these call none, so they need no context) and
    # their bytes.
    for member in ("Tally::add", "Tally::total", "Tally::size"):
        status = by_name[member]["status"]
        assert status["kind"] in ("no_context", "entry_point"), status
    text = (project / "cppext.cpp").read_text()
    original = test_cpp.FIXTURE.joinpath("cppext.cpp").read_text()
    assert "void add(long v) { values_.push_back(v); }" in text
    for refused in ("tally_add", "add_type"):
        status = by_name[refused]["status"]
        assert status["kind"] == "refused" and "CTX" in status["reason"], status
    # Free functions are migrated: entry points of the method table
    # take a context, and their API calls pass it.
    truth = by_name["truth"]
    assert truth["status"]["kind"] == "entry_point" and truth["calls_rewritten"] >= 3, truth
    assert "PyObject_IsTrue(ctx, o)" in text and "PyObject_IsTrue(o)" in original
    # `(PyObject_IsTrue)(o)` names CPython's function: left as written.
    assert "(PyObject_IsTrue)(o)" in text
    assert report["totals"]["calls_rewritten"] >= 10, report["totals"]


@pytest.fixture(scope="module")
def builds():
    return {}


def built(builds, migrated, tmp_path_factory, version, cxx, std):
    key = (version, cxx, std)
    if key not in builds:
        project, _ = migrated
        if shutil.which(cxx) is None:
            raise build.BuildError("%s is not installed: run scripts/setup" % cxx)
        python = build.interpreters()[version]
        cc = "clang" if cxx == "clang++" else "gcc"
        # pyctx's flags come in CPPFLAGS: setuptools compiles C++ with
        # CXXFLAGS and CPPFLAGS, not CFLAGS.
        env = {"CC": cc, "CXX": cxx, "LDCXXSHARED": cxx + " -shared", "CXXFLAGS": None,
               "CPPEXT_STD": std, **build.pyctx_flags(python)}
        target = tmp_path_factory.mktemp("cppmig-%s-%s" % (version, cxx))
        builds[key] = (python, build.pip_install(python, project, target, env=env))
    return builds[key]


@pytest.mark.parametrize("version,cxx,std", CASES, ids=IDS)
def test_migrated_build_answers_like_plain(builds, migrated, tmp_path_factory, tmp_path,
                                           version, cxx, std):
    python, target = built(builds, migrated, tmp_path_factory, version, cxx, std)
    stats = tmp_path / "stats.jsonl"
    got = test_cpp.answers(python, target, tmp_path, PYCTX_STATS=str(stats))
    assert got == test_cpp.EXPECTED
    (rec,) = [json.loads(line) for line in stats.read_text().splitlines()]
    ctx, by_caller = rec["ctx_calls"], rec["legacy_by_caller"]
    # The migrated free functions' calls now run in ctx form: truth()'s
    # parse, IsTrue by name and result (twice each in the probe), the
    # module's init and its stringifying macros.
    assert ctx.get("PyArg_ParseTuple", 0) == 2 and ctx.get("PyObject_IsTrue", 0) == 2, rec
    assert ctx.get("Py_BuildValue", 0) == 3 and ctx.get("PyModuleDef_Init", 0) == 1, rec
    assert ctx.get("PyModule_AddIntMacro", 0) == 2, rec
    # add() and add_type() spell calls through the fixture's `CTX` macro
    # (empty here): refused, so their calls stay legacy.
    assert test_cpp.by_function(by_caller, "tally_add")["PyArg_ParseTuple"] == 5, rec
    # The parenthesised call `(PyObject_IsTrue)(o)` stays CPython's own.
    assert test_cpp.by_function(by_caller, "truth")["PyObject_IsTrue"] == 2, rec
