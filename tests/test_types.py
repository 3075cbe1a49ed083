"""Callbacks that receive the context, a context-aware deallocator reached
through the runtime's type table, and per-context freelists
(fixtures/types), on every installed CPython."""

import subprocess

import pytest

from support import build

FIXTURE = build.ROOT / "fixtures" / "types"
VERSIONS = list(build.interpreters())


@pytest.fixture(scope="module")
def tstate_counter(tmp_path_factory):
    """An LD_PRELOAD shim counting the thread-state getter calls."""
    out = tmp_path_factory.mktemp("shim") / "count_tstate.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(out),
                    str(FIXTURE / "count_tstate.c"), "-ldl"], check=True)
    return out


@pytest.fixture(scope="module", params=VERSIONS)
def ctxtypes(request, tmp_path_factory):
    python = build.interpreters()[request.param]
    target = tmp_path_factory.mktemp(f"ctxtypes-{request.param}")
    build.pip_install(python, FIXTURE, target, env=build.pyctx_flags(python))
    return python, target


def run(ctxtypes, code, tmp_path, **env):
    python, target = ctxtypes
    proc = subprocess.run([str(python), "-c", "import ctxtypes\n" + code],
                          env=build.clean_env(target, **env), capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


MODES = pytest.mark.parametrize("mode", [{}, {"PYCTX_DEBUG": "1"}], ids=["release", "debug"])


@MODES
def test_trampolines_and_context_aware_dealloc(ctxtypes, tmp_path, mode):
    out = run(ctxtypes, (
        "p = ctxtypes.Point(3, 4)\n"
        "assert (repr(p), p.norm2, p.x, p.y) == ('Point(3, 4)', 25.0, 3.0, 4.0)\n"
        "del p\n"
        "assert ctxtypes.type_index(ctxtypes.Point) > 0\n"
        "ctxtypes.churn(500); ctxtypes.churn_legacy(500); ctxtypes.batch(300)\n"
        "c = ctxtypes.counters()\n"
        "assert (c['live'], c['dealloc_calls'], c['wrong_capability']) == (0, 1301, 0), c\n"
        "print('ok')\n"), tmp_path, **mode)
    assert out == "ok"


def test_decref_to_zero_goes_through_the_table(ctxtypes, tmp_path):
    """Py_DECREF(ctx, o) reaching zero calls the registered deallocator
    through the type table: CPython's tp_dealloc (the trampoline) never
    runs; the legacy Py_DECREF goes through it every time. In debug mode the
    ctx form takes the checked path, which also ends in the table."""
    code = ("ctxtypes.churn(1000); a = ctxtypes.counters()['trampoline_calls']\n"
            "ctxtypes.churn_legacy(1000); b = ctxtypes.counters()['trampoline_calls']\n"
            "print(a, b - a)\n")
    assert run(ctxtypes, code, tmp_path) == "0 1000"


def test_the_index_lives_in_the_type(ctxtypes, tmp_path):
    """The table index is in tp_flags bits 32 and up, where CPython keeps
    nothing: CPython's own flags are unchanged, a Python subclass does not
    inherit the index, and foreign types have none."""
    code = ("import ctxtypes as m\n"
            "class Sub(m.Node): pass\n"
            "for t in (m.Point, m.Node):\n"
            "    i = m.type_index(t)\n"
            "    assert i > 0 and t.__flags__ >> 32 == i, (t, i, t.__flags__)\n"
            "    assert t.__flags__ & (1 << 9)  # still a heap type\n"
            "assert m.type_index(Sub) == 0 and Sub.__flags__ >> 32 == 0\n"
            "assert m.type_index(float) == 0 and m.type_index(m.Point) != m.type_index(m.Node)\n"
            "print('ok')\n")
    assert run(ctxtypes, code, tmp_path) == "ok"


def test_a_descriptor_without_from_ctx_is_refused(ctxtypes, tmp_path):
    """The type table calls a descriptor's from_ctx: one made by hand
    without it is refused at registration with a TypeError naming it."""
    code = ("try:\n"
            "    ctxtypes.register_without_from_ctx()\n"
            "except TypeError as e:\n"
            "    print(e)\n")
    assert "has no from_ctx" in run(ctxtypes, code, tmp_path)


def test_decref_to_zero_reads_no_thread_state(ctxtypes, tmp_path, tstate_counter):
    """Counted with an LD_PRELOAD shim on CPython's thread-state getter: a
    deallocation through the table reads no thread state, one through the
    tp_dealloc trampoline reads it once (3.12+, where the getter is a call;
    on 3.9-3.11 PyCtx_Get() reads CPython's current-thread-state slot inline
    and calls no getter at all)."""
    out = run(ctxtypes, (
        "import ctypes, sys\n"
        "reads = ctypes.CDLL(None).pyctx_test_tstate_reads\n"
        "reads.restype = ctypes.c_ulong\n"
        "a = reads(); ctxtypes.churn(1000); b = reads(); ctxtypes.churn_legacy(1000); c = reads()\n"
        "print(b - a, c - b, int(sys.version_info >= (3, 12)))\n"), tmp_path,
        LD_PRELOAD=str(tstate_counter))
    ctx_reads, legacy_reads, calls_getter = map(int, out.split())
    if calls_getter:
        # Exactly one read per object more on the legacy path: the
        # deallocator's trampoline; the method trampoline's one read.
        assert legacy_reads - ctx_reads == 1000
        assert ctx_reads % 1000 == 1
    else:
        # (3.9's allocator calls the exported getter through its PLT, which
        # the shim counts on both paths alike.)
        assert legacy_reads == ctx_reads


@MODES
def test_gc_type_through_the_context(ctxtypes, tmp_path, mode):
    """A GC type made with PyCtx_New and freed with PyCtx_Free: chains,
    cycles collected by the GC, reuse of freelist memory with its GC header,
    a Python subclass (CPython's subtype_dealloc; its memory goes back to
    CPython), and foreign objects dropped with a ctx-form Py_DECREF."""
    code = ("import gc, ctxtypes as m\n"
            "m.node_churn(200, 5)\n"
            "c = m.counters(); assert c['live_nodes'] == 0, c\n"
            "a = m.Node(); b = m.Node(a); a.next = b\n"
            "del a, b\n"
            "assert m.counters()['live_nodes'] == 2\n"
            "gc.collect()\n"
            "assert m.counters()['live_nodes'] == 0, m.counters()\n"
            "class Sub(m.Node):\n"
            "    pass\n"
            "for _ in range(300): m.make_and_drop(Sub); m.make_and_drop(lambda: [1.5])\n"
            "s = Sub(m.Node()); s.attr = s\n"
            "del s; gc.collect()\n"
            "m.node_churn(100, 3)\n"
            "assert m.counters()['live_nodes'] == 0, m.counters()\n"
            "print(m.node_freelist_len())\n")
    out = run(ctxtypes, code, tmp_path, **mode)
    # release: the chains' nodes wait in the freelist; debug: no freelists
    assert out == ("0" if mode else "5")


@MODES
def test_fast_paths_behave_like_cpython(ctxtypes, tmp_path, mode):
    """The ctx forms that read the thread state through the context (errors,
    the recursion counter) give CPython's results, in release mode (inline)
    and in debug mode (CPython's functions)."""
    code = ("import ctxtypes as m\n"
            "try:\n"
            "    m.fast_errors()\n"
            "except ValueError as e:\n"
            "    assert str(e) == 'from ctx', e\n"
            "else:\n"
            "    raise AssertionError('no exception')\n"
            "for _ in range(20000): m.recurse(50)  # balanced enter/leave\n"
            "try:\n"
            "    m.recurse(10 ** 6)\n"
            "except RecursionError as e:\n"
            "    assert 'in ctxtypes.recurse' in str(e), e\n"
            "else:\n"
            "    raise AssertionError('no RecursionError')\n"
            "for _ in range(20000): m.recurse(50)  # the counter came back\n"
            "print('ok')\n")
    assert run(ctxtypes, code, tmp_path, **mode) == "ok"


def test_freelists_are_per_context_and_off_in_debug_mode(ctxtypes, tmp_path):
    code = ("ctxtypes.batch(100)\n"
            "print(ctxtypes.freelist_len(), ctxtypes.counters()['live'])\n")
    assert run(ctxtypes, code, tmp_path) == "100 0"
    # debug mode checks every call instead: no freelists
    assert run(ctxtypes, code, tmp_path, PYCTX_DEBUG="1") == "0 0"
