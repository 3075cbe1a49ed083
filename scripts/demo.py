"""The main job, end to end (see scripts/demo):

0. install pyctx as a user does: the wheel `scripts/wheel` builds from this
   checkout, pip-installed into a fresh virtualenv; every step below runs
   that installed `pyctx` (`--from-checkout`: target/release/pyctx instead);
1. `pyctx migrate` the spine fixture's legacy sources (a copy) and show the
   diff and the porting status;
2. build the unmodified sources with every API call routed through compat,
   and the migrated sources on the pyctx runtime;
3. run the fixture's test suite against both and show where the calls went.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import build  # noqa: E402

FIXTURE = ROOT / "fixtures" / "spine"


def pyctx(*args):
    return subprocess.run([str(build.pyctx_bin()), *map(str, args)], capture_output=True, text=True)


def install_wheel(base_python, tmp):
    """pip install the wheel into a fresh virtualenv; point PYCTX_BIN at it."""
    wheel = subprocess.run([str(ROOT / "scripts" / "wheel"), str(tmp / "dist")], check=True,
                           capture_output=True, text=True).stdout.strip()
    venv = tmp / "venv"
    subprocess.run([str(base_python), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                    wheel], check=True)
    os.environ["PYCTX_BIN"] = str(venv / "bin" / "pyctx")
    print(f"== 0. pip install {Path(wheel).name} into a fresh virtualenv: "
          f"{os.environ['PYCTX_BIN']}")


def run_suite(python, target, stats):
    env = build.clean_env(target, PYCTX_STATS=str(stats))
    proc = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(FIXTURE / "test_spine.py")],
        env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, (lines[-1] if lines else proc.stderr.strip())


def calls(stats):
    legacy, ctx = {}, {}
    if stats.exists():
        for line in stats.read_text().splitlines():
            rec = json.loads(line)
            for k, v in rec["legacy_calls"].items():
                legacy[k] = legacy.get(k, 0) + v
            for k, v in rec["ctx_calls"].items():
                ctx[k] = ctx.get(k, 0) + v
    return legacy, ctx


def describe(counts):
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
    return (f"{sum(counts.values())} calls to {len(counts)} API functions"
            + (" (" + ", ".join(f"{k} {v}" for k, v in top) + ", ...)" if top else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default="3.12", help="CPython minor version (default 3.12)")
    ap.add_argument("--diff-lines", type=int, default=70, help="diff lines to show (default 70)")
    ap.add_argument("--from-checkout", action="store_true",
                    help="use target/release/pyctx instead of installing the wheel")
    args = ap.parse_args()
    pythons = build.interpreters()
    if args.python not in pythons:
        sys.exit(f"demo: CPython {args.python} is not installed; have {', '.join(pythons)}")
    python = pythons[args.python]
    ok = True
    with tempfile.TemporaryDirectory(prefix="pyctx-demo-") as tmp:
        tmp = Path(tmp)
        if not args.from_checkout:
            found = {f["minor"]: f["path"] for f in build.python_list()["found"]}
            install_wheel(found[args.python], tmp)
        project = tmp / "spine"
        shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__"))
        sources = project / "legacy"

        print("== 1. pyctx migrate fixtures/spine/legacy (a copy): the diff")
        diff = pyctx("migrate", "--color", "never", sources)
        lines = diff.stdout.splitlines()
        print("\n".join(lines[:args.diff_lines]))
        if len(lines) > args.diff_lines:
            print(f"... ({len(lines) - args.diff_lines} more diff lines)")
        print(diff.stderr.strip())
        write = pyctx("migrate", "--write", sources)
        ok = ok and write.returncode == 0
        print("== pyctx status after --write")
        print(pyctx("status", "--summary", sources).stdout.rstrip())
        check = pyctx("migrate", "--check", sources)
        print(f"== pyctx migrate --check on the result: exit {check.returncode} (0: nothing left to migrate)")
        ok = ok and check.returncode == 0

        builds = (("2. unmodified legacy sources, through compat", FIXTURE, True),
                  ("3. sources migrated by pyctx, on the runtime", project, False))
        for label, src, compat in builds:
            env = build.pyctx_flags(python, compat=compat)
            env["SPINE_VARIANT"] = "legacy"
            target = tmp / ("compat" if compat else "migrated")
            print(f"== {label}, CPython {args.python}")
            print(f"   CPPFLAGS={env.get('CPPFLAGS', '')}")
            build.pip_install(python, src, target, env=env)
            stats = tmp / f"{target.name}.stats"
            rc, summary = run_suite(python, target, stats)
            legacy, ctx = calls(stats)
            print(f"   fixture suite: {summary}")
            print(f"   legacy calls through compat: {describe(legacy)}")
            print(f"   ctx-form calls:              {describe(ctx)}")
            ok = ok and rc == 0
    print("demo:", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
