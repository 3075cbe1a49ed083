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
import shutil
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


# Migrated by `pyctx migrate`: each golden case of an extra header
# (fixtures/migrate/extra_*: one module each) rewritten by the command
# line, then built with pyctx.h and run. Per case: the module, a probe
# printing its answers, what they must be, and ctx-form calls the stats
# must count (the extra header's names among them).
MIGRATED = {
    "extra_datetime": ("dates", """
import datetime, json, dates
print(json.dumps([str(dates.make_date(2024, 2, 29)), dates.kinds(datetime.date(2000, 1, 1)),
                  dates.kinds(datetime.datetime(2000, 1, 1)),
                  dates.kinds(datetime.timedelta(1)), dates.delta_seconds(datetime.timedelta(0, 90))]))
""", ["2024-02-29", [1, 0, 0], [1, 1, 0], [0, 0, 1], 90],
        {"PyDateTime_IMPORT": 1, "PyDate_FromDate": 1, "PyDate_Check": 3,
         "PyDateTime_Check": 3, "PyDelta_Check": 4, "PyDateTime_DELTA_GET_SECONDS": 1}),
    "extra_structmember": ("members", """
import json, members
print(json.dumps(members.swap_count(41)))
""", [1, 41], {"PyMember_GetOne": 1, "PyMember_SetOne": 1}),
    "extra_marshal": ("codec", """
import json, codec
print(json.dumps(codec.roundtrip({"a": [1, 2.5, "x"]})))
""", {"a": [1, 2.5, "x"]}, {"PyMarshal_WriteObjectToString": 1,
                           "PyMarshal_ReadObjectFromString": 1}),
    # caller_line(): the line of the frame below the current Python one
    # (here's), i.e. the probe's print line.
    "extra_frameobject": ("frames", """
import json, frames
def here():
    return frames.caller_line()
print(json.dumps(here()))
""", 5, {"PyFrame_Check": 1, "PyFrame_GetBack": 1, "PyFrame_GetLineNumber": 1}),
}

SETUP = """
from setuptools import Extension, setup
setup(name=%(name)r, version="0.1", ext_modules=[Extension(%(name)r, ["module.c"],
      extra_compile_args=["-Wall", "-Wextra", "-Werror"])])
"""


def pyctx(*args):
    return subprocess.run([str(build.pyctx_bin()), *map(str, args)], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("case", sorted(MIGRATED))
@pytest.mark.parametrize("version", VERSIONS)
def test_migrated_extra_headers_run(tmp_path, version, case):
    module, probe, answer, ctx_calls = MIGRATED[case]
    golden = build.ROOT / "fixtures" / "migrate" / case
    project = tmp_path / module
    shutil.copytree(golden / "before", project)
    wrote = pyctx("migrate", "--write", project)
    assert wrote.returncode == 0, wrote.stderr
    for path in sorted((golden / "after").iterdir()):
        assert (project / path.name).read_text() == path.read_text(), path.name
    again = pyctx("migrate", "--check", project)
    assert again.returncode == 0, "second run still finds work:\n" + again.stderr
    (project / "setup.py").write_text(SETUP % {"name": module})
    python = build.interpreters()[version]
    target = build.pip_install(python, project, tmp_path / "target",
                               env=build.pyctx_flags(python))
    stats = tmp_path / "stats.jsonl"
    proc = subprocess.run([str(python), "-c", probe],
                          env=build.clean_env(target, PYCTX_STATS=str(stats)),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == answer
    (record,) = [json.loads(line) for line in stats.read_text().splitlines()]
    ctx = record["ctx_calls"]
    assert {n: ctx.get(n) for n in ctx_calls} == ctx_calls, record
    legacy = {n: c for n, c in record["legacy_calls"].items() if c}
    assert not set(legacy) & set(ctx_calls), record
