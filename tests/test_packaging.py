"""pyctx as a user installs it: the wheel, pkg-config, meson-python, pre-commit.

- The wheel built by ``scripts/wheel`` holds the binary, the Python package,
  the API table, the runtime's headers and ``libpyctx.a``, byte for byte
  those of this checkout.
- Installed with pip into a fresh virtualenv of a supported CPython and run
  from outside the checkout, with no Rust toolchain on PATH (and ``CARGO``
  pointing nowhere) and a fresh ``HOME``: ``pyctx flags``, ``pyctx api
  list``, ``pyctx migrate`` work on the installed data only (no path into
  the checkout in what they print); the header cache lands in the user
  cache dir; ``python -m pyctx`` and ``pyctx.cflags()`` / ``ldflags()`` /
  ``get_include()`` agree with the command; the spine fixture builds via
  compat and, migrated by that ``pyctx``, with the flags it prints, and
  passes its suite, with the calls going where each build says; so do the
  C++ fixture (g++) and the extra-header fixture (datetime.h, ...), with
  their ctx spellings counted as ctx-form calls.
- ``cargo install --path migrate-cli`` gives the same binary, reading the
  checkout's data, and the data ``scripts/stage-data`` lays out beside it.
- Bad input: the same wheel on a CPython pyctx does not support, no C
  compiler, an unsupported interpreter for ``--pkg-config``: a message
  naming the problem, exit 2.
- ``pyctx flags --pkg-config``: ``pkg-config --cflags --libs pyctx-X.Y``
  prints the flags of ``pyctx flags``; the meson-python example
  (``examples/meson-python``) builds through pkg-config via compat and
  migrated, passes its checks, and its calls go where each build says.
- ``.pre-commit-hooks.yaml``, tried with ``pre-commit try-repo``: fails on
  an unmigrated C file, passes on a migrated one, ignores other files.

Interpreters: the oldest and newest supported one installed
(``PYCTX_CORPUS_PYTHONS=all``, as ``scripts/test --full`` sets, for all).
Tools and wheels come from ``.tools/`` (``scripts/setup``); nothing here
reaches a package index.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support import build

ROOT = build.ROOT
TOOLS = ROOT / ".tools"
WHEELS = TOOLS / "wheels"
SPINE = ROOT / "fixtures" / "spine"
MESON_EXAMPLE = ROOT / "examples" / "meson-python"
TIMEOUT = 900
# Distinct API functions the spine module calls in its suite (it uses ~80).
MIN_DISTINCT = 20


def _versions():
    have = list(build.interpreters())
    if os.environ.get("PYCTX_CORPUS_PYTHONS") == "all":
        return have
    return sorted({have[0], have[-1]}, key=have.index)


VERSIONS = _versions()


def _base_python(version):
    """The pyenv interpreter of ``version`` (not a virtualenv of it)."""
    for found in build.python_list()["found"]:
        if found["minor"] == version:
            return Path(found["path"])
    raise AssertionError("pyctx python list found no %s" % version)


def run(cmd, env=None, cwd=None, ok=(0,)):
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True,
                          text=True, errors="replace", timeout=TIMEOUT)
    if ok is not None and proc.returncode not in ok:
        raise AssertionError("%s: exit %d\n%s%s" % (
            " ".join(map(str, cmd)), proc.returncode, proc.stdout, proc.stderr))
    return proc


# ------------------------------------------------------------------ the wheel

@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    if not (TOOLS / "venv" / "bin" / "maturin").exists():
        build._setup()
    out = tmp_path_factory.mktemp("wheel")
    proc = run([ROOT / "scripts" / "wheel", out])
    wheels = list(out.glob("pyctx-*.whl"))
    assert len(wheels) == 1 and proc.stdout.strip() == str(wheels[0]), proc.stdout
    return wheels[0]


def test_wheel_holds_binary_package_and_data(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        data = next(n.split("/")[0] for n in names if n.endswith(".data/scripts/pyctx"))
        share = data + "/data/share/pyctx/"
        assert zf.read(share + "table.json") == (ROOT / "api" / "table.json").read_bytes()
        headers = sorted((ROOT / "runtime" / "include").glob("*.h"))
        assert headers
        for h in headers:
            assert zf.read(share + "include/" + h.name) == h.read_bytes(), h.name
        lib = zf.read(share + "lib/libpyctx.a")
        assert lib.startswith(b"!<arch>\n") and len(lib) > 100_000
        for module in ("__init__.py", "__main__.py"):
            assert zf.read("pyctx/" + module) == (ROOT / "python" / "pyctx" / module).read_bytes()
        binary = zf.read(data + "/scripts/pyctx")
        assert binary.startswith(b"\x7fELF")
        # Nothing else: the layout is the one api/src/data.rs expects.
        extra = [n for n in names if not (n.startswith(("pyctx/", share))
                                          or n == data + "/scripts/pyctx"
                                          or n.split("/")[0].endswith(".dist-info"))]
        assert extra == [], extra


class Venv:
    """A fresh virtualenv with the wheel installed, and a user's shell for it:
    PATH holds the venv and the system's bin folders only, HOME is new."""

    def __init__(self, base_python, wheel, work):
        self.dir = work / "venv"
        self.home = work / "home"
        self.outside = work / "elsewhere"  # the current directory: no checkout
        for d in (self.home, self.outside):
            d.mkdir(parents=True)
        run([base_python, "-m", "venv", self.dir])
        self.python = self.dir / "bin" / "python"
        self.pyctx = self.dir / "bin" / "pyctx"
        run([self.python, "-m", "pip", "install", "-q", "--no-index", wheel])
        self.env = {"PATH": "%s:/usr/bin:/bin" % (self.dir / "bin"), "HOME": str(self.home),
                    "CARGO": "/nonexistent/cargo", "LANG": "C.UTF-8"}
        for tool in ("cargo", "rustc", "rustup"):
            assert shutil.which(tool, path=self.env["PATH"]) is None, tool

    def run(self, *args, ok=(0,), env=None):
        return run(list(args), env=dict(self.env, **(env or {})), cwd=self.outside, ok=ok)

    def flags(self, *args):
        return self.run(self.pyctx, "flags", "--python", self.python, *args).stdout.split()


