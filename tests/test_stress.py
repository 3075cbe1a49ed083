"""Stress: at least 8 Python threads, native threads attaching with
PyGILState_Ensure, the GIL released and re-taken around GIL-free work, and
sub-interpreters, all at once, with ctx-form and legacy (compat) calls mixed
in every round; on every installed CPython, in release mode and in checked
mode (PYCTX_DEBUG=1 + PYCTX_STATS).

fixtures/stress holds the extension (stress.c) and its driver
(stress_driver.py), which does the work and the result / leak checks and
prints a JSON summary. Here: exit status, stderr, the summary, and the stats
report. The sabotage tests break each check once on purpose and see it fail.
See docs/runtime.md, "Stress test".
"""

import json
import signal
import subprocess

import pytest

from support import build

FIXTURE = build.ROOT / "fixtures" / "stress"
VERSIONS = list(build.interpreters())
TIMEOUT = 300  # seconds per driver run; the driver's own faulthandler limit is lower

# CPython 3.9-3.11 keep "the current thread state" in a process global (the
# GIL holder's): pyctx.h checks the state's thread id there, so that a thread
# that released the GIL gets a detached context, not the holder's.
# test_pyctx_get_without_the_gil_is_detached pins that down on every version.


@pytest.fixture(scope="module", params=VERSIONS)
def built(request, tmp_path_factory):
    version = request.param
    python = build.interpreters()[version]
    target = tmp_path_factory.mktemp(f"stress-{version}")
    build.pip_install(python, FIXTURE, target, env=build.pyctx_flags(python))
    return version, python, target


def run_driver(built, tmp_path, *args, **env):
    version, python, target = built
    return subprocess.run([str(python), "-m", "stress_driver", *args],
                          env=build.clean_env(target, **env), capture_output=True,
                          text=True, timeout=TIMEOUT, cwd=tmp_path)


def summary_of(proc):
    assert proc.returncode == 0, "exit %d\nstderr:\n%s" % (proc.returncode, proc.stderr)
    assert "pyctx:" not in proc.stderr, proc.stderr
    assert "stress: FAIL" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def stats_of(path):
    """The one PYCTX_STATS line written by the stress extension."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    mine = [rec for rec in lines if "/stress." in rec["module"]]
    assert len(mine) == 1, lines
    return mine[0]


@pytest.mark.parametrize("mode", ["release", "checked"])
def test_stress(built, tmp_path, mode):
    version = built[0]
    stats = tmp_path / "stats.jsonl"
    env = {"PYCTX_DEBUG": "1", "PYCTX_STATS": str(stats)} if mode == "checked" else {}
    proc = run_driver(built, tmp_path, **env)
    s = summary_of(proc)

    # what ran (the driver already checked every checksum, the Token count,
    # the reference counts and the allocated blocks)
    assert s["python_threads"] >= 8
    assert s["native_threads"] >= 8
    assert s["attaches_total"] > s["native_threads"]  # each thread re-attached
    assert s["sub_interpreters_main_thread"] >= 1, s  # _testcapi.run_in_subinterp
    assert s["sub_interpreters_threaded"] >= 1, s
    if version in ("3.12", "3.13"):
        assert "own GIL" in s["sub_interpreters_threaded_api"], s
    assert s["not_detached"] == 0

    if mode == "checked":
        rec = stats_of(stats)
        ctx, legacy = rec["ctx_calls"], rec["legacy_calls"]
        rounds = s["rounds_total"]
        # one of each per round (stress.c, one_round), in every thread and
        # interpreter: both paths were taken, every time, concurrently
        assert ctx.get("PyTuple_New") == rounds, (rounds, ctx)
        assert legacy.get("PyList_New") == rounds, (rounds, legacy)
        assert ctx.get("PyMem_RawMalloc") == rounds, (rounds, ctx)      # detached context
        assert legacy.get("PyMem_RawFree") == rounds, (rounds, legacy)  # no thread state
        assert legacy.get("PyGILState_Ensure") == s["attaches_total"], legacy
        assert ctx.get("PyObject_CallOneArg", 0) > 0 and legacy.get("PyObject_CallFunctionObjArgs", 0) > 0
        assert sum(ctx.values()) > 20 * rounds, ctx
        assert sum(legacy.values()) > 10 * rounds, legacy
    else:
        assert not stats.exists()


def test_pyctx_get_without_the_gil_is_detached(built, tmp_path, request):
    """PyCtx_Get() on a thread that released the GIL, while another thread
    holds it: the handshake in stress.c makes the situation certain, no
    timing involved. (On 3.9-3.11 CPython's current thread state is the GIL
    holder's, whichever thread asks; pyctx.h must not take it for this
    thread's.)"""
    code = ("import stress, threading\n"
            "seen = []\n"
            "for i in range(3):\n"
            "    t = threading.Thread(target=stress.hold_gil)\n"
            "    t.start()\n"
            "    seen.append(stress.probe_detached())\n"
            "    t.join()\n"
            "print(seen)\n")
    _version, python, target = built
    proc = subprocess.run([str(python), "-c", code], env=build.clean_env(target),
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[('detached', False), ('detached', False), ('detached', False)]"


# Each check, broken once on purpose. The driver's own checks run in release
# mode (small runs, every kind of thread and sub-interpreter); the context
# crossings need debug mode and are set up so that they are the first thing
# that runs concurrently with nothing else.
SMALL = ["--iters", "1", "--rounds", "200", "--native-calls", "1", "--sub-iters", "1",
         "--sub-threads", "1", "--sub-main", "1", "--no-detached-check", "--timeout", "60"]
ALONE = ["--threads", "0", "--native", "0", "--sub-threads", "0", "--sub-main", "1",
         "--sub-workers", "1", "--no-detached-check", "--timeout", "60"]
SABOTAGE = {
    # a native thread calls with the context of the thread that started it
    "cross-thread": (ALONE, {"PYCTX_DEBUG": "1"}, -signal.SIGABRT,
                     "pyctx: PyLong_FromLong() called in native_main with a context that "
                     "belongs to another thread state"),
    # a sub-interpreter (on the main thread) calls with the main interpreter's
    # context of the same thread
    "cross-interp": (ALONE, {"PYCTX_DEBUG": "1"}, -signal.SIGABRT,
                     "pyctx: PyLong_FromLong() called in one_round with a context that "
                     "belongs to another thread state"),
    "leak-token": (SMALL, {}, 1, "stress: FAIL leak: stress.Token objects alive"),
    "leak-ref": (SMALL, {}, 1, "stress: FAIL leak: sys.getrefcount of (shared, callback)"),
    "leak-int": (SMALL, {}, 1, "stress: FAIL leak: "),  # allocated blocks
    "bad-sum": (SMALL, {}, 1, "stress: FAIL checksum: work("),
}


@pytest.mark.parametrize("kind", sorted(SABOTAGE))
def test_sabotage_is_caught(built, tmp_path, kind):
    args, env, status, message = SABOTAGE[kind]
    proc = run_driver(built, tmp_path, "--sabotage", kind, *args, **env)
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert message in proc.stderr, proc.stderr
    if kind == "leak-int":
        assert "more allocated blocks after" in proc.stderr, proc.stderr
