"""Real-workload benchmark driver. Runs inside the measured CPython (3.9+)
and loads several builds of the same packages into ONE process:

    --build plain=DIR   markupsafe and simplejson built from the unmodified
                        sdists, stock flags (the first --build is the baseline)
    --build compat=DIR  the same sources built with `pyctx flags --cflags
                        --compat` (every API call through compat)
    --build migrated=DIR  the sources migrated by `pyctx migrate --write`,
                        built with `pyctx flags --cflags` (ctx-form calls)
    (bench/run.py adds two controls: copy = the plain build in another
    directory, relaid = plain rebuilt with other code alignment)

Packages: markupsafe and simplejson (escape, dumps, loads) and regex
(search).

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
would break this; the measured calls do not. regex's Python layer imports
lazily while it compiles a pattern (`from regex import DEFAULT_VERSION`),
so every build compiles its patterns while its modules are still in
sys.modules (PREPARE below); searching never leaves the C extension.

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
    "regex": ["regex._regex", "regex.regex", "regex._regex_core"],
}
# The C extension of each package (checked to come from the build's directory).
SPEEDUPS = {"markupsafe": "markupsafe._speedups", "simplejson": "simplejson._speedups",
            "regex": "regex._regex"}

# regex searches: (pattern, flags) over one sizeable text (regex_text()).
# Each scans most of the text: the match, if any, is near the end.
REGEX_SEARCHES = [
    (r"zebra\s+quokka", 0),                              # literal prefix, no match
    (r"\b(?:alpha|omega)\w*\s+\d{4}-\d{2}-\d{2}\b", 0),  # alternation + classes
    (r"(?i)needle[ _-]?in[ _-]?a[ _-]?haystack", 0),     # case-insensitive
    (r"\w@(\w+)\.example\.org", 0),                     # a group, matches at the end
    (r"caf\u00e9\s+\u65e5\u672c", 0),                    # non-ASCII literal
]


def prepare_regex(mods):
    """Compile the searches with this build (its Python layer imports lazily
    while compiling, so this runs before the build leaves sys.modules)."""
    compile_ = mods["regex"].compile
    return [compile_(p, f) for p, f in REGEX_SEARCHES]


PREPARE = {"regex": prepare_regex}


def import_build(pkg, directory, submodules, prepare=None):
    """Import ``pkg`` (and submodules) from ``directory`` only; return its
    modules {name: module} and take them out of sys.modules again, and what
    ``prepare(modules)`` returned while they were still there."""
    def ours(name):
        return name == pkg or name.startswith(pkg + ".")

    for name in [n for n in sys.modules if ours(n)]:
        raise RuntimeError("%s already imported from elsewhere" % name)
    sys.path.insert(0, directory)
    importlib.invalidate_caches()
    prepared = None
    try:
        importlib.import_module(pkg)
        for sub in submodules:
            importlib.import_module(sub)
        if prepare is not None:
            prepared = prepare({n: m for n, m in sys.modules.items() if ours(n)})
    finally:
        sys.path.remove(directory)
        loaded = {n: sys.modules.pop(n) for n in [n for n in sys.modules if ours(n)]}
    return loaded, prepared


def check_build(pkg, mods, directory):
    """The build really is the one in ``directory`` and uses its C code."""
    prefix = os.path.join(os.path.abspath(directory), "")
    speedups = mods[SPEEDUPS[pkg]]
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
    elif pkg == "regex":
        for name in ("regex.regex", "regex._regex_core"):
            if mods[name]._regex is not speedups:
                problems.append("%s does not use its _regex" % name)
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


def regex_text():
    """About 200,000 characters of prose-like text (ASCII words, Latin-1 and
    BMP words: a 2-byte string), with what the searches look for planted
    near the end, so that each search scans most of it."""
    rnd = random.Random(11)
    pool = WORDS * 6 + LATIN1 + BMP + ["2024", "v1.2", "x-ray", "e-mail", "foo_bar"]
    words, size = [], 0
    while size < 200_000:
        w = rnd.choice(pool)
        if rnd.random() < 0.08:
            w += rnd.choice([".", ",", ";", ":"])
        words.append(w)
        size += len(w) + 1
    tail = ("then alpha 2024-05-17 and Needle-in-a haystack, "
            "caf\u00e9 \u65e5\u672c, write to someone@somewhere.example.org")
    return " ".join(words[:-40]) + " " + tail + " " + " ".join(words[-40:])


# ---------------------------------------------------------------------------

def make_workloads(builds, prepared):
    """{workload: {build: zero-argument callable}} plus a description."""
    texts = mixed_texts()
    doc = json_document()
    text = regex_text()
    workloads = {"markupsafe_escape": {}, "simplejson_dumps": {}, "simplejson_loads": {},
                 "regex_search": {}}
    reference = None
    for build, mods in builds.items():
        escape = mods["markupsafe"]["markupsafe"].escape
        sj = mods["simplejson"]["simplejson"]
        patterns = prepared[build]["regex"]
        encoded = sj.dumps(doc)
        # The builds must agree with each other (and with the stdlib).
        found = [m.span() if m else None for m in (p.search(text) for p in patterns)]
        out = ([str(escape(t)) for t in texts], encoded, sj.loads(encoded), found)
        if reference is None:
            reference = out
            if json.loads(encoded) != doc or out[2] != doc:
                raise RuntimeError("simplejson round trip differs from the input")
            import re
            expect = [m.span() if m else None for m in
                      (re.search(p, text, f) for p, f in REGEX_SEARCHES)]
            if found != expect:
                raise RuntimeError("regex finds %r, re %r" % (found, expect))
        elif out != reference:
            raise RuntimeError("build %s computes different results" % build)

        def search_all(patterns=patterns):
            for p in patterns:
                p.search(text)

        workloads["regex_search"][build] = search_all

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
        "regex_search": "%d compiled regex patterns, each `search`ed over one %d-character "
                        "text (2-byte kind; matches, if any, near the end; %d of %d "
                        "patterns match)" % (
                            len(REGEX_SEARCHES), len(text),
                            sum(1 for f in reference[3] if f), len(REGEX_SEARCHES)),
    }
    return workloads, description


def count_calls(workloads, files):
    """API calls of one call of each workload, per form, made by the build's
    extensions: the runtime's counters (`_pyctx.reports`, stats mode) read
    before and after the workload's second call (the first may import or
    fill caches; the workloads are deterministic)."""
    import _pyctx  # registered by the runtime in stats / debug mode

    ours = {os.path.abspath(f) for b in files.values() for f in b.values()}

    def snapshot():
        out = {"legacy": {}, "ctx": {}}
        for path, report in _pyctx.reports.items():
            if os.path.abspath(path) not in ours:
                continue
            rec = json.loads(report())
            for form in out:
                for name, n in rec.get(form + "_calls", {}).items():
                    out[form][name] = out[form].get(name, 0) + n
        return out

    result = {}
    for w, fns in workloads.items():
        (fn,) = fns.values()
        fn()
        before = snapshot()
        fn()
        after = snapshot()
        per = {}
        for form in ("legacy", "ctx"):
            a, b = before[form], after[form]
            per[form] = {n: b.get(n, 0) - a.get(n, 0) for n in set(a) | set(b)}
            per[form] = {n: c for n, c in per[form].items() if c}
        result[w] = {"legacy": sum(per["legacy"].values()), "ctx": sum(per["ctx"].values()),
                     "legacy_by_function": per["legacy"]}
    return result


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
    ap.add_argument("--count", action="store_true",
                    help="no timing (run under PYCTX_STATS, one --build): print as JSON "
                         "the API calls (legacy and ctx form) one call of each workload "
                         "makes in the build's extensions")
    opts = ap.parse_args()

    if not opts.count:
        if not opts.out:
            ap.error("--out is required")
        for var in ("PYCTX_DEBUG", "PYCTX_STATS"):
            if os.environ.get(var):
                sys.exit("workloads driver: %s is set; benchmarks need release mode" % var)

    builds, files, prepared = {}, {}, {}
    for spec in opts.build:
        name, _, directory = spec.partition("=")
        builds[name], files[name], prepared[name] = {}, {}, {}
        for pkg, subs in PACKAGES.items():
            mods, prepared[name][pkg] = import_build(pkg, directory, subs, PREPARE.get(pkg))
            files[name][pkg] = check_build(pkg, mods, directory)
            builds[name][pkg] = mods

    workloads, description = make_workloads(builds, prepared)
    if opts.count:
        print(json.dumps(count_calls(workloads, files)))
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
