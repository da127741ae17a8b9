"""max/min/amax/amin/argmax/argmin, var/std, softmax/log_softmax/logsumexp and all/any against PyTorch: forward and
backward over every dim, keepdim, tuple and negative dims, non-contiguous views, size-0/1 dims, ties, NaN, -inf,
float64 gradcheck, thread-count independence and the bad-input errors."""
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

LAYOUTS = ("contiguous", "transposed", "sliced")
SHAPES = [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 5)]
NAN, INF = float("nan"), float("inf")


# ---- helpers

def make_pair(data, layout="contiguous", requires_grad=True):
    """(ember_leaf, ember_input, torch_leaf, torch_input): the inputs hold `data` in `layout` (a permuted view or
    a strided slice of the leaf, so not contiguous); the leaves receive the gradients."""
    data = np.asarray(data)
    grad = requires_grad and data.dtype.kind == "f"
    if layout == "contiguous" or data.ndim == 0:
        base, view = data.copy(), (lambda t: t)
    elif layout == "transposed":
        order = tuple(reversed(range(data.ndim)))
        base, view = np.ascontiguousarray(data.transpose(order)), (lambda t: t.permute(order))
    else:
        base = np.zeros(data.shape + (2,), data.dtype)   # every other element: the last dim has stride 2
        base[..., 0] = data
        view = lambda t: t.select(-1, 0)  # noqa: E731
    e_leaf, t_leaf = ember.tensor(base, requires_grad=grad), torch.tensor(base, requires_grad=grad)
    e_in, t_in = view(e_leaf), view(t_leaf)
    if (layout == "sliced" or data.ndim > 1) and layout != "contiguous" and data.size > 1:
        assert not e_in.is_contiguous()
    return e_leaf, e_in, t_leaf, t_in


def to_numpy(t):
    return t.detach().numpy()


