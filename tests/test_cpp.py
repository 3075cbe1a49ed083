"""C++ (fixtures/cpp) on every installed CPython, built with g++ and with
clang++ (CC/CXX for pip): plain (CPython's headers), via compat by linking,
and including pyctx.h (ctx forms as overloads of CPython's names, macros
dispatched by argument count). Every build gives the plain build's answers;
the legacy spelling keeps CPython's meaning (redeclarations, `&NAME`,
`(void *)NAME` in type slots, `(NAME)(args)`, `#undef`, stringifying
macros); stats count ctx-form and legacy calls apart; a capability
violation names the calling C++ function, for fixed-arity and C-variadic
overloads alike."""

import json
import shutil
import subprocess

import pytest

from support import build

FIXTURE = build.ROOT / "fixtures" / "cpp"
VERSIONS = list(build.interpreters())
# (build, C++ compiler, -std): plain once; compat and pyctx with both.
BUILDS = [("plain", "g++", "c++11"), ("compat", "g++", "c++11"), ("compat", "clang++", "c++20"),
          ("pyctx", "g++", "c++11"), ("pyctx", "clang++", "c++17")]
CASES = [(v,) + b for v in VERSIONS for b in BUILDS]
IDS = ["-".join(c) for c in CASES]

PROBE = """
import collections.abc, json, cppext
t = cppext.Tally()
adds = [t.add(1), t.add(2, 3), t.add(10)]
errors = []
for args in [(-1,), (5000,)]:
    try:
        t.add(*args)
    except ValueError as e:
        errors.append(str(e))
print(json.dumps({
    "adds": adds,
    "describe": list(t.describe()),
    "errors": errors,
    "truth": [cppext.truth(0), cppext.truth([1])],
    "ctx_spellings": cppext.ctx_spellings(),
    "after_undef": cppext.after_undef(),
    "macros": [cppext.ANSWER, cppext.GREETING, cppext.PASTE_ME],
    "named_after_values": [n for n in ("42", "7", "hello") if hasattr(cppext, n)],
    "hash_is_none": cppext.Unhashable.__hash__ is None,
    "hashable": isinstance(cppext.Unhashable(), collections.abc.Hashable),
}))
"""

EXPECTED = {
    "adds": [1, 6, 16],
    "describe": ["Tally(16)", 3],
    "errors": ["negative value -1 in add", "more than 1000"],
    "truth": [[0, 0, 0, 0], [1, 1, 1, 1]],
    "ctx_spellings": True,
    "after_undef": 7,
    "macros": [42, "hello", 7],
    "named_after_values": [],
    "hash_is_none": True,
    "hashable": False,
}


@pytest.fixture(scope="module")
def builds():
    return {}


def built(builds, tmp_path_factory, version, kind, cxx, std):
    key = (version, kind, cxx, std)
    if key not in builds:
        if shutil.which(cxx) is None:
            raise build.BuildError("%s is not installed: run scripts/setup" % cxx)
        python = build.interpreters()[version]
        cc = "clang" if cxx == "clang++" else "gcc"
        env = {"CC": cc, "CXX": cxx, "LDCXXSHARED": cxx + " -shared", "CXXFLAGS": None,
               "CPPEXT_STD": std}
        if kind != "plain":
            # CPPFLAGS: setuptools compiles C++ with CXXFLAGS and CPPFLAGS.
            env.update(build.pyctx_flags(python, compat=(kind == "compat")))
        if kind == "pyctx":
            env["CPPEXT_PYCTX"] = "1"
        target = tmp_path_factory.mktemp("cpp-%s-%s-%s" % (version, kind, cxx))
        builds[key] = (python, build.pip_install(python, FIXTURE, target, env=env))
    return builds[key]


