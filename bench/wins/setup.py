"""The "where the context wins" benchmark extension (see loops.h). Built by
bench/wins/section.py with the flags of `pyctx flags --cflags` /
`--ldflags` (wins.c, loops_direct.c and loops_copy.c include CPython's own
Python.h; loops_ctx.c and loops_legacy.c include pyctx.h)."""
from setuptools import Extension, setup

setup(
    name="pyctx-bench-wins",
    version="0",
    ext_modules=[
        Extension(
            "_pyctx_wins",
            sources=["wins.c", "loops_direct.c", "loops_ctx.c", "loops_legacy.c",
                     "loops_copy.c"],
            depends=["loops.h", "rows.h"],
        )
    ],
)
