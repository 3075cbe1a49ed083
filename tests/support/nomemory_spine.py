"""Fail every allocation the spine fixture makes, one at a time and from
there on, and require a clean ``MemoryError`` (or success) every time.

Run with the built ``spine`` / ``spine_single`` on ``PYTHONPATH``::

    python nomemory_spine.py [--only NAME,...] [--progress FILE]

For each operation of ``OPS`` (every function, method, slot and type of the
two modules, and a fresh ``spine`` module instance), with CPython's
``_testcapi.set_nomemory``:

* ``set_nomemory(i, 0)`` fails allocation number ``i`` and every later one;
  ``i`` counts up from 0 until the operation succeeds that way, which means
  it made at most ``i`` allocations: every allocation has then been failed;
* ``set_nomemory(i, i + 1)`` fails only allocation ``i`` (the code after a
  failed allocation runs with memory available: cleanup paths, retries).

Each attempt must end in success or ``MemoryError``. Anything else (a
``SystemError`` for "returned NULL without setting an exception", another
exception type, a crash) is a failure, named with the operation and ``i``.
After all attempts of an operation: the reference counts of its inputs, the
fixture's live-instance counters and (pymalloc only) the allocated blocks
must be back where they were. The sweep runs three times; the blocks are
compared over the last two, after the first has filled caches and free
lists.

Prints one JSON line (operations, attempts, outcomes) and exits 0, or
prints ``nomemory: FAIL ...`` lines on stderr and exits 1. ``--progress``
names a file that holds the current operation and ``i`` while it runs, so a
crash can be pinned down.
"""

import _imp
import argparse
import collections
import gc
import importlib.util
import json
import os
import sys

import _testcapi

import spine
import spine_single

# An operation that allocates more than this is a runaway, not a sweep.
MAX_ALLOCATIONS = 20000
SWEEPS = 3
# Blocks that caches may still take in the last sweeps (pymalloc only).
BLOCK_SLACK = 8


def fresh(text):
    return "".join(["<", text, ">"])


class Counter:
    def __init__(self):
        self.n = 0

    def __call__(self, *args, **kwargs):
        self.n += 1
        return args

    def method(self, arg):
        return ("method", arg)


