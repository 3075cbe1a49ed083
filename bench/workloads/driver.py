"""Real-workload benchmark driver. Runs inside the measured CPython (3.9+)
and loads several builds of the same packages into ONE process:

    --build plain=DIR   markupsafe and simplejson built from the unmodified
                        sdists, stock flags (the first --build is the baseline)
    --build compat=DIR  the same sources built with `pyctx flags --cflags
                        --compat` (every API call through compat)
    (bench/run.py adds two controls: copy = the plain build in another
    directory, relaid = plain rebuilt with other code alignment)

How the builds coexist: each build is imported under the package's real
name (its pure-Python modules use relative imports, and simplejson's C
module imports ``simplejson.raw_json`` / ``simplejson.errors`` by absolute
name while it initialises), with the build's directory first on sys.path;
then every ``pkg`` / ``pkg.*`` entry is moved out of ``sys.modules`` before
the next build is imported. Module objects keep their own globals, so each
build's functions keep calling their own C extension (checked below: each
build's extension file lies in its directory, and the Python layer's C hooks
are that extension's functions). The two extension modules are different
files, so the dynamic loader maps both. A hot path that imported lazily
would break this; the measured calls do not.

Timing: one sample = a batch of `inner` calls of the workload (calibrated
so a batch takes about --target-ms), timed on two clocks (perf_counter_ns:
wall; thread_time_ns: this thread's CPU time, which stops while the process
is preempted), with the cyclic GC disabled during the batch and a
collection before it (as timeit does; inputs are gc.freeze()-d).
One repetition = --rounds rounds over all workloads, builds in rotated order
within each round; a repetition keeps each build's fastest round. Raw
per-call times go to --out as JSON; bench/run.py summarises.
"""

import argparse
import gc
import importlib
import json
import os
import platform
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import rotated  # noqa: E402

PACKAGES = {
    "markupsafe": ["markupsafe._speedups"],
    "simplejson": ["simplejson._speedups", "simplejson.encoder",
                   "simplejson.decoder", "simplejson.scanner"],
}


def import_build(pkg, directory, submodules):
    """Import ``pkg`` (and submodules) from ``directory`` only; return its
    modules {name: module} and take them out of sys.modules again."""
    def ours(name):
        return name == pkg or name.startswith(pkg + ".")

    for name in [n for n in sys.modules if ours(n)]:
        raise RuntimeError("%s already imported from elsewhere" % name)
    sys.path.insert(0, directory)
    importlib.invalidate_caches()
    try:
        importlib.import_module(pkg)
        for sub in submodules:
            importlib.import_module(sub)
    finally:
        sys.path.remove(directory)
        loaded = {n: sys.modules.pop(n) for n in [n for n in sys.modules if ours(n)]}
    return loaded


def check_build(pkg, mods, directory):
    """The build really is the one in ``directory`` and uses its C code."""
    prefix = os.path.join(os.path.abspath(directory), "")
    speedups = mods[pkg + "._speedups"]
    problems = []
    for name, mod in mods.items():
        f = getattr(mod, "__file__", None)
        if f and not os.path.abspath(f).startswith(prefix):
            problems.append("%s comes from %s" % (name, f))
    if not speedups.__file__.endswith(".so"):
        problems.append("%s is not a C extension" % speedups.__name__)
    if pkg == "markupsafe":
        if mods["markupsafe"]._escape_inner is not speedups._escape_inner:
            problems.append("markupsafe does not use its _speedups._escape_inner")
    else:
        if mods["simplejson.encoder"].c_make_encoder is not speedups.make_encoder:
            problems.append("simplejson.encoder does not use its C encoder")
        if mods["simplejson.decoder"].scanstring is not speedups.scanstring:
            problems.append("simplejson.decoder does not use its C scanstring")
        if mods["simplejson.scanner"].make_scanner is not speedups.make_scanner:
            problems.append("simplejson.scanner does not use its C scanner")
    if problems:
        raise RuntimeError("build %s: %s" % (directory, "; ".join(problems)))
    return os.path.abspath(speedups.__file__)


# ---------------------------------------------------------------------------
# inputs (deterministic)

