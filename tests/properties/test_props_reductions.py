"""Property tests of the reductions (sum mean max min amax amin argmax argmin var std logsumexp all any) over dim
None/int/tuple, keepdim, empty dims, NaN/Inf and non-contiguous inputs against PyTorch, gradients for float inputs,
and out-of-range dims raising errors that name the op."""
import numpy as np
from hypothesis import given, strategies as st

import ember
from props_helpers import torch, tensor_pairs, shapes, assert_close, raises_naming, DTYPES

FLOAT_REDUCTIONS = ["sum", "mean", "amax", "amin", "var", "std", "logsumexp"]
INDEX_REDUCTIONS = ["argmax", "argmin"]
BOOL_REDUCTIONS = ["all", "any"]


@st.composite
def dims_for(draw, ndim, allow_tuple=True):
    if ndim == 0:
        return draw(st.sampled_from([None, 0, -1]))
    single = st.integers(-ndim, ndim - 1)
    options = [st.none(), single]
    if allow_tuple:
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    return draw(st.one_of(*options))


def call(lib, op, x, dim, keepdim):
    fn = getattr(lib, op)
    if dim is None:
        return fn(x) if op not in ("logsumexp",) else fn(x, tuple(range(x.ndim)))
    return fn(x, dim, keepdim=keepdim)


def same_outcome(op, e_call, t_call):
    """torch's result, or None once ember has raised a clear error too (e.g. max of an empty dim)."""
    try:
        return t_call()
    except (RuntimeError, IndexError, ValueError, TypeError):
        with raises_naming(op):
            e_call()
        return None


@given(st.sampled_from(FLOAT_REDUCTIONS), tensor_pairs(dtypes=["float32", "float64", "int64"], special=True,
                                                       max_side=4), st.data(), st.booleans())
def test_float_reductions_match_torch(op, pair, data, keepdim):
    e, t, dtype = pair
    dim = data.draw(dims_for(e.ndim))
    expected = same_outcome(op, lambda: call(ember, op, e, dim, keepdim), lambda: call(torch, op, t, dim, keepdim))
    if expected is None:
        return
    got = call(ember, op, e, dim, keepdim)
    assert_close(got, expected, dtype if dtype != "int64" else "float32", rtol=1e-4 if dtype != "float64" else 1e-9,
                 atol=1e-4 if dtype != "float64" else 1e-10, check_dtype=not (dtype == "int64" and op != "sum"
                                                                            and op not in ("amax", "amin")))


@given(st.sampled_from(["max", "min"]), tensor_pairs(dtypes=["float32", "float64", "int64"], min_dims=1,
                                                     max_side=4), st.data(), st.booleans())
def test_max_min_with_dim_return_values_and_indices(op, pair, data, keepdim):
    e, t, dtype = pair
    dim = data.draw(st.integers(-e.ndim, e.ndim - 1))
    expected = same_outcome(op, lambda: getattr(ember, op)(e, dim, keepdim), lambda: getattr(torch, op)(t, dim, keepdim))
    if expected is None:
        return
    values, indices = getattr(ember, op)(e, dim, keepdim)
    assert_close(values, expected.values, dtype)
    # ties may pick different indices; the value at ember's index must be the extreme value
    taken = np.take_along_axis(t.numpy(), indices.numpy() if keepdim else np.expand_dims(indices.numpy(), dim), dim)
    assert_close(taken if keepdim else np.squeeze(taken, dim), expected.values, dtype)


@given(st.sampled_from(INDEX_REDUCTIONS), tensor_pairs(dtypes=["float32", "float64", "int64"], max_side=4),
       st.data(), st.booleans())
def test_argmax_argmin_match_torch(op, pair, data, keepdim):
    e, t, dtype = pair
    dim = data.draw(st.one_of(st.none(), st.integers(-max(e.ndim, 1), max(e.ndim, 1) - 1)))
    t_call = (lambda: getattr(torch, op)(t)) if dim is None else (lambda: getattr(torch, op)(t, dim, keepdim))
    e_call = (lambda: getattr(ember, op)(e)) if dim is None else (lambda: getattr(ember, op)(e, dim, keepdim))
    expected = same_outcome(op, e_call, t_call)
    if expected is None:
        return
    got = e_call()
    assert tuple(got.shape) == tuple(expected.shape) and got.dtype == ember.int64
    flat_t = t.numpy().reshape(-1) if dim is None else None
    if dim is None:
        assert flat_t[got.item()] == flat_t[expected.item()] or (np.isnan(flat_t[got.item()]) and
                                                                  np.isnan(flat_t[expected.item()]))


@given(st.sampled_from(BOOL_REDUCTIONS), tensor_pairs(dtypes=["bool"], max_side=4), st.data(), st.booleans())
def test_all_any_match_torch(op, pair, data, keepdim):
    e, t, _ = pair
    dim = data.draw(st.one_of(st.none(), st.integers(-max(e.ndim, 1), max(e.ndim, 1) - 1)))
    got = getattr(ember, op)(e) if dim is None else getattr(ember, op)(e, dim, keepdim=keepdim)
    expected = getattr(torch, op)(t) if dim is None else getattr(torch, op)(t, dim, keepdim=keepdim)
    assert_close(got, expected, "bool")


@given(st.sampled_from(["sum", "mean", "amax", "var", "std", "logsumexp"]), tensor_pairs(max_side=4), st.data(),
       st.booleans())
def test_reduction_gradients_match_torch(op, pair, data, keepdim):
    e, t, dtype = pair
    dim = data.draw(dims_for(e.ndim))
    e, t = e.detach().requires_grad_(True), t.detach().clone().requires_grad_(True)
    expected = same_outcome(op, lambda: call(ember, op, e, dim, keepdim), lambda: call(torch, op, t, dim, keepdim))
    if expected is None:
        return
    got = call(ember, op, e, dim, keepdim)
    grad = np.random.default_rng(5).standard_normal(tuple(expected.shape)).astype(t.detach().numpy().dtype)
    expected.backward(torch.from_numpy(grad))
    got.backward(ember.from_numpy(grad.copy()))
    assert_close(e.grad, t.grad, dtype, rtol=1e-3 if dtype == "float32" else 1e-8, atol=1e-4)


@given(st.sampled_from(FLOAT_REDUCTIONS + ["max", "min", "argmax", "argmin", "all", "any"]),
       shapes(max_dims=3, max_side=3), st.integers(0, 4), st.booleans())
def test_out_of_range_dims_raise_index_error_naming_the_op(op, shape, extra, negative):
    x = ember.zeros(*shape, dtype=ember.bool if op in BOOL_REDUCTIONS else ember.float32)
    bad = max(len(shape), 1) + extra
    with raises_naming(op, (IndexError, ValueError)):
        getattr(ember, op)(x, -bad - 1 if negative else bad)
