"""Real extensions nobody here wrote, built unmodified through pyctx compat.

For every installed CPython (.venvs/3.*) and every package pinned in
tests/corpus/packages.json, tests/corpus/harness.py builds the sdist twice
from the same untouched source: plainly, and with the CFLAGS/LDFLAGS of
``pyctx flags --compat``. Both builds run the package's own test suite.

The compat build must pass exactly what the plain build passes, the test
process must really have used the C speedups of the compat build, the pyctx
stats must show that the speedups' C API calls went through compat, and the
compat .so must carry pyctx symbols that the plain one lacks (so a green run
cannot be a plain build in disguise).

Each (python, package) pair is built and tested once per session; the
individual tests below only inspect the recorded results.
"""

import importlib.util
import os

import pytest

_HARNESS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "harness.py")
_spec = importlib.util.spec_from_file_location("pyctx_corpus_harness", _HARNESS_PATH)
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

PACKAGES = harness.load_packages()
PYTHONS = harness.installed_pythons()

# Evidence thresholds for "the calls really went through compat".
MIN_DISTINCT_LEGACY = 10
MIN_TOTAL_LEGACY = 1000


def _version_of(python):
    return os.path.basename(os.path.dirname(os.path.dirname(python)))


PAIRS = [pytest.param(py, name, id="%s-%s" % (_version_of(py), name))
         for py in PYTHONS for name in sorted(PACKAGES)]

pytestmark = pytest.mark.parametrize("python,package", PAIRS)


@pytest.fixture(scope="session")
def corpus_results(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("corpus"))
    cache = {}

    def get(python, package):
        key = (python, package)
        if key not in cache:
            try:
                cache[key] = harness.run_package(python, package, workdir, PACKAGES)
            except Exception as exc:  # fetch/unpack trouble: report once per test, never rebuild
                cache[key] = exc
        if isinstance(cache[key], Exception):
            pytest.fail("harness error: %s: %s" % (type(cache[key]).__name__, cache[key]),
                        pytrace=False)
        return cache[key]

    return get


def _plain(results):
    run = results["plain"]
    if run.error:
        pytest.fail(run.error, pytrace=False)
    return run


def _compat(results):
    run = results["compat"]
    if run.error:
        pytest.fail(run.error, pytrace=False)
    t = run.tests
    if t is None or t.counts is None:
        pytest.fail("compat test run produced no pytest summary (exit %s):\n%s" % (
            t.returncode if t else "?", t.output_tail if t else ""), pytrace=False)
    return run


def _assert_probe(run, ext_module):
    for where, probe in (("inside the pytest process", run.tests.probe),
                         ("in a fresh interpreter", run.tests.script_probe)):
        assert "error" not in probe and "exit" not in probe, (where, probe)
        checks = probe.get("checks", {})
        assert checks, "no checks recorded %s: %r" % (where, probe)
        failed = {k: v for k, v in checks.items() if v is not True}
        assert not failed, "speedups checks failed %s: %r\nimports: %r" % (
            where, failed, probe.get("imports"))
        loaded = probe.get("loaded_extensions", {})
        assert ext_module in loaded, "%s not loaded %s: %r" % (ext_module, where, loaded)
        assert os.path.samefile(loaded[ext_module], run.so_path), (where, loaded, run.so_path)


def test_plain_build_baseline(corpus_results, python, package):
    """Harness sanity: the plain build is green, uses its speedups, has no pyctx in it."""
    run = _plain(corpus_results(python, package))
    t = run.tests
    assert t.counts is not None, t.output_tail
    assert t.returncode == 0 and t.counts.failed == 0 and t.counts.errors == 0, t.output_tail
    assert t.counts.passed > 0, t.output_tail
    _assert_probe(run, PACKAGES[package]["extension"])
    assert run.pyctx_symbols == [], "plain build contains pyctx symbols: %s" % run.pyctx_symbols[:10]
    mine = [line for line in run.stats_lines
            if harness._same_file(line.get("module", ""), run.so_path)]
    assert mine == [], "plain build wrote pyctx stats: %r" % mine


def test_compat_passes_what_plain_passes(corpus_results, python, package):
    results = corpus_results(python, package)
    plain, compat = _plain(results), _compat(results)
    pc, cc = plain.tests.counts, compat.tests.counts
    assert pc is not None, plain.tests.output_tail
    bad_plain = set(plain.tests.ids("failed") + plain.tests.ids("error"))
    bad_compat = set(compat.tests.ids("failed") + compat.tests.ids("error"))
    new_bad = sorted(bad_compat - bad_plain)
    assert not new_bad, "fail only in the compat build: %s\n%s" % (new_bad, compat.tests.output_tail)
    assert cc.passed == pc.passed, "plain %s vs compat %s (passed/failed/skipped/errors)\n%s" % (
        pc.short(), cc.short(), compat.tests.output_tail)
    assert cc.failed <= pc.failed and cc.errors <= pc.errors, (pc.short(), cc.short())


def test_compat_run_used_compat_speedups(corpus_results, python, package):
    run = _compat(corpus_results(python, package))
    _assert_probe(run, PACKAGES[package]["extension"])


def test_compat_calls_counted_in_stats(corpus_results, python, package):
    run = _compat(corpus_results(python, package))
    mine = [line for line in run.stats_lines
            if harness._same_file(line.get("module", ""), run.so_path)]
    others = sorted({line.get("module", "?") for line in run.stats_lines} - {run.so_path})
    assert mine, "no PYCTX_STATS line for %s (lines for: %s)" % (run.so_path, others)
    top = sorted(run.legacy_calls.items(), key=lambda kv: -kv[1])[:15]
    # An extension cannot call more distinct out-of-line API functions than
    # it imports: markupsafe's _speedups.c imports two (PyUnicode_New,
    # PyModule_Create2); everything else it uses is a CPython macro or
    # static inline function.
    plain = _plain(corpus_results(python, package))
    imported = plain.capi_function_imports
    need = min(MIN_DISTINCT_LEGACY, len(imported))
    assert need > 0, "plain .so imports no CPython functions? %s" % plain.so_path
    assert run.legacy_distinct >= need, (
        "only %d distinct legacy functions (need %d; plain imports %d: %s): %s" % (
            run.legacy_distinct, need, len(imported), imported[:20], top))
    assert run.legacy_total >= MIN_TOTAL_LEGACY, (
        "only %d legacy calls: %s" % (run.legacy_total, top))
    missing = [n for n in PACKAGES[package].get("expect_legacy", []) if not run.legacy_calls.get(n)]
    assert not missing, "expected legacy calls missing: %s (have %s)" % (missing, top)


def test_compat_so_carries_pyctx_plain_does_not(corpus_results, python, package):
    results = corpus_results(python, package)
    plain, compat = _plain(results), _compat(results)
    assert compat.pyctx_symbols, "compat .so %s has no pyctx symbols (flags: %r)" % (
        compat.so_path, compat.env)
    assert plain.pyctx_symbols == [], plain.pyctx_symbols[:10]
    # The package's own object code (before linking in the runtime) calls pyctx.
    assert compat.object_pyctx_refs, (
        "compat object files reference no pyctx symbol (found: %r)" % compat.object_pyctx_refs)
    assert not plain.object_pyctx_refs, plain.object_pyctx_refs