WORDS = ("the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet "
         "template value user name title body footer header").split()
SPECIALS = ["<b>", "</b>", "&amp;", "&", "<", ">", "\"quoted\"", "'single'",
            "<a href=\"/x?a=1&b=2\">", "</a>"]
LATIN1 = ["caf\u00e9", "na\u00efve", "\u00fcber", "se\u00f1or", "\u00a9 2024"]
BMP = ["\u20ac", "\u65e5\u672c\u8a9e", "\u0444\u0443\u043d\u043a\u0446\u0438\u044f",
       "\u2014", "\u03bb"]
ASTRAL = ["\U0001f363", "\U0001f600", "\U0001d11e"]


def mixed_texts():
    """Strings as a template engine escapes them: many short values and a
    few long ones; pure ASCII without specials, ASCII with HTML specials,
    and text that is Latin-1, BMP and astral (CPython's 1-, 2- and 4-byte
    string kinds, which markupsafe's C code handles separately)."""
    rnd = random.Random(5)

    def text(n_words, pools, special_rate):
        parts = []
        for _ in range(n_words):
            r = rnd.random()
            if r < special_rate:
                parts.append(rnd.choice(SPECIALS))
            else:
                pool = rnd.choice(pools)
                parts.append(rnd.choice(pool))
        return " ".join(parts)

    texts = []
    for kind_pools in ([WORDS], [WORDS, LATIN1], [WORDS, BMP], [WORDS, ASTRAL]):
        for _ in range(40):  # short values
            texts.append(text(rnd.randint(1, 8), kind_pools, 0.25))
        for _ in range(10):  # short values without anything to escape
            texts.append(text(rnd.randint(1, 8), kind_pools, 0.0))
        texts.append(text(600, kind_pools, 0.15))  # a long one
    return texts


def json_document():
    """A sizeable JSON document (about 0.3 MB serialised): records with
    strings (ASCII, escapes, non-ASCII), ints, floats, booleans, nulls,
    nested lists and objects."""
    rnd = random.Random(7)
    records = []
    for i in range(600):
        records.append({
            "id": i,
            "name": "user %d %s" % (i, rnd.choice(WORDS)),
            "email": "user%d@example.com" % i,
            "score": rnd.random() * 1000,
            "active": rnd.random() < 0.5,
            "manager": None if i % 3 else i // 3,
            "tags": [rnd.choice(WORDS) for _ in range(rnd.randint(0, 6))],
            "bio": " ".join(rnd.choice(WORDS + LATIN1 + BMP) for _ in range(12)),
            "quote": "said \"%s\"\n\t%s" % (rnd.choice(WORDS), rnd.choice(SPECIALS)),
            "history": [{"t": 1700000000 + j * 60, "v": rnd.randint(-500, 500),
                         "ok": j % 2 == 0} for j in range(rnd.randint(1, 5))],
            "geo": {"lat": rnd.uniform(-90, 90), "lon": rnd.uniform(-180, 180)},
        })
    return {"version": 3, "generated": "2024-01-01T00:00:00Z", "records": records}


# ---------------------------------------------------------------------------

def make_workloads(builds):
    """{workload: {build: zero-argument callable}} plus a description."""
    texts = mixed_texts()
    doc = json_document()
    workloads = {"markupsafe_escape": {}, "simplejson_dumps": {}, "simplejson_loads": {}}
    reference = None
    for build, mods in builds.items():
        escape = mods["markupsafe"]["markupsafe"].escape
        sj = mods["simplejson"]["simplejson"]
        encoded = sj.dumps(doc)
        # The builds must agree with each other (and with the stdlib).
        out = ([str(escape(t)) for t in texts], encoded, sj.loads(encoded))
        if reference is None:
            reference = out
            if json.loads(encoded) != doc or out[2] != doc:
                raise RuntimeError("simplejson round trip differs from the input")
        elif out != reference:
            raise RuntimeError("build %s computes different results" % build)

        def escape_all(escape=escape):
            for t in texts:
                escape(t)

        workloads["markupsafe_escape"][build] = escape_all
        workloads["simplejson_dumps"][build] = lambda sj=sj: sj.dumps(doc)
        workloads["simplejson_loads"][build] = lambda sj=sj, s=encoded: sj.loads(s)

    description = {
        "markupsafe_escape": "markupsafe.escape over %d mixed strings (%d chars in all; "
                             "1-, 2- and 4-byte kinds, short and long)" % (
                                 len(texts), sum(map(len, texts))),
        "simplejson_dumps": "simplejson.dumps of a %d-record document (%d bytes of JSON)" % (
            len(doc["records"]), len(reference[1])),
        "simplejson_loads": "simplejson.loads of the same %d bytes" % len(reference[1]),
    }
    return workloads, description