@pytest.fixture(scope="module", params=VERSIONS)
def venv(request, wheel, tmp_path_factory):
    return Venv(_base_python(request.param), wheel,
                tmp_path_factory.mktemp("venv-" + request.param))


def _inside(path, folder):
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def test_installed_pyctx_uses_its_own_data(venv):
    share = venv.dir / "share" / "pyctx"
    cflags = venv.flags("--cflags")
    assert len(cflags) == 2 and all(f.startswith("-I") for f in cflags), cflags
    generated, include = (Path(f[2:]) for f in cflags)
    assert include == share / "include"
    # The header cache: the user cache dir, keyed by version and inputs.
    assert _inside(generated, venv.home / ".cache" / "pyctx" / "include"), generated
    assert (generated / "pyctx_api.h").is_file()
    assert venv.flags("--cflags", "--compat") == []
    ldflags = venv.flags("--ldflags", "--compat")
    assert str(share / "lib" / "libpyctx.a") in ldflags, ldflags
    for flag in cflags + ldflags:
        assert str(ROOT) not in flag, flag
    listed = venv.run(venv.pyctx, "api", "list", "--python", venv.python).stdout.splitlines()
    assert len(listed) > 1000 and any(l.startswith("PyObject_IsTrue\t") for l in listed)


def test_python_m_pyctx_and_the_python_api(venv):
    # No --python: `python -m pyctx` aims at its own interpreter.
    assert venv.run(venv.python, "-m", "pyctx", "flags", "--cflags").stdout.split() \
        == venv.flags("--cflags")
    code = ("import json, pyctx; print(json.dumps([pyctx.get_include(), pyctx.cflags(), "
            "pyctx.ldflags(), pyctx.cflags(compat=True), pyctx.ldflags(compat=True), "
            "pyctx.find_pyctx_bin()]))")
    got = json.loads(venv.run(venv.python, "-c", code).stdout)
    assert got == [str(venv.dir / "share" / "pyctx" / "include"), venv.flags("--cflags"),
                   venv.flags("--ldflags"), [], venv.flags("--ldflags", "--compat"),
                   str(venv.pyctx)]


