#!/usr/bin/env python3
"""pyctx benchmark suite: build, measure, report. Called by scripts/bench.

For every CPython 3.9-3.13 with a virtualenv from scripts/setup:

1. per call (bench/percall): build the `_pyctx_percall` extension (one
   source, loops.h, compiled as direct / ctx / legacy / direct-copy
   translation units into one module) and run bench/percall/driver.py in a
   clean environment (no PYCTX_DEBUG / PYCTX_STATS);
2. real workloads (bench/workloads): build markupsafe, simplejson and regex
   from the pinned sdists five ways: plain, relaid (plain with other code
   alignment: the layout control), compat (`--cflags --compat`),
   migrated (sources after `pyctx migrate --write`, `--cflags`) and
   migrated_relaid (migrated with relaid's alignment, compared with
   relaid: the migration's cost with code placement held alike); link the
   plain, compat and migrated objects four more times at other placements (the
   placement sweep: bench/shiftlink.py, SHIFTS); copy the plain build once
   more (the A/A control) and run bench/workloads/driver.py, which loads all
   the builds into one process;
3. disassemble the per-call module once per version (objdump) to record what
   each ctx-form loop compiled to;
4. CLI throughput (bench/cli.py): one `pyctx migrate` over the C sources of
   the seven corpus sdists, timed, and the same call-site rewrite by
   Coccinelle's spatch, with what each got right.

Builds come first, two at a time (nothing is timed meanwhile); then the
measurements, one at a time. Then print one table, write docs/benchmarks.md
and docs/benchmarks.png. Raw results: bench/.build/results/results.json
(`--report-only FILE` re-renders the report from such a file).

The sdists are the pins of tests/corpus/packages.json, fetched into (or
found in) .cache/sdists and unpacked under bench/.build/src by
tests/support/sdist.py; every build is tests/support/build.py's
pip_install, with pyctx's flags as its pyctx_flags puts them (CPPFLAGS,
LDFLAGS). Builds are cached in bench/.build/<version>/, keyed by a hash of the
sources, the flags, the pyctx headers and libpyctx.a. The pyctx headers,
libpyctx.a and the pyctx binary are copied at the start of a run
(bench/.build/snapshot/) and used by all its builds and runs.
"""

import argparse
import concurrent.futures
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
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from tests.support import build, sdist  # noqa: E402
from tests.support.build import (  # noqa: E402
    BuildError, capture, clean_env, interpreters, pip_install, pyctx_bin, pyctx_flags)
from tests.support.sdist import sha256_file  # noqa: E402
import report  # noqa: E402
import cli  # noqa: E402
from wins import section as wins_section  # noqa: E402
from common import SHIFTS  # noqa: E402

BUILD = BENCH / ".build"

# Built and measured as real workloads (bench/workloads/driver.py).
WORKLOAD_PACKAGES = ("markupsafe", "simplejson", "regex")
# The public corpus of the CLI throughput run.
CORPUS_PACKAGES = ("markupsafe", "lru-dict", "pyrsistent", "simplejson", "cbor2",
                   "bitarray", "regex")


def load_pins():
    """The pins (version, sdist, sha256, build_env, c_sources, ...) of
    CORPUS_PACKAGES in tests/corpus/packages.json: the tests and the bench
    build the same sources."""
    pins = sdist.load_packages()
    missing = [n for n in CORPUS_PACKAGES if n not in pins]
    if missing:
        raise BuildError("%s: no pin for %s" % (sdist.PACKAGES_FILE, ", ".join(missing)))
    return {n: pins[n] for n in CORPUS_PACKAGES}


PINS = load_pins()


# The layout control of the real workloads: the plain build compiled again
# with only code alignment changed. How far that alone moves a workload is
# the yardstick for the compat build, which also changes the code layout.
LAYOUT_CFLAGS = "-falign-functions=64 -falign-loops=64 -falign-jumps=16"

# Alignment for the per-call module only (all four translation units alike):
# without it, identical machine code at two addresses differed by up to ~10%
# in the A/A control; with it, by ~2%.
PERCALL_EXTRA_CFLAGS = "-falign-functions=64 -falign-loops=64"

