"""Shared hypothesis strategies for the property tests: shapes with size-0 and size-1 dims, dtypes, and ember/torch
tensor pairs with identical values whose ember side has a chosen memory layout (contiguous, transposed, stepped
slice, expanded). Also value comparison helpers and `raises_naming`, the check for a clear bad-input error."""
import contextlib

import numpy as np
import pytest
from hypothesis import strategies as st

import ember

torch = pytest.importorskip("torch")

DTYPES = {"float32": (np.float32, ember.float32, torch.float32), "float64": (np.float64, ember.float64, torch.float64),
          "int64": (np.int64, ember.int64, torch.int64), "bool": (np.bool_, ember.bool, torch.bool)}
FLOAT_DTYPES = ["float32", "float64"]
LAYOUTS = ["contiguous", "transposed", "stepped", "expanded", "offset"]
CLEAR_ERRORS = (ValueError, TypeError, IndexError, RuntimeError, NotImplementedError)


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=5):
    """Shapes with many size-0 and size-1 dims (hypothesis shrinks towards them too)."""
    side = st.one_of(st.sampled_from([1, 1, 0]).filter(lambda s: s >= min_side),
                     st.integers(min_value=max(min_side, 0), max_value=max_side))
    return st.lists(side, min_size=min_dims, max_size=max_dims).map(tuple)


def values(rng, shape, dtype, special=False):
    """Random NumPy values of a dtype; float values with `special` include NaN, +-Inf and +-0."""
    np_dtype = DTYPES[dtype][0]
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype == "int64":
        return np.asarray(rng.integers(-9, 10, size=shape), dtype=np.int64)
    arr = np.asarray(rng.standard_normal(shape) * 2, dtype=np_dtype)
    if special and arr.size:
        picks = rng.random(shape) < 0.2
        arr[picks] = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np_dtype), size=int(picks.sum()))
    return arr


def laid_out(arr, layout, rng):
    """(ember tensor, torch tensor) holding `arr`; the ember tensor is a view with the given memory layout."""
    arr = np.asarray(arr)
    shape = arr.shape
    if layout == "transposed" and arr.ndim >= 2:
        base = np.array(np.swapaxes(arr, 0, -1), order="C")
        return ember.from_numpy(base).transpose(0, -1), torch.from_numpy(arr.copy())
    if layout == "stepped" and arr.ndim >= 1:
        big = np.zeros(shape[:-1] + (shape[-1] * 2 + 1,), arr.dtype)
        big[..., 1::2] = arr
        return ember.from_numpy(big)[..., 1::2], torch.from_numpy(arr.copy())
    if layout == "expanded" and arr.ndim >= 1:
        # keep one row of the first axis and broadcast it (the values are those of the expanded row)
        row = np.array(arr[:1], order="C") if shape[0] else np.zeros((1,) + shape[1:], arr.dtype)
        expanded = np.broadcast_to(row, shape).copy()
        return ember.from_numpy(row).expand(*shape), torch.from_numpy(expanded)
    if layout == "offset":
        flat = np.concatenate([np.zeros(3, arr.dtype), arr.reshape(-1)])
        return ember.from_numpy(flat)[3:].reshape(shape) if arr.ndim else ember.from_numpy(flat)[3:][0], \
            torch.from_numpy(arr.copy())
    return ember.from_numpy(np.array(arr, order="C")), torch.from_numpy(arr.copy())


@st.composite
def tensor_pairs(draw, shape=None, dtypes=("float32", "float64"), layouts=LAYOUTS, special=False, **shape_kw):
    """(ember tensor, torch tensor, dtype name) with identical values."""
    shape = draw(shapes(**shape_kw)) if shape is None else shape
    dtype = draw(st.sampled_from(list(dtypes)))
    layout = draw(st.sampled_from(list(layouts)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    arr = values(rng, shape, dtype, special=special and draw(st.booleans()))
    e, t = laid_out(arr, layout, rng)
    assert tuple(e.shape) == tuple(shape)
    return e, t, dtype


def broadcastable_to(shape, draw):
    """A shape that broadcasts with `shape` (dropped leading dims, some sides turned to 1)."""
    keep = draw(st.integers(0, len(shape)))
    tail = shape[len(shape) - keep:]
    return tuple(1 if draw(st.booleans()) else s for s in tail)


def to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x.detach() if hasattr(x, "detach") else x)


def tolerance(dtype):
    return (1e-4, 1e-5) if dtype in ("float32", None) else (1e-10, 1e-12)


def assert_close(e, t, dtype="float32", rtol=None, atol=None, check_dtype=True):
    """Values (NaN where NaN, Inf where Inf), shape and dtype of an ember result against torch."""
    default_rtol, default_atol = tolerance(dtype)
    e_np, t_np = to_numpy(e), to_numpy(t)
    assert e_np.shape == t_np.shape, f"shape {e_np.shape} vs torch {t_np.shape}"
    if check_dtype:
        assert e_np.dtype == t_np.dtype, f"dtype {e_np.dtype} vs torch {t_np.dtype}"
    np.testing.assert_allclose(e_np.astype(np.float64) if e_np.dtype != np.bool_ else e_np,
                               t_np.astype(np.float64) if t_np.dtype != np.bool_ else t_np,
                               rtol=default_rtol if rtol is None else rtol,
                               atol=default_atol if atol is None else atol, equal_nan=True)


def leaf(e, t, dtype):
    """Fresh leaves that require grad (float dtypes) for gradient comparisons."""
    return e.detach().clone().requires_grad_(True), t.detach().clone().requires_grad_(True)


@contextlib.contextmanager
def raises_naming(op, errors=CLEAR_ERRORS):
    """Expects a clear Python exception whose message names the op (case-insensitive)."""
    with pytest.raises(errors) as info:
        yield info
    assert op.lower() in str(info.value).lower(), f"error message {str(info.value)!r} does not name {op!r}"
