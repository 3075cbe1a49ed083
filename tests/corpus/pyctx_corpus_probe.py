"""Records which build of a corpus package a process really imported.

Two ways to use it, both driven by the environment variable
PYCTX_CORPUS_PROBE, a JSON object:

    {"out": "<file to write>", "target": "<install dir of the build>",
     "imports": ["pkg", "pkg._speedups", ...], "checks": ["<expr>", ...]}

* As a pytest plugin (``python -m pytest -p pyctx_corpus_probe ...``) inside
  the package's own test run. Nothing is added to the package's sources: no
  conftest.py, no sitecustomize. At session start (the package's conftest
  files are loaded by then) it imports ``imports`` and evaluates ``checks``;
  at session end it adds the list of extension modules loaded from the
  target directory during the run.
* As a script (``python pyctx_corpus_probe.py``) in a fresh interpreter with
  the same PYTHONPATH: the same imports and checks, nothing else.
* As a runner for suites that are not pytest's (``python
  pyctx_corpus_probe.py --run MODULE [ARGS...]``, e.g. ``tornado.test.runtests``):
  the imports and checks, then MODULE run as ``__main__`` (like ``python -m
  MODULE ARGS``) with every unittest outcome recorded by test id (the
  package's own runner and result classes stay in charge; they all report
  through ``unittest.TestResult``), then the extension modules loaded. The
  exit status is MODULE's.

With a "hypothesis" entry (settings such as {"derandomize": true,
"deadline": null}), the plugin also registers and loads a Hypothesis
settings profile before any test module is imported, so every build of a
package runs the same examples and no example fails on a deadline because
the machine is busy. HealthCheck names are given as strings.

The result is one JSON object written to ``out``. This file only depends on
the standard library and must work on CPython 3.9 and later.
"""

import importlib
import json
import os
import runpy
import sys
import unittest

ENV = "PYCTX_CORPUS_PROBE"


def _config():
    raw = os.environ.get(ENV)
    if not raw:
        return None
    return json.loads(raw)


def _evaluate(cfg):
    target = os.path.realpath(cfg["target"]) + os.sep
    ns = {"TARGET": target, "os": os, "sys": sys}
    result = {"imports": {}, "checks": {}}
    for name in cfg.get("imports", []):
        try:
            mod = importlib.import_module(name)
        except BaseException as exc:  # report, never crash the test run
            result["imports"][name] = "error: %s: %s" % (type(exc).__name__, exc)
            continue
        path = getattr(mod, "__file__", None)
        result["imports"][name] = os.path.realpath(path) if path else None
        top = name.split(".")[0]
        ns[top] = sys.modules[top]
    for expr in cfg.get("checks", []):
        try:
            value = eval(expr, ns)  # expressions come from packages.json
            result["checks"][expr] = bool(value)
        except BaseException as exc:
            result["checks"][expr] = "error: %s: %s" % (type(exc).__name__, exc)
    return result


def _loaded_extensions(target):
    target = os.path.realpath(target) + os.sep
    found = {}
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None)
        if not path or not path.endswith((".so", ".pyd")):
            continue
        real = os.path.realpath(path)
        if real.startswith(target):
            found[name] = real
    return found


