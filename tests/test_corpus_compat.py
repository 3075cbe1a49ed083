"""Real extensions nobody here wrote, built unmodified through pyctx compat.

For every package pinned in tests/corpus/packages.json with "compat": true,
on its interpreters (tests/corpus/session.py: the oldest and newest
installed CPython it supports; every one under `scripts/test --full`),
tests/corpus/harness.py builds the sdist twice from the same untouched
source: plainly, and with the CFLAGS/LDFLAGS of ``pyctx flags --compat``.
Both builds run the package's own test suite.

The compat build must pass exactly what the plain build passes, the test
process must really have used the C extension(s) of the compat build, the
pyctx stats must show that the extension's C API calls went through compat,
and the compat .so must carry pyctx symbols that the plain one lacks (so a
green run cannot be a plain build in disguise). A limited-API package
("abi3": true) must stay abi3: its .so references only the interpreter's
stable-ABI symbols, plain and through compat.

Variants packages.json lists under "expect_fail" are strict expected
failures: they must fail today, with the reason given, and an unexpected
pass fails the run (then remove the entry).

Each (python, package, variant) is built and tested once per session
(tests/corpus/session.py, shared with test_corpus_migrate.py); the
individual tests below only inspect the recorded results.
"""

import importlib.util
import os
import subprocess

import pytest

_spec = importlib.util.spec_from_file_location(
    "pyctx_corpus_session",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "session.py"))
session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(session)
harness = session.harness

PACKAGES = session.PACKAGES
COMPAT_PACKAGES = [name for name, pkg in PACKAGES.items() if pkg.get("compat")]
ABI3_PACKAGES = [name for name, pkg in PACKAGES.items() if pkg.get("abi3")]


def _pairs(packages, variant):
    return [p for name in packages for p in session.python_params(
        name, lambda py, name=name: session.param(
            py, name, id="%s-%s" % (session.version_of(py), name), variant=variant))]


PLAIN = _pairs(COMPAT_PACKAGES, None)
COMPAT = _pairs(COMPAT_PACKAGES, "compat")
ABI3 = [p for variant in ("plain", "compat") for name in ABI3_PACKAGES
        for p in session.python_params(name, lambda py, name=name, variant=variant: session.param(
            py, name, variant, id="%s-%s-%s" % (session.version_of(py), name, variant),
            variant=variant))]


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
        pytest.fail("compat test run produced no summary (exit %s):\n%s" % (
            t.returncode if t else "?", (t.crash_output or t.output_tail) if t else ""),
            pytrace=False)
    return run


def _mine(run):
    return [line for line in run.stats_lines if run.is_mine(line)]


def _ok(problems):
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("python,package", PLAIN)
def test_plain_build_baseline(corpus, python, package):
    """Harness sanity: the plain build is green, uses its extension, has no pyctx in it."""
    run = _plain(corpus, python, package)
    t = run.tests
    assert t.counts is not None, t.crash_output or t.output_tail
    assert t.returncode == 0 and t.counts.failed == 0 and t.counts.errors == 0, t.output_tail
    assert t.counts.passed > 0, t.output_tail
    _ok(harness.probe_problems(run, PACKAGES[package]))
    assert run.pyctx_symbols == [], "plain build contains pyctx symbols: %s" % run.pyctx_symbols[:10]
    assert _mine(run) == [], "plain build wrote pyctx stats: %r" % _mine(run)


@pytest.mark.parametrize("python,package", COMPAT)
def test_compat_passes_what_plain_passes(corpus, python, package):
    plain, compat = _plain(corpus, python, package), _compat(corpus, python, package)
    _ok(harness.suite_problems(plain, compat))


@pytest.mark.parametrize("python,package", COMPAT)
def test_compat_run_used_compat_speedups(corpus, python, package):
    run = _compat(corpus, python, package)
    _ok(harness.probe_problems(run, PACKAGES[package]))


@pytest.mark.parametrize("python,package", COMPAT)
def test_compat_calls_counted_in_stats(corpus, python, package):
    plain, run = _plain(corpus, python, package), _compat(corpus, python, package)
    _ok(harness.compat_stats_problems(plain, run, PACKAGES[package]))


@pytest.mark.parametrize("python,package", COMPAT)
def test_compat_so_carries_pyctx_plain_does_not(corpus, python, package):
    plain, compat = _plain(corpus, python, package), _compat(corpus, python, package)
    _ok(harness.compat_symbol_problems(plain, compat))


