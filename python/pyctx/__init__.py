"""pyctx for build scripts: where its headers are and which flags to pass.

The ``pyctx`` command does the work; this package finds the copy installed
with it (the wheel puts the binary in the scheme's ``scripts`` folder and its
data in ``<data>/share/pyctx``) and asks it, for ``setup.py`` and meson users
the way ``numpy.get_include()`` and ``pybind11.get_include()`` serve theirs::

    import pyctx
    Extension("spam", ["spam.c"],
              extra_compile_args=pyctx.cflags(),    # migrated sources
              extra_link_args=pyctx.ldflags())
    Extension("eggs", ["eggs.c"],                   # unmodified sources: compat
              extra_link_args=pyctx.ldflags(compat=True))

Every function targets the running interpreter unless ``python`` names
another. ``python -m pyctx ARGS`` runs the command with ``PYCTX_PYTHON`` set
to this interpreter, so ``python3.12 -m pyctx flags --cflags`` means 3.12.

This file must stay importable on any Python 3 (it is what tells a user of
an unsupported interpreter that pyctx does not support it).
"""

import os
import shlex
import subprocess
import sys
import sysconfig

__all__ = ["PyctxError", "find_pyctx_bin", "data_dir", "get_include", "cflags", "ldflags"]


class PyctxError(RuntimeError):
    """The pyctx command is missing or refused; the message says why."""


def _here():
    # The folder holding this package: a site-packages, or a --target dir.
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _installs():
    """(scripts, data) folders of every install scheme whose library folder
    holds this package, then those of a ``pip install --target`` layout."""
    here = _here()
    seen = []
    for scheme in sysconfig.get_scheme_names():
        try:
            paths = sysconfig.get_paths(scheme)
        except KeyError:  # a scheme that does not apply here
            continue
        libs = {os.path.realpath(paths.get(k, "")) for k in ("purelib", "platlib")}
        pair = (paths.get("scripts", ""), paths.get("data", ""))
        if here in libs and pair not in seen:
            seen.append(pair)
    seen.append((os.path.join(here, "bin"), here))
    return seen


def _find():
    tried = []
    for scripts, data in _installs():
        share = os.path.join(data, "share", "pyctx")
        exe = os.path.join(scripts, "pyctx")
        if os.path.isfile(os.path.join(share, "table.json")) and os.access(exe, os.X_OK):
            return exe, share
        tried.append(share)
    raise PyctxError(
        "cannot find the pyctx command and its data installed with this package "
        "(looked in %s); reinstall pyctx" % ", ".join(tried))


def find_pyctx_bin():
    """Path of the ``pyctx`` executable installed with this package."""
    return _find()[0]


def data_dir():
    """``<prefix>/share/pyctx``: the API table, headers and ``lib/libpyctx.a``."""
    return _find()[1]


def get_include():
    """The folder of ``pyctx.h`` and the runtime's other fixed headers.

    Sources that include ``pyctx.h`` also need the generated header of their
    interpreter: :func:`cflags` gives both folders.
    """
    return os.path.join(data_dir(), "include")


def _flags(kind, python, compat):
    cmd = [find_pyctx_bin(), "flags", kind, "--python", python or sys.executable]
    if compat:
        cmd.append("--compat")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if proc.returncode != 0:
        raise PyctxError(proc.stderr.strip() or "%s exited with %d" % (
            " ".join(cmd), proc.returncode))
    return shlex.split(proc.stdout)


def cflags(python=None, compat=False):
    """C compiler flags (a list) for sources built for ``python`` (default:
    this interpreter). Empty with ``compat``: unmodified sources compile
    exactly as without pyctx."""
    return _flags("--cflags", python, compat)


def ldflags(python=None, compat=False):
    """Linker flags (a list): the static runtime ``libpyctx.a``."""
    return _flags("--ldflags", python, compat)


def _main():
    """``python -m pyctx ARGS``: the command, aimed at this interpreter."""
    try:
        exe = find_pyctx_bin()
    except PyctxError as exc:
        sys.stderr.write("pyctx: error: %s\n" % exc)
        return 2
    env = dict(os.environ)
    env.setdefault("PYCTX_PYTHON", sys.executable)
    sys.stdout.flush()
    os.execve(exe, [exe] + sys.argv[1:], env)