MODES = {
    # percall: reps x rounds x loops of ~target_ms; workloads likewise;
    # cli: timed dry runs and --write runs of pyctx migrate.
    "default": {"percall": {"reps": 15, "rounds": 5, "target_ms": 2.0},
                "workloads": {"reps": 15, "rounds": 5, "target_ms": 5.0},
                "cli": {"runs": 9, "write_runs": 3, "large_sizes": (1, 10, 50)}},
    "quick": {"percall": {"reps": 5, "rounds": 3, "target_ms": 1.0},
              "workloads": {"reps": 5, "rounds": 3, "target_ms": 2.0},
              "cli": {"runs": 3, "write_runs": 1, "large_sizes": (1, 10)}},
}


def log(msg):
    print("[bench] %s" % msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    """stdout (with stderr) of cmd; BuildError naming it when it fails."""
    return build.run(cmd, check=True, **kw).stdout


def offered_names(pyctx, python):
    """The names `pyctx api list --offered` lists for one CPython: its
    stdout's first column only (its summary goes to stderr and is not a
    name)."""
    cmd = [str(pyctx), "api", "list", "--offered", "--python", str(python)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise BuildError("%s failed (exit %d):\n%s" % (" ".join(cmd), proc.returncode,
                                                      proc.stderr[-4000:]))
    return {line.split("\t")[0] for line in proc.stdout.splitlines() if line.strip()}


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
                                 if k in ("CPPFLAGS", "CFLAGS", "CXXFLAGS", "LDFLAGS")}).encode())
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
    """The pinned sdist, in .cache/sdists (shared with tests/corpus),
    downloaded there on first use; its sha256 checked."""
    return sdist.fetch(name, PINS[name], python)


def unpack_sdist(name, python):
    """The sdist unpacked under bench/.build/src (once, while it is the same
    file)."""
    return sdist.unpack(fetch_sdist(name, python), BUILD / "src", reuse=True)


def migrate_sources(name, python, pyctx):
    """A copy of the unpacked sdist with its C sources migrated by
    `pyctx migrate --write` (all functions), then checked to be a fixed
    point (a second run changes nothing). Redone every run (the CLI is under
    development); builds are cached on the result's content."""
    src = unpack_sdist(name, python)
    dest = BUILD / "migrated-src" / src.name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)
    paths = PINS[name]["c_sources"]
    proc = subprocess.run([str(pyctx), "migrate", "--write", "--json"] + paths, cwd=dest,
                          capture_output=True, text=True, errors="replace")
    if proc.returncode not in (0, 2):
        raise BuildError("pyctx migrate --write failed for %s (exit %d):\n%s" % (
            name, proc.returncode, proc.stderr[-4000:]))
    report = json.loads(proc.stdout)
    again = subprocess.run([str(pyctx), "migrate", "--json"] + paths, cwd=dest,
                           capture_output=True, text=True, errors="replace")
    second = json.loads(again.stdout)
    t = report["totals"]
    return dest, {
        "exit": proc.returncode,
        "summary": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "",
        "calls_rewritten": t["calls_rewritten"], "threaded": t["threaded"],
        "entry_points": t["entry_points"], "refused": t["refused"],
        "legacy_calls": t["legacy_calls"], "macros_rewritten": t["macros_rewritten"],
        "macros_legacy": t["macros_legacy"],
        "parse_errors": sum(1 for d in report["diagnostics"] if d["code"] == "parse-error"),
        "refused_functions": [f["name"] for f in report["functions"]
                              if f["status"]["kind"] == "refused"],
        "second_run_changes": sum(1 for f in second["files"] if f.get("changed")),
    }


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
        # The migration CLI too: one binary for the whole run.
        self.pyctx = self.root / "pyctx"
        shutil.copy2(pyctx_bin(), self.pyctx)
        self.pyctx_digest = sha256_file(self.pyctx)[:16]
        # Text symbols of libpyctx.a (to tell an extension's own code apart).
        self.runtime_symbols = set()
        for lib in self.root.glob("lib-*/*.a"):
            for line in capture(["nm", "--defined-only", str(lib)]).splitlines():
                f = line.split()
                if len(f) == 3 and f[1] in "tTwW":
                    self.runtime_symbols.add(f[2])

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


