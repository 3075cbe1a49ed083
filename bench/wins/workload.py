"""A real workload of the public corpus that the context's fast paths should
speed up (issue 10, point 5): builds the packages of workload_driver.py
(simplejson, lru-dict, cbor2) plain (unmodified sdist, stock flags) and migrated
(`pyctx migrate --write`, `pyctx flags --cflags`) with bench/run.py's
plumbing, times them side by side in one process, and counts the API calls
of one call of each workload in the migrated build with PYCTX_STATS=1.

Both sides are also linked four more times at other code placements (the
placement sweep of scripts/bench: bench/run.py shift_link_env and
place_shifted, SHIFTS in bench/common.py): one build of each side is one
draw of where the hot loops land (a few per cent either way on these
extensions), so the verdict is migrated/plain with each side's time summed
over its four placements; the stock builds' ratio and the A/A control are
reported beside it.

    .venvs/bench/bin/python bench/wins/workload.py --versions 3.12,3.13 [--quick]

Not at the same time as scripts/bench or the other bench/wins script: all
take their runtime snapshot in bench/.build/snapshot (bench/run.py's
RuntimeSnapshot), which each run starts by clearing.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import run  # noqa: E402  (bench/run.py)
from common import SHIFTS, paired_ratios, summary, summed_ratios  # noqa: E402
from wins import section  # noqa: E402


PACKAGES = ("simplejson", "lru-dict", "cbor2")


# The sides linked at the sweep's placements, and their sites' names.
SHIFTED = ("plain", "migrated")
SHIFT_KINDS = tuple("%s_at%d" % (base, n) for base in SHIFTED for n in SHIFTS)


def build_sites(version, python, snapshot):
    """{kind: site directory} for kind plain / copy / migrated and
    plain_atN / migrated_atN (the placement sweep)."""
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
            env["LDSHARED"] = run.shift_link_env(python, sub)
            subs.setdefault(kind, []).append(sub)

            def job(src=src, env=env, sub=sub, kind=kind, name=name):
                if run.cached_build(python, src, sub, env, extra_key=kind):
                    run.log("%s: built %s (%s)" % (version, name, kind))
            jobs.append(("%s %s (%s)" % (version, name, kind), job))
    run.run_jobs(jobs)
    sites = {}
    for kind in ("plain", "copy", "migrated") + SHIFT_KINDS:
        site = run.BUILD / version / ("wins-site-" + kind)
        run.shutil.rmtree(site, ignore_errors=True)
        site.mkdir(parents=True)
        base, _, shift = kind.partition("_at")
        for sub in subs["plain" if kind == "copy" else base]:
            for entry in sub.iterdir():
                if entry.name.startswith("."):
                    continue
                copy = run.shutil.copytree if entry.is_dir() else run.shutil.copy2
                copy(entry, site / entry.name)
            if shift:
                run.place_shifted(site, sub, shift)
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
        rows = {w: workload_row(d) for w, d in raw["ns_per_call"].items()}
        report[version] = {"python": raw["python"], "rows": rows, "calls": calls,
                           "count_stderr": counted.stderr[-2000:]}
        for w, r in rows.items():
            p, m, c = r["placed"], r["migrated/plain"], r["copy/plain"]
            print("%s %-28s plain %.3f ms  over placements %.3f [%.3f-%.3f]  "
                  "stock %.3f [%.3f-%.3f]  A/A %.3f [%.3f-%.3f]  plain_atN/plain %s"
                  % (version, w, r["ms_plain"], p["median"], p["q1"], p["q3"], m["median"],
                     m["q1"], m["q3"], c["median"], c["q1"], c["q3"],
                     " ".join("%.3f" % r["placements"][str(n)] for n in SHIFTS)), flush=True)
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


def workload_row(d):
    """One workload's ratios from its per-build samples: the verdict
    (migrated/plain, each side summed over its placements), the stock
    builds' ratio, the A/A control and each placement of plain against the
    stock plain build (how far placement alone moves it)."""
    at = {base: ["%s_at%d" % (base, n) for n in SHIFTS] for base in SHIFTED}
    placed = summed_ratios(d, at["migrated"], at["plain"])
    del placed["values"]
    return {"ms_plain": summary(d["plain"])["median"] / 1e6,
            "placed": placed,
            "migrated/plain": summary(paired_ratios(d["migrated"], d["plain"])),
            "copy/plain": summary(paired_ratios(d["copy"], d["plain"])),
            "placements": {str(n): summary(paired_ratios(d["plain_at%d" % n], d["plain"]))
                           ["median"] for n in SHIFTS}}


def write_docs(out_dir):
    """Render this section of docs/benchmarks.md from the saved results."""
    md = run.ROOT / "docs" / "benchmarks.md"
    text = section.workload_markdown(out_dir)
    md.write_text(section.splice(md.read_text(), text, section.WORKLOAD_TITLE))
    run.log("wrote its section of %s" % md.relative_to(run.ROOT))


if __name__ == "__main__":
    sys.exit(main())
