"""LeakSanitizer's check, run inside a live interpreter (see sanitize.py).

Two ways in:

* a pytest plugin (``-p leakcheck``, with this folder on ``PYTHONPATH``):
  after the last test, a full ``gc.collect()`` and one leak check; leaks
  turn the session's exit status into 3 and print ``leakcheck: ...``;
* a runner: ``python leakcheck.py MODULE [ARGS...]`` runs MODULE as
  ``__main__`` (like ``python -m``); at exit (``atexit``, before the
  interpreter is torn down) the same check, and exit status 3 on a leak,
  else MODULE's own status.

``leakcheck.py --sabotage`` leaks one bytes object on purpose (its
reference count raised by one and the reference dropped): the check must
find it, which shows that the check can fail.
"""

import atexit
import ctypes
import gc
import os
import runpy
import sys

LEAK_STATUS = 3


def check():
    """Number of leak reports LeakSanitizer printed (0: none)."""
    for _ in range(3):
        gc.collect()
    try:
        fn = ctypes.CDLL(None).__lsan_do_recoverable_leak_check
    except AttributeError:
        sys.stderr.write("leakcheck: no LeakSanitizer in this process (is libasan "
                         "preloaded?)\n")
        return 1
    fn.restype = ctypes.c_int
    found = fn()
    sys.stderr.flush()
    if found:
        sys.stderr.write("leakcheck: LeakSanitizer found unreachable memory (report above)\n")
    return found


def pytest_sessionfinish(session, exitstatus):
    if check():
        session.exitstatus = LEAK_STATUS


def _sabotage():
    # A fresh, non-GC object (bytes are not tracked by the cyclic GC, so no
    # list links to it) whose count is raised once and never dropped.
    # Built at run time (a constant stays referenced by its code object);
    # several, since LSan scans stacks and registers conservatively and a
    # stale copy of one address may survive there.
    incref = ctypes.pythonapi.Py_IncRef
    for i in range(16):
        incref(ctypes.py_object(bytes(bytearray(range(100 + i)))))


def _check_at_exit():
    # atexit handlers run before finalization tears anything down, with
    # every other thread of the threading module joined. The process's own
    # exit status cannot be changed from here, only replaced.
    if check():
        sys.stdout.flush()
        os._exit(LEAK_STATUS)


def main(argv):
    if argv[:1] == ["--sabotage"]:
        _sabotage()
        return LEAK_STATUS if check() else 0
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    sys.argv = list(argv)
    # Not a try/except around the module: a SystemExit caught here keeps
    # the module frame's traceback, and CPython 3.12+ then loses one frame
    # object (LSan reports it), which is not the extension's doing.
    atexit.register(_check_at_exit)
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