def run(python, target, tmp_path, code=PROBE, **env):
    return subprocess.run([str(python), "-c", code], env=build.clean_env(target, **env),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def answers(python, target, tmp_path, **env):
    proc = run(python, target, tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_function(by_caller, function):
    """The legacy counts of the C++ function `function`: the report names
    callers by their symbols, mangled in C++ (`_ZN12_GLOBAL__N_15truthEP7_objectS1_`)."""
    found = [counts for caller, counts in by_caller.items()
             if caller == function or ("%d%s" % (len(function), function)) in caller]
    assert len(found) == 1, (function, sorted(by_caller))
    return found[0]


@pytest.mark.parametrize("version,kind,cxx,std", CASES, ids=IDS)
def test_same_answers(builds, tmp_path_factory, tmp_path, version, kind, cxx, std):
    python, target = built(builds, tmp_path_factory, version, kind, cxx, std)
    assert answers(python, target, tmp_path) == EXPECTED


@pytest.mark.parametrize("version,kind,cxx,std", [c for c in CASES if c[1] != "plain"],
                         ids=[i for c, i in zip(CASES, IDS) if c[1] != "plain"])
def test_stats_count_ctx_and_legacy_calls(builds, tmp_path_factory, tmp_path, version, kind,
                                          cxx, std):
    python, target = built(builds, tmp_path_factory, version, kind, cxx, std)
    stats = tmp_path / "stats.jsonl"
    assert answers(python, target, tmp_path, PYCTX_STATS=str(stats)) == EXPECTED
    (rec,) = [json.loads(line) for line in stats.read_text().splitlines()]
    legacy, ctx, by_caller = rec["legacy_calls"], rec["ctx_calls"], rec["legacy_by_caller"]
    # truth() (twice): PyObject_IsTrue by name and parenthesised, legacy in
    # every build; the calls through pointers are CPython's function itself.
    assert by_function(by_caller, "truth")["PyObject_IsTrue"] == 4, by_caller
    # add() ran five times: its parse is a ctx form with pyctx.h; one
    # PyErr_Format is spelled legacy, the other ctx.
    if kind == "pyctx":
        assert ctx["PyArg_ParseTuple"] == 5, rec
        assert ctx["PyErr_Format"] == 1 and ctx["PyLong_FromLong"] == 3, rec
        assert ctx["PyUnicode_FromFormat"] == 1 and ctx["PyObject_IsTrue"] == 1, rec
        assert ctx["PyType_FromSpec"] == 2 and ctx["PyModule_AddIntMacro"] == 1, rec
        add = by_function(by_caller, "tally_add")
        assert add == {"PyErr_Format": 1}, by_caller
        assert legacy["PyArg_ParseTuple"] == 2, rec  # truth()'s
        # truth() twice and describe() (a tail call: no caller known).
        assert legacy["Py_BuildValue"] == 3 and "Py_BuildValue" not in ctx, rec
    else:
        assert ctx == {}, rec
        assert legacy["PyArg_ParseTuple"] == 7, rec
        assert by_function(by_caller, "tally_add")["PyErr_Format"] == 2, by_caller


MISUSE = [("misuse_fixed", "PyLong_FromLong"), ("misuse_variadic", "Py_BuildValue")]


@pytest.mark.parametrize("function,api", MISUSE)
@pytest.mark.parametrize("cxx,std", [("g++", "c++11"), ("clang++", "c++17")])
@pytest.mark.parametrize("version", VERSIONS[:1] + VERSIONS[-1:])
def test_violation_names_the_caller(builds, tmp_path_factory, tmp_path, version, cxx, std,
                                    function, api):
    """A dealloc context passed to a function that needs a full one stops
    the process with a message naming the API function and the C++
    function that called it (a defaulted __builtin_FUNCTION() parameter, or
    PyCtx_At for a C-variadic overload)."""
    python, target = built(builds, tmp_path_factory, version, "pyctx", cxx, std)
    proc = run(python, target, tmp_path, code="import cppext; cppext.%s()" % function)
    assert proc.returncode != 0, proc.stdout
    want = "pyctx: capability violation: %s() needs a full context but was called " \
           "with a dealloc context in %s " % (api, function)
    assert want in proc.stderr, proc.stderr