def _write(cfg, data):
    data["pid"] = os.getpid()
    data["python"] = sys.version.split()[0]
    with open(cfg["out"], "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


_STATE = {}
PROFILE = "pyctx-corpus"


def pytest_configure(config):
    cfg = _config()
    if not cfg or not cfg.get("hypothesis"):
        return
    from hypothesis import HealthCheck, settings
    opts = dict(cfg["hypothesis"])
    if "suppress_health_check" in opts:
        opts["suppress_health_check"] = [getattr(HealthCheck, n)
                                         for n in opts["suppress_health_check"]]
    settings.register_profile(PROFILE, **opts)
    settings.load_profile(PROFILE)


def _hypothesis_state():
    mod = sys.modules.get("hypothesis")
    if mod is None:
        return None
    s = mod.settings.default
    return {"profile": getattr(mod.settings, "_current_profile", None),
            "derandomize": s.derandomize, "deadline": repr(s.deadline),
            "version": getattr(mod, "__version__", None)}


def pytest_sessionstart(session):
    cfg = _config()
    if cfg is None:
        return
    _STATE["cfg"] = cfg
    _STATE["start"] = _evaluate(cfg)


def pytest_sessionfinish(session, exitstatus):
    cfg = _STATE.get("cfg")
    if cfg is None:
        return
    data = dict(_STATE["start"])
    data["mode"] = "pytest"
    data["loaded_extensions"] = _loaded_extensions(cfg["target"])
    data["hypothesis"] = _hypothesis_state()
    _write(cfg, data)


# unittest.TestResult method -> the outcome it reports (one word per
# outcome, as parse_junit in harness.py spells them).
_UNITTEST_OUTCOMES = {"addSuccess": "passed", "addFailure": "failed", "addError": "error",
                      "addSkip": "skipped", "addExpectedFailure": "xfailed",
                      "addUnexpectedSuccess": "xpassed"}
_RANK = {None: 0, "passed": 1, "skipped": 1, "xfailed": 1, "xpassed": 2, "failed": 3,
         "error": 4}


def _record_unittest(outcomes):
    """Patch unittest.TestResult so every test's outcome lands in outcomes
    (test id -> outcome; a failing subtest fails its test; the worst wins).

    Only the result of the package's runner counts: the first one whose
    startTestRun is called (a runner calls it; a test that runs a test case
    of its own into a private TestResult, as tornado's testing_test does,
    does not)."""
    base = unittest.TestResult
    runner_result = []

    def note(result, test, outcome):
        if not runner_result or result is not runner_result[0]:
            return
        tid = test.id()
        if _RANK[outcome] >= _RANK[outcomes.get(tid)]:
            outcomes[tid] = outcome

    def wrap(name, outcome):
        orig = getattr(base, name)

        def method(self, test, *args):
            note(self, test, outcome)
            return orig(self, test, *args)
        setattr(base, name, method)

    for name, outcome in _UNITTEST_OUTCOMES.items():
        wrap(name, outcome)
    orig_sub, orig_start = base.addSubTest, base.startTestRun

    def add_sub_test(self, test, subtest, err):
        if err is not None:
            note(self, test,
                 "failed" if issubclass(err[0], test.failureException) else "error")
        return orig_sub(self, test, subtest, err)

    def start_test_run(self):
        if not runner_result:
            runner_result.append(self)
        return orig_start(self)
    base.addSubTest = add_sub_test
    base.startTestRun = start_test_run


def _skip_unittest(skips):
    """Tests named in skips (test id -> reason) are reported as skipped with
    that reason instead of run: the same in every build of a package."""
    orig_run = unittest.TestCase.run

    def run(self, result=None):
        reason = skips.get(self.id())
        if reason is not None:
            method = getattr(self, self._testMethodName)
            setattr(self, self._testMethodName, unittest.skip(reason)(method))
        return orig_run(self, result)
    unittest.TestCase.run = run


def run_module(module, args):
    cfg = _config()
    if cfg is None:
        sys.exit("%s is not set" % ENV)
    data = _evaluate(cfg)
    data["mode"] = "module"
    outcomes = data["outcomes"] = {}
    _record_unittest(outcomes)
    _skip_unittest(cfg.get("skip_tests", {}))
    sys.argv = [module] + list(args)
    # Like `python -m`: the working directory first on sys.path, not this
    # script's folder.
    sys.path[0] = os.getcwd()
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    finally:
        data["loaded_extensions"] = _loaded_extensions(cfg["target"])
        _write(cfg, data)
    sys.exit(code)


def main():
    if sys.argv[1:2] == ["--run"] and len(sys.argv) > 2:
        run_module(sys.argv[2], sys.argv[3:])
        return
    cfg = _config()
    if cfg is None:
        sys.exit("%s is not set" % ENV)
    data = _evaluate(cfg)
    data["mode"] = "script"
    data["loaded_extensions"] = _loaded_extensions(cfg["target"])
    _write(cfg, data)


if __name__ == "__main__":
    main()
