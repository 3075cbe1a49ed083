"""The corpus session shared by tests/test_corpus_compat.py and
tests/test_corpus_migrate.py.

Both files import this module by path (tests/corpus is not a package) and
get the same harness module object and the same harness.Corpus for the
whole pytest session: each (interpreter, package, variant) is built and
tested once, and the plain builds serve both files. At first use the
session queues every build that the selected tests will need, in test
order, so the thread pool (PYCTX_CORPUS_JOBS, default 2) works ahead of
the test that is running.

Which interpreters: per package, harness.select_pythons (PYCTX_CORPUS_PYTHONS:
"edges" by default, the oldest and newest installed CPython the package
supports; "all" under `scripts/test --full`). An installed interpreter the
package does not support gets skipped tests that say why.
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_NAME = "pyctx_corpus_harness"


def load_harness():
    mod = sys.modules.get(_NAME)
    if mod is None:
        spec = importlib.util.spec_from_file_location(_NAME, os.path.join(HERE, "harness.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = mod  # before exec: dataclasses look their module up
        spec.loader.exec_module(mod)
    return mod


harness = load_harness()
PACKAGES = harness.load_packages()
INSTALLED = harness.installed_pythons()


def version_of(python):
    return os.path.basename(os.path.dirname(os.path.dirname(python)))


def pythons_of(package):
    """The interpreters this session builds the package with."""
    return harness.select_pythons(PACKAGES[package], INSTALLED)


def half_pythons(package):
    """Interpreters for the package's seeded-half build (PYCTX_CORPUS_HALF:
    'newest' of pythons_of by default, 'all', or X.Y versions)."""
    return harness.half_pythons(PACKAGES[package], pythons_of(package), INSTALLED)


def python_params(package, make):
    """make(python) for each interpreter of the package, plus one skipped
    entry per installed interpreter it does not support (with the reason)."""
    chosen = pythons_of(package)
    out = []
    for py in INSTALLED:
        if py in chosen or harness.unsupported(PACKAGES[package], version_of(py)):
            out.append(make(py))
    return out


def param(python, package, *rest, id, variant=None):
    """pytest.param, skipped with its reason where the pinned release does
    not work on that interpreter, and a strict expected failure where
    packages.json says this variant fails today (an unexpected pass fails
    the run: then remove the expect_fail entry)."""
    import pytest
    pkg = PACKAGES[package]
    marks = []
    why = harness.unsupported(pkg, version_of(python))
    if why:
        marks.append(pytest.mark.skip(reason="%s on %s: %s" % (package, version_of(python), why)))
    xfail = harness.expected_failure(pkg, variant) if variant else None
    if xfail:
        marks.append(pytest.mark.xfail(reason=xfail, strict=True))
    return pytest.param(python, package, *rest, id=id, marks=marks)


def _needed(items):
    """(python, package, variant) of every selected corpus test, in order."""
    keys = []
    for item in items:
        if not os.path.basename(str(item.fspath)).startswith("test_corpus_"):
            continue
        if item.get_closest_marker("skip"):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "python" not in params or "package" not in params:
            continue
        variant = params.get("variant", "compat")
        for v in ("plain", variant):
            key = (params["python"], params["package"], v)
            if key not in keys:
                keys.append(key)
    return keys


def corpus(request, tmp_path_factory):
    """Body of the session fixture `corpus` of both test files."""
    workdir = str(tmp_path_factory.getbasetemp() / "corpus")
    os.makedirs(workdir, exist_ok=True)
    c = harness.session(workdir)
    if not getattr(c, "planned", False):
        c.planned = True
        c.plan(_needed(request.session.items))
    return c