def _ops():
    """(name, operation, objects whose reference counts must not change)."""
    words = [fresh("w%d" % i) for i in range(4)]
    items = [fresh("i%d" % i) for i in range(4)]
    data = bytes(range(64)) * 4
    floats = [i * 0.5 for i in range(12)]
    d = {fresh("k%d" % i): fresh("v%d" % i) for i in range(5)}
    big = 2 ** 90
    cb = Counter()
    acc = spine.Accumulator()
    box = spine.Box(words[0])
    pair = spine_single.make_pair(words[0], words[1])
    cap = spine.make_capsule(7)
    spec = importlib.util.find_spec("spine")

    def module_instance():
        # What importlib does for a multi-phase extension, without the
        # Python-level parts (C calls only inside the window, see attempt)
        _imp.exec_dynamic(_imp.create_dynamic(spec))

    def cycle():
        x = spine.Node(words[0])
        y = spine.Node(words[1], x)
        x.next = y

    return [
        ("add_ints", lambda: spine.add_ints(2 ** 40, 7), ()),
        ("bytes_concat", lambda: spine.bytes_concat(data, data), (data,)),
        ("str_info", lambda: spine.str_info(words[1]), (words[1],)),
        ("make_record", lambda: spine.make_record("n", value=3, tags=words), words),
        ("make_record_bad_tags", lambda: spine.make_record("n", tags=(1,)), ()),
        ("apply", lambda: spine.apply(cb, items[0], k=items[1]), (cb, *items)),
        ("join_words", lambda: spine.join_words(words, sep=items[0]), (*words, items[0])),
        ("sum_args", lambda: spine.sum_args(big, big, 1.5), (big,)),
        ("sum_args_empty", lambda: spine.sum_args(), ()),
        ("scale", lambda: spine.scale(floats, factor=0.5, as_tuple=True), floats),
        ("scale_list", lambda: spine.scale(floats, 2), floats),
        ("live_counts", spine.live_counts, ()),
        ("count_truthy", lambda: spine.count_truthy(items + [0, ""]), items),
        ("count_truthy_gen", (lambda g: spine.count_truthy(g), lambda: (x for x in items)),
         items),
        ("type_name", lambda: spine.type_name(box), (box,)),
        ("raise_error_value", lambda: spine.raise_error("value", 1), ()),
        ("raise_error_format", lambda: spine.raise_error("format", 42), ()),
        ("raise_error_spine", lambda: spine.raise_error("spine", 7), ()),
        ("raise_error_key", lambda: spine.raise_error("key", 3), ()),
        ("raise_error_unknown", lambda: spine.raise_error("zzz", 0), ()),
        ("safe_int", lambda: spine.safe_int(2 ** 64), ()),
        ("safe_int_small", lambda: spine.safe_int(big), (big,)),
        ("invert_dict", lambda: spine.invert_dict(d), (d, *d, *d.values())),
        ("zip_pairs", lambda: spine.zip_pairs(items, words), (*items, *words)),
        ("flatten", lambda: spine.flatten([items[0], [items[1], (items[2], [items[3]])]]),
         items),
        ("xor_bytes", lambda: spine.xor_bytes(data, 3), (data,)),
        ("describe_number", lambda: spine.describe_number(-2.5), ()),
        ("describe_number_str", lambda: spine.describe_number("-3"), ()),
        ("call_each", lambda: spine.call_each(cb, items), (cb, *items)),
        ("call_noargs", lambda: spine.call_noargs(cb), (cb,)),
        ("call_pair", lambda: spine.call_pair(cb, 1000, 2000), (cb,)),
        ("call_method", lambda: spine.call_method(cb, "method", items[0]), (cb, items[0])),
        ("buffer_sum", lambda: spine.buffer_sum(data), (data,)),
        ("sum_doubles", lambda: spine.sum_doubles(floats), floats),
        ("make_chain", lambda: spine.make_chain(5, words[2]).length(), (words[2],)),
        ("capsule", lambda: spine.capsule_value(spine.make_capsule(99)), ()),
        ("capsule_value", lambda: spine.capsule_value(cap), (cap,)),
        ("Box", lambda: repr(spine.Box(words[0], label=words[1])), (words[0], words[1])),
        ("Box.swap", lambda: box.swap(box.swap(words[3])), (box, words[3])),
        ("Box.get", lambda: box.get(), (box,)),
        ("Node", cycle, (words[0], words[1])),
        ("Accumulator", lambda: spine.Accumulator(start=1.0), (spine.Accumulator,)),
        ("Accumulator.add", lambda: acc.add(floats[3]), (acc, floats[3])),
        ("Accumulator.extend", lambda: acc.extend(floats), (acc, *floats)),
        ("Accumulator.mean", lambda: acc.mean(), (acc,)),
        ("Accumulator.module", lambda: acc.module(), (acc,)),
        ("Accumulator.mean_empty", lambda: spine.Accumulator().mean(), ()),
        ("module_instance", module_instance, ()),
        ("make_pair", lambda: repr(spine_single.make_pair(words[0], items[0])),
         (words[0], items[0])),
        ("Pair", lambda: (pair.first, pair.second, len(pair), pair[1], list(pair)), (pair,)),
        ("swap", lambda: spine_single.swap(pair), (pair,)),
        ("swap_bad", lambda: spine_single.swap(words[0]), (words[0],)),
        ("fnv1a", lambda: spine_single.fnv1a(data), (data,)),
        ("echo", lambda: spine_single.echo(items[0], k=items[1]), items[:2]),
        ("describe", lambda: spine_single.describe(items[0]), (items[0],)),
        ("fail", lambda: spine_single.fail(items[0]), (items[0],)),
        ("first_arg", lambda: spine_single.first_arg(items[0], 2), (items[0],)),
        ("first_arg_none", lambda: spine_single.first_arg(), ()),
    ]


# What an operation may raise when memory is available (its documented
# error); under injection anything else must be a MemoryError.
EXPECTED_ERRORS = {
    "make_record_bad_tags": TypeError,
    "sum_args_empty": spine.SpineError,
    "raise_error_value": ValueError,
    "raise_error_format": TypeError,
    "raise_error_spine": spine.SpineError,
    "raise_error_key": KeyError,
    "raise_error_unknown": LookupError,
    "Accumulator.mean_empty": spine.SpineError,
    "swap_bad": spine_single.SingleError,
    "fail": spine_single.SingleError,
    "first_arg_none": spine_single.SingleError,
}


