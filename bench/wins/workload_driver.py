"""Workloads of the public corpus chosen for the calls whose ctx form has a
fast path (bench/wins/workload.py builds and runs it). Runs inside the
measured CPython with two or more builds of each package loaded into ONE
process (bench/workloads/driver.py's import_build), then times each workload
for every build, rotated and paired like the other drivers.

    python workload_driver.py --build plain=DIR --build migrated=DIR ... --out FILE
    python workload_driver.py --build migrated=DIR --count   (PYCTX_STATS=1: API calls)
"""

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
from collections import OrderedDict
from types import MappingProxyType

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "workloads"))
from common import rotated  # noqa: E402
from driver import import_build  # noqa: E402  (bench/workloads/driver.py)

PACKAGES = {
    "simplejson": ["simplejson._speedups", "simplejson.encoder", "simplejson.decoder",
                   "simplejson.scanner"],
    "lru": ["lru._lru"],
    "cbor2": [],
}
# C extensions that are top-level modules beside their package (cbor2's
# `_cbor2`): taken out of sys.modules with the package, so that the next
# build imports its own.
TOP_LEVEL = {"cbor2": "_cbor2"}


def prepare_cbor2(mods):
    """cbor2's C decoder imports cbor2._types lazily on first use: decode
    once while this build's modules are in sys.modules."""
    cb = mods["cbor2"]
    cb.loads(cb.dumps([1, [2, 3], {"a": 1.5}]))


PREPARE = {"cbor2": prepare_cbor2}


def coordinates():
    """GeoJSON-like: many short arrays of numbers (one recursion guard, one
    list per pair)."""
    rnd = random.Random(3)
    return [[rnd.randint(-180000, 180000), rnd.randint(-90000, 90000)] for _ in range(20000)]


def records():
    """An API response's worth of small flat records (a listing page:
    id, name, price, stock, active; 2,000 of them), the shape that
    order-preserving or typed decoding is used on."""
    rnd = random.Random(5)
    return [{"id": 100000 + i, "sku": "SKU-%05d" % rnd.randrange(100000),
             "price": rnd.randrange(100, 100000) / 100, "stock": rnd.randrange(500),
             "active": rnd.random() < 0.9} for i in range(2000)]


def make_workloads(builds):
    """{workload: {build: zero-argument callable}}, each checked to compute
    the same result in every build."""
    coords = coordinates()
    keys = ["k%d" % i for i in range(256)]
    ints = [i % 24 for i in range(20000)]
    recs = records()
    out = {"simplejson_loads_pairs": {}, "simplejson_dumps_pairs": {},
           "lru_get_set": {}, "cbor2_loads_ints": {}, "cbor2_loads_pairs": {},
           "simplejson_loads_ordered": {}, "cbor2_loads_object_hook": {}}
    reference = {}
    for build, mods in builds.items():
        sj = mods["simplejson"]["simplejson"]
        LRU = mods["lru"]["lru"].LRU
        text = sj.dumps(coords)
        lru = LRU(128)

        def loads(sj=sj, text=text):
            return sj.loads(text)

        def dumps(sj=sj):
            return sj.dumps(coords)

        def get_set(lru=lru):
            for k in keys:
                lru[k] = 1
                lru.get(k)
                lru.get("missing")
            return len(lru)

        cb = mods["cbor2"]["cbor2"]
        cb_ints, cb_pairs = cb.dumps(ints), cb.dumps(coords)

        def cbor_ints(cb=cb, data=cb_ints):
            return cb.loads(data)

        def cbor_pairs(cb=cb, data=cb_pairs):
            return cb.loads(data)

        # Hook-heavy decoding, one C-to-Python call per JSON object / CBOR
        # map (PyObject_CallOneArg in simplejson's scanner, a vectorcall of
        # the hook in cbor2's decoder). simplejson: object_pairs_hook=
        # OrderedDict, the documented way to keep a document's key order
        # (round-tripping configuration, signed payloads); the hook is a C
        # type, so the call is a larger part of each object's cost than a
        # Python hook's would be. cbor2: object_hook turning each map into
        # a read-only view, as a typed-decoding hook would do for records.
        rec_text = sj.dumps(recs)
        rec_cbor = cb.dumps(recs)

        def ordered(sj=sj, text=rec_text):
            return sj.loads(text, object_pairs_hook=OrderedDict)

        def cbor_hook(cb=cb, data=rec_cbor):
            return cb.loads(data, object_hook=frozen)

        got = (loads(), dumps(), get_set(), cbor_ints(), cbor_pairs(), ordered(), cbor_hook())
        if reference and got != reference:
            raise RuntimeError("build %s computes different results" % build)
        reference = reference or got
        out["simplejson_loads_pairs"][build] = loads
        out["simplejson_dumps_pairs"][build] = dumps
        out["lru_get_set"][build] = get_set
        out["cbor2_loads_ints"][build] = cbor_ints
        out["cbor2_loads_pairs"][build] = cbor_pairs
        out["simplejson_loads_ordered"][build] = ordered
        out["cbor2_loads_object_hook"][build] = cbor_hook
    return out


