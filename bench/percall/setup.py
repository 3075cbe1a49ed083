"""The per-call benchmark extension (see loops.h). Built by bench/run.py with
the CFLAGS/LDFLAGS of `pyctx flags --cflags` / `--ldflags` (not --compat:
loops_direct.c and percall.c include CPython's own Python.h, the two other
translation units include pyctx.h; loops_copy.c is a second direct build)."""
from setuptools import Extension, setup

setup(
    name="pyctx-bench-percall",
    version="0",
    ext_modules=[
        Extension(
            "_pyctx_percall",
            sources=["percall.c", "loops_direct.c", "loops_ctx.c", "loops_legacy.c",
                     "loops_copy.c"],
            depends=["loops.h"],
        )
    ],
)