def percall_build_job(version, python, snapshot):
    """(description, job) building the per-call module; percall_module()
    finds the result."""
    target = BUILD / version / "percall"
    env = snapshot.get(version)
    env["CFLAGS"] = (env.get("CFLAGS", "") + " " + PERCALL_EXTRA_CFLAGS).strip()

    def job():
        if cached_build(python, BENCH / "percall", target, env,
                        patterns=("*.c", "*.h", "setup.py")):
            log("%s: built the per-call module" % version)
    return "%s per-call module" % version, job


def percall_module(version, snapshot):
    target = BUILD / version / "percall"
    env = snapshot.get(version)
    env["CFLAGS"] = (env.get("CFLAGS", "") + " " + PERCALL_EXTRA_CFLAGS).strip()
    return target, next(target.glob("_pyctx_percall*.so")), env


# The workload builds: plain (stock flags), relaid (plain + LAYOUT_CFLAGS:
# the layout control), compat (unmodified sources, `--cflags --compat`),
# migrated (sources after `pyctx migrate --write`, `--cflags`), and
# migrated_relaid (migrated + LAYOUT_CFLAGS): paired with relaid, both sides
# have their code placed by the same alignment rules, so what is left of
# migrated/plain is the migration's own cost and not where the recompiled
# hot loops happened to land.
WORKLOAD_KINDS = ("plain", "relaid", "compat", "migrated", "migrated_relaid")

# The placement sweep: the plain, compat and migrated builds' objects linked
# four more times (bench/shiftlink.py, the build's LDSHARED), each time behind
# a padding object whose text is 64-byte aligned and SHIFTS[k] bytes long, so
# the extension's code starts at each 16-byte offset of a cache line in turn.
# GCC aligns functions and most loops to 16 bytes, so these are every
# placement a hot loop can take relative to 64-byte lines; a ratio of times
# summed over the four placements of each side is the migration's cost with
# placement averaged out, where one build of each side is one draw of it
# (the regex search row, docs/migration-policy.md "Hot functions keep their
# context parameter"). Same machine code, no second compile.
SHIFTED_BASES = ("plain", "compat", "migrated")
SHIFT_KINDS = tuple("%s_at%d" % (base, n) for base in SHIFTED_BASES for n in SHIFTS)


def shift_object(n):
    """bench/.build/shift/at<n>.o: an object of n bytes of text (int3
    filler, never executed) starting on a 64-byte boundary."""
    out = BUILD / "shift" / ("at%d.o" % n)
    src = out.with_suffix(".s")
    text = ("\t.text\n\t.balign 64\n\t.skip %d, 0xcc\n"
            "\t.section .note.GNU-stack,\"\",@progbits\n" % n)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or not src.exists() or src.read_text() != text:
        src.write_text(text)
        run(["cc", "-c", str(src), "-o", str(out)])
    return str(out)


def shift_link_env(python, target):
    """LDSHARED that links the build as usual and then once per shift into
    target/.shifted/<n>/ (bench/shiftlink.py)."""
    stock = build._config_var(python, "LDSHARED")
    if not stock:
        raise BuildError("%s has no LDSHARED in sysconfig" % python)
    return " ".join(shlex.quote(str(w)) for w in (
        [python, BENCH / "shiftlink.py", Path(target) / ".shifted"]
        + [shift_object(n) for n in SHIFTS] + ["--"])) + " " + stock


