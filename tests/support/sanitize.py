"""Build fixtures with AddressSanitizer and UndefinedBehaviorSanitizer and
run them in an ordinary (uninstrumented) CPython.

Rust's sanitizers need a nightly compiler, so the runtime library
(``libpyctx.a``) is linked in as it is; what is instrumented is every C part
that ends up in the extension: the fixture's own code, the generated
``pyctx_api.h`` (the ctx forms are inline there), ``pyctx.h``,
``pyctx_fast.h`` and ``pyctx_types.h``. ASan still sees the whole process's
heap: its ``malloc``/``free`` replace the C library's for CPython, the Rust
runtime and the extension alike, so a double or invalid free anywhere is
reported, and with ``PYTHONMALLOC=malloc`` every Python object is its own
ASan-guarded block (pymalloc's arenas would hide overflows and
use-after-free of small objects).

gcc links the sanitizer runtimes into the extension as shared libraries;
ASan's must be the first library of the process, hence ``LD_PRELOAD``.

Leaks: CPython does not free everything at exit, so LeakSanitizer's check at
exit is off (``leak_check_at_exit=0``). Instead the run calls
``__lsan_do_recoverable_leak_check`` itself while the interpreter is still
alive (``leakcheck.py``): everything CPython still uses is reachable then
from its globals, thread states and stacks, so what LSan reports is memory
nobody can free any more — an object whose reference was lost, a buffer
never released. (Objects tracked by the cyclic GC stay linked in its lists
and are never reported: the fixtures' live-instance counters cover those.)

Stable API: ``SAN_FLAGS``, ``available()``, ``build_env(python, compat,
plain)``, ``run_env(pythonpath, **extra)``, ``LEAKCHECK``.
"""

import functools
import os
import subprocess
from pathlib import Path

from support import build

# -fno-sanitize-recover: the first UB report aborts, so no report can go
# unnoticed in a passing run; -g and frame pointers: readable stacks.
SAN_FLAGS = ("-fsanitize=address,undefined -fno-sanitize-recover=all "
             "-fno-omit-frame-pointer -g")
# halt_on_error/abort_on_error: a report ends the process with SIGABRT.
# detect_leaks=1 with leak_check_at_exit=0: only leakcheck.py's explicit
# check, in a live interpreter, looks for leaks.
ASAN_OPTIONS = ("detect_leaks=1:leak_check_at_exit=0:abort_on_error=1:"
                "halt_on_error=1:detect_stack_use_after_return=0:"
                "allocator_may_return_null=1")
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1:abort_on_error=1"
LEAKCHECK = Path(__file__).resolve().parent / "leakcheck.py"


@functools.lru_cache(maxsize=None)
def asan_runtime():
    """gcc's shared ASan runtime (``libasan.so``), or None."""
    try:
        out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(out)
    return path.resolve() if path.is_absolute() and path.exists() else None


def available():
    """None when sanitizer builds work here, else why not."""
    if asan_runtime() is None:
        return "gcc has no libasan.so (Debian: libgcc-12-dev)"
    return None


def build_env(python, compat=False, plain=False):
    """Environment for ``build.pip_install``: pyctx's flags (none for a
    plain build) plus the sanitizers, which are compiler flags (CFLAGS) at
    compile time and linker flags at link time."""
    env = {} if plain else build.pyctx_flags(python, compat)
    for var in ("CFLAGS", "LDFLAGS"):
        env[var] = (env.get(var, "") + " " + SAN_FLAGS).strip()
    return env


def run_env(pythonpath, **extra):
    """``build.clean_env`` plus what a sanitized extension needs to run."""
    return build.clean_env(
        pythonpath, LD_PRELOAD=asan_runtime(), ASAN_OPTIONS=ASAN_OPTIONS,
        UBSAN_OPTIONS=UBSAN_OPTIONS, PYTHONMALLOC="malloc", **extra)


def reports(stderr):
    """The sanitizer reports in a process's stderr (empty when clean)."""
    marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
             "SUMMARY: UndefinedBehaviorSanitizer")
    return [line for line in stderr.splitlines() if any(m in line for m in marks)]


def full_run():
    """``scripts/test --full`` (PYCTX_TEST_FULL=1): every CPython, not one."""
    return os.environ.get("PYCTX_TEST_FULL", "") not in ("", "0")