def _spine_suite(venv, target, work):
    """Run the spine suite on ``target`` with the checkout's virtualenv of
    the same CPython (it has pytest); returns ("N passed[, M skipped]", the
    calls the spine module made)."""
    version = "%d.%d" % tuple(json.loads(venv.run(
        venv.python, "-c", "import sys, json; print(json.dumps(sys.version_info[:2]))").stdout))
    stats_file = work / "stats.jsonl"
    suite = work / "suite"
    suite.mkdir()
    shutil.copy(SPINE / "test_spine.py", suite)
    (suite / "pytest.ini").write_text("[pytest]\n")
    proc = run([build.interpreters()[version], "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "test_spine.py"], cwd=suite,
               env=build.clean_env(target, PYCTX_STATS=stats_file), ok=None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = {"legacy_calls": {}, "ctx_calls": {}}
    for line in stats_file.read_text().splitlines():
        entry = json.loads(line)
        if Path(entry["module"]).name.startswith("spine."):
            for key in calls:
                for fn, n in entry.get(key, {}).items():
                    calls[key][fn] = calls[key].get(fn, 0) + n
    summary = re.search(r"^(\d+) passed(, (\d+) skipped)?", proc.stdout.splitlines()[-1])
    assert summary, proc.stdout
    return summary.group(0), calls


def _build_spine(venv, project, work, compat):
    # --upgrade: ensurepip's setuptools of 3.9-3.11 has no bdist_wheel of its own.
    run([venv.python, "-m", "pip", "install", "-q", "--upgrade", "--no-index",
         "--find-links", WHEELS, "setuptools"])
    mode = ["--compat"] if compat else []
    env = dict(venv.env, SPINE_VARIANT="legacy", **build.flags_env(
        venv.python, venv.flags("--cflags", *mode), venv.flags("--ldflags", *mode)))
    return build.pip_install(venv.python, project, work / "site", env)


def test_spine_builds_via_compat_and_migrated(venv, tmp_path):
    compat_work, cli_work = tmp_path / "compat", tmp_path / "cli"
    compat_work.mkdir()
    compat = _spine_suite(venv, _build_spine(venv, SPINE, compat_work, compat=True),
                          compat_work)
    project = cli_work / "spine"
    shutil.copytree(SPINE, project)
    venv.run(venv.pyctx, "migrate", "--write", project / "legacy")
    venv.run(venv.pyctx, "migrate", "--check", project / "legacy")
    migrated = _spine_suite(venv, _build_spine(venv, project, cli_work, compat=False),
                            cli_work)
    assert compat[0] == migrated[0], (compat[0], migrated[0])
    assert len(compat[1]["legacy_calls"]) >= MIN_DISTINCT and not compat[1]["ctx_calls"]
    assert len(migrated[1]["ctx_calls"]) >= MIN_DISTINCT, migrated[1]


def _stats_answers(venv, target, work, probe):
    """Run ``probe`` on the extensions in ``target`` with the venv's Python;
    returns its JSON answer and the stats records of those extensions."""
    stats = work / ("%s.stats.jsonl" % Path(target).name)
    proc = run([venv.python, "-c", probe], cwd=work,
               env=build.clean_env(target, PYCTX_STATS=stats))
    records = [json.loads(l) for l in stats.read_text().splitlines()]
    return json.loads(proc.stdout), [r for r in records if _inside(r["module"], target)]


def test_installed_pyctx_builds_cpp_and_extra_headers(venv, tmp_path):
    """What the generated header gives beyond C and Python.h works from the
    installed data too: a C++ extension (ctx forms as overloads; g++ takes
    the flags in CPPFLAGS) and the parts for datetime.h, structmember.h and
    marshal.h (fixtures/extra, both include orders)."""
    import test_cpp
    import test_extra_headers

    run([venv.python, "-m", "pip", "install", "-q", "--upgrade", "--no-index",
         "--find-links", WHEELS, "setuptools"])
    flags = build.flags_env(venv.python, venv.flags("--cflags"), venv.flags("--ldflags"))
    cpp_env = dict(venv.env, CC="gcc", CXX="g++", LDCXXSHARED="g++ -shared", CXXFLAGS=None,
                   CPPEXT_STD="c++17", CPPEXT_PYCTX="1", **flags)
    cpp = build.pip_install(venv.python, test_cpp.FIXTURE, tmp_path / "cpp", cpp_env)
    got, (rec,) = _stats_answers(venv, cpp, tmp_path, test_cpp.PROBE)
    assert got == test_cpp.EXPECTED
    assert rec["ctx_calls"]["PyArg_ParseTuple"] == 5 and rec["ctx_calls"]["PyErr_Format"] == 1, rec
    extra_env = dict(venv.env, EXTRA_PYCTX="1", **flags)
    extra = build.pip_install(venv.python, test_extra_headers.FIXTURE, tmp_path / "extra",
                              extra_env)
    got, records = _stats_answers(venv, extra, tmp_path, test_extra_headers.PROBE)
    assert got == test_extra_headers.EXPECTED
    assert len(records) == len(test_extra_headers.MODULES), records
    for rec in records:
        ctx = rec["ctx_calls"]
        want = test_extra_headers.CTX_CALLS
        assert {n: ctx.get(n) for n in want} == want, rec


def test_cargo_install_gives_the_same_binary(tmp_path):
    """`cargo install --path migrate-cli` (same target dir: no rebuild) gives
    the workspace's binary; it reads the checkout, and after
    `scripts/stage-data PREFIX` the data beside it."""
    prefix = tmp_path / "prefix"
    run(["cargo", "install", "--quiet", "--locked", "--path", ROOT / "migrate-cli",
         "--root", prefix, "--target-dir", ROOT / "target"])
    installed = prefix / "bin" / "pyctx"
    assert installed.read_bytes() == build.pyctx_bin().read_bytes()
    python = build.interpreters()[VERSIONS[-1]]
    env = dict(os.environ, PYCTX_NO_CARGO="1")
    env.pop("PYCTX_HOME", None)

    def includes():
        out = run([installed, "flags", "--cflags", "--python", python], env=env).stdout
        return out.split()[-1]

    assert includes() == "-I%s" % (ROOT / "runtime" / "include")
    run([ROOT / "scripts" / "stage-data", prefix])
    assert includes() == "-I%s" % (prefix / "share" / "pyctx" / "include")
    lib = run([installed, "flags", "--ldflags", "--python", python], env=env).stdout
    assert str(prefix / "share" / "pyctx" / "lib" / "libpyctx.a") in lib.split()


# ------------------------------------------------------------------ bad input

def _unsupported():
    """The newest CPython found that pyctx does not support (3.8 here: one
    whose pip knows today's wheel tags)."""
    others = build.python_list()["unsupported"]
    if not others:
        pytest.skip("no unsupported CPython (e.g. 3.8) under the pyenv root to try")
    return others[-1]


def test_wheel_on_an_unsupported_cpython(wheel, tmp_path):
    other = _unsupported()
    venv = Venv(Path(other["path"]), wheel, tmp_path)
    want = "CPython %s is not supported; pyctx supports %s to %s" % (
        other["minor"], build.python_list()["supported"][0],
        build.python_list()["supported"][-1])
    for cmd in ([venv.python, "-m", "pyctx", "flags", "--cflags"],
                [venv.pyctx, "flags", "--ldflags", "--python", venv.python]):
        proc = venv.run(*cmd, ok=(2,))
        assert want in proc.stderr, proc.stderr
    proc = venv.run(venv.python, "-c", "import pyctx; pyctx.cflags()", ok=(1,))
    assert "PyctxError" in proc.stderr and want in proc.stderr, proc.stderr
    # What needs no interpreter still works there.
    src = tmp_path / "m.c"
    shutil.copy(SPINE / "legacy" / "spine_single.c", src)
    assert "PyCtx ctx" in venv.run(venv.python, "-m", "pyctx", "migrate", src).stdout


def test_no_compiler_is_a_clear_error(tmp_path):
    python = build.interpreters()[VERSIONS[-1]]
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = run([build.pyctx_bin(), "flags", "--cflags", "--python", python],
               env={"PATH": str(empty), "HOME": str(tmp_path),
                    "PYCTX_CACHE_DIR": str(tmp_path / "cache")}, ok=(2,))
    assert "no C compiler found" in proc.stderr and "set CC" in proc.stderr, proc.stderr
    assert not (tmp_path / "cache").exists()


def test_pkg_config_of_an_unsupported_cpython(tmp_path):
    other = _unsupported()
    proc = run([build.pyctx_bin(), "flags", "--pkg-config", "--python", other["path"]],
               ok=(2,))
    assert "CPython %s is not supported" % other["minor"] in proc.stderr, proc.stderr


# ------------------------------------------------------------------ build systems

def _pkg_config_dir(python):
    out = run([build.pyctx_bin(), "flags", "--pkg-config", "--python", python]).stdout
    return out.strip()


@pytest.mark.parametrize("version", VERSIONS)
def test_pkg_config_gives_the_flags_of_pyctx_flags(version):
    python = build.interpreters()[version]
    env = dict(os.environ, PKG_CONFIG_PATH=_pkg_config_dir(python))
    flags = build.pyctx_flags(python)
    got = run(["pkg-config", "--cflags", "--libs", "pyctx-" + version], env=env).stdout
    assert got.split() == (build.compile_flags(flags) + " " + flags["LDFLAGS"]).split()
    compat = build.pyctx_flags(python, compat=True)
    got = run(["pkg-config", "--cflags", "--libs", "pyctx-compat-" + version], env=env).stdout
    assert got.split() == compat["LDFLAGS"].split()
    # A version it was not written for is pkg-config's own "not found".
    missing = run(["pkg-config", "--cflags", "pyctx-3.99"], env=env, ok=(1,))
    assert "pyctx-3.99" in missing.stderr


def _meson_build(python, project, target, mode):
    env = dict(os.environ, PKG_CONFIG_PATH=_pkg_config_dir(python))
    for var in ("CFLAGS", "LDFLAGS", "CPPFLAGS"):
        env.pop(var, None)
    run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links", WHEELS,
         "--target", target, "--config-settings=setup-args=-Dpyctx=" + mode, project], env=env)


