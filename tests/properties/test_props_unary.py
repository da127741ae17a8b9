"""Property tests of the unary ops and softmax/log_softmax: values on any shape, dtype and layout (NaN/Inf
propagate as in PyTorch), gradients for float inputs, and bad dims/dtypes raising errors that name the op."""
import numpy as np
from hypothesis import given, strategies as st

import ember
from props_helpers import torch, tensor_pairs, shapes, assert_close, raises_naming, DTYPES

UNARY = ["neg", "exp", "log", "sqrt", "rsqrt", "abs", "tanh", "sigmoid", "relu", "silu", "sign"]
FLOAT_ONLY = {"exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "silu"}
SMOOTH = ["neg", "exp", "tanh", "sigmoid", "silu", "abs", "relu"]


def torch_unary(op, t):
    return torch.nn.functional.silu(t) if op == "silu" else getattr(torch, op)(t)


@given(st.sampled_from(UNARY), tensor_pairs(dtypes=list(DTYPES), special=True))
def test_unary_values_match_torch_with_nan_and_inf(op, pair):
    e, t, dtype = pair
    try:
        expected = torch_unary(op, t)
    except (RuntimeError, TypeError, NotImplementedError):
        try:                                  # torch refuses this dtype: ember may promote it or refuse it clearly
            getattr(ember, op)(e)
        except Exception as exc:
            assert isinstance(exc, (TypeError, ValueError, NotImplementedError)) and op in str(exc)
        return
    if op in FLOAT_ONLY and dtype in ("int64", "bool"):
        try:
            got = getattr(ember, op)(e)
        except (TypeError, ValueError, NotImplementedError) as exc:   # refusing an integer input is fine...
            assert op in str(exc)                                          # ...when the error names the op
            return
    else:
        got = getattr(ember, op)(e)
    assert_close(got, expected, dtype if dtype in ("float32", "float64") else "float32",
                 check_dtype=dtype in ("float32", "float64") or op not in FLOAT_ONLY)
    assert_close(getattr(e, op)() if hasattr(e, op) else got, expected, dtype if dtype != "int64" else "float32",
                 check_dtype=False)


@given(st.sampled_from(SMOOTH + ["log", "sqrt", "rsqrt"]), tensor_pairs())
def test_unary_gradients_match_torch(op, pair):
    e, t, dtype = pair
    if op in ("log", "sqrt", "rsqrt"):
        e, t = ember.abs(e) + 0.1, torch.abs(t) + 0.1
    e, t = e.detach().requires_grad_(True), t.detach().clone().requires_grad_(True)
    t_out, e_out = torch_unary(op, t), getattr(ember, op)(e)
    grad = np.random.default_rng(2).standard_normal(tuple(t_out.shape)).astype(t_out.detach().numpy().dtype)
    t_out.backward(torch.from_numpy(grad))
    e_out.backward(ember.from_numpy(grad.copy()))
    assert_close(e.grad, t.grad, dtype, rtol=1e-3 if dtype == "float32" else 1e-9, atol=1e-5)


@given(st.sampled_from(["softmax", "log_softmax"]), tensor_pairs(min_dims=1, special=True), st.integers(-4, 3),
       st.booleans())
def test_softmax_values_and_gradients_match_torch(op, pair, dim, with_grad):
    e, t, dtype = pair
    dim = dim % e.ndim if dim >= 0 else max(dim, -e.ndim)
    special = not (np.isfinite(t.numpy()).all())
    if with_grad and not special:
        e, t = e.detach().requires_grad_(True), t.detach().clone().requires_grad_(True)
    got, expected = getattr(ember, op)(e, dim), getattr(torch, op)(t, dim)
    assert_close(got, expected, dtype, rtol=1e-4 if dtype == "float32" else 1e-9)
    if with_grad and not special:
        grad = np.random.default_rng(4).standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype)
        expected.backward(torch.from_numpy(grad))
        got.backward(ember.from_numpy(grad.copy()))
        assert_close(e.grad, t.grad, dtype, rtol=1e-3 if dtype == "float32" else 1e-9, atol=1e-5)


@given(st.sampled_from(["softmax", "log_softmax"]), shapes(max_dims=3), st.integers(3, 6))
def test_softmax_bad_dim_raises_naming_the_op(op, shape, extra):
    x = ember.zeros(*shape)
    bad = max(len(shape), 1) + extra - 3
    with raises_naming(op):
        getattr(ember, op)(x, bad)
    with raises_naming(op):
        getattr(ember, op)(x, -bad - 1)
