"""The shared build and sdist helpers (tests/support/build.py, sdist.py)
that the fixture suites, the corpus harness and the bench all rely on: the
behaviours each caller needs, pinned here so that a change for one caller
cannot quietly break another. Real pyctx, real compiler, real tar files."""

import io
import os
import shlex
import sys
import tarfile
import textwrap

import pytest

from support import build, sdist

NEWEST = list(build.interpreters().values())[-1]

PROBE_C = textwrap.dedent("""\
    #include <Python.h>
    #ifdef LEAKED
    #error inherited flags reached the build
    #endif
    #ifdef BROKEN
    #error asked to fail
    #endif
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "probe", NULL, -1, NULL};
    PyMODINIT_FUNC PyInit_probe(void) { return PyModule_Create(&def); }
    """)
PROBE_SETUP = ("from setuptools import Extension, setup\n"
               "setup(name='probe', version='0', ext_modules=[Extension('probe', ['probe.c'])])\n")


@pytest.fixture
def probe_project(tmp_path):
    project = tmp_path / "probe"
    project.mkdir()
    (project / "probe.c").write_text(PROBE_C)
    (project / "setup.py").write_text(PROBE_SETUP)
    return project


def test_select_versions():
    have = ["3.9", "3.10", "3.11", "3.12", "3.13"]
    assert build.select_versions(have, "edges") == ["3.9", "3.13"]
    assert build.select_versions(have[:1], "edges") == ["3.9"]
    assert build.select_versions(have, "all") == have
    assert build.select_versions(have, " 3.13,3.10 ") == ["3.10", "3.13"]
    assert build.select_versions(have, "3.14") == []
    with pytest.raises(build.BuildError, match="no interpreter for 3.14"):
        build.select_versions(have, "3.11,3.14", strict=True)
    for bad in ("newest", "3", ""):
        with pytest.raises(build.BuildError, match="expected edges, all"):
            build.select_versions(have, bad)


def test_pyctx_flags_put_preprocessor_flags_in_cppflags():
    migrated = build.pyctx_flags(NEWEST)
    words = shlex.split(migrated["CPPFLAGS"])
    assert words and all(w.startswith(("-I", "-D")) for w in words), migrated
    assert "CFLAGS" not in migrated and "CXXFLAGS" not in migrated, migrated
    assert "libpyctx.a" in migrated["LDFLAGS"]
    compat = build.pyctx_flags(NEWEST, compat=True)
    # Compat by linking: the compile step gets nothing at all.
    assert set(compat) == {"LDFLAGS"}, compat
    assert build.compile_flags(migrated) == migrated["CPPFLAGS"]
    assert build.compile_flags(compat) == ""


def test_flags_env_keeps_the_interpreters_cflags_under_other_flags():
    env = build.flags_env(NEWEST, ["-I/inc", "-D", "A=1", "-include", "x.h", "-fno-plt"],
                          ["-L/lib", "-lfoo"])
    assert env["CPPFLAGS"] == "-I/inc -D A=1 -include x.h"
    stock = build.run([NEWEST, "-c", "import sysconfig; print(sysconfig.get_config_var"
                       "('CFLAGS'))"], check=True).stdout.strip()
    assert env["CFLAGS"] == env["CXXFLAGS"] == (stock + " -fno-plt").strip()
    assert env["LDFLAGS"] == "-L/lib -lfoo"
    assert build.flags_env(NEWEST, [], []) == {}


def test_build_env_drops_leaking_variables(monkeypatch):
    for var in ("CFLAGS", "CPPFLAGS", "LDSHARED", "PYTHONPATH", "LD_PRELOAD", "PYCTX_DEBUG"):
        monkeypatch.setenv(var, "leak")
    monkeypatch.setenv("SWITCH", "1")
    env = build.build_env({"CPPFLAGS": "-DWANTED", "HOME": None}, drop=("SWITCH",))
    assert env["CPPFLAGS"] == "-DWANTED"
    for var in ("CFLAGS", "LDSHARED", "PYTHONPATH", "LD_PRELOAD", "PYCTX_DEBUG", "SWITCH",
                "HOME"):
        assert var not in env, var
    assert env["PATH"] == os.environ["PATH"]


def test_pip_install_sees_only_the_flags_it_is_given(probe_project, tmp_path, monkeypatch):
    monkeypatch.setenv("CFLAGS", "-DLEAKED")
    monkeypatch.setenv("CPPFLAGS", "-DLEAKED")
    log = tmp_path / "build.log"
    target = build.pip_install(NEWEST, probe_project, tmp_path / "target", log=log)
    assert [p.name for p in target.glob("probe*.so")], list(target.iterdir())
    assert log.read_text().startswith("$ %s -m pip install" % NEWEST)
    # The source tree is never built in.
    assert not (probe_project / "build").exists()


def test_pip_install_failure_names_project_command_and_error(probe_project, tmp_path):
    src = tmp_path / "kept"
    with pytest.raises(build.BuildError) as err:
        build.pip_install(NEWEST, probe_project, tmp_path / "target",
                          env={"CPPFLAGS": "-DBROKEN"}, src=src)
    text = str(err.value)
    assert str(probe_project) in text and "pip install" in text, text
    assert "CPPFLAGS=-DBROKEN" in text, text
    assert err.value.returncode not in (0, None)
    assert "asked to fail" in build.compiler_errors(err.value.output)
    assert (src / "probe.c").exists()      # src: the copy is kept where asked


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_unpack_one_top_directory_reused_only_when_the_same(tmp_path):
    archive = _tar(tmp_path / "pkg-1.0.tar.gz", [("pkg-1.0/a.c", b"int a;\n")])
    dest = tmp_path / "src"
    top = sdist.unpack(archive, dest, reuse=True)
    assert top == dest / "pkg-1.0" and (top / "a.c").read_text() == "int a;\n"
    (top / "mark").write_text("kept")
    assert (sdist.unpack(archive, dest, reuse=True) / "mark").exists()
    _tar(archive, [("pkg-1.0/a.c", b"int b;\n")])          # a different file
    top = sdist.unpack(archive, dest, reuse=True)
    assert not (top / "mark").exists() and (top / "a.c").read_text() == "int b;\n"
    assert not (sdist.unpack(archive, dest) / "mark").exists()
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".unpack-")) == []


@pytest.mark.parametrize("members, reason", [
    ([("a-1/x.c", b""), ("b-1/y.c", b"")], "expected one top directory"),
    ([("a-1/x.c", b""), ("a-1/../../evil.c", b"")], "unsafe member"),
])
def test_unpack_refuses_bad_sdists(tmp_path, members, reason):
    archive = _tar(tmp_path / "bad-1.tar.gz", members)
    with pytest.raises(build.BuildError, match=reason) as err:
        sdist.unpack(archive, tmp_path / "src")
    assert str(archive) in str(err.value)
    assert not (tmp_path / "evil.c").exists()


def test_fetch_checks_the_pinned_sha256(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    archive = _tar(cache / "pkg-1.0.tar.gz", [("pkg-1.0/a.c", b"")])
    pin = {"version": "1.0", "sdist": archive.name, "sha256": sdist.sha256_file(archive)}
    assert sdist.fetch("pkg", pin, sys.executable, cache) == archive
    bad = dict(pin, sha256="0" * 64)
    with pytest.raises(build.BuildError, match="pkg==1.0: sha256 mismatch") as err:
        sdist.fetch("pkg", bad, sys.executable, cache)
    assert str(archive) in str(err.value)
