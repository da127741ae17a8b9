"""Pooling forward and backward against PyTorch: max_pool1d/2d (padding, dilation, ceil_mode, indices, NaN),
avg_pool1d/2d (count_include_pad, ceil_mode, divisor_override), adaptive avg/max pooling; float64 finite
differences; the errors."""
import numpy as np
import pytest

import ember
from ember.nn import functional_conv as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def both(fn_e, fn_t, x, grad_seed=0, **kw):
    """Runs an ember and a torch pooling function on x with the same upstream gradient; returns both results."""
    ex = ember.from_numpy(x.copy()).requires_grad_(True)
    tx = torch.tensor(x, requires_grad=True)
    ey, ty = fn_e(ex, **kw), fn_t(tx, **kw)
    e_vals, t_vals = (ey[0], ty[0]) if isinstance(ty, tuple) else (ey, ty)
    g = np.random.default_rng(grad_seed).standard_normal(tuple(t_vals.shape)).astype(x.dtype)
    e_vals.backward(ember.from_numpy(g))
    t_vals.backward(torch.from_numpy(g))
    return ey, ty, ex.grad.numpy(), tx.grad.numpy()


def check(fn_e, fn_t, x, tol=1e-5, **kw):
    ey, ty, egrad, tgrad = both(fn_e, fn_t, x, **kw)
    if isinstance(ty, tuple):
        np.testing.assert_allclose(ey[0].detach().numpy(), ty[0].detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_array_equal(ey[1].numpy(), ty[1].numpy())
        assert ey[1].dtype == ember.int64
    else:
        assert tuple(ey.shape) == tuple(ty.shape)
        np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(egrad, tgrad, rtol=tol, atol=tol)


MAX2D = [
    ((64, 6, 28, 28), dict(kernel_size=2)),                                      # LeNet
    ((2, 3, 9, 11), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 10, 7), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1), dilation=(2, 1))),
    ((2, 2, 9, 9), dict(kernel_size=2, ceil_mode=True)),
    ((2, 2, 10, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((3, 5, 7), dict(kernel_size=2, stride=1)),                                   # unbatched
    ((2, 3, 8, 8), dict(kernel_size=4, stride=3, dilation=2, padding=2)),
]


@pytest.mark.parametrize("shape,kw", MAX2D, ids=str)
def test_max_pool2d(shape, kw):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    check(F.max_pool2d, TF.max_pool2d, x, return_indices=True, **kw)
    check(F.max_pool2d, TF.max_pool2d, x, **kw)


def test_max_pool2d_overlapping_windows_accumulate_and_ties_pick_first():
    x = np.zeros((1, 1, 4, 4), np.float32)   # all ties: the first element of each window wins
    check(F.max_pool2d, TF.max_pool2d, x, return_indices=True, kernel_size=3, stride=1)
    x = np.random.default_rng(2).integers(0, 3, (2, 2, 7, 7)).astype(np.float32)
    check(F.max_pool2d, TF.max_pool2d, x, return_indices=True, kernel_size=3, stride=1, padding=1)


def test_max_pool2d_nan_propagates():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    y, idx = F.max_pool2d(ember.from_numpy(x), 2, return_indices=True)
    ty, tidx = TF.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


MAX1D = [
    ((2, 3, 11), dict(kernel_size=3)),
    ((2, 3, 12), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    ((1, 2, 10), dict(kernel_size=4, stride=3, ceil_mode=True)),
    ((3, 9), dict(kernel_size=2)),
]


@pytest.mark.parametrize("shape,kw", MAX1D, ids=str)
def test_max_pool1d(shape, kw):
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    check(F.max_pool1d, TF.max_pool1d, x, return_indices=True, **kw)


AVG2D = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 11), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 11), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((1, 2, 10, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True)),
    ((1, 2, 10, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True, count_include_pad=False)),
    ((2, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, divisor_override=5)),
    ((3, 6, 6), dict(kernel_size=2, stride=1)),
]


@pytest.mark.parametrize("shape,kw", AVG2D, ids=str)
def test_avg_pool2d(shape, kw):
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    check(F.avg_pool2d, TF.avg_pool2d, x, **kw)


@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=4, stride=3, padding=2, ceil_mode=True, count_include_pad=False)],
                         ids=str)
def test_avg_pool1d(kw):
    x = np.random.default_rng(5).standard_normal((2, 3, 13)).astype(np.float32)
    check(F.avg_pool1d, TF.avg_pool1d, x, **kw)


@pytest.mark.parametrize("shape,size", [((2, 3, 9, 7), (3, 2)), ((2, 3, 8, 8), 1), ((1, 2, 5, 13), (4, 5)),
                                        ((2, 7, 6), (None, 4)), ((1, 1, 3, 3), (5, 6))], ids=str)
def test_adaptive_pools(shape, size):
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    check(F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, x, output_size=size)
    check(F.adaptive_max_pool2d, TF.adaptive_max_pool2d, x, output_size=size, return_indices=True)


def test_float64_finite_differences():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 5, 6))
    cases = [
        lambda t: F.avg_pool2d(t, 3, stride=2, padding=1, count_include_pad=False),
        lambda t: F.max_pool2d(t, 2, stride=1, padding=1),
        lambda t: F.adaptive_avg_pool2d(t, (2, 4)),
        lambda t: F.adaptive_max_pool2d(t, 3),
    ]
    eps = 1e-6
    for fn in cases:
        leaf = ember.from_numpy(x.copy()).requires_grad_(True)
        out = fn(leaf)
        v = rng.standard_normal(tuple(out.shape))
        out.backward(ember.from_numpy(v))
        shared = leaf.detach().numpy()
        numerical = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            orig = shared[i]
            shared[i] = orig + eps
            plus = float((fn(leaf).detach().numpy() * v).sum())
            shared[i] = orig - eps
            minus = float((fn(leaf).detach().numpy() * v).sum())
            shared[i] = orig
            numerical[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(leaf.grad.numpy(), numerical, rtol=1e-6, atol=1e-6)


def test_errors():
    x = ember.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match="max_pool2d: kernel_size must be positive"):
        F.max_pool2d(x, 0)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        F.avg_pool2d(x, 2, padding=-1)
    with pytest.raises(ValueError, match="at most half of the kernel size"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="too small"):
        F.max_pool2d(ember.zeros((1, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match=r"expected a 3-D \(unbatched\) or 4-D"):
        F.max_pool2d(ember.zeros((6, 6)), 2)
    with pytest.raises(ValueError, match="max_pool1d: expected a 2-D"):
        F.max_pool1d(x, 2)
    with pytest.raises(ValueError, match="divisor_override must be positive"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(x, 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.max_pool2d(ember.zeros((1, 1, 4, 4), dtype=ember.int64), 2)