def time_once(fn, inner):
    """(wall ns, thread CPU ns) per call, over a batch of `inner` calls."""
    gc.collect()
    gc.disable()
    try:
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        t1 = time.perf_counter_ns()
        c1 = time.thread_time_ns()
    finally:
        gc.enable()
    return (t1 - t0) / inner, (c1 - c0) / inner


def calibrate(fn, target_ns):
    inner = 1
    while True:
        ns = min(time_once(fn, inner)[1] for _ in range(2)) * inner
        if ns >= target_ns / 4 or inner >= 1 << 20:
            return max(1, round(inner * target_ns / max(ns, 1)))
        inner *= 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", required=True,
                    help="NAME=DIR (first one is the baseline)")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--target-ms", type=float, default=5.0)
    ap.add_argument("--out")
    ap.add_argument("--count", metavar="WORKLOAD",
                    help="no timing: run WORKLOAD --times times and exit (run under "
                         "PYCTX_STATS to count a compat build's legacy calls)")
    ap.add_argument("--times", type=int, default=10)
    opts = ap.parse_args()

    if not opts.count:
        if not opts.out:
            ap.error("--out is required")
        for var in ("PYCTX_DEBUG", "PYCTX_STATS"):
            if os.environ.get(var):
                sys.exit("workloads driver: %s is set; benchmarks need release mode" % var)

    builds, files = {}, {}
    for spec in opts.build:
        name, _, directory = spec.partition("=")
        builds[name] = {}
        files[name] = {}
        for pkg, subs in PACKAGES.items():
            mods = import_build(pkg, directory, subs)
            files[name][pkg] = check_build(pkg, mods, directory)
            builds[name][pkg] = mods

    workloads, description = make_workloads(builds)
    if opts.count:
        for fn in workloads[opts.count].values():
            for _ in range(opts.times):
                fn()
        return
    gc.collect()
    gc.freeze()  # inputs and modules: out of the way of gc.collect() per sample
    target_ns = opts.target_ms * 1e6
    base = next(iter(builds))
    inner = {w: calibrate(fns[base], target_ns) for w, fns in workloads.items()}
    for w, fns in workloads.items():  # warm-up
        for fn in fns.values():
            time_once(fn, max(1, inner[w] // 4))

    clocks = ("wall", "cpu")
    samples = {clock: {w: {b: [] for b in builds} for w in workloads} for clock in clocks}
    started = time.time()
    turn = 0
    for rep in range(opts.reps):
        best = {clock: {w: {b: float("inf") for b in builds} for w in workloads}
                for clock in clocks}
        for _ in range(opts.rounds):
            for w, fns in workloads.items():
                for b in rotated(list(builds), turn):
                    for clock, ns in zip(clocks, time_once(fns[b], inner[w])):
                        best[clock][w][b] = min(best[clock][w][b], ns)
            turn += 1
        for clock in clocks:
            for w in workloads:
                for b in builds:
                    samples[clock][w][b].append(best[clock][w][b])

    result = {
        "python": platform.python_version(),
        "builds": list(builds),
        "extension_files": files,
        "description": description,
        "reps": opts.reps,
        "rounds": opts.rounds,
        "target_ms": opts.target_ms,
        "inner": inner,
        # {"wall" | "cpu": {workload: {build: [ns per call, one per rep]}}}
        "ns_per_call": samples,
        "seconds": time.time() - started,
    }
    with open(opts.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
