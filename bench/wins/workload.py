"""A real workload of the public corpus that the context's fast paths should
speed up (issue 10, point 5): builds the packages of workload_driver.py
(simplejson, lru-dict, cbor2) plain (unmodified sdist, stock flags) and migrated
(`pyctx migrate --write`, `pyctx flags --cflags`) with bench/run.py's
plumbing, times them side by side in one process, and counts the API calls
of one call of each workload in the migrated build with PYCTX_STATS=1.

    .venvs/bench/bin/python bench/wins/workload.py --versions 3.12,3.13 [--quick]

Not at the same time as scripts/bench or the other bench/wins script: all
take their runtime snapshot in bench/.build/snapshot (bench/run.py's
RuntimeSnapshot), which each run starts by clearing.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import run  # noqa: E402  (bench/run.py)
from common import paired_ratios, summary  # noqa: E402
from wins import section  # noqa: E402

TITLE = "## Where the context wins on a real workload: cbor2, simplejson, lru-dict"

PACKAGES = ("simplejson", "lru-dict", "cbor2")


def build_sites(version, python, snapshot):
    """{kind: site directory} for kind plain / copy / migrated."""
    jobs, subs = [], {}
    for name in PACKAGES:
        pristine = run.unpack_sdist(name, python)
        migrated, facts = run.migrate_sources(name, python, snapshot.pyctx)
        run.log("migrated %s: %s" % (name, facts["summary"]))
        for kind, src, flags in (("plain", pristine, {}),
                                 ("migrated", migrated, snapshot.get(version))):
            env = dict(flags)
            env.update(run.PINS[name]["build_env"])
            sub = run.BUILD / version / ("wins-" + kind) / ("." + name)
            subs.setdefault(kind, []).append(sub)

            def job(src=src, env=env, sub=sub, kind=kind, name=name):
                if run.cached_build(python, src, sub, env, extra_key=kind):
                    run.log("%s: built %s (%s)" % (version, name, kind))
            jobs.append(("%s %s (%s)" % (version, name, kind), job))
    run.run_jobs(jobs)
    sites = {}
    for kind in ("plain", "copy", "migrated"):
        site = run.BUILD / version / ("wins-site-" + kind)
        run.shutil.rmtree(site, ignore_errors=True)
        site.mkdir(parents=True)
        for sub in subs["plain" if kind == "copy" else kind]:
            for entry in sub.iterdir():
                if entry.name.startswith("."):
                    continue
                copy = run.shutil.copytree if entry.is_dir() else run.shutil.copy2
                copy(entry, site / entry.name)
        sites[kind] = site
    return sites


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", help="comma-separated subset, e.g. 3.12,3.13")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-docs", action="store_true",
                    help="print only; leave docs/benchmarks.md alone")
    ap.add_argument("--report-only", action="store_true",
                    help="render the section from bench/.build/results/wins-workload.json")
    opts = ap.parse_args()
    if opts.report_only:
        write_docs(run.BUILD / "results")
        return 0
    run.load_pins()
    pythons = run.select_pythons(opts)
    snapshot = run.RuntimeSnapshot(pythons)
    out_dir = run.BUILD / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    for version, python in pythons.items():
        sites = build_sites(version, python, snapshot)
        args = []
        for kind, site in sites.items():
            args += ["--build", "%s=%s" % (kind, site)]
        reps = ["--reps", "5", "--rounds", "2"] if opts.quick else []
        raw = run.run_driver(python, HERE / "workload_driver.py", args + reps, "",
                             out_dir / ("wins-workload-%s.json" % version))
        env = run.clean_env("")
        env["PYCTX_STATS"] = str(out_dir / ("wins-workload-stats-%s.jsonl" % version))
        counted = subprocess.run(
            [str(python), str(HERE / "workload_driver.py"), "--build",
             "migrated=%s" % sites["migrated"], "--count"],
            env=env, capture_output=True, text=True)
        calls = [json.loads(line) for line in counted.stdout.splitlines()
                 if line.startswith("{")]
        rows = {}
        for w, d in raw["ns_per_call"].items():
            rows[w] = {"ms_plain": summary(d["plain"])["median"] / 1e6,
                       "migrated/plain": summary(paired_ratios(d["migrated"], d["plain"])),
                       "copy/plain": summary(paired_ratios(d["copy"], d["plain"]))}
        report[version] = {"python": raw["python"], "rows": rows, "calls": calls,
                           "count_stderr": counted.stderr[-2000:]}
        for w, r in rows.items():
            m, c = r["migrated/plain"], r["copy/plain"]
            print("%s %-24s plain %.3f ms  migrated/plain %.3f [%.3f-%.3f]  A/A %.3f [%.3f-%.3f]"
                  % (version, w, r["ms_plain"], m["median"], m["q1"], m["q3"], c["median"],
                     c["q1"], c["q3"]), flush=True)
        for c in calls:
            print("   calls %s %s: %s" % (c["workload"], c["build"], c["calls"]))
    import datetime
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": opts.quick, "snapshot": snapshot.digest,
            "loadavg": run.os.getloadavg()[0]}
    with open(out_dir / "wins-workload.json", "w") as f:
        json.dump({"meta": meta, "versions": report}, f, indent=1)
    if not opts.no_docs:
        write_docs(out_dir)
    return 0


def write_docs(out_dir):
    """Render this section of docs/benchmarks.md from the saved results."""
    saved = json.loads((out_dir / "wins-workload.json").read_text())
    md = run.ROOT / "docs" / "benchmarks.md"
    text = markdown(saved["versions"], per_call_gains(out_dir / "wins.json"), saved["meta"])
    md.write_text(section.splice(md.read_text(), text, TITLE))
    run.log("wrote its section of %s" % md.relative_to(run.ROOT))


def per_call_gains(path):
    """{version: {API name: legacy ns - ctx ns}} from the last run of
    bench/wins/section.py, if any."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for v, w in section.summarise(raw).items():
        out[v] = {r["name"]: r["ns"]["legacy"] - r["ns"]["ctx"] for r in w["rows"] if r["fast"]}
    return out


