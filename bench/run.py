#!/usr/bin/env python3
"""pyctx benchmark suite: build, measure, report. Called by scripts/bench.

For every CPython 3.9-3.13 with a virtualenv from scripts/setup:

1. per call (bench/percall): build the `_pyctx_percall` extension (one
   source, loops.h, compiled as direct / ctx / legacy / direct-copy
   translation units into one module) and run bench/percall/driver.py in a
   clean environment (no PYCTX_DEBUG / PYCTX_STATS);
2. real workloads (bench/workloads): build markupsafe and simplejson from
   the pinned sdists twice, plain and through compat (`--cflags --compat`),
   copy the plain build once more (the A/A control), and run
   bench/workloads/driver.py, which loads all the builds into one process
   (plus a "relaid" build: plain with code alignment changed, the layout
   control);
3. disassemble the per-call module once per version (objdump) to record what
   each ctx-form loop compiled to.

Then print one table, write docs/benchmarks.md and docs/benchmarks.png.
Raw results: bench/.build/results/results.json (`--report-only FILE`
re-renders the report from such a file without measuring).

Builds are cached in bench/.build/<version>/, keyed by a hash of the
sources, the flags, the pyctx headers and libpyctx.a.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from tests.support.build import (  # noqa: E402
    BuildError, clean_env, interpreters, pip_install, pyctx_flags)
import report  # noqa: E402

BUILD = BENCH / ".build"
SDIST_CACHE = ROOT / ".cache" / "sdists"

# Pinned sdists of the real workloads (the same pins as tests/corpus).
SDISTS = {
    "markupsafe": {
        "version": "3.0.2",
        "file": "markupsafe-3.0.2.tar.gz",
        "sha256": "ee55d3edf80167e48ea11a923c7386f4669df67d7994554387f84e7d8b0a2bf0",
        # Without it a failed C build silently falls back to pure Python.
        "build_env": {"CIBUILDWHEEL": "1"},
    },
    "simplejson": {
        "version": "3.19.3",
        "file": "simplejson-3.19.3.tar.gz",
        "sha256": "8e086896c36210ab6050f2f9f095a5f1e03c83fa0e7f296d6cba425411364680",
        "build_env": {"REQUIRE_SPEEDUPS": "1"},
    },
}

# The layout control of the real workloads: the plain build compiled again
# with only code alignment changed. How far that alone moves a workload is
# the yardstick for the compat build, which also changes the code layout.
LAYOUT_CFLAGS = "-falign-functions=64 -falign-loops=64 -falign-jumps=16"

# Alignment for the per-call module only (all four translation units alike):
# without it, identical machine code at two addresses differed by up to ~10%
# in the A/A control; with it, by ~2%.
PERCALL_EXTRA_CFLAGS = "-falign-functions=64 -falign-loops=64"

MODES = {
    # percall: reps x rounds x loops of ~target_ms; workloads likewise.
    "default": {"percall": {"reps": 15, "rounds": 5, "target_ms": 2.0},
                "workloads": {"reps": 15, "rounds": 7, "target_ms": 5.0}},
    "quick": {"percall": {"reps": 5, "rounds": 3, "target_ms": 1.0},
              "workloads": {"reps": 5, "rounds": 3, "target_ms": 2.0}},
}


def log(msg):
    print("[bench] %s" % msg, file=sys.stderr, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd, **kw):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", **kw)
    if proc.returncode != 0:
        raise BuildError("%s failed (exit %d):\n%s" % (
            shlex.join(str(c) for c in cmd), proc.returncode, proc.stdout[-6000:]))
    return proc.stdout


def capture(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# machine and tree


def machine_info():
    lscpu = capture(["lscpu"])
    fields = {}
    for line in lscpu.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    cc = capture(["cc", "--version"]).splitlines()
    try:
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "runtime", "compat", "flags", "capi", "api"],
                               capture_output=True, text=True).stdout
    except OSError:
        dirty = ""
    return {
        "cpu": fields.get("Model name", platform.processor() or "unknown"),
        "cpus": fields.get("CPU(s)", str(os.cpu_count())),
        "threads_per_core": fields.get("Thread(s) per core", "?"),
        "hypervisor": fields.get("Hypervisor vendor", ""),
        "kernel": platform.release(),
        "os": capture(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "compiler": cc[0] if cc else "unknown",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_head": capture(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        # The runtime is developed concurrently: say whether the measured
        # header/runtime had uncommitted changes.
        "runtime_dirty": [line[3:] for line in dirty.splitlines() if len(line) > 3],
        "loadavg_start": os.getloadavg(),
    }


# ---------------------------------------------------------------------------
# builds


def flag_inputs_digest(flags):
    """Hash of everything a pyctx build depends on beyond the sources: the
    flags, every header in the -I directories they name, libpyctx.a."""
    h = hashlib.sha256()
    for key in sorted(flags):
        h.update(("%s=%s\n" % (key, flags[key])).encode())
        for token in shlex.split(flags[key]):
            if token.startswith("-I") and os.path.isdir(token[2:]):
                for f in sorted(Path(token[2:]).glob("*.h")):
                    h.update(f.name.encode() + sha256_file(f).encode())
            elif token.endswith(".a") and os.path.isfile(token):
                h.update(sha256_file(token).encode())
    return h.hexdigest()


def cached_build(python, src_dir, target, env, extra_key="", patterns=("*",)):
    """pip_install into target unless a build with the same inputs (the files
    of src_dir matching patterns, flags, headers, libpyctx.a, interpreter)
    is there already."""
    h = hashlib.sha256()
    h.update(str(python).encode())
    h.update(capture([str(python), "-c", "import sys; print(sys.version)"]).encode())
    h.update(extra_key.encode())
    h.update(flag_inputs_digest({k: v for k, v in env.items()
                                 if k in ("CFLAGS", "LDFLAGS")}).encode())
    h.update(json.dumps(sorted(env.items())).encode())
    files = sorted({f for pattern in patterns for f in Path(src_dir).rglob(pattern)})
    for f in files:
        if f.is_file() and "build" not in f.parts and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(src_dir)).encode() + sha256_file(f).encode())
    key = h.hexdigest()
    stamp = Path(target) / ".bench-build-key"
    if stamp.exists() and stamp.read_text() == key:
        return False
    shutil.rmtree(target, ignore_errors=True)
    pip_install(python, src_dir, target, env=env)
    stamp.write_text(key)
    return True


def fetch_sdist(name, python):
    pin = SDISTS[name]
    SDIST_CACHE.mkdir(parents=True, exist_ok=True)
    dest = SDIST_CACHE / pin["file"]
    if not dest.exists():
        log("downloading %s==%s" % (name, pin["version"]))
        tmp = SDIST_CACHE / (".dl-bench-%d" % os.getpid())
        tmp.mkdir(exist_ok=True)
        try:
            run([str(python), "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                 "--no-build-isolation", "--disable-pip-version-check", "-d", str(tmp),
                 "%s==%s" % (name, pin["version"])])
            os.replace(tmp / pin["file"], dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    digest = sha256_file(dest)
    if digest != pin["sha256"]:
        raise BuildError("sha256 mismatch for %s: %s, pinned %s" % (dest, digest, pin["sha256"]))
    return dest


def unpack_sdist(name, python):
    sdist = fetch_sdist(name, python)
    src_root = BUILD / "src"
    top = src_root / sdist.name[: -len(".tar.gz")]
    if not (top / ".bench-unpacked").exists():
        shutil.rmtree(top, ignore_errors=True)
        src_root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tf:
            for m in tf.getmembers():
                if m.name.startswith("/") or ".." in m.name.split("/"):
                    raise BuildError("unsafe member in %s: %s" % (sdist, m.name))
            tf.extractall(src_root)
        (top / ".bench-unpacked").write_text(SDISTS[name]["sha256"])
    return top


class RuntimeSnapshot:
    """The pyctx headers and libpyctx.a as they were when the run started.

    The checkout is shared with work in progress: the header generator, the
    runtime's headers and libpyctx.a can change (or stop building) while the
    suite runs. Every build of one run therefore uses copies taken at the
    start: the -I directories and the library named by `pyctx flags` are
    copied under bench/.build/snapshot/ and the flags rewritten to point
    there. If the runtime does not build right now, retry for a while."""

    def __init__(self, pythons, attempts=10, pause=30):
        self.root = BUILD / "snapshot"
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.flags = {}
        digest = hashlib.sha256()
        for version, python in pythons.items():
            for compat in (False, True):
                for attempt in range(attempts):
                    try:
                        flags = pyctx_flags(python, compat=compat)
                        break
                    except BuildError as exc:
                        if attempt == attempts - 1:
                            raise
                        log("pyctx flags failed (the runtime may be mid-edit); retrying "
                            "in %ds: %s" % (pause, str(exc).splitlines()[0]))
                        time.sleep(pause)
                self.flags[(version, compat)] = {k: self._rewrite(v, digest)
                                                 for k, v in flags.items()}
        self.digest = digest.hexdigest()[:16]

    def _rewrite(self, value, digest):
        out = []
        for token in shlex.split(value):
            if token.startswith("-I") and os.path.isdir(token[2:]):
                src = Path(token[2:])
                dest = self.root / ("inc-" + hashlib.sha256(str(src).encode()).hexdigest()[:12])
                if not dest.exists():
                    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.tsv"))
                    for f in sorted(dest.glob("*.h")):
                        digest.update(f.name.encode() + sha256_file(f).encode())
                token = "-I" + str(dest)
            elif token.endswith(".a") and os.path.isfile(token):
                sub = self.root / ("lib-" + hashlib.sha256(token.encode()).hexdigest()[:12])
                dest = sub / os.path.basename(token)  # --exclude-libs names the basename
                if not dest.exists():
                    sub.mkdir()
                    shutil.copy2(token, dest)
                    digest.update(sha256_file(dest).encode())
                token = str(dest)
            out.append(token)
        return " ".join(shlex.quote(t) for t in out)

    def get(self, version, compat=False):
        return dict(self.flags[(version, compat)])


def build_percall(version, python, snapshot):
    target = BUILD / version / "percall"
    env = snapshot.get(version)
    env["CFLAGS"] = env["CFLAGS"] + " " + PERCALL_EXTRA_CFLAGS
    if cached_build(python, BENCH / "percall", target, env,
                    patterns=("*.c", "*.h", "setup.py")):
        log("%s: built the per-call module" % version)
    so = next(target.glob("_pyctx_percall*.so"))
    return target, so, env


def build_workloads(version, python, snapshot):
    """Build the workload packages as plain, relaid (plain + LAYOUT_CFLAGS)
    and compat; assemble one directory per contender (plus "copy", the plain
    build once more) for PYTHONPATH."""
    dirs = {"plain": BUILD / version / "plain", "relaid": BUILD / version / "relaid",
            "compat": BUILD / version / "compat"}
    flags = {"plain": {"CFLAGS": None, "LDFLAGS": None},
             "relaid": {"CFLAGS": LAYOUT_CFLAGS, "LDFLAGS": None},
             "compat": snapshot.get(version, compat=True)}
    for kind, target in dirs.items():
        for name, pin in SDISTS.items():
            src = unpack_sdist(name, python)
            env = dict(flags[kind])
            env.update(pin["build_env"])
            sub = target / ("." + name)
            if cached_build(python, src, sub, {k: v for k, v in env.items() if v is not None},
                            extra_key=kind):
                log("%s: built %s (%s)" % (version, name, kind))
    # Assemble each build's packages into one directory for PYTHONPATH.
    out = {}
    for kind, target in list(dirs.items()) + [("copy", None)]:
        site = BUILD / version / ("site-" + kind)
        shutil.rmtree(site, ignore_errors=True)
        site.mkdir(parents=True)
        source_kind = "plain" if kind == "copy" else kind
        for name in SDISTS:
            sub = dirs[source_kind] / ("." + name)
            for entry in sub.iterdir():
                if entry.name.startswith("."):
                    continue
                dest = site / entry.name
                if entry.is_dir():
                    shutil.copytree(entry, dest)
                else:
                    shutil.copy2(entry, dest)
        out[kind] = site
    return out


# ---------------------------------------------------------------------------
# disassembly


def disassemble(so):
    """{function: [(address, instruction), ...]} from objdump -d."""
    text = capture(["objdump", "-d", "--no-show-raw-insn", str(so)])
    funcs, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            cur = m.group(1)
            funcs[cur] = []
            continue
        m = re.match(r"^\s*([0-9a-f]+):\t(.*)$", line)
        if cur is None or not m:
            continue
        funcs[cur].append((int(m.group(1), 16), re.sub(r"\s+", " ", m.group(2).strip())))
    return funcs


SLOW = ("pyctx_slow_ctx", "pyctx_slow_compat")
FLAG_SETTERS = ("test", "cmp", "add", "sub", "and", "or", "xor", "inc", "dec", "neg",
                "sbb", "adc", "sar", "shr", "shl", "bt")


def _mnemonic(insn):
    return insn.split(" ", 1)[0]


def _call_target(insn):
    m = re.search(r"<([^>+]+)(?:\+0x[0-9a-f]+)?>", insn)
    return m.group(1).split("@")[0] if m else insn


def _jump_target(insn):
    m = re.match(r"^\S+ ([0-9a-f]+) <", insn)
    return int(m.group(1), 16) if m else None


def fast_path(funcs, name):
    """Walk the timed loop of `name` from the opening clock_gettime to the
    closing one, taking only the fast direction at every context bit test
    (`test $0x1` before a branch) and every compat flag test (a compare of
    the global pyctx_fast_bit), and both directions elsewhere. Returns the
    instructions reached (address order, minus error exits: code that only
    leads to a `ret`) and the guards taken ({address: "bit" | "flag"})."""
    if name not in funcs:
        return None
    code, order = {}, []
    for fname in (name, name + ".cold"):
        for addr, insn in funcs.get(fname, []):
            code[addr] = insn
            order.append(addr)
    next_addr = {a: b for a, b in zip(order, order[1:])}
    prev_addr = {b: a for a, b in zip(order, order[1:])}
    flag_regs = set()
    for addr, insn in funcs[name]:
        if "pyctx_fast_bit" in insn and _mnemonic(insn) in ("lea", "mov"):
            flag_regs.add(insn.split(",")[-1].split(" ")[0])
    clock_calls = [a for a, i in funcs[name]
                   if _mnemonic(i) == "call" and _call_target(i) == "clock_gettime"]
    if len(clock_calls) < 2:
        return None
    start = next_addr[clock_calls[1]]

    def guard_kind(addr):
        a = prev_addr.get(addr)
        while a is not None:
            insn = code[a]
            mn = _mnemonic(insn)
            if mn.startswith(FLAG_SETTERS):
                if re.match(r"test \$0x1,%", insn):
                    return "bit"
                if mn.startswith("cmp") and "$0x0," in insn and (
                        "pyctx_fast_bit" in insn
                        or any("(" + r + ")" in insn for r in flag_regs)):
                    return "flag"
                return None
            if mn.startswith("j") or mn in ("call", "ret"):
                return None
            a = prev_addr.get(a)
        return None

    reached, exits, guards = set(), set(), {}
    work = [start]
    while work:
        addr = work.pop()
        segment = []  # straight-line code since the last two-way branch
        while addr is not None and addr not in reached and addr in code:
            reached.add(addr)
            segment.append(addr)
            insn = code[addr]
            mn = _mnemonic(insn)
            if mn == "call" and _call_target(insn) == "clock_gettime":
                break  # the closing clock read: end of the timed region
            if mn == "ret":
                exits.update(segment)  # only leads out: an error exit
                break
            if mn == "jmp":
                addr = _jump_target(insn)
                continue
            if mn.startswith("j"):
                target = _jump_target(insn)
                kind = guard_kind(addr)
                if kind and mn in ("jne", "je"):
                    # fast = bit / flag set = "not equal to zero"
                    guards[addr] = kind
                    addr = target if mn == "jne" else next_addr.get(addr)
                    continue
                if target is not None:
                    work.append(target)
                segment = []
            addr = next_addr.get(addr)
    body = [(a, code[a]) for a in order if a in reached and a not in exits]
    return body, guards


def analyse_loop(funcs, name):
    walked = fast_path(funcs, name)
    if walked is None:
        return None
    body, guards = walked
    calls = []
    for _, insn in body:
        if _mnemonic(insn) == "call":
            target = _call_target(insn)
            if target.startswith("call *"):
                target = "(indirect)"
            if target != "clock_gettime" and target not in calls:
                calls.append(target)
    return {
        "bit_tests": sum(1 for k in guards.values() if k == "bit"),
        "flag_tests": sum(1 for k in guards.values() if k == "flag"),
        "calls": [c for c in calls if c not in SLOW],
        "slow_path_on_fast_path": [c for c in calls if c in SLOW],
        # a wrapper that was not inlined would show up as a call
        "wrappers_called": [c for c in calls if c.startswith(
            ("pyctx_ctx_", "pyctx_legacy_", "pyctx__", "pyctx_fast_"))],
        "instructions": len(body),
        "listing": ["%x: %s" % (a, re.sub(r" <[^>]*>", "", i) if _mnemonic(i) != "call"
                                else i) for a, i in body],
    }


def analyse_percall(so):
    funcs = disassemble(so)
    ops = ["is_true", "long_as_long", "tuple_new", "err_occurred", "decref_zero",
           "incref_decref", "get_tstate"]
    return {"loops": {op: {m: analyse_loop(funcs, "bench_%s_%s" % (m, op))
                           for m in ("direct", "ctx", "legacy")} for op in ops}}


# ---------------------------------------------------------------------------
# measuring


def run_driver(python, script, args, pythonpath, out):
    env = clean_env(pythonpath)
    cmd = [str(python), str(script)] + [str(a) for a in args] + ["--out", str(out)]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    if proc.returncode != 0:
        raise BuildError("%s failed (exit %d):\n%s" % (shlex.join(cmd), proc.returncode,
                                                      proc.stdout[-6000:]))
    with open(out) as f:
        return json.load(f)


def count_legacy_calls(python, site):
    """Legacy (compat) API calls per call of each workload, from PYCTX_STATS
    in separate, untimed processes: (run the workload 1 + K times) minus
    (run it once), over K, so set-up and first-call work cancel out."""
    script = BENCH / "workloads" / "driver.py"
    k = 10
    out = {}
    for w in ("markupsafe_escape", "simplejson_dumps", "simplejson_loads"):
        totals = []
        for times in (1, 1 + k):
            stats = BUILD / "results" / ("stats-%d.jsonl" % os.getpid())
            stats.unlink(missing_ok=True)
            cmd = [str(python), str(script), "--build", "compat=%s" % site,
                   "--count", w, "--times", str(times)]
            proc = subprocess.run(cmd, env=clean_env("", PYCTX_STATS=stats),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, errors="replace")
            if proc.returncode != 0 or not stats.exists():
                log("legacy-call count of %s failed: %s" % (w, proc.stdout[-2000:]))
                return None
            calls = {}
            for line in stats.read_text().splitlines():
                rec = json.loads(line)
                if not str(rec.get("module", "")).startswith(str(site)):
                    continue
                for name, n in rec.get("legacy_calls", {}).items():
                    calls[name] = calls.get(name, 0) + n
            stats.unlink()
            totals.append(calls)
        per_call = {name: (totals[1].get(name, 0) - totals[0].get(name, 0)) / k
                    for name in set(totals[0]) | set(totals[1])}
        per_call = {n: c for n, c in per_call.items() if c}
        out[w] = {"total": sum(per_call.values()), "by_function": per_call}
    return out


def measure(opts):
    mode = MODES["quick" if opts.quick else "default"]
    pythons = interpreters()
    if opts.versions:
        wanted = opts.versions.split(",")
        missing = [v for v in wanted if v not in pythons]
        if missing:
            raise SystemExit("no virtualenv for %s (have %s)" % (
                ", ".join(missing), ", ".join(pythons)))
        pythons = {v: p for v, p in pythons.items() if v in wanted}
    results = {"mode": "quick" if opts.quick else "default", "settings": mode,
               "machine": machine_info(), "percall_extra_cflags": PERCALL_EXTRA_CFLAGS,
               "layout_cflags": LAYOUT_CFLAGS,
               "versions": {}}
    out_dir = BUILD / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot = RuntimeSnapshot(pythons)
    results["runtime_snapshot"] = snapshot.digest
    started = time.time()
    for version, python in pythons.items():
        entry = results["versions"].setdefault(version, {})
        entry["python"] = str(python)
        if "percall" in opts.only:
            target, so, env = build_percall(version, python, snapshot)
            entry["percall_cflags"] = env["CFLAGS"]
            entry["disasm"] = analyse_percall(so)
            log("%s: per-call measurements" % version)
            s = mode["percall"]
            entry["percall"] = run_driver(
                python, BENCH / "percall" / "driver.py",
                ["--module-dir", target, "--reps", s["reps"], "--rounds", s["rounds"],
                 "--target-ms", s["target_ms"]],
                target, out_dir / ("percall-%s.json" % version))
        if "workloads" in opts.only:
            sites = build_workloads(version, python, snapshot)
            log("%s: workload measurements" % version)
            s = mode["workloads"]
            args = []
            for kind in ("plain", "copy", "relaid", "compat"):
                args += ["--build", "%s=%s" % (kind, sites[kind])]
            entry["workloads"] = run_driver(
                python, BENCH / "workloads" / "driver.py",
                args + ["--reps", s["reps"], "--rounds", s["rounds"],
                        "--target-ms", s["target_ms"]],
                "", out_dir / ("workloads-%s.json" % version))
            entry["legacy_calls"] = count_legacy_calls(python, sites["compat"])
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["seconds"] = time.time() - started
    path = out_dir / "results.json"
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    log("raw results: %s" % path.relative_to(ROOT))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short, noisier run")
    ap.add_argument("--versions", help="comma-separated subset, e.g. 3.11,3.13")
    ap.add_argument("--only", default="percall,workloads",
                    help="percall, workloads or both (default)")
    ap.add_argument("--report-only", metavar="RESULTS_JSON",
                    help="render the report from saved raw results, measure nothing")
    ap.add_argument("--no-docs", action="store_true",
                    help="print the table only; leave docs/ alone (implied by "
                         "--versions / --only)")
    opts = ap.parse_args()
    opts.only = set(opts.only.split(","))

    if opts.report_only:
        with open(opts.report_only) as f:
            results = json.load(f)
    else:
        for var in ("PYCTX_DEBUG", "PYCTX_STATS"):
            if os.environ.get(var):
                log("note: %s is set here; the measured processes run without it" % var)
        try:
            results = measure(opts)
        except BuildError as exc:
            print("bench: %s" % exc, file=sys.stderr)
            return 1

    summary = report.summarise(results)
    print(report.console_table(summary))
    partial = not opts.report_only and (opts.versions or opts.only != {"percall", "workloads"})
    if partial and not opts.no_docs:
        log("partial run (--versions / --only): docs/ left alone; render it with "
            "--report-only bench/.build/results/results.json if wanted")
    elif not opts.no_docs:
        md = ROOT / "docs" / "benchmarks.md"
        png = ROOT / "docs" / "benchmarks.png"
        plotted = report.plot(summary, png)
        md.write_text(report.markdown(summary, png.name if plotted else None))
        log("wrote %s%s" % (md.relative_to(ROOT), " and " + str(png.relative_to(ROOT))
                            if plotted else " (no plot: matplotlib missing)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
