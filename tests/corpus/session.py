"""The corpus session shared by tests/test_corpus_compat.py and
tests/test_corpus_migrate.py.

Both files import this module by path (tests/corpus is not a package) and
get the same harness module object and the same harness.Corpus for the
whole pytest session: each (interpreter, package, variant) is built and
tested once, and the plain builds serve both files. At first use the
session queues every build that the selected tests will need, in test
order, so the thread pool (PYCTX_CORPUS_JOBS, default 2) works ahead of
the test that is running.
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


def version_of(python):
    return os.path.basename(os.path.dirname(os.path.dirname(python)))


def half_pythons(pythons):
    """Interpreters for the seeded-half builds: PYCTX_CORPUS_HALF ('all' or
    comma-separated versions), default harness.HALF_VERSION (or the newest
    installed when that one is missing)."""
    wanted = os.environ.get("PYCTX_CORPUS_HALF", "").strip()
    if wanted == "all":
        return list(pythons)
    versions = [v.strip() for v in wanted.split(",") if v.strip()] or [harness.HALF_VERSION]
    hits = [p for p in pythons if version_of(p) in versions]
    return hits or list(pythons[-1:])


def param(python, package, *rest, id):
    """pytest.param, skipped with its reason where packages.json says the
    pinned release does not work on that interpreter."""
    import pytest
    why = harness.unsupported(harness.load_packages()[package], version_of(python))
    marks = [pytest.mark.skip(reason="%s on %s: %s" % (package, version_of(python), why))] \
        if why else []
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