def workload_build_jobs(version, python, snapshot, sources):
    """[(description, job)] building every workload package in every kind.
    sources: {package: {"pristine": dir, "migrated": dir}}."""
    flags = {"plain": {"CFLAGS": None, "LDFLAGS": None},
             "relaid": {"CFLAGS": LAYOUT_CFLAGS, "LDFLAGS": None},
             "compat": snapshot.get(version, compat=True),
             "migrated": snapshot.get(version),
             "migrated_relaid": snapshot.get(version)}
    flags["migrated_relaid"]["CFLAGS"] = (
        flags["migrated_relaid"].get("CFLAGS", "") + " " + LAYOUT_CFLAGS).strip()
    jobs = []
    for kind in WORKLOAD_KINDS:
        for name in WORKLOAD_PACKAGES:
            src = sources[name]["migrated" if kind.startswith("migrated") else "pristine"]
            env = dict(flags[kind])
            env.update(PINS[name]["build_env"])
            env = {k: v for k, v in env.items() if v is not None}
            sub = BUILD / version / kind / ("." + name)
            if kind in SHIFTED_BASES:
                env["LDSHARED"] = shift_link_env(python, sub)

            def job(src=src, env=env, sub=sub, kind=kind, name=name):
                if cached_build(python, src, sub, env, extra_key=kind):
                    log("%s: built %s (%s)" % (version, name, kind))
            jobs.append(("%s %s (%s)" % (version, name, kind), job))
    return jobs


def assemble_sites(version):
    """One directory per contender for PYTHONPATH, holding every workload
    package of that build (plus "copy": the plain build once more)."""
    out = {}
    for kind in WORKLOAD_KINDS + SHIFT_KINDS + ("copy",):
        site = BUILD / version / ("site-" + kind)
        shutil.rmtree(site, ignore_errors=True)
        site.mkdir(parents=True)
        source_kind, _, shift = kind.partition("_at")
        source_kind = "plain" if kind == "copy" else source_kind
        for name in WORKLOAD_PACKAGES:
            sub = BUILD / version / source_kind / ("." + name)
            for entry in sub.iterdir():
                if entry.name.startswith("."):
                    continue
                dest = site / entry.name
                if entry.is_dir():
                    shutil.copytree(entry, dest)
                else:
                    shutil.copy2(entry, dest)
            if shift:
                place_shifted(site, sub, shift)
        out[kind] = site
    return out


def place_shifted(site, sub, shift):
    """Replace each extension module that build sub put into site by its
    twin linked at another placement (sub/.shifted/<shift>/<file name>,
    made by bench/shiftlink.py)."""
    shifted = sub / ".shifted" / shift
    twins = sorted(shifted.iterdir()) if shifted.is_dir() else []
    if not twins:
        raise BuildError("%s: no extension linked at this placement" % shifted)
    for twin in twins:
        found = [p for p in sub.rglob(twin.name)
                 if p.is_file() and ".shifted" not in p.relative_to(sub).parts]
        if len(found) != 1:
            raise BuildError("%s: %d files named %s in %s" % (shifted, len(found), twin.name,
                                                               sub))
        shutil.copy2(twin, site / found[0].relative_to(sub))


def run_jobs(jobs, workers=2):
    """Run build jobs two at a time (2 cores); the first failure is raised
    after the others finished."""
    started = time.time()
    errors = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(job): what for what, job in jobs}
        for fut in concurrent.futures.as_completed(futures):
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append((futures[fut], exc))
    if errors:
        what, exc = errors[0]
        raise BuildError("%s: %s" % (what, exc)) if not isinstance(exc, BuildError) else exc
    return time.time() - started


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


SLOW = ("pyctx_slow_ctx", "pyctx_slow_compat", "pyctx__slow")
# The header's deliberately out-of-line rare paths (a fresh allocation or
# release through CPython, a registered type's deallocation): calls, not
# wrappers that failed to inline.
OUT_OF_LINE = ("pyctx__new_fresh", "pyctx__free_fresh", "pyctx__dealloc_registered")
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
    (`test $0x1`, or the mask `$0x3` of a dealloc-safe check, before a
    branch) and every compat flag test (a compare of
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
                # the fast bit, or the fast-or-dealloc mask of a
                # dealloc-safe function's check
                if re.match(r"(test|and) \$0x[13],%", insn):
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
            ("pyctx_ctx_", "pyctx_legacy_", "pyctx__", "pyctx_fast_")) and c not in SLOW
            and c not in OUT_OF_LINE],
        "instructions": len(body),
        "listing": ["%x: %s" % (a, re.sub(r" <[^>]*>", "", i) if _mnemonic(i) != "call"
                                else i) for a, i in body],
    }