def assert_close(e, t, rtol=1e-5, atol=1e-6):
    a, b = to_numpy(e), to_numpy(t)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert str(a.dtype) == str(b.dtype), (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def assert_equal(e, t):
    a, b = to_numpy(e), to_numpy(t)
    assert a.shape == b.shape and str(a.dtype) == str(b.dtype), (a.shape, b.shape, a.dtype, b.dtype)
    np.testing.assert_array_equal(a, b)


def backward_both(e_out, t_out, seed=1):
    """Backpropagates the same random gradient through both outputs."""
    g = np.random.default_rng(seed).standard_normal(tuple(t_out.shape)).astype(to_numpy(t_out).dtype)
    e_out.backward(ember.tensor(g))
    t_out.backward(torch.tensor(g))


def dims_of(ndim):
    n = max(ndim, 1)
    return list(range(-n, n))


def randn(shape, dtype=np.float32):
    return np.random.standard_normal(shape).astype(dtype)


def gradcheck(fn, shape, seed=0):
    x = ember.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


# ---- max / min with a dim: values + indices, backward to the selected position

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim_matches_torch(shape, layout, name):
    data = randn(shape)
    for dim, keepdim in itertools.product(dims_of(len(shape)), (False, True)):
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
        e_vals, e_idx = getattr(ember, name)(e_in, dim, keepdim=keepdim)
        t_vals, t_idx = getattr(torch, name)(t_in, dim, keepdim=keepdim)
        assert_equal(e_vals, t_vals)
        assert_equal(e_idx, t_idx)
        backward_both(e_vals, t_vals)
        assert_equal(e_leaf.grad, t_leaf.grad)


def test_max_returns_named_pair():
    x = ember.tensor([[1.0, 7.0, 3.0], [9.0, 2.0, 9.0]])
    result = x.max(1)
    values, indices = result
    assert result.values is values or np.array_equal(result.values.numpy(), values.numpy())
    assert x.max(1)[0].tolist() == [7.0, 9.0]
    assert x.max(dim=1).indices.tolist() == [1, 0]
    assert ember.min(x, dim=0, keepdim=True).values.tolist() == [[1.0, 2.0, 3.0]]
    assert isinstance(result, tuple) and len(result) == 2
    assert "values=" in repr(result)


def test_max_min_with_tensor_other_is_elementwise():
    a, b = randn((3, 4)), randn((4,))
    assert_equal(ember.max(ember.tensor(a), ember.tensor(b)), torch.max(torch.tensor(a), torch.tensor(b)))
    assert_equal(ember.tensor(a).min(ember.tensor(b)), torch.tensor(a).min(torch.tensor(b)))
    assert_equal(ember.max(ember.tensor(a), other=ember.tensor(b)), torch.max(torch.tensor(a), other=torch.tensor(b)))


def test_ties_pick_first_index_and_route_gradient_there():
    data = np.random.default_rng(3).integers(0, 3, (6, 9)).astype(np.float32)
    for name, dim in itertools.product(["max", "min", "argmax", "argmin"], [0, 1, -1]):
        e_leaf, e_in, t_leaf, t_in = make_pair(data)
        e_out, t_out = getattr(ember, name)(e_in, dim), getattr(torch, name)(t_in, dim)
        if name in ("max", "min"):
            assert_equal(e_out.indices, t_out.indices)
            backward_both(e_out.values, t_out.values)
            assert_equal(e_leaf.grad, t_leaf.grad)
        else:
            assert_equal(e_out, t_out)


def test_max_along_long_rows_matches_torch():
    # rows long enough for the SIMD max + first-position search: ties across lanes, a late NaN, all -inf, +-0
    data = np.random.default_rng(5).integers(0, 50, (6, 1001)).astype(np.float32)
    data[1, 700] = NAN
    data[2, :] = -INF
    data[3, :] = 0.0
    data[3, 17] = -0.0
    data[4, 999] = 1000.0
    data[5, :] = -0.0
    data[5, 3] = 0.0
    e, t = ember.tensor(data), torch.tensor(data)
    e_vals, e_idx = ember.max(e, 1)
    t_vals, t_idx = torch.max(t, 1)
    assert_equal(e_idx, t_idx)
    np.testing.assert_array_equal(e_vals.numpy(), t_vals.numpy())
    np.testing.assert_array_equal(np.signbit(e_vals.numpy()), np.signbit(t_vals.numpy()))
    assert_equal(ember.argmax(e, 1), torch.argmax(t, 1))


def test_nan_wins_and_its_first_index_is_returned():
    data = randn((4, 6))
    data[0, 2] = data[0, 4] = NAN
    data[2, 5] = NAN
    data[3, 0] = NAN
    for layout, name in itertools.product(LAYOUTS, ["max", "min"]):
        for dim in (0, 1):
            e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
            e_vals, e_idx = getattr(ember, name)(e_in, dim)
            t_vals, t_idx = getattr(torch, name)(t_in, dim)
            assert_equal(e_vals, t_vals)
            assert_equal(e_idx, t_idx)
            backward_both(e_vals, t_vals)
            assert_equal(e_leaf.grad, t_leaf.grad)
        for arg in ("argmax", "argmin"):
            assert_equal(getattr(ember, arg)(e_in), getattr(torch, arg)(t_in))
            assert_equal(getattr(ember, arg)(e_in, 1), getattr(torch, arg)(t_in, 1))
        assert np.isnan(getattr(ember, name)(e_in).item())


def test_integer_and_bool_inputs():
    ints = np.random.default_rng(0).integers(-5, 5, (4, 5))
    bools = ints > 0
    for data in (ints, bools):
        e, t = ember.tensor(data), torch.tensor(data)
        for name in ("max", "min"):
            assert_equal(getattr(ember, name)(e), getattr(torch, name)(t))
            ev, ei = getattr(ember, name)(e, 1)
            tv, ti = getattr(torch, name)(t, 1)
            assert_equal(ev, tv)
            assert_equal(ei, ti)
        for name in ("amax", "amin"):
            assert_equal(getattr(ember, name)(e, 1), getattr(torch, name)(t, 1))
        for name in ("argmax", "argmin"):
            if data.dtype == bool:   # refused by PyTorch too
                with pytest.raises(TypeError, match="bool"):
                    getattr(ember, name)(e, 0)
            else:
                assert_equal(getattr(ember, name)(e, 0), getattr(torch, name)(t, 0))


# ---- amax / amin: tuple dims, even split of the gradient among ties

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_matches_torch(layout, name):
    data = randn((2, 3, 4))
    dims_choices = [(), 0, -1, (0, 2), (-1, 1), (0, 1, 2), (2, 0)]
    for dims, keepdim in itertools.product(dims_choices, (False, True)):
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
        e_out = getattr(ember, name)(e_in, dims, keepdim)
        t_out = getattr(torch, name)(t_in, dims, keepdim)
        assert_equal(e_out, t_out)
        backward_both(e_out, t_out)
        assert_close(e_leaf.grad, t_leaf.grad)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min"])
def test_gradient_split_evenly_among_ties(name):
    data = np.random.default_rng(5).integers(0, 2, (5, 4)).astype(np.float32)
    data[1, 2] = NAN
    for dims in ([0], [1], [0, 1], None):
        if name in ("max", "min") and dims is not None:
            continue   # max(dim) routes to one index, tested above
        e_leaf, e_in, t_leaf, t_in = make_pair(data)
        if dims is None:
            e_out, t_out = getattr(ember, name)(e_in), getattr(torch, name)(t_in)
        else:
            e_out, t_out = getattr(ember, name)(e_in, dims), getattr(torch, name)(t_in, dims)
        assert_equal(e_out, t_out)
        backward_both(e_out, t_out)
        assert_close(e_leaf.grad, t_leaf.grad)
    # without NaN, a full max splits among the ties
    data = np.array([[1.0, 3.0], [3.0, 3.0]], np.float32)
    e = ember.tensor(data, requires_grad=True)
    getattr(ember, "amax" if name.startswith("a") else "max")(e).backward()
    t = torch.tensor(data, requires_grad=True)
    getattr(torch, "amax" if name.startswith("a") else "max")(t).backward()
    assert_close(e.grad, t.grad)


def test_full_max_min_and_grad():
    for layout in LAYOUTS:
        data = randn((3, 4))
        for name in ("max", "min"):
            e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
            e_out, t_out = getattr(e_in, name)(), getattr(t_in, name)()
            assert_equal(e_out, t_out)
            backward_both(e_out, t_out)
            assert_equal(e_leaf.grad, t_leaf.grad)


# ---- argmax / argmin

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_matches_torch(layout, name):
    data = randn((3, 4, 5))
    e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
    for keepdim in (False, True):
        assert_equal(getattr(ember, name)(e_in, keepdim=keepdim), getattr(torch, name)(t_in, keepdim=keepdim))
        for dim in dims_of(3):
            assert_equal(getattr(e_in, name)(dim, keepdim), getattr(t_in, name)(dim, keepdim))


def test_long_row_uses_fixed_blocks_and_keeps_first_index():
    data = np.zeros(200_003, np.float32)
    data[[70_000, 150_000]] = 5.0
    data[[10, 190_000]] = -5.0
    e, t = ember.tensor(data), torch.tensor(data)
    assert ember.argmax(e).item() == 70_000 == torch.argmax(t).item()
    assert ember.argmin(e).item() == 10
    data[120_000] = NAN
    assert ember.argmax(ember.tensor(data)).item() == 120_000
    assert np.isnan(ember.max(ember.tensor(data)).item())


# ---- size-0, size-1 and 0-d tensors

def test_empty_and_scalar_shapes():
    e, t = ember.zeros((0, 3)), torch.zeros((0, 3))
    ev, ei = ember.max(e, 1)
    assert ev.shape == (0,) and ei.shape == (0,) and ei.dtype == ember.int64
    assert ember.amax(e, 1).shape == (0,)
    assert ember.argmax(e, 1).shape == tuple(torch.argmax(t, 1).shape)
    s, ts = ember.tensor(3.5, requires_grad=True), torch.tensor(3.5, requires_grad=True)
    for dim in (0, -1):
        v, i = ember.max(s, dim)
        assert v.shape == () and i.item() == 0 and v.item() == 3.5
    v, _ = ember.max(s, 0, keepdim=True)
    assert v.shape == tuple(torch.max(ts, 0, keepdim=True).values.shape)
    v.backward()
    assert s.grad.item() == 1.0
    assert ember.argmax(s).item() == 0
    assert ember.softmax(s, 0).item() == 1.0
    assert ember.log_softmax(s, -1).item() == 0.0
    assert_close(ember.logsumexp(ember.tensor(2.0), 0), torch.logsumexp(torch.tensor(2.0), 0))
    assert np.isnan(ember.var(ember.tensor(2.0)).item())
    one = randn((4, 1, 3))
    e_leaf, e_in, t_leaf, t_in = make_pair(one)
    assert_equal(ember.max(e_in, 1).values, torch.max(t_in, 1).values)
    assert_equal(ember.amax(e_in, 1), torch.amax(t_in, 1))


def test_empty_reductions_raise_like_torch():
    e = ember.zeros((0, 3))
    with pytest.raises(RuntimeError, match="max"):
        ember.max(e)
    with pytest.raises(RuntimeError, match="min"):
        e.min()
    with pytest.raises(IndexError, match="argmax"):
        ember.argmax(e)
    with pytest.raises(IndexError, match="non-zero size"):
        ember.max(e, 0)
    with pytest.raises(IndexError, match="amax"):
        ember.amax(e, 0)
    with pytest.raises(IndexError, match="amin"):
        ember.amin(e)
    with pytest.raises(IndexError, match="argmin"):
        ember.argmin(e, 0)


# ---- var / std

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_matches_torch(layout, name):
    data = randn((3, 4, 5)) * 3 + 1
    cases = [dict(), dict(dim=0), dict(dim=-1), dict(dim=(0, 2)), dict(dim=(2, 1)), dict(dim=1, keepdim=True),
             dict(dim=None, keepdim=True), dict(dim=1, correction=0), dict(dim=(0, 1), correction=2),
             dict(dim=2, unbiased=False), dict(correction=0.5)]
    for kwargs in cases:
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
        e_out, t_out = getattr(ember, name)(e_in, **kwargs), getattr(torch, name)(t_in, **kwargs)
        assert_close(e_out, t_out)
        backward_both(e_out, t_out)
        assert_close(e_leaf.grad, t_leaf.grad, rtol=1e-4, atol=1e-5)


def test_var_positional_unbiased_forms():
    data = randn((4, 6))
    e, t = ember.tensor(data), torch.tensor(data)
    assert_close(e.var(False), t.var(False))
    assert_close(ember.std(e, 1, False, True), torch.std(t, 1, False, True))
    assert_close(e.var(0, True), t.var(0, True))
    with pytest.raises(TypeError):
        e.var(0, unbiased=True, correction=0)


def test_var_float64_and_stability():
    data = np.random.default_rng(2).standard_normal((5, 1000)) * 1e-3 + 1e4
    e = ember.tensor(data.astype(np.float32))
    reference = data.astype(np.float32).astype(np.float64).var(axis=1, ddof=1)
    np.testing.assert_allclose(e.var(1).numpy(), reference, rtol=1e-4)
    np.testing.assert_allclose(ember.var(e, 0).numpy(), data.astype(np.float32).astype(np.float64).var(0, ddof=1),
                               rtol=1e-4, atol=1e-10)
    e64 = ember.tensor(data)
    assert e64.var(1).dtype == ember.float64
    np.testing.assert_allclose(e64.var(1).numpy(), data.var(axis=1, ddof=1), rtol=1e-9)
    long_row = np.random.default_rng(4).standard_normal(300_001).astype(np.float32) + 100
    np.testing.assert_allclose(ember.std(ember.tensor(long_row)).item(),
                               long_row.astype(np.float64).std(ddof=1), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")
def test_var_edge_cases_match_torch():
    # one element (0/0), correction larger than the count, constant rows (std gradient is 0 there)
    for data, kwargs in [(randn((3, 1)), dict(dim=1)), (randn((3, 2)), dict(dim=1, correction=3)),
                         (np.full((2, 3), 2.0, np.float32), dict(dim=1)), (randn((1,)), dict())]:
        for name in ("var", "std"):
            e_leaf, e_in, t_leaf, t_in = make_pair(data)
            e_out, t_out = getattr(ember, name)(e_in, **kwargs), getattr(torch, name)(t_in, **kwargs)
            assert_close(e_out, t_out)
            backward_both(e_out, t_out)
            assert_close(e_leaf.grad, t_leaf.grad)
    e = ember.zeros((0, 3))
    assert_close(ember.var(e, 0), torch.var(torch.zeros((0, 3)), 0))


# ---- softmax / log_softmax

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_every_dim_matches_torch(shape, layout, name):
    data = randn(shape) * 4
    for dim in dims_of(len(shape)):
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
        e_out, t_out = getattr(ember, name)(e_in, dim), getattr(torch, name)(t_in, dim)
        assert_close(e_out, t_out)
        backward_both(e_out, t_out)
        assert_close(e_leaf.grad, t_leaf.grad, atol=1e-5)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_float64_and_dtype_argument(name):
    data = randn((3, 4, 5)).astype(np.float64)
    for dim in (0, 1, 2):
        e, t = ember.tensor(data), torch.tensor(data)
        out = getattr(ember, name)(e, dim)
        assert out.dtype == ember.float64
        assert_close(out, getattr(torch, name)(t, dim), rtol=1e-12, atol=1e-12)
    e, t = ember.tensor(data.astype(np.float32)), torch.tensor(data.astype(np.float32))
    assert_close(getattr(e, name)(1, dtype=ember.float64), getattr(t, name)(1, dtype=torch.float64), rtol=1e-12)
    ints = ember.tensor([[1, 2, 3]])
    assert_close(getattr(ember, name)(ints, 1, dtype=ember.float32),
                 getattr(torch, name)(torch.tensor([[1, 2, 3]]), 1, dtype=torch.float32))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_masks_and_large_magnitudes(name):
    data = randn((4, 6)) * 1e4
    data[0, :3] = -INF      # partly masked row
    data[1, :] = -INF       # fully masked row: NaN, as PyTorch
    data[2, 1] = INF
    data[3, :] = [1e30, -1e30, 3e4, 3e4, -3e4, 0.0]
    for dim, layout in itertools.product((1, 0), LAYOUTS):
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
        assert_close(getattr(ember, name)(e_in, dim), getattr(torch, name)(t_in, dim))
    assert np.isnan(getattr(ember, name)(ember.tensor(data), 1).numpy()[1]).all()
    # a partly masked row has finite gradients that match torch
    masked = randn((3, 5))
    masked[:, 3:] = -INF
    for layout in LAYOUTS:
        e_leaf, e_in, t_leaf, t_in = make_pair(masked, layout)
        e_out, t_out = getattr(ember, name)(e_in, 1), getattr(torch, name)(t_in, 1)
        assert_close(e_out, t_out)
        if name == "softmax":
            assert (e_out.detach().numpy()[:, 3:] == 0).all()
            backward_both(e_out, t_out)
            assert_close(e_leaf.grad, t_leaf.grad)
            assert np.isfinite(e_leaf.grad.numpy()).all()


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_along_strided_dims_with_wide_column_blocks(name):
    # the float32 column path: 300 and 260 columns are a full 256-column block and an odd remainder
    data = randn((5, 300)) * 4
    data[:, 7] = -INF          # a fully masked column: NaN, as PyTorch
    data[2, 9] = np.nan        # NaN spreads over its column only
    data[:3, 11] = -INF        # partly masked column
    for arr, dim in ((data, 0), (randn((3, 7, 260)) * 4, 1)):
        e_leaf, e_in, t_leaf, t_in = make_pair(arr, "contiguous")
        e_out, t_out = getattr(ember, name)(e_in, dim), getattr(torch, name)(t_in, dim)
        np.testing.assert_array_equal(np.isnan(e_out.detach().numpy()), np.isnan(t_out.detach().numpy()))
        assert_close(e_out, t_out)


def test_softmax_rows_sum_to_one_on_large_tensor_and_threads_do_not_change_results():
    data = randn((64, 1600)) * 10
    previous = ember.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            ember.set_num_threads(threads)
            e = ember.tensor(data)
            results.append([ember.softmax(e, 1).numpy(), ember.softmax(e, 0).numpy(), ember.logsumexp(e, 0).numpy(),
                            ember.var(e, 1).numpy(), ember.var(e).numpy(), ember.amax(e, 0).numpy(),
                            ember.argmin(e).numpy(), ember.std(e.reshape(-1).narrow(0, 0, 96_001)).numpy(),
                            ember.max(e.t(), 1).indices.numpy()])
        for other in results[1:]:
            for a, b in zip(results[0], other):
                np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(results[0][0].sum(axis=1), 1.0, rtol=1e-5)
    finally:
        ember.set_num_threads(previous)


# ---- logsumexp

@pytest.mark.parametrize("layout", LAYOUTS)
def test_logsumexp_matches_torch(layout):
    data = randn((3, 4, 5)) * 5
    for dims, keepdim in itertools.product([0, -1, 1, (0, 2), (2, 1, 0)], (False, True)):
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
        e_out, t_out = ember.logsumexp(e_in, dims, keepdim), torch.logsumexp(t_in, dims, keepdim)
        assert_close(e_out, t_out)
        backward_both(e_out, t_out)
        assert_close(e_leaf.grad, t_leaf.grad)


def test_logsumexp_infinities_ints_and_empty():
    data = np.array([[1.0, INF, 2.0], [-INF, -INF, -INF], [1e4, 1e4, -1e4], [NAN, 0.0, 1.0]], np.float32)
    for dim in (0, 1):
        assert_close(ember.tensor(data).logsumexp(dim), torch.tensor(data).logsumexp(dim))
    ints = np.array([[1, 2], [3, 4]])
    assert_close(ember.logsumexp(ember.tensor(ints), 1), torch.logsumexp(torch.tensor(ints), 1))
    assert_close(ember.logsumexp(ember.zeros((0, 2)), 0), torch.logsumexp(torch.zeros((0, 2)), 0))


# ---- all / any

@pytest.mark.parametrize("layout", LAYOUTS)
def test_all_any_match_torch(layout):
    rng = np.random.default_rng(7)
    for data in (rng.integers(0, 2, (3, 4, 5)).astype(bool), rng.integers(-1, 2, (3, 4, 5)),
                 rng.integers(0, 3, (3, 4, 5)).astype(np.float32)):
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout, requires_grad=False)
        for name in ("all", "any"):
            assert_equal(getattr(ember, name)(e_in), getattr(torch, name)(t_in))
            for dim, keepdim in itertools.product([0, -1, 1, (0, 2)], (False, True)):
                assert_equal(getattr(e_in, name)(dim, keepdim), getattr(t_in, name)(dim, keepdim))
    nan = np.array([NAN, 1.0], np.float32)
    assert ember.tensor(nan).all().item() is True
    assert ember.zeros((0, 2)).all().item() is True and ember.zeros((0, 2)).any().item() is False
    assert_equal(ember.zeros((2, 0)).any(1), torch.zeros((2, 0)).any(1))
    assert_equal(ember.zeros((2, 0)).all(1), torch.zeros((2, 0)).all(1))


# ---- float64 finite differences for every differentiable op

GRADCHECK_CASES = {
    "max_dim": lambda x: ember.max(x, 1).values,
    "min_dim_keepdim": lambda x: x.min(0, keepdim=True).values,
    "max_all": lambda x: x.max(),
    "min_all": lambda x: ember.min(x),
    "amax": lambda x: ember.amax(x, (0, 2)),
    "amin": lambda x: x.amin(-1, keepdim=True),
    "var": lambda x: ember.var(x, 1),
    "var_all_correction0": lambda x: x.var(correction=0),
    "std": lambda x: ember.std(x, (0, 2), keepdim=True),
    "softmax_last": lambda x: ember.softmax(x, -1),
    "softmax_middle": lambda x: ember.softmax(x.transpose(0, 2), 1),
    "log_softmax_first": lambda x: ember.log_softmax(x, 0),
    "log_softmax_last": lambda x: x.log_softmax(2),
    "logsumexp": lambda x: ember.logsumexp(x, (1, 2)),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_gradcheck_float64(name):
    gradcheck(GRADCHECK_CASES[name], (2, 3, 4))


# ---- bad input

def test_bad_dims_raise():
    x = ember.zeros((2, 3))
    for call in (lambda: ember.max(x, 2), lambda: x.min(-3), lambda: ember.amax(x, (0, 5)), lambda: x.argmax(2),
                 lambda: ember.var(x, 3), lambda: x.std(-4), lambda: ember.softmax(x, 2),
                 lambda: x.log_softmax(-3), lambda: ember.logsumexp(x, 2), lambda: x.all(2), lambda: x.any((0, 9))):
        with pytest.raises(IndexError, match="out of range"):
            call()
    for call in (lambda: ember.amax(x, (0, 0)), lambda: ember.var(x, (1, -1)), lambda: ember.logsumexp(x, (0, -2)),
                 lambda: x.all((1, 1))):
        with pytest.raises(ValueError, match="multiple times"):
            call()


def test_bad_types_raise():
    x, ints = ember.zeros((2, 3)), ember.tensor([[1, 2]])
    with pytest.raises(TypeError, match="var"):
        ember.var(ints)
    with pytest.raises(TypeError, match="std"):
        ints.std()
    with pytest.raises(TypeError, match="softmax"):
        ember.softmax(ints, 1)
    with pytest.raises(TypeError, match="softmax"):
        ember.softmax(x, (0, 1))
    with pytest.raises(TypeError):
        ember.softmax(x)           # dim is required, as torch.softmax
    with pytest.raises(TypeError, match="max"):
        ember.max(x, (0, 1))
    with pytest.raises(TypeError, match="argmax"):
        x.argmax(1.5)
    with pytest.raises(TypeError, match="keepdim"):
        ember.max(x, x, True)


# ---- each SIMD level (the table is chosen once per process, so each level runs in its own interpreter)

@pytest.mark.parametrize("level", ["ref", "avx2", "avx512"])
def test_softmax_rows_every_isa_level(level):
    if not ember._C.isa_available(level):
        pytest.skip(f"{level} not available on this CPU")
    script = (
        "import numpy as np, ember\n"
        "x = np.random.default_rng(0).standard_normal((5, 37)).astype(np.float32) * 8\n"
        "x[1, :4] = -np.inf\n"
        "e = ember.tensor(x, requires_grad=True)\n"
        "y = ember.softmax(e, 1); l = ember.log_softmax(e, 1); s = ember.logsumexp(e, 1)\n"
        "x64 = x.astype(np.float64); p = np.exp(x64 - x64.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)\n"
        "np.testing.assert_allclose(y.detach().numpy(), p, rtol=1e-5, atol=1e-7)\n"
        "np.testing.assert_allclose(l.detach().numpy()[p > 0], np.log(p[p > 0]), rtol=1e-5, atol=1e-5)\n"
        "np.testing.assert_allclose(s.detach().numpy(), np.log(np.exp(x64).sum(1)), rtol=1e-6)\n"
        "g = np.random.default_rng(1).standard_normal((5, 37)).astype(np.float32)\n"
        "y.backward(ember.tensor(g))\n"
        "expected = p * (g - (g * p).sum(1, keepdims=True))\n"
        "np.testing.assert_allclose(e.grad.numpy(), expected, rtol=1e-4, atol=1e-6)\n"
        "assert ember._C.isa() == '" + level + "', ember._C.isa()\n"
    )
    env = dict(os.environ, EMBER_ISA=level)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
