"""The "where the context wins" section of the benchmarks (issue 10, point
5): for every API function whose ctx form has a fast path in
runtime/include/pyctx_fast.h, and for the candidates that have none, the
ctx form, the legacy form (compat) and the direct CPython call, timed side
by side in one process (bench/wins/driver.py, loops in loops.h).

The list of fast paths is read from the header itself (the rule the header
generator uses: a function `pyctx_fast_NAME(PyCtx ctx, ...)`, or
`pyctx_fastv_NAME` for a C-variadic one), restricted
to the names the API table gives a form on the CPython measured; the
driver refuses to run when rows.h and that list disagree.

Registered in bench/run.py (part "wins") and bench/report.py (its section);
also runs alone and then rewrites only its own section of
docs/benchmarks.md:

    .venvs/bench/bin/python bench/wins/section.py --versions 3.12,3.13 [--quick] [--no-docs]

Not at the same time as scripts/bench or the other bench/wins script: all
take their runtime snapshot in bench/.build/snapshot (bench/run.py's
RuntimeSnapshot), which each run starts by clearing.
"""

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from common import SHIFTS, paired_ratios, summary  # noqa: E402

FAST_HEADER = ROOT / "runtime" / "include" / "pyctx_fast.h"
TABLE = ROOT / "api" / "table.json"
CLOCK = "cpu"
SETTINGS = {"default": {"reps": 15, "rounds": 5, "target_ms": 1.0},
            "quick": {"reps": 5, "rounds": 3, "target_ms": 0.5}}
TITLE = "## Where the context wins: every fast path, ctx vs legacy vs direct"
WORKLOAD_TITLE = "## Where the context wins on a real workload: cbor2, simplejson, lru-dict"


def fast_path_names(version):
    """Names with a fast path in pyctx_fast.h that have a form on `version`
    (X.Y) in the API table."""
    text = FAST_HEADER.read_text()
    names = set(re.findall(r"\bpyctx_fastv?_(\w+)\(PyCtx ctx\b", text))
    table = json.loads(TABLE.read_text())["entries"]
    known = {e["name"] for e in table
             if any(version in f["versions"] for f in e["forms"])}
    return sorted(names & known)


def build_job(version, python, snapshot, build_root, cached_build, log):
    """(description, job) building _pyctx_wins for one CPython with the run's
    snapshot of the pyctx flags; module_dir() finds the result."""
    target = build_root / version / "wins"
    env = snapshot.get(version)

    def job():
        if cached_build(python, HERE, target, env, patterns=("*.c", "*.h", "setup.py")):
            log("%s: built the wins module" % version)
    return "%s wins module" % version, job


def measure(version, python, build_root, quick, run_driver, out_dir):
    """Raw timings of one CPython (the driver's JSON)."""
    target = build_root / version / "wins"
    s = SETTINGS["quick" if quick else "default"]
    return run_driver(python, HERE / "driver.py",
                      ["--module-dir", target, "--fast-paths", ",".join(fast_path_names(version)),
                       "--reps", s["reps"], "--rounds", s["rounds"], "--target-ms", s["target_ms"]],
                      target, out_dir / ("wins-%s.json" % version))


def summarise(results):
    """{version: [row, ...]}, each row {name, fast, why, ns: {contender:
    median}, ratios: {label: summary}} (time ratios, paired per repetition)."""
    out = {}
    for v, entry in results.get("versions", {}).items():
        raw = entry.get("wins")
        if not raw:
            continue
        rows = []
        for row in raw["rows"]:
            d = raw["ns_per_iter"][CLOCK][row["name"]]
            rows.append({
                "name": row["name"], "fast": not row["why_no_fast_path"],
                "why": row["why_no_fast_path"],
                "ns": {c: summary(vals)["median"] for c, vals in d.items()},
                "ratios": {
                    "ctx/direct": summary(paired_ratios(d["ctx"], d["direct"])),
                    "legacy/direct": summary(paired_ratios(d["legacy"], d["direct"])),
                    "legacy/ctx": summary(paired_ratios(d["legacy"], d["ctx"])),
                    "copy/direct": summary(paired_ratios(d["copy"], d["direct"])),
                }})
        out[v] = {"rows": rows, "reps": raw["reps"], "rounds": raw["rounds"],
                  "python": raw["python"]}
    return out


