/*
 * Python.h, as seen by an unmodified extension built with
 * `pyctx flags --cflags --compat`: this directory comes first on the include
 * path, so `#include <Python.h>` lands here. We include CPython's real
 * Python.h (the user's PY_SSIZE_T_CLEAN and other settings are already in
 * effect), then pyctx.h, which turns every API call that follows into its
 * compat (legacy) form.
 */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC system_header
#endif
#ifndef PYCTX_COMPAT_PYTHON_H
#define PYCTX_COMPAT_PYTHON_H
#include_next <Python.h>
#include "pyctx.h"
#endif
