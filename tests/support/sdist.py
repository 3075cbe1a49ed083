"""Pinned sdists from PyPI for the corpus harness and the benchmarks: the
pins, fetching and checking an sdist, unpacking it, and installing pinned
build or test dependencies. Standard library only; runs on CPython 3.9+.

The pins are ``tests/corpus/packages.json`` (version, sdist file name,
sha256, ``build_deps``, ...): the one list of real packages both use.

Stable API:

``PACKAGES_FILE``, ``SDIST_CACHE``, ``DEPS_CACHE``
    ``tests/corpus/packages.json``, ``.cache/sdists``, ``.cache/corpus-deps``.
``load_packages(path=PACKAGES_FILE) -> dict``
    ``{name: pin}`` with each pin's ``name`` filled in.
``sha256_file(path) -> str``
``fetch(name, pin, python, cache_dir=SDIST_CACHE, deps_root=DEPS_CACHE) -> Path``
    The pinned sdist in ``cache_dir``, downloaded with ``python``'s pip on
    first use (with the pin's ``build_deps`` on ``PYTHONPATH``: pip may
    prepare its metadata); its sha256 checked every time.
``unpack(sdist, dest_dir, reuse=False) -> Path``
    Unpack an sdist (one top directory, no member outside it) under
    ``dest_dir``; returns the top directory. ``reuse``: keep a tree that an
    earlier call unpacked there from the same file.
``install_deps(python, pins, deps_root=DEPS_CACHE) -> Path or None``
    Pinned requirements installed once per CPython X.Y with ``pip install
    --target`` under ``deps_root/<X.Y>/<hash of the pins>``.

Every write is a rename of a finished file or directory, so two processes
(two pytest sessions, the bench beside the tests) fetching or installing
the same thing at once both succeed and neither sees half of it. Every
failure is a ``build.BuildError`` naming the package and the command.
"""

import hashlib
import json
import os
import shlex
import shutil
import tarfile
import tempfile
from pathlib import Path

from . import build

PACKAGES_FILE = build.ROOT / "tests" / "corpus" / "packages.json"
SDIST_CACHE = build.ROOT / ".cache" / "sdists"
DEPS_CACHE = build.ROOT / ".cache" / "corpus-deps"


def load_packages(path=PACKAGES_FILE):
    with open(path) as f:
        packages = json.load(f)["packages"]
    for name, pin in packages.items():
        pin["name"] = name
    return packages


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name, pin, python, cache_dir=SDIST_CACHE, deps_root=DEPS_CACHE):
    """The pinned sdist of ``name``, from the cache or downloaded into it."""
    cache_dir = Path(cache_dir)
    dest = cache_dir / pin["sdist"]
    if not dest.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        _download(name, pin, python, cache_dir, install_deps(
            python, pin.get("build_deps"), deps_root))
    digest = sha256_file(dest)
    if digest != pin["sha256"]:
        raise build.BuildError("%s==%s: sha256 mismatch for %s: got %s, pinned %s" % (
            name, pin["version"], dest, digest, pin["sha256"]))
    return dest


def _download(name, pin, python, cache_dir, build_deps):
    tmp = tempfile.mkdtemp(prefix=".dl-", dir=cache_dir)
    try:
        # --ignore-requires-python: any installed interpreter can fetch any
        # sdist; which interpreters build it is decided elsewhere. No build
        # isolation: pip prepares the metadata with the pinned build_deps,
        # never with whatever the index has today.
        cmd = [str(python), "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
               "--no-build-isolation", "--ignore-requires-python",
               "--disable-pip-version-check", "-d", tmp, "%s==%s" % (name, pin["version"])]
        env = build.build_env({"PYTHONPATH": build_deps} if build_deps else None)
        proc = build.run(cmd, env=env, timeout=900)
        got = Path(tmp) / pin["sdist"]
        if proc.returncode != 0 or not got.exists():
            raise build.BuildError("downloading %s==%s failed (exit %d, %s %s)\ncommand: %s\n%s" % (
                name, pin["version"], proc.returncode, pin["sdist"],
                "present" if got.exists() else "not downloaded", shlex.join(cmd),
                build.tail(proc.stdout, 40)), proc.stdout, proc.returncode)
        os.replace(got, cache_dir / pin["sdist"])   # atomic: nobody sees half a file
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _members(sdist, tf):
    """The top directory of an sdist, refusing a member outside it."""
    members = tf.getmembers()
    tops = {m.name.split("/")[0] for m in members}
    if len(tops) != 1:
        raise build.BuildError("%s: expected one top directory, got %s" % (sdist, sorted(tops)))
    for m in members:
        if m.name.startswith("/") or ".." in m.name.split("/"):
            raise build.BuildError("%s: unsafe member %s" % (sdist, m.name))
    return tops.pop()


def unpack(sdist, dest_dir, reuse=False):
    """Unpack ``sdist`` under ``dest_dir``; return its top directory."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    stamp = dest_dir / (".%s.unpacked" % Path(sdist).name)
    digest = sha256_file(sdist) if reuse else None
    if reuse and stamp.exists():
        recorded, _, top = stamp.read_text().strip().partition(" ")
        if recorded == digest and top and (dest_dir / top).is_dir():
            return dest_dir / top
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest_dir))
    try:
        with tarfile.open(sdist) as tf:
            top = _members(sdist, tf)
            if hasattr(tarfile, "data_filter"):
                tf.extractall(tmp, filter="data")
            else:       # 3.9 without the backported filter: _members checked
                tf.extractall(tmp)
        shutil.rmtree(dest_dir / top, ignore_errors=True)
        os.replace(tmp / top, dest_dir / top)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if reuse:
        stamp.write_text("%s %s\n" % (digest, top))
    return dest_dir / top


def install_deps(python, pins, deps_root=DEPS_CACHE):
    """Install pinned requirements once for this interpreter; return the dir.

    ``pip install --no-deps --only-binary :all: --target`` into
    ``deps_root/<X.Y>/<hash of the pins>``: every dependency must be listed
    and pinned (environment markers allowed). Nothing is installed into the
    virtualenv itself. None when there is nothing to install.
    """
    pins = list(pins or [])
    if not pins:
        return None
    key = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:16]
    parent = Path(deps_root) / build.python_version(python)
    dest = parent / key
    marker = dest / ".pyctx-corpus-pins"
    if marker.exists():
        return str(dest)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".inst-", dir=parent)
    try:
        cmd = [str(python), "-m", "pip", "install", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--no-warn-script-location",
               "--target", tmp] + pins
        proc = build.run(cmd, cwd=parent, env=build.build_env(), timeout=600)
        if proc.returncode != 0:
            raise build.BuildError("installing %s for %s failed (exit %d)\ncommand: %s\n%s" % (
                pins, python, proc.returncode, shlex.join(cmd), build.tail(proc.stdout, 40)),
                proc.stdout, proc.returncode)
        Path(tmp, ".pyctx-corpus-pins").write_text("\n".join(pins) + "\n")
        try:
            os.rename(tmp, dest)
        except OSError:
            if not marker.exists():     # not a concurrent twin: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(dest)