def _cell(r):
    return "%.2f [%.2f–%.2f]" % (r["median"], r["q1"], r["q3"])


def console_lines(wins):
    lines = []
    for v, w in wins.items():
        lines.append("wins %s (%s): name, direct ns, ctx/direct, legacy/direct, legacy/ctx, A/A"
                     % (v, w["python"]))
        for r in w["rows"]:
            q = r["ratios"]
            lines.append("  %-30s %s %7.2f  %-18s %-18s %-18s %-18s" % (
                r["name"], "fast" if r["fast"] else "  - ", r["ns"]["direct"],
                _cell(q["ctx/direct"]), _cell(q["legacy/direct"]), _cell(q["legacy/ctx"]),
                _cell(q["copy/direct"])))
    return lines


def markdown(wins, note=""):
    """The section's Markdown (a `## ` heading and its tables), or None."""
    if not wins:
        return None
    vs = list(wins)
    first = wins[vs[0]]
    L = [TITLE, ""]
    if note:
        L += [note, ""]
    L += ["One module (`bench/wins/`), one source of loops (`loops.h`) compiled four times "
          "with the same flags: **direct** (CPython's `<Python.h>` only), **ctx** (the "
          "ctx form, context fetched once before the loop and laundered every iteration "
          "so its bit test is paid per call), **legacy** (the same call without a "
          "context, through compat), **copy** (direct again: the A/A control). One row "
          "per API function: every ctx form with a fast path in "
          "`runtime/include/pyctx_fast.h` (read from the header: the driver stops when "
          "`rows.h` misses one) and the candidates without one, with the reason. "
          "Companion calls that make a loop repeatable are CPython's own in every build "
          "(`PyErr_SetString` is followed by `PyErr_Clear`, `Py_EnterRecursiveCall` by "
          "`Py_LeaveRecursiveCall` and the other way round, `PyEval_RestoreThread` preceded by "
          "`PyEval_SaveThread`, the calls' callee is a C function that returns None). "
          "Thread CPU time, paired ratios per repetition (%d repetitions × %d rounds, "
          "fastest round kept), `median [Q1–Q3]`; legacy/ctx above 1 means the ctx form "
          "is faster than the legacy call." % (first["reps"], first["rounds"]), ""]
    L += [_verdict(wins), ""]
    L += ["**legacy/ctx by CPython version** (the context's gain over the legacy call):", "",
          "| function | fast path | " + " | ".join(vs) + " |",
          "|---|---|" + "---:|" * len(vs)]
    names = []
    for v in vs:
        for r in wins[v]["rows"]:
            if r["name"] not in names:
                names.append(r["name"])
    for name in names:
        cells, fast = [], None
        for v in vs:
            r = next((r for r in wins[v]["rows"] if r["name"] == name), None)
            if r is None:
                cells.append("–")
                continue
            fast = r["fast"]
            cells.append("%.2f" % r["ratios"]["legacy/ctx"]["median"])
        L.append("| `%s` | %s | %s |" % (name, "yes" if fast else "no", " | ".join(cells)))
    L.append("")
    for v in vs:
        L += ["### CPython %s" % wins[v]["python"], "",
              "| function | direct ns | ctx/direct | legacy/direct | legacy/ctx | A/A copy/direct |",
              "|---|---:|---|---|---|---|"]
        for r in wins[v]["rows"]:
            q = r["ratios"]
            L.append("| `%s`%s | %.2f | %s | %s | **%s** | %s |" % (
                r["name"], "" if r["fast"] else " (no fast path)", r["ns"]["direct"],
                _cell(q["ctx/direct"]), _cell(q["legacy/direct"]), _cell(q["legacy/ctx"]),
                _cell(q["copy/direct"])))
        L.append("")
    L += ["Why the candidates have no fast path:", ""]
    seen = set()
    for v in vs:
        for r in wins[v]["rows"]:
            if not r["fast"] and r["name"] not in seen:
                seen.add(r["name"])
                L.append("- `%s`: %s." % (r["name"], r["why"]))
    return "\n".join(L)


