"""Driver of the "where the context wins" benchmark (bench/wins). Runs inside
the measured CPython (3.9+) with the built ``_pyctx_wins`` module on
``sys.path``; writes raw timings as JSON (summarised by bench/wins/section.py).

For every row (one API function, see rows.h) the four contenders' loops
(direct, ctx, legacy, copy) run back to back in rotated order; N iterations
per loop are calibrated once on the direct contender (about --target-ms).
One repetition = --rounds rounds, keeping each contender's fastest round;
--reps repetitions. The cyclic GC is off while measuring.

Before measuring, the rows are checked against the fast paths the header
has (--fast-paths: the names of runtime/include/pyctx_fast.h that have a
ctx form on this CPython): a fast path without a row, or a row that claims
a fast path the header lacks, stops the run with the name.

    python driver.py --module-dir DIR --fast-paths A,B,... --reps 15 --rounds 5 \
        --target-ms 1 --out FILE
"""

import argparse
import gc
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import rotated  # noqa: E402

CONTENDERS = ("direct", "ctx", "legacy", "copy")


def arguments(mod):
    """The object each kind of row's loop receives (rows.h)."""
    return {"none": None, "tuple": (1, 2, 3), "list": [1, 2, 3],
            "obj": float("1.5"), "noargs": mod.noop0, "onearg": mod.noop1}


def check_rows(rows, fast_paths):
    """Every fast path has a row saying so; no other row claims one."""
    claimed = {name for name, _, why in rows if not why}
    missing = sorted(fast_paths - {name for name, _, _ in rows})
    wrong = sorted(claimed - fast_paths)
    unmarked = sorted({name for name, _, why in rows if why} & fast_paths)
    problems = []
    if missing:
        problems.append("fast paths without a row in bench/wins/rows.h: " + ", ".join(missing))
    if wrong:
        problems.append("rows claiming a fast path pyctx_fast.h lacks: " + ", ".join(wrong))
    if unmarked:
        problems.append("rows giving a reason although pyctx_fast.h has a fast path: "
                        + ", ".join(unmarked))
    if problems:
        sys.exit("wins driver: " + "; ".join(problems))


def calibrate(mod, name, arg, target_ns):
    n = 1000
    while True:
        ns = min(mod.run(name, "direct", n, arg)[1] for _ in range(3))
        if ns >= target_ns / 8 or n >= 1 << 34:
            return max(1000, int(n * target_ns / max(ns, 1)))
        n *= 4


def measure(mod, rows, args, opts):
    target_ns = opts.target_ms * 1e6
    iters = {name: calibrate(mod, name, args[kind], target_ns) for name, kind, _ in rows}
    for name, kind, _ in rows:  # warm-up, untimed
        for c in CONTENDERS:
            mod.run(name, c, max(1000, iters[name] // 10), args[kind])
    clocks = ("wall", "cpu")
    samples = {clock: {name: {c: [] for c in CONTENDERS} for name, _, _ in rows}
               for clock in clocks}
    turn = 0
    for _ in range(opts.reps):
        best = {clock: {name: dict.fromkeys(CONTENDERS, float("inf")) for name, _, _ in rows}
                for clock in clocks}
        for _ in range(opts.rounds):
            for name, kind, _ in rows:
                for c in rotated(CONTENDERS, turn):
                    times = mod.run(name, c, iters[name], args[kind])
                    for clock, ns in zip(clocks, times):
                        # A clock that did not advance over a whole loop
                        # (seen once from the thread CPU clock) measured
                        # nothing: the round's other readings stand.
                        if ns > 0:
                            best[clock][name][c] = min(best[clock][name][c], ns / iters[name])
            turn += 1
        for clock in clocks:
            for name, values in best[clock].items():
                for c, v in values.items():
                    samples[clock][name][c].append(v)
    return iters, samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module-dir", required=True)
    ap.add_argument("--fast-paths", required=True)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target-ms", type=float, default=1.0)
    ap.add_argument("--out", required=True)
    opts = ap.parse_args()
    for var in ("PYCTX_DEBUG", "PYCTX_STATS"):
        if os.environ.get(var):
            sys.exit("wins driver: %s is set; benchmarks need release mode" % var)

    sys.path.insert(0, opts.module_dir)
    import _pyctx_wins as mod

    rows = [tuple(r) for r in mod.rows()]
    check_rows(rows, set(filter(None, opts.fast_paths.split(","))))
    args = arguments(mod)
    gc.collect()
    gc.disable()
    started = time.time()
    iters, samples = measure(mod, rows, args, opts)
    elapsed = time.time() - started
    gc.enable()
    result = {
        "python": platform.python_version(),
        "module": os.path.abspath(mod.__file__),
        "rows": [{"name": n, "arg": k, "why_no_fast_path": w} for n, k, w in rows],
        "reps": opts.reps, "rounds": opts.rounds, "target_ms": opts.target_ms,
        "iterations": iters,
        # {"wall" | "cpu": {name: {contender: [ns per iteration, one per rep]}}}
        "ns_per_iter": samples,
        "seconds": elapsed,
    }
    with open(opts.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
