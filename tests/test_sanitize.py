"""The spine, types and stress fixtures under AddressSanitizer and
UndefinedBehaviorSanitizer (docs/runtime.md, "Sanitizers and faults").

Each fixture is built with ``-fsanitize=address,undefined`` (its own code,
the generated header's inline ctx forms and pyctx's headers instrumented;
``libpyctx.a`` is Rust and linked as it is: see support/sanitize.py) and
run in the ordinary CPython with gcc's ASan runtime preloaded,
``PYTHONMALLOC=malloc`` and LeakSanitizer's check done in the live
interpreter at the end (support/leakcheck.py). A run passes when it exits 0,
no sanitizer wrote a report, and the suite's own counts are complete.

CPython: the newest installed one; every one under ``scripts/test --full``
(PYCTX_TEST_FULL=1). The canaries (fixtures/sanitize) show that each kind
of report really stops a run.
"""

import json
import subprocess
import sys

import pytest

from support import build, sanitize

FIXTURES = build.ROOT / "fixtures"
ALL = list(build.interpreters())
VERSIONS = ALL if sanitize.full_run() else ALL[-1:]
TIMEOUT = 900

# spine builds: (build kind, sources, pyctx modes run against it). A compat
# build does nothing in release mode (no redirection), so it runs checked.
SPINE_RUNS = [("plain", "release"), ("compat", "debug"), ("migrated", "release"),
              ("migrated", "debug"), ("half", "debug")]
SPINE_SOURCES = {"plain": "legacy", "compat": "legacy", "migrated": "migrated",
                 "half": "half"}
# Under PYTHONMALLOC=malloc sys.getallocatedblocks() is always 0, so this
# self-test of leak_check's block count cannot fail as it expects; the
# LeakSanitizer check at the end of the run stands in for the block count.
SPINE_DESELECT = "test_spine.py::test_leak_check_detects_leaks"
MODES = {"release": {}, "debug": {"PYCTX_DEBUG": "1"}}


@pytest.fixture(scope="session", autouse=True)
def sanitizers_present():
    why = sanitize.available()
    if why:
        pytest.fail("sanitizer builds are not possible here: " + why)


_built = {}


def built(version, fixture, kind, tmp_root):
    """``fixtures/<fixture>`` built with the sanitizers (once per session)."""
    key = (version, fixture, kind)
    if key not in _built:
        python = build.interpreters()[version]
        env = sanitize.build_env(python, compat=(kind == "compat"),
                                 plain=kind in ("plain", "canary"))
        if fixture == "spine":
            env["SPINE_VARIANT"] = SPINE_SOURCES[kind]
        target = tmp_root / ("%s-%s-%s" % (version, fixture, kind))
        _built[key] = build.pip_install(python, FIXTURES / fixture, target, env)
    return _built[key]


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("sanitize")


def run(python, args, pythonpath, cwd, **env):
    return subprocess.run([str(python), *map(str, args)], cwd=cwd,
                          env=sanitize.run_env(pythonpath, **env), capture_output=True,
                          text=True, errors="replace", timeout=TIMEOUT)


def assert_clean(proc, what):
    found = sanitize.reports(proc.stderr)
    assert not found and proc.returncode == 0, "%s: exit %d, sanitizer reports %s\n%s%s" % (
        what, proc.returncode, found, proc.stdout[-6000:], proc.stderr[-20000:])


# ------------------------------------------------------------- the canaries

CANARIES = {
    "heap_overflow": ("canary.heap_overflow(16)", "AddressSanitizer: heap-buffer-overflow"),
    "object_use_after_free": ("canary.object_use_after_free(100)",
                              "AddressSanitizer: heap-use-after-free"),
    "shift_too_far": ("canary.shift_too_far(40)", "runtime error: shift exponent 40"),
    "leak_buffer": ("canary.leak_buffer(4000); import leakcheck, sys; "
                    "sys.exit(3 if leakcheck.check() else 0)",
                    "ERROR: LeakSanitizer: detected memory leaks"),
}


@pytest.mark.parametrize("kind", sorted(CANARIES))
def test_canary_is_caught(kind, tmp_root, tmp_path):
    version = VERSIONS[-1]
    target = built(version, "sanitize", "canary", tmp_root)
    code, report = CANARIES[kind]
    pythonpath = "%s:%s" % (target, sanitize.LEAKCHECK.parent)
    proc = run(build.interpreters()[version], ["-c", "import canary; " + code], pythonpath,
               tmp_path)
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert report in proc.stderr, proc.stderr[-6000:]


def test_leakcheck_finds_a_lost_object(tmp_path):
    """The live-interpreter leak check reports an object whose reference was
    lost, on every CPython the sanitized runs use."""
    for version in VERSIONS:
        proc = run(build.interpreters()[version], [sanitize.LEAKCHECK, "--sabotage"],
                   tmp_path, tmp_path)
        assert proc.returncode == 3, (version, proc.returncode, proc.stderr[-4000:])
        assert "ERROR: LeakSanitizer: detected memory leaks" in proc.stderr, proc.stderr


# ------------------------------------------------------------------ spine

def _junit(path):
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}


SPINE_CASES = [(v, k, m) for v in VERSIONS for k, m in SPINE_RUNS]


@pytest.mark.parametrize("version,kind,mode", SPINE_CASES,
                         ids=["%s-%s-%s" % c for c in SPINE_CASES])