def _verdict(wins, gain=1.2):
    """One sentence: which fast paths beat the legacy call by `gain` on
    every version measured, and which do not (with their range)."""
    per = {}
    for w in wins.values():
        for r in w["rows"]:
            if r["fast"]:
                per.setdefault(r["name"], []).append(r["ratios"]["legacy/ctx"]["median"])
    won = sorted(n for n, g in per.items() if min(g) >= gain)
    lost = sorted((n, min(g), max(g)) for n, g in per.items() if min(g) < gain)
    return ("%d of %d fast paths run at least %.1f× faster than the legacy call on every "
            "version measured; the others (legacy/ctx from–to): %s." % (
                len(won), len(per), gain,
                ", ".join("`%s` %.2f–%.2f" % t for t in lost) or "none"))


def kept_section(doc, title):
    """The `## ` section of doc starting with `title`, up to the next `## `
    heading, without its trailing blank lines; None when doc has none."""
    start = doc.find(title)
    if start < 0:
        return None
    end = doc.find("\n## ", start + len(title))
    return doc[start:len(doc) if end < 0 else end].rstrip("\n")


def splice(doc, section, title=TITLE, before="\n## Real workloads"):
    """docs/benchmarks.md with the `## ` section starting with `title`
    replaced by `section` (or put before `before` when it is not there
    yet)."""
    start = doc.find(title)
    if start >= 0:
        end = doc.find("\n## ", start + len(title))
        end = len(doc) if end < 0 else end + 1
        return doc[:start] + section + "\n\n" + doc[end:]
    at = doc.find(before)
    at = len(doc) if at < 0 else at + 1
    return doc[:at] + section + "\n\n" + doc[at:]


def per_call_gains(path):
    """{version: {API name: legacy ns - ctx ns}} from the last run of
    bench/wins/section.py, or else of scripts/bench (its results.json, next
    to it, holds the same measurements per version), if any."""
    raw = None
    for candidate in (Path(path), Path(path).with_name("results.json")):
        try:
            raw = json.loads(candidate.read_text())
            break
        except (OSError, ValueError):
            continue
    if raw is None:
        return {}
    raw = {"versions": {v: {"wins": e["wins"]} for v, e in raw.get("versions", {}).items()
                        if e.get("wins")}}
    out = {}
    for v, w in summarise(raw).items():
        out[v] = {r["name"]: r["ns"]["legacy"] - r["ns"]["ctx"] for r in w["rows"] if r["fast"]}
    return out