def function_calls(funcs, name):
    """Every call in a function (any path), in order, without repeats."""
    calls = []
    for _, insn in funcs.get(name, []) + funcs.get(name + ".cold", []):
        if _mnemonic(insn) == "call":
            target = _call_target(insn)
            target = "(indirect)" if target.startswith("call *") else target
            if target not in calls:
                calls.append(target)
    return calls


def analyse_percall(so):
    funcs = disassemble(so)
    ops = ["is_true", "long_as_long", "tuple_new", "err_occurred", "decref_zero",
           "incref_decref", "get_tstate", "runtime_type"]
    loops = {op: {m: analyse_loop(funcs, "bench_%s_%s" % (m, op))
                  for m in ("direct", "ctx", "legacy")} for op in ops}
    loops["runtime_type"]["ctx_lean"] = analyse_loop(funcs, "bench_ctx_runtime_type_lean")
    # The deallocators the runtime_type loops end up in (called through the
    # type table or tp_dealloc, so not on the loops' own walk).
    deallocs = {
        "direct": function_calls(funcs, "bench_direct_rt_dealloc"),
        "ctx": function_calls(funcs, "bench_ctx_rt_dealloc_impl"),
        "ctx_lean": function_calls(funcs, "bench_ctx_rt_lean_dealloc_impl"),
        "legacy": function_calls(funcs, "bench_legacy_rt_dealloc_impl"),
    }
    return {"loops": loops, "deallocators": deallocs}


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


WORKLOADS = ("markupsafe_escape", "simplejson_dumps", "simplejson_loads", "regex_search")