def test_spine_suite(version, kind, mode, tmp_root, tmp_path):
    target = built(version, "spine", kind, tmp_root)
    suite = FIXTURES / "spine" / "test_spine.py"
    (tmp_path / suite.name).write_text(suite.read_text())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    junit = tmp_path / "junit.xml"
    stats = tmp_path / "stats.jsonl"
    pythonpath = "%s:%s" % (target, sanitize.LEAKCHECK.parent)
    env = dict(MODES[mode], **({} if kind == "plain" else {"PYCTX_STATS": stats}))
    proc = run(build.interpreters()[version],
               ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "leakcheck",
                "--deselect", SPINE_DESELECT, "--junitxml", junit, suite.name],
               pythonpath, tmp_path, **env)
    assert_clean(proc, "spine %s build, %s mode, %s" % (kind, mode, version))
    counts = _junit(junit)
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0, counts
    assert counts["tests"] >= 30, counts
    if kind != "plain":  # the runtime really was in the process
        lines = [json.loads(line) for line in stats.read_text().splitlines()]
        assert {"spine", "spine_single"} <= {
            line["module"].rsplit("/", 1)[-1].split(".")[0] for line in lines}, lines


# ------------------------------------- allocation failures (test_nomemory.py)

NOMEMORY_CASES = [(v, k) for v in VERSIONS for k in ("plain", "compat", "migrated")]


@pytest.mark.parametrize("version,kind", NOMEMORY_CASES,
                         ids=["%s-%s" % c for c in NOMEMORY_CASES])
def test_nomemory_under_asan(version, kind, tmp_root, tmp_path):
    """Every allocation of the spine fixture failed in turn (checked mode
    for the pyctx builds), under ASan: no invalid access on any failure
    path, and no unreachable memory at the end. The driver's own verdicts
    are test_nomemory.py's business (CPython's defects are listed there);
    here its exit status may be 1, never a crash or a leak (3)."""
    target = built(version, "spine", kind, tmp_root)
    env = {} if kind == "plain" else {"PYCTX_DEBUG": "1", "PYCTX_STATS": tmp_path / "s.jsonl"}
    proc = run(build.interpreters()[version], [sanitize.LEAKCHECK, "nomemory_spine"],
               "%s:%s" % (target, sanitize.LEAKCHECK.parent), tmp_path, **env)
    found = sanitize.reports(proc.stderr)
    assert not found and proc.returncode in (0, 1), "exit %d, reports %s\n%s" % (
        proc.returncode, found, proc.stderr[-20000:])
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["outcomes"].get("MemoryError", 0) > 1000, summary


# ------------------------------------------------------------ types, stress

TYPES_CODE = """
import threading, ctxtypes
p = ctxtypes.Point(3, 4)
assert (repr(p), p.norm2) == ('Point(3, 4)', 25.0)
del p
for _ in range(3):
    ctxtypes.churn(500); ctxtypes.churn_legacy(500); ctxtypes.batch(300)
threads = [threading.Thread(target=ctxtypes.batch, args=(200,)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
c = ctxtypes.counters()
assert c['live'] == 0 and c['wrong_capability'] == 0, c
import leakcheck, sys
sys.exit(3 if leakcheck.check() else 0)
"""


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("version", VERSIONS)
def test_types(version, mode, tmp_root, tmp_path):
    target = built(version, "types", "migrated", tmp_root)
    proc = run(build.interpreters()[version], ["-c", TYPES_CODE],
               "%s:%s" % (target, sanitize.LEAKCHECK.parent), tmp_path, **MODES[mode])
    assert_clean(proc, "types, %s mode, %s" % (mode, version))


# CPython 3.12 and 3.13 lose strings created in a sub-interpreter (interned
# while it runs, never freed when it ends: thousands per interpreter, from
# marshal, module init and dict keys, with no extension loaded at all, e.g.
# `_testcapi.run_in_subinterp("import json")`). There the full run is
# checked by ASan and UBSan only, and a second run without sub-interpreters
# carries the leak check.
SUBINTERP_LEAKS = ("3.12", "3.13")
NO_SUBINTERP = ["--sub-threads", "0", "--sub-main", "0"]
STRESS_CASES = [(v, m, s) for v in VERSIONS for m in sorted(MODES)
                for s in (("full", "no-subinterp") if v in SUBINTERP_LEAKS else ("full",))]


@pytest.mark.parametrize("version,mode,shape", STRESS_CASES,
                         ids=["%s-%s-%s" % c for c in STRESS_CASES])
def test_stress(version, mode, shape, tmp_root, tmp_path):
    """The stress driver at its defaults (threads, native threads,
    sub-interpreters at once), and where CPython leaks in sub-interpreters
    once more without them for the leak check."""
    target = built(version, "stress", "migrated", tmp_root)
    env = dict(MODES[mode], **({"PYCTX_STATS": tmp_path / "stats.jsonl"}
                               if mode == "debug" else {}))
    if shape == "full" and version in SUBINTERP_LEAKS:
        args = ["-m", "stress_driver"]
    else:
        args = [sanitize.LEAKCHECK, "stress_driver"]
    if shape == "no-subinterp":
        args += NO_SUBINTERP
    proc = run(build.interpreters()[version], args, target, tmp_path, **env)
    assert_clean(proc, "stress (%s), %s mode, %s" % (shape, mode, version))
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["rounds_total"] > 100_000, summary
    if shape == "full":
        assert summary["sub_interpreters_threaded"] >= 1, summary


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