def _workload_table(report, gains, meta):
    L = [WORKLOAD_TITLE, "",
         "*Measured on %s by `bench/wins/workload.py%s` (runtime snapshot %s, load average "
         "%.1f on the shared machine).*" % (
             meta["date"], " --quick" if meta["quick"] else "", meta["snapshot"],
             meta["loadavg"]), "",
         "Packages of the public corpus built from their pinned sdists twice, **plain** "
         "(unmodified, stock flags) and **migrated** (`pyctx migrate --write`, `pyctx flags "
         "--cflags`), plus **copy** (plain again from another directory: the A/A control), "
         "all loaded into one process and timed interleaved (`bench/wins/workload_driver.py`:"
         " thread CPU time, fastest of the rounds per repetition, paired ratios). One build "
         "of each side is one draw of where its hot loops land, so both are also linked four "
         "more times from the same objects behind a padding object that starts the "
         "extension's code at byte %s of a 64-byte cache line (the placement sweep of "
         "`scripts/bench`, `bench/shiftlink.py`): **over 4 placements**, the verdict, is "
         "per repetition migrated's time summed over its four placements against plain's; "
         "*stock builds* is the one placement of each that the build produced; *plain at "
         "0/16/32/48* is each placement of plain against the stock plain build (how far "
         "placement alone moves the same code). Inputs: "
         "20,000 small ints (`cbor2_loads_ints`), 20,000 `[int, int]` pairs (CBOR and JSON), "
         "an LRU of 128 entries: per key a store, a hit and a miss; 2,000 flat records "
         "(id, sku, price, stock, active) decoded with a hook per object: simplejson "
         "`object_pairs_hook=OrderedDict` (`simplejson_loads_ordered`) and cbor2 "
         "`object_hook` returning a read-only view (`cbor2_loads_object_hook`). "
         "The calls counted in "
         "one call of the workload in the migrated build (`PYCTX_STATS`) are those whose "
         "ctx form has a fast path; *bound* is calls × (legacy − ctx ns per call) from the "
         "table above, against the plain build's time: what the fast paths would save if "
         "they cost in the extension what they cost in the per-call loops and nothing else "
         "changed. The measured gain is smaller: the migrated build also pays a bit test at "
         "each of its other ctx-form uses, a context fetch per entry point, a managed-type "
         "probe per decref to zero and code that grew (issue 10, point 4; lru_get_set, with "
         "2%% to win, runs slower migrated). cbor2's decoder reads every item "
         "through `fp_read_object` (source/decoder.c), which calls the stream's `read` with "
         "`PyObject_CallFunctionObjArgs(self->read, size_obj, NULL)`: one C-variadic call "
         "per item, whose ctx form is a fast path (arguments on the stack, one vectorcall "
         "with the context's thread state; CPython's function reads the thread state first). "
         "What a fast path saves on 3.12+ is mostly one thread-state read (a call of "
         "`__tls_get_addr` in a shared libpython), and a migrated function that fetches its "
         "context with `PyCtx_Get()` pays that read back: simplejson's scanner is threaded "
         "(no fetch per item), so each `[int, int]` pair saves four reads (two "
         "`PyObject_CallOneArg(int, digits)`, `Py_EnterRecursiveCall`, "
         "`Py_LeaveRecursiveCall`); cbor2's `decode_uint` (called by its `PUBLIC_MAJOR` "
         "macro as `decode_##type`, and a macro call cannot pass a context) and "
         "`decode_length` (its name fits that pasting too, so the rewriter keeps it) stay "
         "entry points, so each item fetches the context twice and saves three reads: "
         "under callgrind on 3.12 one "
         "`cbor2_loads_ints` call runs 15%% more instructions migrated, "
         "`simplejson_loads_pairs` 2%% more, with 80,000 fewer `__tls_get_addr` calls."
         % "/".join(str(n) for n in SHIFTS),
         "",
         "| CPython | workload | plain ms | **migrated/plain over 4 placements** | "
         "stock builds migrated/plain | A/A copy/plain | plain at 0/16/32/48 / plain | "
         "fast-path calls per call | bound |",
         "|---|---|---:|---|---|---|---|---|---:|"]

    def cell(r, bold=False):
        if r is None:
            return "–"
        text = "%.3f [%.3f–%.3f]" % (r["median"], r["q1"], r["q3"])
        return "**%.3f** [%.3f–%.3f]" % (r["median"], r["q1"], r["q3"]) if bold else text

    for v, r in report.items():
        names = set(fast_path_names(v))
        calls = {c["workload"]: c["calls"] for c in r["calls"]}
        for w, row in r["rows"].items():
            fast = {k.split(" ", 1)[1]: n for k, n in calls.get(w, {}).items()
                    if k.startswith("ctx ") and k.split(" ", 1)[1] in names}
            g = gains.get(v, {})
            saved = sum(n * g[name] for name, n in fast.items() if name in g)
            # Results saved before the placement sweep have no "placed".
            L.append("| %s | %s | %.3f | %s | %s | %s | %s | %s | %s |" % (
                r["python"], w, row["ms_plain"], cell(row.get("placed"), bold=True),
                cell(row["migrated/plain"]), cell(row["copy/plain"]),
                " / ".join("%.2f" % row["placements"][str(n)] for n in SHIFTS)
                if "placements" in row else "–",
                ", ".join("`%s` %d" % kv for kv in sorted(fast.items(), key=lambda kv: -kv[1])
                          if kv[1] >= 100) or "–",
                "%.1f%%" % (100 * saved / (row["ms_plain"] * 1e6)) if g else "–"))
    return "\n".join(L)


