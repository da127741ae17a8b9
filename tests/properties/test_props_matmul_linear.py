"""Property tests of matmul (1-d, 2-d, batched with broadcasting, size-0 dims, transposed and sliced operands),
bmm and linear against PyTorch, with gradients; mismatched inner dims, bad ranks and dtypes raise naming the op."""
import numpy as np
from hypothesis import given, strategies as st

import ember
from ember.nn import functional as F
from props_helpers import torch, values, laid_out, assert_close, raises_naming, LAYOUTS

SIDE = st.one_of(st.sampled_from([0, 1]), st.integers(1, 9))


@st.composite
def matmul_operands(draw, dtypes=("float32", "float64")):
    m, k, n = draw(SIDE), draw(SIDE), draw(SIDE)
    batch = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    a_shape = draw(st.sampled_from([(k,), (m, k), batch + (m, k)]))
    b_batch = tuple(1 if draw(st.booleans()) else s for s in batch)[len(batch) - draw(st.integers(0, len(batch))):]
    b_shape = draw(st.sampled_from([(k,), (k, n), b_batch + (k, n)]))
    dtype = draw(st.sampled_from(list(dtypes)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    ea, ta = laid_out(values(rng, a_shape, dtype), draw(st.sampled_from(LAYOUTS)), rng)
    eb, tb = laid_out(values(rng, b_shape, dtype), draw(st.sampled_from(LAYOUTS)), rng)
    return ea, ta, eb, tb, dtype


def tolerances(dtype, k):
    return dict(rtol=1e-4, atol=1e-4 * max(k, 1)) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10 * max(k, 1))


@given(matmul_operands(), st.booleans())
def test_matmul_values_and_gradients_match_torch(operands, with_grad):
    ea, ta, eb, tb, dtype = operands
    if with_grad:
        ea, ta = ea.detach().requires_grad_(True), ta.detach().clone().requires_grad_(True)
        eb, tb = eb.detach().requires_grad_(True), tb.detach().clone().requires_grad_(True)
    expected = torch.matmul(ta, tb)
    got = ember.matmul(ea, eb)
    k = ta.shape[-1]
    assert_close(got, expected, dtype, **tolerances(dtype, k))
    assert_close(ea @ eb, expected, dtype, **tolerances(dtype, k))
    if with_grad:
        grad = np.random.default_rng(0).standard_normal(tuple(expected.shape)).astype(ta.detach().numpy().dtype)
        expected.backward(torch.from_numpy(grad))
        got.backward(ember.from_numpy(grad.copy()))
        assert_close(ea.grad, ta.grad, dtype, **tolerances(dtype, 16))
        assert_close(eb.grad, tb.grad, dtype, **tolerances(dtype, 16))


@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 3), st.data())
def test_mismatched_inner_dims_and_bad_ranks_raise_naming_the_op(k, extra, batch, data):
    a = ember.zeros(batch + 1, 3, k)
    b = ember.zeros(k + extra, 2)
    with raises_naming("matmul"):
        ember.matmul(a, b)
    with raises_naming("matmul"):
        ember.matmul(ember.tensor(1.0), b)
    with raises_naming("bmm"):
        ember.bmm(ember.zeros(2, 3, k), ember.zeros(2, k + extra, 4))
    with raises_naming("bmm"):
        ember.bmm(ember.zeros(3, k), ember.zeros(k, 4))
    with raises_naming("matmul", (TypeError, ValueError, RuntimeError)):
        ember.matmul(ember.zeros(3, k, dtype=ember.int64) > 0, ember.zeros(k, 2) > 0)


@given(st.integers(0, 5), st.integers(0, 7), st.integers(0, 6), st.sampled_from(["float32", "float64"]),
       st.booleans(), st.sampled_from(LAYOUTS), st.integers(0, 2 ** 31))
def test_linear_matches_torch(batch, fan_in, fan_out, dtype, with_bias, layout, seed):
    rng = np.random.default_rng(seed)
    ex, tx = laid_out(values(rng, (batch, fan_in), dtype), layout, rng)
    w = values(rng, (fan_out, fan_in), dtype)
    b = values(rng, (fan_out,), dtype) if with_bias else None
    ew = ember.from_numpy(w.copy()).requires_grad_(True)
    tw = torch.from_numpy(w.copy()).requires_grad_(True)
    eb = ember.from_numpy(b.copy()).requires_grad_(True) if with_bias else None
    tb = torch.from_numpy(b.copy()).requires_grad_(True) if with_bias else None
    got, expected = F.linear(ex, ew, eb), torch.nn.functional.linear(tx, tw, tb)
    assert_close(got, expected, dtype, **tolerances(dtype, fan_in))
    grad = rng.standard_normal((batch, fan_out)).astype(w.dtype)
    got.backward(ember.from_numpy(grad.copy()))
    expected.backward(torch.from_numpy(grad))
    assert_close(ew.grad, tw.grad, dtype, **tolerances(dtype, batch))
    if with_bias:
        assert_close(eb.grad, tb.grad, dtype, **tolerances(dtype, batch))


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3))
def test_linear_refuses_mismatched_weights(fan_in, fan_out, extra):
    x = ember.zeros(2, fan_in)
    with raises_naming("linear"):
        F.linear(x, ember.zeros(fan_out, fan_in + extra))
    with raises_naming("linear"):
        F.linear(x, ember.zeros(fan_out, fan_in), ember.zeros(fan_out + extra))