def _meson_checks(python, target, work):
    stats = work / ("%s.stats.jsonl" % Path(target).name)
    proc = run([python, MESON_EXAMPLE / "test_tally.py"], cwd=work,
               env=build.clean_env(target, PYCTX_STATS=stats))
    assert "all checks passed" in proc.stdout
    (entry,) = [json.loads(l) for l in stats.read_text().splitlines()]
    assert Path(entry["module"]).resolve().parent == Path(target).resolve()
    return entry


@pytest.mark.parametrize("version", VERSIONS)
def test_meson_python_example_via_compat_and_migrated(version, tmp_path):
    python = build.interpreters()[version]
    project = tmp_path / "tally"
    shutil.copytree(MESON_EXAMPLE, project)
    _meson_build(python, project, tmp_path / "compat", "compat")
    compat = _meson_checks(python, tmp_path / "compat", tmp_path)
    assert compat["legacy_calls"].get("PyDict_SetItem") and not compat["ctx_calls"], compat
    run([build.pyctx_bin(), "migrate", "--write", project / "src"])
    assert '#include "pyctx.h"' in (project / "src" / "tally.c").read_text()
    _meson_build(python, project, tmp_path / "ctx", "ctx")
    migrated = _meson_checks(python, tmp_path / "ctx", tmp_path)
    assert migrated["ctx_calls"].get("PyDict_SetItem") and not migrated["legacy_calls"], migrated