def workload_markdown(results_dir, doc=None):
    """The real-workload section from the last bench/wins/workload.py run
    (its results under results_dir, with the per-call gains of the last
    section.py run). Without saved results (a fresh checkout: they live in
    the untracked build folder) the section of `doc`, the report being
    replaced, is kept as it is, dated by its own first line; None when
    neither has one."""
    try:
        saved = json.loads((Path(results_dir) / "wins-workload.json").read_text())
    except (OSError, ValueError):
        return kept_section(doc, WORKLOAD_TITLE) if doc else None
    return _workload_table(saved["versions"], per_call_gains(Path(results_dir) / "wins.json"),
                           saved["meta"])


def measure_all(opts, out_dir):
    """Build and measure every selected CPython; raw results (and when and
    on what they were taken) to out_dir/wins.json."""
    import datetime
    import subprocess
    import run  # bench/run.py: builds, snapshot, driver plumbing

    pythons = run.select_pythons(opts)
    snapshot = run.RuntimeSnapshot(pythons)
    jobs = [build_job(v, p, snapshot, run.BUILD, run.cached_build, run.log)
            for v, p in pythons.items()]
    run.run_jobs(jobs)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"versions": {}}
    for v, p in pythons.items():
        run.log("%s: wins measurements" % v)
        results["versions"][v] = {"wins": measure(v, p, run.BUILD, opts.quick, run.run_driver,
                                                  out_dir)}
    git = ["git", "-C", str(ROOT)]
    results["meta"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": opts.quick, "snapshot": snapshot.digest,
        "loadavg": run.os.getloadavg()[0],
        "commit": subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "dirty": bool(subprocess.run(git + ["status", "--porcelain", "runtime", "bench/wins"],
                                     capture_output=True, text=True).stdout.strip())}
    with open(out_dir / "wins.json", "w") as f:
        json.dump(results, f, indent=1)


def main():
    import argparse
    import run  # bench/run.py: builds, snapshot, driver plumbing

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", help="comma-separated subset, e.g. 3.12,3.13")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-docs", action="store_true",
                    help="print only; leave docs/benchmarks.md alone")
    ap.add_argument("--report-only", action="store_true",
                    help="render the section from bench/.build/results/wins.json")
    opts = ap.parse_args()
    out_dir = run.BUILD / "results"
    if not opts.report_only:
        measure_all(opts, out_dir)
    results = json.loads((out_dir / "wins.json").read_text())
    wins = summarise(results)
    print("\n".join(console_lines(wins)))
    if opts.no_docs:
        return 0
    m = results["meta"]
    note = ("*This section alone was measured on %s by `bench/wins/section.py%s` "
            "(commit %s%s, runtime snapshot %s, load average %.1f on the shared machine); "
            "the rest of the file is an older run.*" % (
                m["date"], " --quick" if m["quick"] else "", m["commit"],
                " with uncommitted runtime/bench changes" if m["dirty"] else "",
                m["snapshot"], m["loadavg"]))
    md = ROOT / "docs" / "benchmarks.md"
    md.write_text(splice(md.read_text(), markdown(wins, note)))
    run.log("wrote its section of %s" % md.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