def frozen(decoder, mapping):
    """cbor2 object_hook: each decoded map as a read-only mapping."""
    return MappingProxyType(mapping)


def api_calls():
    """{(form, API name): calls so far} over every extension the runtime
    counts (stats mode: `_pyctx.reports`)."""
    import _pyctx  # registered by the runtime in stats / debug mode
    out = {}
    for report in _pyctx.reports.values():
        rec = json.loads(report())
        for form in ("legacy", "ctx"):
            for name, n in rec.get(form + "_calls", {}).items():
                out[(form, name)] = out.get((form, name), 0) + n
    return out


def time_once(fn, inner):
    gc.collect()
    gc.disable()
    c0 = time.thread_time_ns()
    for _ in range(inner):
        fn()
    c1 = time.thread_time_ns()
    gc.enable()
    return (c1 - c0) / inner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", required=True, help="NAME=DIR")
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--target-ms", type=float, default=20.0)
    ap.add_argument("--count", action="store_true",
                    help="run each workload once per build and print the API calls "
                         "PYCTX_STATS counted")
    ap.add_argument("--out")
    opts = ap.parse_args()
    builds = {}
    for spec in opts.build:
        name, directory = spec.split("=", 1)
        builds[name] = {}
        for pkg, subs in PACKAGES.items():
            top = TOP_LEVEL.get(pkg)
            if top:
                sys.path.insert(0, directory)
            try:
                builds[name][pkg], _ = import_build(pkg, directory, subs, PREPARE.get(pkg))
            finally:
                if top:
                    sys.path.remove(directory)
            if top:
                ext = sys.modules.pop(top)
                if not os.path.abspath(ext.__file__).startswith(os.path.abspath(directory)):
                    raise RuntimeError("%s comes from %s" % (top, ext.__file__))
                builds[name][pkg][top] = ext
    workloads = make_workloads(builds)
    if opts.count:
        for w, fns in workloads.items():
            for b, fn in fns.items():
                fn()
                before = api_calls()
                fn()
                after = api_calls()
                diff = {k: after[k] - before.get(k, 0) for k in after
                        if after[k] != before.get(k, 0)}
                print(json.dumps({"workload": w, "build": b,
                                  "calls": {"%s %s" % k: n for k, n in sorted(diff.items())}}))
        return
    names = sorted(builds)
    inner = {}
    for w, fns in workloads.items():
        n = 1
        while time_once(fns[names[0]], n) * n < opts.target_ms * 1e6 / 4:
            n *= 2
        inner[w] = n * 4
    samples = {w: {b: [] for b in names} for w in workloads}
    turn = 0
    for _ in range(opts.reps):
        best = {w: dict.fromkeys(names, float("inf")) for w in workloads}
        for _ in range(opts.rounds):
            for w, fns in workloads.items():
                for b in rotated(names, turn):
                    best[w][b] = min(best[w][b], time_once(fns[b], inner[w]))
            turn += 1
        for w in workloads:
            for b in names:
                samples[w][b].append(best[w][b])
    result = {"python": platform.python_version(), "builds": builds and list(builds),
              "inner": inner, "ns_per_call": samples}
    with open(opts.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
