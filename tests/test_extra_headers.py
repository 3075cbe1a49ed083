"""Names of the public headers Python.h does not include (datetime.h,
structmember.h, marshal.h) in both spellings (fixtures/extra), on every
installed CPython: built plain, via compat by linking and with pyctx.h, the
extra headers once before pyctx.h (module extra_first) and once after it
with pyctx.h included again (extra_after). Every build and both orders
answer alike; with pyctx.h, the ctx spellings are counted as ctx-form calls
(`PyDateTime_IMPORT_CTX(ctx)` under PyDateTime_IMPORT), the legacy ones as
legacy calls."""

import json
import os
import subprocess

import pytest

from support import build

FIXTURE = build.ROOT / "fixtures" / "extra"
VERSIONS = list(build.interpreters())
BUILDS = ("plain", "compat", "pyctx")
MODULES = ("extra_first", "extra_after")

PROBE = """
import json, extra_first, extra_after
out = {}
for m in (extra_first, extra_after):
    dates = m.dates()
    out[m.__name__] = {
        "reimport": m.reimport(),
        "dates": list(dates[:9]) + [str(dates[9])],
        "members": list(m.members(41)),
        "marshal": m.marshal_roundtrip({"a": [1, 2.5, "x"]}),
    }
print(json.dumps(out))
"""

ANSWERS = {
    "reimport": True,
    # datetime, date (a datetime is one), delta, tzinfo checks; year, month,
    # day, microsecond; the delta's seconds; the time zone
    "dates": [1, 1, 0, 1, 2024, 2, 29, 7, 3600, "UTC+01:00"],
    "members": [1, 41, 0.5, 41],
    "marshal": {"a": [1, 2.5, "x"]},
}
EXPECTED = {m: ANSWERS for m in MODULES}


@pytest.fixture(scope="module")
def builds():
    return {}


def built(builds, tmp_path_factory, version, kind):
    if (version, kind) not in builds:
        python = build.interpreters()[version]
        env = {}
        if kind == "compat":
            env = build.pyctx_flags(python, compat=True)
        elif kind == "pyctx":
            env = dict(build.pyctx_flags(python), EXTRA_PYCTX="1")
        target = tmp_path_factory.mktemp("extra-%s-%s" % (version, kind))
        builds[(version, kind)] = (python, build.pip_install(python, FIXTURE, target, env=env))
    return builds[(version, kind)]


def answers(python, target, tmp_path, **env):
    proc = subprocess.run([str(python), "-c", PROBE], env=build.clean_env(target, **env),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("kind", BUILDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_same_answers_in_both_orders(builds, tmp_path_factory, tmp_path, version, kind):
    python, target = built(builds, tmp_path_factory, version, kind)
    assert answers(python, target, tmp_path) == EXPECTED


# Per module and probe run, with pyctx.h: ctx spellings counted as ctx-form
# calls, by the name the table knows them by.
CTX_CALLS = {
    "PyDateTime_IMPORT": 1, "PyDateTime_FromDateAndTime": 1, "PyDateTime_Check": 1,
    "PyDelta_Check": 1, "PyTimeZone_FromOffset": 1, "PyDateTime_GET_YEAR": 1,
    "PyDateTime_GET_DAY": 1, "PyDateTime_DELTA_GET_SECONDS": 1, "PyMember_GetOne": 2,
    "PyMarshal_WriteObjectToString": 1,
}
# Legacy calls of exported functions, with pyctx.h and via compat. The
# legacy PyDateTime_IMPORT (module exec, reimport() via compat) calls
# PyCapsule_Import; the rest of datetime.h goes through the capsule.
LEGACY_CALLS = {
    "pyctx": {"PyMarshal_ReadObjectFromString": 1, "PyMember_SetOne": 1, "PyMember_GetOne": 1,
              "PyCapsule_Import": 1},
    "compat": {"PyMarshal_ReadObjectFromString": 1, "PyMember_SetOne": 1, "PyMember_GetOne": 3,
               "PyCapsule_Import": 2, "PyMarshal_WriteObjectToString": 1},
}


@pytest.mark.parametrize("kind", ["compat", "pyctx"])
@pytest.mark.parametrize("version", VERSIONS)
def test_stats_count_both_spellings(builds, tmp_path_factory, tmp_path, version, kind):
    python, target = built(builds, tmp_path_factory, version, kind)
    stats = tmp_path / "stats.jsonl"
    assert answers(python, target, tmp_path, PYCTX_STATS=str(stats)) == EXPECTED
    records = [json.loads(line) for line in stats.read_text().splitlines()]
    names = [os.path.basename(r["module"]).split(".")[0] for r in records]
    assert sorted(names) == sorted(MODULES), records
    for rec in records:
        ctx = rec["ctx_calls"]
        if kind == "pyctx":
            assert {n: ctx.get(n) for n in CTX_CALLS} == CTX_CALLS, rec
        else:
            assert ctx == {}, rec
        legacy = rec["legacy_calls"]
        want = LEGACY_CALLS[kind]
        assert {n: legacy.get(n) for n in want} == want, rec
