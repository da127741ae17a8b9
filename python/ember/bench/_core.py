"""Shared pieces of `ember bench`: the Workload record every family module returns, interleaved timing (one
library after another inside each round, calls per sample calibrated once), and the validation helpers."""
import time

import numpy as np


class ValidationError(Exception):
    """A library computed something else than the reference: the workload is reported as failed, not timed."""


class Workload:
    """One benchmark: `prepare(torch_or_None)` builds the inputs, validates and returns a Prepared.

    name: unique id (matches the C++ benchmark's names for the training steps and per-op costs); family: gemm,
    conv, attention, train or overhead; params: the shape/model description written to the JSON; flops: floating
    point operations per call (None where a count means nothing, e.g. per-op overhead); quick: part of --quick."""

    def __init__(self, name, family, params, flops, prepare, quick=True, numpy_spec=None):
        self.name, self.family, self.params, self.flops = name, family, params, flops
        self.prepare, self.quick, self.numpy_spec = prepare, quick, numpy_spec


class Prepared:
    """Callables to time, per library ("ember", "torch"), and how they were validated.

    validation: {"status": "passed", "reference": what the results were compared with, "max_error": float|None}."""

    def __init__(self, runners, validation):
        self.runners, self.validation = runners, validation


def seconds_per_call(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def calibrate(fns, min_seconds):
    """Calls per sample so the fastest library's sample lasts about min_seconds (each fn already warmed up)."""
    fastest = min(seconds_per_call(fn, 1) for fn in fns)
    return max(1, int(min_seconds / max(fastest, 1e-7)))


def relative_error(got, want):
    """max |got - want| / max(1, max |want|), in float64."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise ValidationError(f"shape {got.shape} != reference shape {want.shape}")
    if not np.all(np.isfinite(got)):
        raise ValidationError("non-finite values")
    return float(np.max(np.abs(got - want), initial=0.0) / max(1.0, float(np.max(np.abs(want), initial=0.0))))


def check_close(pairs, tolerance, reference):
    """pairs: [(got, want)]; raises ValidationError past `tolerance`, else returns the validation record."""
    worst = 0.0
    for got, want in pairs:
        worst = max(worst, relative_error(got, want))
    if not worst <= tolerance:
        raise ValidationError(f"max relative error {worst:.3g} > {tolerance:g} against {reference}")
    return {"status": "passed", "reference": reference, "max_error": worst}


def to_numpy(t):
    """A tensor of either library (or a float) as a float64 NumPy array."""
    if hasattr(t, "detach"):
        t = t.detach()
    if hasattr(t, "numpy"):
        t = t.numpy()
    return np.asarray(t, np.float64)
