"""A source means the same with pyctx as without (fixtures/meaning), on every
installed CPython: built plain, through compat by linking (CPython's own
headers, the runtime added at link), and including pyctx.h; every build must
give the plain build's answers. Covers stringifying macros in both
spellings, redeclared API prototypes, `&NAME`, `(NAME)(args)`, `#undef NAME`
and function-pointer identity (`tp_hash = PyObject_HashNotImplemented`)."""

import json
import subprocess

import pytest

from support import build

FIXTURE = build.ROOT / "fixtures" / "meaning"
VERSIONS = list(build.interpreters())
BUILDS = ("plain", "compat", "pyctx")

PROBE = """
import collections.abc, json, meaning
print(json.dumps({
    "truth": [meaning.truth(0), meaning.truth([1])],
    "no_error": meaning.no_error(),
    "ctx_spellings": meaning.ctx_spellings(),
    "after_undef": meaning.after_undef(),
    "macros": [meaning.ANSWER, meaning.GREETING, meaning.PASTE_ME],
    "named_after_values": [n for n in ("42", "7", "hello") if hasattr(meaning, n)],
    "hash_is_none": meaning.Unhashable.__hash__ is None,
    "hashable": isinstance(meaning.Unhashable(), collections.abc.Hashable),
}))
"""

EXPECTED = {
    "truth": [[0, 0, 0, 0], [1, 1, 1, 1]],
    "no_error": True,
    "ctx_spellings": True,
    "after_undef": 7,
    "macros": [42, "hello", 7],
    "named_after_values": [],
    "hash_is_none": True,
    "hashable": False,
}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return {}


def built(builds, tmp_path_factory, version, kind):
    if (version, kind) not in builds:
        python = build.interpreters()[version]
        env = {}
        if kind == "compat":
            env = build.pyctx_flags(python, compat=True)
        elif kind == "pyctx":
            env = dict(build.pyctx_flags(python), MEANING_PYCTX="1")
        target = tmp_path_factory.mktemp("meaning-%s-%s" % (version, kind))
        builds[(version, kind)] = (python, build.pip_install(python, FIXTURE, target, env=env))
    return builds[(version, kind)]


def answers(python, target, tmp_path, **env):
    proc = subprocess.run([str(python), "-c", PROBE], env=build.clean_env(target, **env),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.parametrize("kind", BUILDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_same_meaning(builds, tmp_path_factory, tmp_path, version, kind):
    python, target = built(builds, tmp_path_factory, version, kind)
    got, _ = answers(python, target, tmp_path)
    assert got == EXPECTED


@pytest.mark.parametrize("kind", ["compat", "pyctx"])
@pytest.mark.parametrize("version", VERSIONS)
def test_stats_see_where_calls_went(builds, tmp_path_factory, tmp_path, version, kind):
    """In stats mode the builds answer the same, and the report names the
    legacy calls by the C function that made them; the ctx spelling counts
    as a ctx-form call, never as a legacy one."""
    python, target = built(builds, tmp_path_factory, version, kind)
    stats = tmp_path / "stats.jsonl"
    got, _ = answers(python, target, tmp_path, PYCTX_STATS=str(stats))
    assert got == EXPECTED
    (rec,) = [json.loads(line) for line in stats.read_text().splitlines()]
    by_caller = rec["legacy_by_caller"]
    # truth() (called twice) calls PyObject_IsTrue by name, parenthesised
    # and through two pointers: the calls through the pointers reach CPython's
    # function itself, so only the two direct calls per run are legacy calls.
    assert by_caller["truth"]["PyObject_IsTrue"] == 2 * 2, by_caller
    assert by_caller["exec_module"]["PyType_Ready"] == 1, by_caller
    # no_error() loads PyErr_Occurred's address: its calls go through an
    # address slot compat leaves alone, and the report says they are unseen.
    assert "PyErr_Occurred" in rec["legacy_not_seen"], rec
    assert "PyErr_Occurred" not in rec["legacy_calls"], rec
    if kind == "pyctx":
        assert rec["ctx_calls"]["PyObject_IsTrue"] == 1, rec
        assert rec["ctx_calls"]["PyErr_Occurred"] == 1, rec
        assert "ctx_spellings" not in by_caller, by_caller
    else:
        assert rec["ctx_calls"] == {}, rec
