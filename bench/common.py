"""Shared by the benchmark drivers (which run inside each measured CPython,
3.9+) and the orchestrator: interleaving order and summary statistics.
Standard library only."""

import statistics

# The placement sweep of the real workloads (bench/run.py shift_object): the
# byte offsets, modulo a 64-byte cache line, at which the plain and the
# migrated extension's code is linked in turn.
SHIFTS = (0, 16, 32, 48)


def rotated(items, rep):
    """The contenders in the order used for repetition ``rep``: ABC, BCA, CAB,
    ... so that every contender runs first, second and last equally often and
    neighbours in time are compared (drift and position effects cancel)."""
    items = list(items)
    k = rep % len(items)
    return items[k:] + items[:k]


def quartiles(values):
    """(q1, median, q3) of a sample (inclusive method, as numpy's default)."""
    values = sorted(values)
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def summary(values):
    """Median, quartiles and range of a sample, as a dict."""
    q1, med, q3 = quartiles(values)
    return {"median": med, "q1": q1, "q3": q3, "min": min(values),
            "max": max(values), "n": len(values)}


def paired_ratios(numer, denom):
    """Per-repetition ratios numer[i] / denom[i] (both measured in the same
    repetition, next to each other in time)."""
    if len(numer) != len(denom):
        raise ValueError("samples of different length")
    # A repetition whose reading is not a positive, finite time (a clock
    # that did not advance; results saved before the drivers dropped such
    # readings) has no ratio; the summary's n shows how many remain.
    return [a / b for a, b in zip(numer, denom)
            if 0 < a < float("inf") and 0 < b < float("inf")]


def summed_ratios(samples, numer, denom):
    """Per repetition, the sum of the numer contenders' times over the sum
    of the denom contenders' (all measured in that repetition): with numer
    and denom one build's placements each (SHIFTS), the ratio with code
    placement averaged out. Summary plus the per-repetition values."""
    n = len(samples[denom[0]])
    sums = [[sum(samples[k][i] for k in ks) for i in range(n)] for ks in (numer, denom)]
    values = paired_ratios(*sums)
    out = summary(values)
    out["values"] = values
    return out
