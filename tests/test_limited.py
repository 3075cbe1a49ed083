"""The limited API (fixtures/limited, an abi3 extension) on every installed
CPython: built with CPython's headers (plain, and compat by linking) and with
pyctx.h (ctx forms in some functions, legacy calls in others), at
Py_LIMITED_API 3.9 and at the interpreter's own version. Every build answers
alike, pyctx's builds count their calls, and every built .so references only
symbols of the interpreter's stable ABI, so an abi3 wheel stays abi3."""

import importlib.util
import json
import os
import subprocess

import pytest

from support import build

FIXTURE = build.ROOT / "fixtures" / "limited"
INTERPRETERS = build.interpreters()
VERSIONS = list(INTERPRETERS)

_spec = importlib.util.spec_from_file_location(
    "pyctx_corpus_harness", os.path.join(os.path.dirname(__file__), "corpus", "harness.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)


def _own_level(version):
    major, minor = version.split(".")
    return "0x%02X%02X0000" % (int(major), int(minor))


# (build, Py_LIMITED_API): pyctx.h at the oldest level and at the newest.
BUILDS = [("plain", "0x03090000"), ("compat", "0x03090000"), ("pyctx", "0x03090000"),
          ("pyctx", "own")]
CASES = [(v, kind, level) for v in VERSIONS for kind, level in BUILDS]

PROBE = """
import json, limited
out = {"scale": limited.scale([1, 2.5], 2.0), "count": limited.count_true([0, 1, [], "x"]),
       "box": limited.Box(7).get(), "LIMIT": limited.LIMIT,
       "hash_is_none": limited.Box.__hash__ is None}
try:
    limited.scale(list(range(100)), 1.0)
except ValueError as e:
    out["error"] = str(e)
print(json.dumps(out))
"""
EXPECTED = {"scale": [[2.0, 5.0], 2], "count": 2, "box": 7, "LIMIT": 64,
            "hash_is_none": True, "error": "at most 64 items, got 100"}


@pytest.fixture(scope="module")
def builds():
    return {}


def built(builds, tmp_path_factory, version, kind, level):
    level = _own_level(version) if level == "own" else level
    key = (version, kind, level)
    if key not in builds:
        python = INTERPRETERS[version]
        env = {"LIMITED_VERSION": level}
        if kind == "compat":
            env.update(build.pyctx_flags(python, compat=True))
        elif kind == "pyctx":
            env.update(build.pyctx_flags(python), LIMITED_PYCTX="1")
        target = tmp_path_factory.mktemp("limited-%s-%s-%s" % key)
        builds[key] = (python, build.pip_install(python, FIXTURE, target, env=env))
    return builds[key]


def run(python, target, tmp_path, **env):
    proc = subprocess.run([str(python), "-c", PROBE], env=build.clean_env(target, **env),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("version,kind,level", CASES, ids=["-".join(c) for c in CASES])
def test_limited_build(builds, tmp_path_factory, tmp_path, version, kind, level):
    python, target = built(builds, tmp_path_factory, version, kind, level)
    assert run(python, target, tmp_path) == EXPECTED
    (so,) = list(target.glob("limited*.so"))
    assert so.name.endswith(".abi3.so"), so
    names, source = harness.stable_abi_names(str(python), [str(p) for p in INTERPRETERS.values()])
    outside = [n for n in harness.python_imports(str(so)) if n not in names]
    assert outside == [], "%s references non-stable-ABI symbols %s (list: %s)" % (
        so, outside, source)
    if kind == "plain":
        return
    stats = tmp_path / "stats.jsonl"
    assert run(python, target, tmp_path, PYCTX_STATS=str(stats)) == EXPECTED
    (rec,) = [json.loads(line) for line in stats.read_text().splitlines()]
    assert rec["legacy_by_caller"]["count_true"]["PyObject_IsTrue"] == 4, rec
    if kind == "pyctx":
        assert rec["ctx_calls"]["PyArg_ParseTuple"] == 2, rec
        assert rec["ctx_calls"]["PyFloat_AsDouble"] >= 2, rec
        assert "scale" not in rec["legacy_by_caller"], rec
    else:
        assert rec["legacy_by_caller"]["scale"]["PyFloat_AsDouble"] >= 2, rec


@pytest.mark.parametrize("version", VERSIONS[:1] + VERSIONS[-1:])
def test_limited_api_older_than_3_9_is_refused(tmp_path, version):
    python = INTERPRETERS[version]
    env = dict(build.pyctx_flags(python), LIMITED_PYCTX="1", LIMITED_VERSION="0x03080000")
    with pytest.raises(build.BuildError) as err:
        build.pip_install(python, FIXTURE, tmp_path / "t", env=env)
    assert "Py_LIMITED_API must name 3.9 or later" in str(err.value)