def count_api_calls(python, site):
    """API calls per call of each workload made by one build's extensions,
    counted by the runtime in stats mode (PYCTX_STATS) in a separate,
    untimed process (bench/workloads/driver.py --count): {workload:
    {"legacy": n, "ctx": n, "legacy_by_function": {...}}}."""
    stats = BUILD / "results" / ("stats-%d.jsonl" % os.getpid())
    cmd = [str(python), str(BENCH / "workloads" / "driver.py"), "--build", "b=%s" % site,
           "--count"]
    proc = subprocess.run(cmd, env=clean_env("", PYCTX_STATS=stats), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace")
    stats.unlink(missing_ok=True)
    if proc.returncode != 0:
        log("API-call count in %s failed: %s" % (site, proc.stderr[-2000:]))
        return None
    return json.loads(proc.stdout)


# The C extension module of each workload package, in a site directory.
EXTENSION_GLOBS = {"markupsafe": "markupsafe/_speedups*.so",
                   "simplejson": "simplejson/_speedups*.so", "regex": "regex/_regex*.so"}


def code_facts(site, runtime_symbols):
    """Per workload package of one build: the extension's text size (`size`)
    and the pyctx wrappers the compiler kept out of line, with the number of
    call sites of each (objdump): every ctx-form or legacy call is meant to
    be inlined to a bit or flag test; C-variadic ones (Py_BuildValue,
    PyArg_Parse*, ...) cannot be."""
    out = {}
    for pkg, pattern in EXTENSION_GLOBS.items():
        so = next(Path(site).glob(pattern), None)
        if so is None:
            continue
        # The extension's own code: text symbols minus the runtime's (Rust,
        # mangled or #[no_mangle] pyctx_* entry points of libpyctx.a, and the
        # compiler builtins the Rust staticlib brings).
        text = 0
        for line in capture(["nm", "-S", "--defined-only", str(so)]).splitlines():
            f = line.split()
            if len(f) == 4 and f[2] in "tT" and f[3] not in runtime_symbols \
                    and not f[3].startswith(("_ZN", "_R", "__", "rust_", "pyctx_slow_",
                                             "pyctx_callback_", "pyctx_type_register",
                                             "atexit")):
                text += int(f[1], 16)
        calls = {}
        for line in capture(["objdump", "-d", "--no-show-raw-insn", str(so)]).splitlines():
            m = re.search(r"\bcall\s+[0-9a-f]+ <(pyctx_(?:ctx|fast|legacy)_[A-Za-z0-9_]+|"
                          r"pyctx__dealloc)(?:\.[a-z]+\.\d+)?>", line)
            if m:
                calls[m.group(1)] = calls.get(m.group(1), 0) + 1
        out[pkg] = {"own_code_bytes": text, "outlined_calls": calls}
    return out


def select_pythons(opts):
    """{version: python} of --versions (every set-up one by default)."""
    pythons = interpreters()
    if not opts.versions:
        return pythons
    try:
        wanted = build.select_versions(pythons, opts.versions, strict=True)
    except BuildError as exc:
        raise SystemExit("--versions %s" % exc)
    return {v: pythons[v] for v in wanted}


def measure(opts):
    mode = MODES["quick" if opts.quick else "default"]
    pythons = select_pythons(opts)
    results = {"mode": "quick" if opts.quick else "default", "settings": mode,
               "machine": machine_info(), "percall_extra_cflags": PERCALL_EXTRA_CFLAGS,
               "layout_cflags": LAYOUT_CFLAGS, "only": sorted(opts.only),
               "pins": {n: {"version": PINS[n]["version"], "sha256": PINS[n]["sha256"]}
                        for n in CORPUS_PACKAGES},
               "versions": {}}
    out_dir = BUILD / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    snapshot = RuntimeSnapshot(pythons)
    results["runtime_snapshot"] = snapshot.digest
    results["pyctx_binary"] = snapshot.pyctx_digest
    any_python = next(iter(pythons.values()))

    # 1. sources: unpack the sdists, migrate the workload packages' copies.
    unpacked = {}
    needed = set()
    if "workloads" in opts.only:
        needed |= set(WORKLOAD_PACKAGES)
    if "cli" in opts.only:
        needed |= set(CORPUS_PACKAGES)
    for name in CORPUS_PACKAGES:
        if name in needed:
            unpacked[name] = unpack_sdist(name, any_python)
    sources = {}
    if "workloads" in opts.only:
        results["migration"] = {}
        for name in WORKLOAD_PACKAGES:
            dest, facts = migrate_sources(name, any_python, snapshot.pyctx)
            sources[name] = {"pristine": unpacked[name], "migrated": dest}
            results["migration"][name] = facts
            log("migrated %s: %s" % (name, facts["summary"]))

    # 2. builds, two at a time; meanwhile (nothing is timed yet) spatch
    # without a macro file, whose outcome (not its time) is reported.
    jobs = []
    for version, python in pythons.items():
        if "percall" in opts.only:
            jobs.append(percall_build_job(version, python, snapshot))
        if "wins" in opts.only:
            jobs.append(wins_section.build_job(version, python, snapshot, BUILD, cached_build,
                                               log))
        if "workloads" in opts.only:
            jobs += workload_build_jobs(version, python, snapshot, sources)
    cli_work = BUILD / "cli"
    background = None
    if "cli" in opts.only:
        cli_setup = cli_prepare(unpacked, snapshot, pythons, cli_work)
        results["cli_setup"] = {k: v for k, v in cli_setup.items() if k != "tree"}
        if cli_setup.get("spatch") and not opts.quick:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            background = pool.submit(
                cli.measure_spatch, cli_setup["tree"], cli_setup["files"], cli_setup["names"],
                cli_work, macros=False, timeout=SPATCH_NOMACRO_TIMEOUT, per_file=True)
            pool.shutdown(wait=False)
    log("building (%d jobs, 2 at a time)" % len(jobs))
    results["build_seconds"] = run_jobs(jobs)
    if background is not None:
        log("waiting for spatch without a macro file (per file, %d s timeout)"
            % SPATCH_NOMACRO_TIMEOUT)
        results["spatch_nomacros"] = background.result()[0]
    results["setup_seconds"] = time.time() - t_start

    # 3. measurements, one at a time.
    started = time.time()
    for version, python in pythons.items():
        entry = results["versions"].setdefault(version, {})
        entry["python"] = str(python)
        if "percall" in opts.only:
            target, so, env = percall_module(version, snapshot)
            entry["percall_cflags"] = build.compile_flags(env)
            entry["disasm"] = analyse_percall(so)
            log("%s: per-call measurements" % version)
            s = mode["percall"]
            entry["percall"] = run_driver(
                python, BENCH / "percall" / "driver.py",
                ["--module-dir", target, "--reps", s["reps"], "--rounds", s["rounds"],
                 "--target-ms", s["target_ms"]],
                target, out_dir / ("percall-%s.json" % version))
        if "wins" in opts.only:
            log("%s: where the context wins" % version)
            entry["wins"] = wins_section.measure(version, python, BUILD, opts.quick, run_driver,
                                                out_dir)
        if "workloads" in opts.only:
            sites = assemble_sites(version)
            log("%s: workload measurements" % version)
            s = mode["workloads"]
            args = []
            for kind in ("plain", "copy", "relaid", "compat", "migrated",
                         "migrated_relaid") + SHIFT_KINDS:
                args += ["--build", "%s=%s" % (kind, sites[kind])]
            entry["workloads"] = run_driver(
                python, BENCH / "workloads" / "driver.py",
                args + ["--reps", s["reps"], "--rounds", s["rounds"],
                        "--target-ms", s["target_ms"]],
                "", out_dir / ("workloads-%s.json" % version))
            entry["api_calls"] = {kind: count_api_calls(python, sites[kind])
                                  for kind in ("compat", "migrated")}
            entry["code"] = {kind: code_facts(sites[kind], snapshot.runtime_symbols)
                             for kind in ("plain", "compat", "migrated")}
    if "cli" in opts.only:
        results["cli"] = measure_cli(cli_setup, mode["cli"], cli_work, snapshot, pythons)
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["seconds"] = time.time() - started
    results["total_seconds"] = time.time() - t_start
    path = out_dir / "results.json"
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    log("raw results: %s" % path.relative_to(ROOT))
    return results


# ---------------------------------------------------------------------------
# CLI throughput and Coccinelle (bench/cli.py does the work)

# spatch without a macro file: per-file timeout (its slowest file needs
# minutes; the run overlaps the builds, so only its outcome is reported).
SPATCH_NOMACRO_TIMEOUT = 20
# Which interpreter's API list names the functions the semantic patch
# rewrites (the issue asks for 3.12's).
SPATCH_API_PYTHON = ("3.12", "3.13", "3.11", "3.10", "3.9")


def cli_prepare(unpacked, snapshot, pythons, work):
    """The corpus tree (the C source paths of the seven sdists), its files
    and lines, the API names for the semantic patch, spatch's version."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tree = work / "corpus"
    c_sources = {n: PINS[n]["c_sources"] for n in unpacked}
    paths = cli.make_tree(unpacked, c_sources, tree)
    files = cli.c_files(tree, paths)
    lines = {f: cli.count_lines(tree / f) for f in files}
    all_pythons = interpreters()
    api_version = next(v for v in SPATCH_API_PYTHON if v in all_pythons)
    names = sorted(offered_names(snapshot.pyctx, all_pythons[api_version]))
    version = cli.spatch_version()
    return {"tree": tree, "paths": paths, "files": files, "lines": lines,
            "total_lines": sum(lines.values()),
            "bytes": sum((tree / f).stat().st_size for f in files),
            "packages": {n: PINS[n]["version"] for n in unpacked},
            "names": names, "api_version": api_version, "spatch": version,
            "spatch_missing_reason": None if version else (
                "spatch not found: scripts/bench installs Debian's coccinelle with apt-get "
                "(apt-cache policy coccinelle shows whether the package is available)")}


def measure_cli(setup, settings, work, snapshot, pythons):
    tree, files, names = setup["tree"], setup["files"], setup["names"]
    t0 = time.time()
    log("CLI: pyctx migrate over %d files (%d lines), %d timed runs" % (
        len(files), setup["total_lines"], settings["runs"]))
    out = {}
    out["pyctx"], pyctx_tree = cli.measure_pyctx(snapshot.pyctx, tree, setup["paths"], work,
                                                 settings["runs"], settings["write_runs"])
    outputs = {"pyctx": pyctx_tree}
    log("CLI: large files, every mode against --check (%.0f s)" % (time.time() - t0))
    out["large"] = cli.measure_large(snapshot.pyctx, work / "large",
                                     sizes=settings["large_sizes"])
    if setup["spatch"]:
        log("CLI: spatch (Coccinelle %s) over the same files (%.0f s)" % (
            setup["spatch"], time.time() - t0))
        sp, sp_tree = cli.measure_spatch(tree, files, names, work, macros=True)
        changed = [f for f in files if (sp_tree / f).read_bytes() != (tree / f).read_bytes()]
        sp["files_changed"] = len(changed)
        sp["again"] = cli.spatch_again(sp_tree, changed, work)
        out["spatch"] = sp
        outputs["spatch"] = sp_tree
    # untimed analysis
    log("CLI: comparing the outputs (%.0f s)" % (time.time() - t0))
    all_pythons = interpreters()
    includes = [capture([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"])
                for py in all_pythons.values()]
    live = cli.live_lines(tree, files, includes)
    out["live_versions"] = list(all_pythons)
    # Names with a ctx form on every installed CPython; a call of a name that
    # has one on some versions only (PyUnicode_READ: 3.11+) is counted apart.
    everywhere = None
    for py in all_pythons.values():
        listed = offered_names(snapshot.pyctx, py)
        everywhere = listed if everywhere is None else everywhere & listed
    out["names_everywhere"] = len(everywhere)
    out["compare"] = cli.compare(tree, outputs, files, set(names), live=live,
                                 everywhere=everywhere)
    out["layout"] = {tool: cli.layout_changes(tree, root, files) for tool, root in outputs.items()}
    # Does each output still compile (one CPython: the one the API names came
    # from)? pyctx's output includes pyctx.h itself: `--cflags`. spatch's
    # does not (the semantic patch adds no #include), so it gets `--cflags
    # --compat`, whose Python.h includes pyctx.h: the same as if it had.
    api_v = setup["api_version"]
    python = all_pythons[api_v]
    include = includes[list(all_pythons).index(api_v)]
    roots = {"original": (tree, [])}
    if "pyctx" in outputs:
        roots["pyctx"] = (outputs["pyctx"], shlex.split(
            snapshot_flags(snapshot, api_v, pythons, python, compat=False)))
    if "spatch" in outputs:
        roots["spatch"] = (outputs["spatch"], shlex.split(
            snapshot_flags(snapshot, api_v, pythons, python, compat=True)))
    log("CLI: compiling the outputs (%.0f s)" % (time.time() - t0))
    out["compile"] = cli.compile_check(roots, files, include)
    out["compile_python"] = api_v
    log("CLI: done (%.0f s)" % (time.time() - t0))
    return out


def snapshot_flags(snapshot, version, pythons, python, compat=False):
    """--cflags [--compat] of the snapshot for `version`, or of the
    checkout's pyctx for an interpreter outside this run's selection."""
    if version in pythons:
        return build.compile_flags(snapshot.get(version, compat=compat))
    return build.compile_flags(pyctx_flags(python, compat=compat))


PARTS = ("percall", "wins", "workloads", "cli")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short, noisier run")
    ap.add_argument("--versions", help="comma-separated subset, e.g. 3.11,3.13")
    ap.add_argument("--only", default=",".join(PARTS),
                    help="comma-separated parts: percall, wins, workloads, cli (default: all)")
    ap.add_argument("--report-only", metavar="RESULTS_JSON",
                    help="render the report from saved raw results, measure nothing")
    ap.add_argument("--no-docs", action="store_true",
                    help="print the table only; leave docs/ alone (implied by "
                         "--versions / --only)")
    opts = ap.parse_args()
    opts.only = set(opts.only.split(","))
    unknown = opts.only - set(PARTS)
    if unknown:
        ap.error("unknown part(s) for --only: %s" % ", ".join(sorted(unknown)))

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
    partial = not opts.report_only and (opts.versions or opts.only != set(PARTS))
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
