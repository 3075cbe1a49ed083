"""Real extensions nobody here wrote, migrated by `pyctx migrate`.

For every package pinned in tests/corpus/packages.json (except generated
code, "migrate": false), tests/corpus/harness.py copies the unpacked sdist
and runs ``pyctx migrate --write`` over all of the extension's C/C++
sources ("migrated"), and, on a second copy, with ``--only`` a seeded
random half of the function names that ``pyctx status --json`` lists
("half"). The migrated trees are built with ``pyctx flags --cflags`` /
``--ldflags`` (the package's own build settings otherwise) on the package's
interpreters (tests/corpus/session.py: oldest and newest supported;
`scripts/test --full`: all), the half trees on the newest of those
(PYCTX_CORPUS_HALF=all or =3.10,3.12 for others), and each build runs the
package's own test suite, like the plain build of the same source.
Variants listed under "expect_fail" in packages.json are strict expected
failures (their build tests must fail today).

Asserted:
* the migration wrote only the extension's C sources, exited 0 with no
  error diagnostic; ``pyctx migrate --check`` on its output exits 0; a
  second ``pyctx migrate`` prints an empty diff; the half run migrated
  exactly the selected functions;
* the build succeeds, the extension's object files call into pyctx;
* the suite passes what the plain build passes (same passed count, no new
  failure or error) and really ran the migrated extension(s);
* PYCTX_STATS shows ctx-form calls, in a half build legacy calls too, and
  every legacy call comes from a function the CLI reported as not (fully)
  migrated (refused, not selected, or with legacy calls left);
* a limited-API package ("abi3": true) still references only stable-ABI
  symbols;
* one ``pyctx migrate`` over the whole corpus succeeds.

The migrations do not depend on the interpreter: each is done once per
session. Builds are shared with test_corpus_compat.py (tests/corpus/session.py).
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

PACKAGES = session.PACKAGES
# Generated code (Cython output) is built through compat only.
MIGRATED = [name for name, pkg in PACKAGES.items() if harness.migratable(pkg)]
# Fetches sdists and deps for the migration-only tests (any interpreter will do).
FETCH_PYTHON = session.INSTALLED[-1] if session.INSTALLED else None


def _builds(name, variant, pythons):
    def make(py):
        return session.param(py, name, variant, id="%s-%s-%s" % (
            session.version_of(py), name, variant), variant=variant)
    if variant == "migrated":
        return session.python_params(name, make)
    return [make(py) for py in pythons]


BUILDS = ([p for name in MIGRATED for p in _builds(name, "migrated", None)]
          + [p for name in MIGRATED for p in _builds(name, "half", session.half_pythons(name))])
ABI3_BUILDS = [p for p in BUILDS if PACKAGES[p.values[1]].get("abi3")]
MIGRATIONS = [pytest.param(name, variant, id="%s-%s" % (name, variant))
              for name in MIGRATED for variant in harness.MIGRATED_VARIANTS]


@pytest.fixture(scope="session")
def corpus(request, tmp_path_factory):
    return session.corpus(request, tmp_path_factory)


def _migration(corpus, package, variant, python=FETCH_PYTHON):
    try:
        mig = corpus.migration(package, variant, python)
    except Exception as exc:
        pytest.fail("harness error: %s: %s" % (type(exc).__name__, exc), pytrace=False)
    if mig.error:
        pytest.fail(mig.error, pytrace=False)
    return mig


def _ok(problems):
    assert not problems, "\n".join(problems)


# -- the migration itself (once per package and variant) ---------------------


@pytest.mark.parametrize("package,variant", MIGRATIONS)
def test_migration_rewrites_only_the_c_sources(corpus, package, variant):
    mig = _migration(corpus, package, variant)
    _ok(harness.migration_problems(mig))
    t = mig.totals
    assert t.get("functions", 0) > 0, t
    assert t.get("calls_rewritten", 0) > 0, t
    # Everything the CLI did not rewrite carries a reason in the report.
    for f in mig.refused():
        assert f["status"].get("reason"), f


@pytest.mark.parametrize("package,variant", MIGRATIONS)
def test_migration_check_exits_0_on_output(corpus, package, variant):
    mig = _migration(corpus, package, variant)
    assert mig.check_rc == 0, "pyctx migrate --check exited %s:\n%s" % (
        mig.check_rc, mig.check_output)


@pytest.mark.parametrize("package,variant", MIGRATIONS)
def test_second_migration_run_is_empty(corpus, package, variant):
    mig = _migration(corpus, package, variant)
    assert mig.second_rc == 0, mig.second_stderr[-3000:]
    assert mig.second_diff == "", "second run's diff is not empty:\n%s" % mig.second_diff[:4000]


@pytest.mark.parametrize("package", MIGRATED)
def test_half_migrates_exactly_the_selection(corpus, package):
    mig = _migration(corpus, package, "half")
    names = mig.all_functions
    assert len(mig.only) == len(names) // 2 > 0, (len(mig.only), len(names))
    assert mig.only == harness.half_selection(package, names), "selection is not the seeded one"
    selected = set(mig.only)
    for f in mig.report["functions"]:
        kind = f["status"]["kind"]
        if f["name"] in selected:
            # Selected functions are migrated unless the CLI says why not
            # (e.g. one that switches the thread state stays legacy).
            assert kind != "legacy" or f.get("legacy_reason"), (
                "selected but left legacy without a reason: %s" % f)
        else:
            assert kind in ("legacy", "refused"), "not selected but %s: %s" % (kind, f)


# -- builds of the migrated sources (per interpreter) ------------------------


def _built(corpus, python, package, variant):
    plain = corpus.result(python, package, "plain")
    run = corpus.result(python, package, variant)
    if plain.error:
        pytest.fail("plain build failed: %s" % plain.error, pytrace=False)
    if run.error:
        pytest.fail(run.error, pytrace=False)
    return plain, run


@pytest.mark.parametrize("python,package,variant", BUILDS)
def test_migrated_builds_on_the_runtime(corpus, python, package, variant):
    plain, run = _built(corpus, python, package, variant)
    _ok(harness.object_problems(run))
    assert not plain.pyctx_symbols, plain.pyctx_symbols[:10]


@pytest.mark.parametrize("python,package,variant", BUILDS)
def test_migrated_passes_what_plain_passes(corpus, python, package, variant):
    plain, run = _built(corpus, python, package, variant)
    pt = plain.tests
    assert pt is not None and pt.counts is not None, "plain: no pytest summary"
    assert pt.returncode == 0 and pt.counts.failed == 0 and pt.counts.errors == 0, pt.output_tail
    assert pt.counts.passed > 0, pt.output_tail
    _ok(harness.suite_problems(plain, run))


@pytest.mark.parametrize("python,package,variant", BUILDS)
def test_migrated_extension_ran_the_suite(corpus, python, package, variant):
    plain, run = _built(corpus, python, package, variant)
    _ok(harness.probe_problems(run, PACKAGES[package]))


@pytest.mark.parametrize("python,package,variant", BUILDS)
def test_migrated_stats_show_ctx_calls(corpus, python, package, variant):
    plain, run = _built(corpus, python, package, variant)
    _ok(harness.stats_problems(run, _migration(corpus, package, variant)))


@pytest.mark.parametrize("python,package,variant", ABI3_BUILDS)
def test_migrated_limited_api_build_uses_only_the_stable_abi(corpus, python, package, variant):
    plain, run = _built(corpus, python, package, variant)
    _ok(harness.stable_abi_problems(run, *corpus.stable_abi(python)))


# -- the whole corpus in one invocation --------------------------------------


def test_whole_corpus_in_one_invocation(corpus):
    r = harness.migrate_at_once(corpus, MIGRATED, FETCH_PYTHON)
    assert "error" not in r, r["error"]
    for mode in ("dry-run", "write"):
        assert r[mode]["rc"] == 0, (mode, r[mode])
    per_package = sum(_migration(corpus, n, "migrated").totals["functions"] for n in MIGRATED)
    assert r["totals"]["functions"] == per_package, (r["totals"], per_package)