# ------------------------------------------------------------------ pre-commit

def test_pre_commit_hook_with_try_repo(tmp_path):
    pre_commit = TOOLS / "venv" / "bin" / "pre-commit"
    if not pre_commit.exists():
        build._setup()
    repo = tmp_path / "project"
    repo.mkdir()
    env = {"PATH": "%s:%s" % (build.pyctx_bin().parent, os.environ["PATH"]),
           "HOME": str(tmp_path), "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    run(["git", "init", "-q"], cwd=repo, env=env)
    shutil.copy(SPINE / "legacy" / "spine_single.c", repo / "mod.c")
    (repo / "notes.txt").write_text("PyObject_IsTrue(v)\n")
    run(["git", "add", "."], cwd=repo, env=env)

    def try_repo(*files):
        which = ["--files", *files] if files else ["--all-files"]
        return run([pre_commit, "try-repo", ROOT, "pyctx-migrate-check", *which],
                   cwd=repo, env=env, ok=None)

    failing = try_repo()
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "pyctx migrate --check" in failing.stdout and "Failed" in failing.stdout
    assert "1 file(s) to change" in failing.stdout, failing.stdout
    # Only C sources reach the hook.
    skipped = try_repo("notes.txt")
    assert skipped.returncode == 0 and "Skipped" in skipped.stdout, skipped.stdout
    run([build.pyctx_bin(), "migrate", "--write", "mod.c"], cwd=repo)
    run(["git", "add", "."], cwd=repo, env=env)
    passing = try_repo()
    assert passing.returncode == 0 and "Passed" in passing.stdout, (
        passing.stdout + passing.stderr)