def attempt(op, start, stop):
    """Run op with allocations [start, stop) failing (stop 0: all after
    start). The hooks are removed before anything else happens.

    Only calls run inside the window, never the creation of a Python
    function or generator (CPython 3.12's PyFunction_NewWithQualName
    crashes when its allocation fails): an operation that needs a fresh
    generator is a pair (call, make) and make() runs before the window.
    start None: no injection at all.

    The frame object of this function exists before the window opens
    (sys._getframe): on 3.12+, when the frame of the operation (a lambda)
    is torn down with a traceback pointing at it, CPython links it to a
    frame object of its caller, creating one if needed, and when that
    allocation fails it clears the exception in flight (take_ownership in
    Python/frame.c), so the caller sees "error return without exception
    set". That is CPython's, with or without an extension, so it is kept
    out of the window."""
    sys._getframe()
    args = ()
    if isinstance(op, tuple):
        op, make = op
        args = (make(),)
    if start is None:
        try:
            op(*args)
        except BaseException as exc:  # noqa: B902 -- judged by the caller
            return exc
        return None
    _testcapi.set_nomemory(start, stop)
    try:
        op(*args)
    except BaseException as exc:  # noqa: B902 -- judged below
        _testcapi.remove_mem_hooks()
        return exc
    _testcapi.remove_mem_hooks()
    return None


def live():
    gc.collect()
    counts = spine.live_counts()
    counts["Pair"] = spine_single.live()
    counts["capsules"] = counts.pop("capsules_made") - counts.pop("capsules_freed")
    return counts


class Sweep:
    def __init__(self, progress):
        self.failures = []
        self.outcomes = collections.Counter()
        self.attempts = 0
        self.progress = progress

    def judge(self, name, expected, mode, i, exc):
        self.attempts += 1
        if exc is None:
            self.outcomes["ok"] += 1
        elif isinstance(exc, MemoryError):
            self.outcomes["MemoryError"] += 1
        elif expected is not None and type(exc) is expected:
            self.outcomes["documented error"] += 1
        else:
            self.failures.append("%s: allocation %d failed (%s): %s: %s" % (
                name, i, mode, type(exc).__name__, exc))

    def one(self, name, op, expected):
        """One sweep over every allocation of op; its allocation count."""
        i = 0
        while True:
            if self.progress:
                self.progress.seek(0)
                self.progress.write("%s %d\n" % (name, i))
                self.progress.flush()
            self.judge(name, expected, "only", i, attempt(op, i, i + 1))
            rest = attempt(op, i, 0)
            if rest is None or (expected is not None and type(rest) is expected):
                return i  # nothing from allocation i on was needed
            self.judge(name, expected, "all from here", i, rest)
            i += 1
            if i > MAX_ALLOCATIONS:
                self.failures.append("%s: more than %d allocations" % (name, MAX_ALLOCATIONS))
                return i

    def run(self, name, op, watched):
        expected = EXPECTED_ERRORS.get(name)
        exc = attempt(op, None, None)
        if exc is not None and (expected is None or type(exc) is not expected):
            self.failures.append("%s: fails without injection: %r" % (name, exc))
            return 0
        counts = live()  # collects first: earlier tracebacks hold references
        refs = [sys.getrefcount(o) for o in watched]
        blocks = []
        n = 0
        for _ in range(SWEEPS):
            n = self.one(name, op, expected)
            gc.collect()
            blocks.append(sys.getallocatedblocks())
        after = live()
        if [sys.getrefcount(o) for o in watched] != refs:
            self.failures.append("%s: reference counts of its inputs changed: %s -> %s" % (
                name, refs, [sys.getrefcount(o) for o in watched]))
        if after != counts:
            self.failures.append("%s: live instances %s -> %s" % (name, counts, after))
        if blocks[-1] - blocks[-2] > BLOCK_SLACK:
            self.failures.append("%s: %d more allocated blocks after a sweep of %d "
                                 "allocations (sweeps: %s)" % (
                                     name, blocks[-1] - blocks[-2], n, blocks))
        return n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="comma-separated operation names")
    p.add_argument("--progress", help="file holding the current operation and i")
    args = p.parse_args(argv)
    ops = _ops()
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {name for name, _, _ in ops}
        if unknown:
            p.error("unknown operations: %s" % ", ".join(sorted(unknown)))
        ops = [o for o in ops if o[0] in wanted]
    progress = open(args.progress, "w") if args.progress else None
    sweep = Sweep(progress)
    allocations = {}
    for name, op, watched in ops:
        allocations[name] = sweep.run(name, op, watched)
    for line in sweep.failures:
        sys.stderr.write("nomemory: FAIL %s\n" % line)
    print(json.dumps({"operations": len(ops), "attempts": sweep.attempts,
                      "outcomes": dict(sweep.outcomes), "allocations": allocations,
                      "pymalloc": sys.getallocatedblocks() > 0}))
    if progress:
        progress.close()
        os.unlink(args.progress)
    return 1 if sweep.failures else 0


if __name__ == "__main__":
    sys.exit(main())
