"""Per-call benchmark driver. Runs inside the measured CPython (3.9+), with
the built ``_pyctx_percall`` module on ``sys.path``; writes raw timings as
JSON. Summaries are computed by bench/run.py.

For every operation, N iterations (calibrated once on the direct contender
so that one loop takes about --target-ms) of each contender's loop are timed
in C (see loops.h; raw ns per iteration, no baseline subtracted), on two
clocks: wall (CLOCK_MONOTONIC) and the thread's CPU time.

One repetition = --rounds rounds; one round runs every operation's
contenders back to back, in rotated order (ABC, BCA, CAB, ...). A
repetition's value for a contender is its fastest round: on a shared
machine a short loop is either undisturbed or visibly preempted, and the
minimum of a few neighbouring runs filters the preempted ones out. Across
repetitions (the outer loop, so each operation's samples span the whole
run) the report takes median and spread. The cyclic GC is disabled while
measuring (the tuple loop allocates GC-tracked objects).

    python driver.py --module-dir DIR --reps 15 --rounds 5 --target-ms 2 --out FILE
"""

import argparse
import gc
import json
import os
import platform
import sys
import sysconfig
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import rotated  # noqa: E402

# The argument each operation's loop receives (laundered every iteration).
ARGS = {
    "is_true": 12345,           # an int: PyObject_IsTrue goes through nb_bool
    "long_as_long": 12345,
    "tuple_new": None,
    "err_occurred": None,
    "decref_zero": None,
    "incref_decref": 12345,
    "get_tstate": None,
    "empty": None,
}
# (Operations not listed get None.)


def calibrate(mod, index, arg, target_ns):
    """Iterations needed for one timed loop of about target_ns."""
    n = 1000
    while True:
        ns = min(mod.run(index, n, arg)[1] for _ in range(3))
        if ns >= target_ns / 8 or n >= 1 << 34:
            return max(1000, int(n * target_ns / max(ns, 1)))
        n *= 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module-dir", required=True)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target-ms", type=float, default=2.0)
    ap.add_argument("--out", required=True)
    opts = ap.parse_args()

    for var in ("PYCTX_DEBUG", "PYCTX_STATS"):
        if os.environ.get(var):
            sys.exit("percall driver: %s is set; benchmarks need release mode" % var)

    sys.path.insert(0, opts.module_dir)
    import _pyctx_percall as mod

    table = mod.contenders()
    ops = {}
    for index, (op, contender) in enumerate(table):
        ops.setdefault(op, {})[contender] = index

    target_ns = opts.target_ms * 1e6
    gc.collect()
    gc.disable()
    iters = {}
    for op, contenders in ops.items():
        base = contenders["direct"]
        iters[op] = calibrate(mod, base, ARGS.get(op), target_ns)

    # Warm-up: every loop once, untimed.
    for op, contenders in ops.items():
        for index in contenders.values():
            mod.run(index, max(1000, iters[op] // 10), ARGS.get(op))

    clocks = ("wall", "cpu")
    samples = {clock: {op: {c: [] for c in contenders} for op, contenders in ops.items()}
               for clock in clocks}
    started = time.time()
    turn = 0
    for rep in range(opts.reps):
        best = {clock: {op: {c: float("inf") for c in contenders}
                        for op, contenders in ops.items()} for clock in clocks}
        for _ in range(opts.rounds):
            for op, contenders in ops.items():
                n = iters[op]
                for contender in rotated(sorted(contenders), turn):
                    times = mod.run(contenders[contender], n, ARGS.get(op))
                    for clock, ns in zip(clocks, times):
                        # A clock that did not advance over a whole loop
                        # measured nothing (see bench/wins/driver.py).
                        if ns > 0:
                            best[clock][op][contender] = min(best[clock][op][contender], ns / n)
            turn += 1
        for clock in clocks:
            for op, values in best[clock].items():
                for contender, value in values.items():
                    samples[clock][op][contender].append(value)
    elapsed = time.time() - started
    gc.enable()

    result = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "info": mod.info(),
        # a shared libpython reaches its thread-local thread state through
        # __tls_get_addr (3.12+), a static one with a cheaper TLS model
        "enable_shared": bool(sysconfig.get_config_var("Py_ENABLE_SHARED")),
        "module": os.path.abspath(mod.__file__),
        "reps": opts.reps,
        "rounds": opts.rounds,
        "target_ms": opts.target_ms,
        "iterations": iters,
        # {"wall" | "cpu": {op: {contender: [ns per iteration, one per rep]}}}
        "ns_per_iter": samples,
        "seconds": elapsed,
    }
    with open(opts.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
