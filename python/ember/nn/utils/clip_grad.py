"""Gradient clipping: clip_grad_norm_ (one read pass per gradient for the norm, one in-place scale) and
clip_grad_value_. Gradients are modified in place without autograd."""
import math

import numpy as np

from ... import _C
from ...autograd import no_grad


def _gradients(parameters):
    if isinstance(parameters, _C.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm_of(grad, norm_type):
    """The norm of one gradient, as a Python float (accumulated in the gradient's dtype, as PyTorch)."""
    values = grad.detach()._numpy_view().reshape(-1)
    if values.size == 0:
        return 0.0
    if norm_type == 2.0:
        return math.sqrt(float(np.dot(values, values)))
    if math.isinf(norm_type):
        magnitudes = np.abs(values)
        return float(magnitudes.max() if norm_type > 0 else magnitudes.min())
    if norm_type == 1.0:
        return float(np.abs(values).sum())
    if norm_type == 0.0:
        return float(np.count_nonzero(values))
    return float(np.sum(np.abs(values).astype(np.float64) ** norm_type) ** (1.0 / norm_type))


def _combine(norms, norm_type):
    """The norm of the vector of per-gradient norms (equal to the norm of all gradients concatenated)."""
    if math.isinf(norm_type):
        return max(norms) if norm_type > 0 else min(norms)
    if norm_type == 0.0:
        return float(sum(norms))
    if norm_type == 1.0:
        return float(sum(norms))
    if norm_type == 2.0:
        return math.sqrt(sum(n * n for n in norms))
    return sum(n ** norm_type for n in norms) ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales all gradients together so that their total norm is at most max_norm (by max_norm / (norm + 1e-6)
    when it is larger); returns the total norm before clipping as a 0-d tensor."""
    grads = _gradients(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if len(grads) == 0:
        return _C.zeros(())
    dtype = grads[0].dtype
    with np.errstate(over="ignore", invalid="ignore"):
        total = _combine([_norm_of(g, norm_type) for g in grads], norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    clip_coef = max_norm / (total + 1e-6) if not math.isnan(total) else math.nan
    if not clip_coef >= 1.0:   # also true for NaN: PyTorch scales by the (NaN) coefficient
        clip_coef = float(np.float32(clip_coef)) if dtype == _C.dtype.float32 else clip_coef
        with no_grad():
            for g in grads:
                g.mul_(clip_coef)
    return _C.full((), total, dtype=dtype)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _gradients(parameters):
            g.clamp_(min=-clip_value, max=clip_value)
