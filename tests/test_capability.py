"""The context as a capability, and contexts / compat across thread-state
switches, on every installed CPython: fixtures/capability built against the
runtime, each misuse run in its own subprocess."""

import json
import re
import signal
import subprocess
import sys

import pytest

from support import build

FIXTURE = build.ROOT / "fixtures" / "capability"
VERSIONS = list(build.interpreters())


@pytest.fixture(scope="module", params=VERSIONS)
def capcheck(request, tmp_path_factory):
    python = build.interpreters()[request.param]
    target = tmp_path_factory.mktemp(f"capcheck-{request.param}")
    build.pip_install(python, FIXTURE, target, env=build.pyctx_flags(python))
    return python, target


def run(capcheck, code, tmp_path, **env):
    python, target = capcheck
    proc = subprocess.run([str(python), "-c", "import capcheck\n" + code],
                          env=build.clean_env(target, **env), capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    return proc


def assert_aborted_with(proc, *fragments):
    assert proc.returncode == -signal.SIGABRT, (proc.returncode, proc.stdout, proc.stderr)
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


@pytest.mark.parametrize("mode", [{}, {"PYCTX_DEBUG": "1"}], ids=["release", "debug"])
def test_dealloc_context_cannot_call_outside_its_class(capcheck, tmp_path, mode):
    proc = run(capcheck, "capcheck.dealloc_violation()", tmp_path, **mode)
    assert_aborted_with(proc, "pyctx: capability violation: PyObject_Repr() needs a full context",
                        "called with a dealloc context in dealloc_violation")


@pytest.mark.parametrize("mode", [{}, {"PYCTX_DEBUG": "1"}], ids=["release", "debug"])
def test_detached_context_cannot_call_what_needs_the_gil(capcheck, tmp_path, mode):
    proc = run(capcheck, "capcheck.detached_violation()", tmp_path, **mode)
    assert_aborted_with(proc, "PyLong_FromLong() needs a full context",
                        "called with a detached context in detached_violation")


def test_null_context_is_a_named_error(capcheck, tmp_path):
    proc = run(capcheck, "capcheck.null_context()", tmp_path)
    assert_aborted_with(proc, "PyObject_IsTrue() called with an invalid context (0x0) in null_context")


def test_legacy_call_without_thread_state_is_caught_in_debug_mode(capcheck, tmp_path):
    proc = run(capcheck, "capcheck.legacy_without_gil()", tmp_path, PYCTX_DEBUG="1")
    assert_aborted_with(proc, "pyctx: PyObject_IsTrue() called in legacy_without_gil without an "
                              "attached thread state (is the GIL released?)")


def test_full_context_without_thread_state_is_caught_in_debug_mode(capcheck, tmp_path):
    proc = run(capcheck, "capcheck.full_without_gil()", tmp_path, PYCTX_DEBUG="1")
    assert_aborted_with(proc, "pyctx: PyObject_IsTrue() called in full_without_gil with a full "
                              "context but without an attached thread state (is the GIL released?)")


def test_context_crossing_threads_is_caught_in_debug_mode(capcheck, tmp_path):
    proc = run(capcheck, "capcheck.wrong_thread()", tmp_path, PYCTX_DEBUG="1")
    assert_aborted_with(proc, "PyLong_FromLong() called in thread_main with a context that belongs "
                              "to another thread state")


def test_stale_callback_context_is_caught_in_debug_mode(capcheck, tmp_path):
    code = "capcheck.stash(); print(capcheck.use_stashed())"
    # release mode: nothing checks (the context still names a live thread state)
    proc = run(capcheck, code, tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "7", proc.stderr
    proc = run(capcheck, code, tmp_path, PYCTX_DEBUG="1")
    assert_aborted_with(proc, "PyLong_FromLong() called in use_stashed with a stale context: it was "
                              "given to callback stash, which has returned")


def test_context_outliving_its_thread_state_is_caught_in_debug_mode(capcheck, tmp_path):
    proc = run(capcheck, "capcheck.thread_gone()", tmp_path, PYCTX_DEBUG="1")
    assert_aborted_with(proc, "PyLong_FromLong() called in thread_gone with a context whose thread "
                              "state no longer exists")


def test_restoring_another_thread_state_is_caught_in_debug_mode(capcheck, tmp_path):
    # release mode: only the fast bit is tested; the fixture switches back
    proc = run(capcheck, "capcheck.restore_other(); print('ok')", tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    proc = run(capcheck, "capcheck.restore_other()", tmp_path, PYCTX_DEBUG="1")
    assert_aborted_with(proc, "pyctx: PyEval_RestoreThread() restores thread state 0x",
                        "with a context of thread state 0x")


@pytest.mark.parametrize("mode", [{}, {"PYCTX_DEBUG": "1"}], ids=["release", "debug"])
def test_restricted_contexts_allow_their_class(capcheck, tmp_path, mode):
    proc = run(capcheck, "print(capcheck.dealloc_allowed((1,)), capcheck.dealloc_allowed([1]),"
                         " capcheck.detached_allowed(1000))", tmp_path, **mode)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False", "500500"]


def test_native_threads_and_released_gil(capcheck, tmp_path):
    """Legacy calls (compat) and ctx calls from a native thread that took the
    GIL with PyGILState_Ensure, and a context kept across
    Py_BEGIN/END_ALLOW_THREADS; in debug mode every call is checked against
    the current thread state, and stats prove which path each call took."""
    stats = tmp_path / "stats.jsonl"
    code = (
        "calls = []\n"
        "f = lambda: calls.append(1)\n"
        "assert capcheck.native_thread(f, 200, 0) == 200\n"
        "assert capcheck.native_thread(f, 300, 1) == 300\n"
        "assert len(calls) == 500\n"
        "assert capcheck.allow_threads_roundtrip(1000) == 0\n"
        "print('ok')\n"
    )
    proc = run(capcheck, code, tmp_path, PYCTX_DEBUG="1", PYCTX_STATS=str(stats))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    (rec,) = [json.loads(line) for line in stats.read_text().splitlines()
              if "capcheck" in json.loads(line)["module"]]
    assert rec["legacy_calls"]["PyObject_CallObject"] == 200
    assert rec["ctx_calls"]["PyObject_CallNoArgs"] == 300
    assert rec["legacy_calls"]["PyLong_AsLong"] == 1000


def test_sub_interpreters(capcheck, tmp_path):
    """The module (multi-phase init, no global state) in a sub-interpreter:
    contexts there carry the sub-interpreter's thread state (debug mode
    checks each call against the current one)."""
    code = (
        "import _testcapi\n"
        "src = 'import capcheck\\n"
        "assert capcheck.allow_threads_roundtrip(100) == 0\\n"
        "assert capcheck.dealloc_allowed((1,)) is True\\n'\n"
        "assert _testcapi.run_in_subinterp(src) == 0\n"
        "assert capcheck.allow_threads_roundtrip(10) == 0\n"
        "print('ok')\n"
    )
    proc = run(capcheck, code, tmp_path, PYCTX_DEBUG="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("mode", [{}, {"PYCTX_DEBUG": "1"}], ids=["release", "debug"])
def test_fast_paths_agree_with_cpython(capcheck, tmp_path, mode):
    """PyErr_Occurred, PyThreadState_Get and tuple/list access read state
    through the context (release) or fall back to CPython (debug): the same
    results and the same errors either way."""
    proc = run(capcheck, "print(capcheck.fast_paths((1, 2), [3]), capcheck.fast_paths((), []))",
               tmp_path, **mode)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]


FAST_CALLS = """
class Callable:
    def __call__(self, *a, **k):
        return ('instance', a, k)
def echo(*a, **k):
    return (a, k)
def raiser(*a):
    raise ValueError(a)
print(capcheck.fast_state(),
      capcheck.fast_calls(echo, raiser, Callable(), capcheck.null_without_error))
"""


@pytest.mark.parametrize("mode", [{}, {"PYCTX_DEBUG": "1"}], ids=["release", "debug"])
def test_fast_calls_and_state_agree_with_cpython(capcheck, tmp_path, mode):
    """PyInterpreterState_Get, PyThreadState_GetDict and the calls
    (PyObject_Vectorcall, _CallNoArgs, _CallOneArg, the C-variadic
    _CallFunctionObjArgs; _CallMethodObjArgs' stack body) read the thread
    state through the context in release mode: same results, same errors
    (a raising callee, tp_call without vectorcall, a C function returning
    NULL without an error, a NULL callable, a missing method, more
    arguments than the stack holds) as CPython's own calls, in both modes."""
    proc = run(capcheck, FAST_CALLS, tmp_path, **mode)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]


def test_debug_mode_counts_legacy_calls_per_caller_readable_from_python(capcheck, tmp_path):
    code = (
        "import _pyctx, json\n"
        "assert capcheck.allow_threads_roundtrip(250) == 0\n"
        "(report,) = [json.loads(f()) for p, f in _pyctx.reports.items() if 'capcheck' in p]\n"
        "print(report['legacy_by_caller']['allow_threads_roundtrip']['PyLong_AsLong'],\n"
        "      report['legacy_calls']['PyLong_AsLong'], report['ctx_calls']['PyLong_FromLong'])\n"
    )
    proc = run(capcheck, code, tmp_path, PYCTX_DEBUG="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["250", "250", "251"]  # + the result
    # the report at exit
    assert "[pyctx] " in proc.stderr and "capcheck" in proc.stderr, proc.stderr
    # PyInit_capcheck's legacy PyModuleDef_Init is the other caller; it is a
    # tail call, whose return address is CPython's. Py_BEGIN/END_ALLOW_THREADS
    # are CPython macros calling PyEval_SaveThread/RestoreThread: legacy too.
    assert re.search(r"751 legacy calls to 4 API functions through compat \(most from: "
                     r"allow_threads_roundtrip 750, (PyInit_capcheck|\(a tail call\)) 1\)",
                     proc.stderr), proc.stderr


def test_debug_mode_selects_modules_by_name(capcheck, tmp_path):
    proc = run(capcheck, "capcheck.wrong_thread()", tmp_path, PYCTX_DEBUG="some_other_module")
    assert proc.returncode == 0, proc.stderr
    assert "pyctx" not in proc.stderr
    proc = run(capcheck, "capcheck.wrong_thread()", tmp_path, PYCTX_DEBUG="some_other_module,capcheck")
    assert_aborted_with(proc, "belongs to another thread state")