def markdown(report, gains, meta):
    L = [TITLE, "",
         "*Measured on %s by `bench/wins/workload.py%s` (runtime snapshot %s, load average "
         "%.1f on the shared machine).*" % (
             meta["date"], " --quick" if meta["quick"] else "", meta["snapshot"],
             meta["loadavg"]), "",
         "Packages of the public corpus built from their pinned sdists twice, **plain** "
         "(unmodified, stock flags) and **migrated** (`pyctx migrate --write`, `pyctx flags "
         "--cflags`), plus **copy** (plain again from another directory: the A/A control), "
         "all loaded into one process and timed interleaved (`bench/wins/workload_driver.py`:"
         " thread CPU time, fastest of the rounds per repetition, paired ratios). Inputs: "
         "20,000 small ints (`cbor2_loads_ints`), 20,000 `[int, int]` pairs (CBOR and JSON), "
         "an LRU of 128 entries: per key a store, a hit and a miss. The calls counted in "
         "one call of the workload in the migrated build (`PYCTX_STATS`) are those whose "
         "ctx form has a fast path; *bound* is calls × (legacy − ctx ns per call) from the "
         "table above, against the plain build's time: what the fast paths would save if "
         "they cost in the extension what they cost in the per-call loops and nothing else "
         "changed. The measured gain is smaller: the migrated build also pays a bit test at "
         "each of its other ctx-form uses, a context fetch per entry point, a managed-type "
         "probe per decref to zero and code that grew (issue 10, point 4; lru_get_set, with "
         "2% to win, runs slower migrated). cbor2's decoder reads every item "
         "through `fp_read_object` (source/decoder.c), which calls the stream's `read` with "
         "`PyObject_CallFunctionObjArgs(self->read, size_obj, NULL)`: one C-variadic call "
         "per item, whose ctx form is a fast path (arguments on the stack, one vectorcall "
         "with the context's thread state; CPython's function reads the thread state first).",
         "",
         "| CPython | workload | plain ms | migrated/plain | A/A copy/plain | fast-path calls per call | bound |",
         "|---|---|---:|---|---|---|---:|"]
    for v, r in report.items():
        names = set(section.fast_path_names(v))
        calls = {c["workload"]: c["calls"] for c in r["calls"]}
        for w, row in r["rows"].items():
            fast = {k.split(" ", 1)[1]: n for k, n in calls.get(w, {}).items()
                    if k.startswith("ctx ") and k.split(" ", 1)[1] in names}
            g = gains.get(v, {})
            saved = sum(n * g[name] for name, n in fast.items() if name in g)
            m, c = row["migrated/plain"], row["copy/plain"]
            L.append("| %s | %s | %.3f | **%.3f** [%.3f–%.3f] | %.3f [%.3f–%.3f] | %s | %s |" % (
                r["python"], w, row["ms_plain"], m["median"], m["q1"], m["q3"], c["median"],
                c["q1"], c["q3"],
                ", ".join("`%s` %d" % kv for kv in sorted(fast.items(), key=lambda kv: -kv[1])
                          if kv[1] >= 100) or "–",
                "%.1f%%" % (100 * saved / (row["ms_plain"] * 1e6)) if g else "–"))
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
