"""The main job: see scripts/demo."""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import build  # noqa: E402

FIXTURE = ROOT / "fixtures" / "spine"


def run_suite(python, target, stats):
    env = build.clean_env(target, PYCTX_STATS=str(stats))
    proc = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(FIXTURE / "test_spine.py")],
        env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    return proc.returncode, summary


def calls(stats):
    legacy, ctx = {}, {}
    if stats.exists():
        for line in stats.read_text().splitlines():
            rec = json.loads(line)
            if "spine" not in Path(rec["module"]).name:
                continue
            for k, v in rec["legacy_calls"].items():
                legacy[k] = legacy.get(k, 0) + v
            for k, v in rec["ctx_calls"].items():
                ctx[k] = ctx.get(k, 0) + v
    return legacy, ctx


def describe(counts):
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
    return (f"{sum(counts.values())} calls to {len(counts)} API functions"
            + (" (most: " + ", ".join(f"{k} {v}" for k, v in top) + ")" if top else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--python", default="3.12", help="CPython minor version (default 3.12)")
    args = ap.parse_args()
    pythons = build.interpreters()
    if args.python not in pythons:
        sys.exit(f"demo: CPython {args.python} is not installed; have {', '.join(pythons)}")
    python = pythons[args.python]
    ok = True
    with tempfile.TemporaryDirectory(prefix="pyctx-demo-") as tmp:
        tmp = Path(tmp)
        for label, variant, compat in (("unmodified, via compat", "legacy", True),
                                       ("migrated, on the runtime", "migrated", False)):
            env = build.pyctx_flags(python, compat=compat)
            env["SPINE_VARIANT"] = variant
            target = tmp / variant
            print(f"== CPython {args.python}: spine {label}")
            print(f"   CFLAGS={env['CFLAGS']}")
            print(f"   LDFLAGS={env['LDFLAGS']}")
            build.pip_install(python, FIXTURE, target, env=env)
            stats = tmp / f"{variant}.stats"
            rc, summary = run_suite(python, target, stats)
            legacy, ctx = calls(stats)
            print(f"   fixture suite: {summary}")
            print(f"   legacy calls through compat: {describe(legacy)}")
            print(f"   ctx-form calls:              {describe(ctx)}")
            ok = ok and rc == 0
    print("== the migration (fixtures/spine/legacy -> fixtures/spine/migrated), first 80 lines")
    diff = subprocess.run(["diff", "-u", "legacy/spine.c", "migrated/spine.c"],
                          cwd=FIXTURE, capture_output=True, text=True).stdout
    print("\n".join(diff.splitlines()[:80]))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
