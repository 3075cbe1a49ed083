"""Real extensions nobody here wrote, built unmodified through pyctx compat.

For every installed CPython (.venvs/3.*) and every package pinned in
tests/corpus/packages.json with "compat": true, tests/corpus/harness.py
builds the sdist twice from the same untouched source: plainly, and with
the CFLAGS/LDFLAGS of ``pyctx flags --compat``. Both builds run the
package's own test suite.

The compat build must pass exactly what the plain build passes, the test
process must really have used the C extension(s) of the compat build, the
pyctx stats must show that the extension's C API calls went through compat,
and the compat .so must carry pyctx symbols that the plain one lacks (so a
green run cannot be a plain build in disguise).

Each (python, package, variant) is built and tested once per session
(tests/corpus/session.py, shared with test_corpus_migrate.py); the
individual tests below only inspect the recorded results.
"""

import importlib.util
import os

import pytest

_spec = importlib.util.spec_from_file_location(
    "pyctx_corpus_session",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "session.py"))
session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(session)
harness = session.harness

PACKAGES = harness.load_packages()
PYTHONS = harness.installed_pythons()
COMPAT_PACKAGES = [name for name, pkg in PACKAGES.items() if pkg.get("compat")]

# Evidence thresholds for "the calls really went through compat".
MIN_DISTINCT_LEGACY = 10
MIN_TOTAL_LEGACY = 1000


PAIRS = [session.param(py, name, id="%s-%s" % (session.version_of(py), name))
         for py in PYTHONS for name in COMPAT_PACKAGES]

pytestmark = pytest.mark.parametrize("python,package", PAIRS)


@pytest.fixture(scope="session")
def corpus(request, tmp_path_factory):
    return session.corpus(request, tmp_path_factory)


def _plain(corpus, python, package):
    run = corpus.result(python, package, "plain")
    if run.error:
        pytest.fail(run.error, pytrace=False)
    return run


def _compat(corpus, python, package):
    run = corpus.result(python, package, "compat")
    if run.error:
        pytest.fail(run.error, pytrace=False)
    t = run.tests
    if t is None or t.counts is None:
        pytest.fail("compat test run produced no pytest summary (exit %s):\n%s" % (
            t.returncode if t else "?", t.output_tail if t else ""), pytrace=False)
    return run


def _mine(run):
    return [line for line in run.stats_lines if run.is_mine(line)]


def test_plain_build_baseline(corpus, python, package):
    """Harness sanity: the plain build is green, uses its extension, has no pyctx in it."""
    run = _plain(corpus, python, package)
    t = run.tests
    assert t.counts is not None, t.output_tail
    assert t.returncode == 0 and t.counts.failed == 0 and t.counts.errors == 0, t.output_tail
    assert t.counts.passed > 0, t.output_tail
    problems = harness.probe_problems(run, PACKAGES[package])
    assert not problems, "\n".join(problems)
    assert run.pyctx_symbols == [], "plain build contains pyctx symbols: %s" % run.pyctx_symbols[:10]
    assert _mine(run) == [], "plain build wrote pyctx stats: %r" % _mine(run)


def test_compat_passes_what_plain_passes(corpus, python, package):
    plain, compat = _plain(corpus, python, package), _compat(corpus, python, package)
    problems = harness.suite_problems(plain, compat)
    assert not problems, "\n".join(problems)


def test_compat_run_used_compat_speedups(corpus, python, package):
    run = _compat(corpus, python, package)
    problems = harness.probe_problems(run, PACKAGES[package])
    assert not problems, "\n".join(problems)


def test_compat_calls_counted_in_stats(corpus, python, package):
    run = _compat(corpus, python, package)
    others = sorted({line.get("module", "?") for line in run.stats_lines})
    assert _mine(run), "no PYCTX_STATS line for %s (lines for: %s)" % (run.so_paths, others)
    top = sorted(run.legacy_calls.items(), key=lambda kv: -kv[1])[:15]
    # An extension cannot call more distinct out-of-line API functions than
    # it imports: markupsafe's _speedups.c imports two (PyUnicode_New,
    # PyModule_Create2); everything else it uses is a CPython macro or
    # static inline function.
    plain = _plain(corpus, python, package)
    imported = plain.capi_function_imports
    need = min(MIN_DISTINCT_LEGACY, len(imported))
    assert need > 0, "plain .so imports no CPython functions? %s" % plain.so_paths
    assert run.legacy_distinct >= need, (
        "only %d distinct legacy functions (need %d; plain imports %d: %s): %s" % (
            run.legacy_distinct, need, len(imported), imported[:20], top))
    assert run.legacy_total >= MIN_TOTAL_LEGACY, (
        "only %d legacy calls: %s" % (run.legacy_total, top))
    assert run.ctx_total == 0, "ctx-form calls in an unmodified source: %s" % run.ctx_calls
    missing = [n for n in PACKAGES[package].get("expect_legacy", []) if not run.legacy_calls.get(n)]
    assert not missing, "expected legacy calls missing: %s (have %s)" % (missing, top)


def test_compat_so_carries_pyctx_plain_does_not(corpus, python, package):
    plain, compat = _plain(corpus, python, package), _compat(corpus, python, package)
    assert compat.pyctx_symbols, "compat .so %s has no pyctx symbols (flags: %r)" % (
        compat.so_paths, compat.env)
    assert plain.pyctx_symbols == [], plain.pyctx_symbols[:10]
    # The package's own object code (before linking in the runtime) calls pyctx.
    assert compat.object_pyctx_refs, (
        "compat object files reference no pyctx symbol (found: %r)" % compat.object_pyctx_refs)
    assert not plain.object_pyctx_refs, plain.object_pyctx_refs