@pytest.mark.parametrize("python,package,variant", ABI3)
def test_limited_api_build_uses_only_the_stable_abi(corpus, python, package, variant):
    """An abi3 package stays abi3: compiled with Py_LIMITED_API, named
    .abi3.so, and every CPython symbol its .so imports is in the
    interpreter's stable ABI list."""
    run = corpus.result(python, package, variant)
    _ok(harness.stable_abi_problems(run, *corpus.stable_abi(python)))


@pytest.mark.parametrize("python", session.INSTALLED,
                         ids=[session.version_of(p) for p in session.INSTALLED])
def test_stable_abi_check_catches_a_non_stable_symbol(corpus, python, tmp_path):
    """The check above can fail: a .so calling one stable function
    (PyModuleDef_Init) and one that is not in the stable ABI
    (PyUnicode_New) is reported for the second only."""
    names, source = corpus.stable_abi(python)
    assert "PyModuleDef_Init" in names and "PyUnicode_New" not in names, source
    inc = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    src = tmp_path / "probe.c"
    src.write_text('#include <Python.h>\n'
                   'PyObject *f(PyModuleDef *d) { PyModuleDef_Init(d); return PyUnicode_New(1, 127); }\n')
    so = tmp_path / "probe.abi3.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-I", inc, str(src), "-o", str(so)], check=True)
    run = harness.BuildRun(package="probe", python=python, version=session.version_of(python),
                           mode="plain", so_paths=[str(so)], limited_api="0x03090000")
    problems = harness.stable_abi_problems(run, names, source)
    assert len(problems) == 1, problems
    assert "references 1 CPython symbol(s)" in problems[0] and "PyUnicode_New" in problems[0], \
        problems


def test_unittest_runner_records_outcomes_and_reruns_failures(tmp_path):
    """The unittest runner (tornado's kind of suite) as the harness drives
    it: outcomes come from the package's own runner only (a test that runs
    a test case into a private result does not add that case), and a test
    that fails once and passes when rerun alone is counted as passed and
    listed as flaky."""
    pkg_dir = tmp_path / "target" / "flakymod"
    pkg_dir.mkdir(parents=True)
    (pkg_dir / "__init__.py").write_text("")
    marker = tmp_path / "ran-once"
    (pkg_dir / "runner.py").write_text(
        "import os, unittest\n"
        "class Inner(unittest.TestCase):\n"
        "    def test_inner(self):\n"
        "        self.fail('only in a private result')\n"
        "class T(unittest.TestCase):\n"
        "    def test_ok(self):\n"
        "        pass\n"
        "    def test_flaky(self):\n"
        "        first = not os.path.exists(%r)\n"
        "        open(%r, 'w').close()\n"
        "        self.assertFalse(first, 'fails the first time only')\n"
        "    def test_nested(self):\n"
        "        result = unittest.TestResult()\n"
        "        Inner('test_inner').run(result)\n"
        "        self.assertEqual(len(result.failures), 1)\n"
        "    @unittest.skip('never')\n"
        "    def test_skip(self):\n"
        "        pass\n"
        "def load_tests(loader, tests, pattern):\n"
        "    return loader.loadTestsFromTestCase(T)\n"
        "if __name__ == '__main__':\n"
        "    unittest.main(module=None, argv=['runner'] + (os.sys.argv[1:] or ['flakymod.runner']))\n"
        % (str(marker), str(marker)))
    python = session.INSTALLED[-1]
    run = harness.BuildRun(package="flakymod", python=python, version=session.version_of(python),
                           mode="plain", target=str(tmp_path / "target"))
    pkg = {"tests": {"cwd": "scratch", "copy": [], "env": {}, "runner": "unittest",
                     "module": "flakymod.runner", "args": []},
           "imports": ["flakymod"], "checks": ["flakymod.__file__.startswith(TARGET)"]}
    t = harness.run_tests(run, pkg, str(tmp_path), str(tmp_path / "work"))
    assert t.counts is not None, t.output_tail
    assert (t.counts.passed, t.counts.failed, t.counts.skipped, t.counts.errors) == (3, 0, 1, 0), (
        t.counts, t.outcomes, t.output_tail)
    assert t.flaky == ["flakymod.runner.T.test_flaky"], (t.flaky, t.outcomes)
    assert not any("Inner" in tid for tid in t.outcomes), t.outcomes
    assert t.probe["checks"] == {"flakymod.__file__.startswith(TARGET)": True}, t.probe
    assert t.returncode == 0, t.output_tail
