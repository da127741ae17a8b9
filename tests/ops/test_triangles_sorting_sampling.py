"""tril / triu, sort / argsort / topk, cumsum and multinomial (what masks and sampling in transformer code use)
against PyTorch: values over dims, diagonals and dtypes, gradients (and float64 gradcheck), sampling statistics,
and the errors."""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 6, 4), (0, 3), (3, 0), (3, 1)])
def test_triangles_match_torch(op, shape):
    base = RNG.standard_normal(shape)
    for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64), (np.int64, torch.int64),
                          (np.bool_, torch.bool)):
        data = (base > 0) if dtype is np.bool_ else (base * 10).astype(dtype)
        for diagonal in (-10, -2, -1, 0, 1, 3, 10):
            got = getattr(ember, op)(ember.tensor(data), diagonal)
            want = getattr(torch, op)(torch.tensor(data, dtype=tdtype), diagonal)
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=f"{dtype} {diagonal}")
    # a strided input and the method form
    x = RNG.standard_normal(shape[::-1]).astype(np.float32)
    got = getattr(ember.tensor(x).transpose(-1, -2), op)(1)
    want = getattr(torch.tensor(x).transpose(-1, -2), op)(1)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("op", ["tril", "triu"])
def test_triangle_gradients(op):
    x = RNG.standard_normal((2, 4, 5)).astype(np.float32)
    g = RNG.standard_normal((2, 4, 5)).astype(np.float32)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    getattr(ex, op)(-1).backward(ember.tensor(g))
    getattr(tx, op)(-1).backward(torch.tensor(g))
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())
    a = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: getattr(ember, op)(t, 1) * t, (a,))


def test_triangle_errors():
    with pytest.raises(ValueError, match="tril: input tensor must have at least 2 dimensions"):
        ember.tril(ember.ones(3))
    with pytest.raises(ValueError, match="triu: input tensor must have at least 2 dimensions"):
        ember.ones(()).triu()


def distinct(shape):
    """float32 values without ties (topk's order among equal values is not specified)."""
    return RNG.permutation(int(np.prod(shape))).reshape(shape).astype(np.float32) - 7.5


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_matches_torch(dim, largest):
    x = distinct((6, 9, 5))
    n = x.shape[dim]
    for k in (0, 1, 3, n):
        got = ember.topk(ember.tensor(x), k, dim=dim, largest=largest)
        want = torch.topk(torch.tensor(x), k, dim=dim, largest=largest)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        assert got.indices.dtype == ember.int64
    got = ember.tensor(x[:, :, 0].T).topk(2)   # a strided input, the method form, the last dim by default
    np.testing.assert_array_equal(got[0].numpy(), torch.tensor(x[:, :, 0].T).topk(2)[0].numpy())
    ints = (x * 2).astype(np.int64)
    np.testing.assert_array_equal(ember.topk(ember.tensor(ints), 2, dim).values.numpy(),
                                  torch.topk(torch.tensor(ints), 2, dim).values.numpy())


def test_topk_nan_counts_as_largest_and_ties_keep_index_order():
    x = np.array([[1.0, np.nan, 3.0, -np.inf, 2.0, np.nan]], np.float32)
    for largest in (True, False):
        got = ember.topk(ember.tensor(x), 6, largest=largest)
        want = torch.topk(torch.tensor(x), 6, largest=largest)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    assert ember.topk(ember.tensor([2.0, 5.0, 5.0, 1.0, 5.0]), 3).indices.tolist() == [1, 2, 4]
    assert ember.topk(ember.tensor(4.0), 1).values.item() == 4.0   # a 0-d input


def test_topk_gradients():
    x = distinct((4, 7))
    g = RNG.standard_normal((4, 3)).astype(np.float32)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ember.topk(ex, 3, dim=1, largest=False).values.backward(ember.tensor(g))
    torch.topk(tx, 3, dim=1, largest=False).values.backward(torch.tensor(g))
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())
    a = ember.tensor(distinct((3, 5)).astype(np.float64), requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: ember.topk(t, 2, dim=0).values, (a,))


def test_topk_errors():
    x = ember.randn(3, 4)
    with pytest.raises(ValueError, match=r"topk: k \(5\) is out of range for dimension 1 of size 4"):
        ember.topk(x, 5)
    with pytest.raises(ValueError, match="out of range"):
        x.topk(-1)
    with pytest.raises(IndexError, match="topk"):
        ember.topk(x, 1, dim=2)
    with pytest.raises(TypeError, match="bool"):
        ember.topk(x > 0, 1)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_match_torch_stable(dim, descending):
    x = RNG.integers(-3, 4, (5, 8, 6)).astype(np.float32)   # many ties: stable order is specified
    x[1, 2, 3] = x[4, 0, 0] = np.nan
    x[0, 0, 1] = -np.inf
    for data in (x, x.astype(np.float64), x[..., 0].T.copy(), np.nan_to_num(x, neginf=-9).astype(np.int64), x > 0):
        d = dim if data.ndim == 3 else -1
        got = ember.sort(ember.tensor(data), dim=d, descending=descending)
        want = torch.sort(torch.tensor(data), dim=d, descending=descending, stable=True)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        np.testing.assert_array_equal(ember.tensor(data).argsort(d, descending).numpy(), want.indices.numpy())
    assert ember.sort(ember.tensor(2.0)).indices.item() == 0   # a 0-d input


def test_sort_gradients():
    x = distinct((3, 6))
    g = RNG.standard_normal((3, 6)).astype(np.float32)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ex.sort(0, descending=True).values.backward(ember.tensor(g))
    tx.sort(0, descending=True).values.backward(torch.tensor(g))
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_cumsum_matches_torch(dim):
    x = RNG.standard_normal((4, 5, 6))
    for data, kwargs in ((x.astype(np.float32), {}), (x, {}), (x.astype(np.float32), {"dtype": ember.float64}),
                         ((x * 5).astype(np.int64), {}), (x > 0, {})):
        got = ember.cumsum(ember.tensor(data), dim, **kwargs)
        tkw = {"dtype": torch.float64} if kwargs else {}
        want = torch.cumsum(torch.tensor(data), dim, **tkw)
        assert got.dtype == {torch.float32: ember.float32, torch.float64: ember.float64,
                             torch.int64: ember.int64}[want.dtype]
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    strided = ember.tensor(x.astype(np.float32)).transpose(0, 2)
    np.testing.assert_allclose(strided.cumsum(dim).numpy(),
                               torch.tensor(x.astype(np.float32)).transpose(0, 2).cumsum(dim).numpy(), rtol=1e-6)
    g = RNG.standard_normal(x.shape).astype(np.float32)
    ex, tx = ember.tensor(x.astype(np.float32), requires_grad=True), torch.tensor(x.astype(np.float32),
                                                                                   requires_grad=True)
    ex.cumsum(dim).backward(ember.tensor(g))
    tx.cumsum(dim).backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    a = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: ember.cumsum(t, dim % 2) * t, (a,))


def test_sort_and_cumsum_errors():
    with pytest.raises(IndexError, match="sort"):
        ember.sort(ember.ones(3), dim=1)
    with pytest.raises(IndexError, match="cumsum"):
        ember.cumsum(ember.ones(3), 2)
    with pytest.raises(TypeError, match="bool result"):
        ember.cumsum(ember.ones(3), 0, dtype=ember.bool)


def test_multinomial_with_replacement_follows_the_weights():
    ember.manual_seed(3)
    weights = ember.tensor([1.0, 0.0, 6.0, 3.0])   # not normalised: weights, as in PyTorch
    draws = ember.multinomial(weights, 200_000, replacement=True)
    assert draws.shape == (200_000,) and draws.dtype == ember.int64
    counts = np.bincount(draws.numpy(), minlength=4)
    p = np.array([0.1, 0.0, 0.6, 0.3])
    assert counts[1] == 0
    sigma = np.sqrt(200_000 * p * (1 - p))
    assert np.all(np.abs(counts - 200_000 * p) <= 5 * sigma + 1e-9), counts
    ember.manual_seed(3)
    np.testing.assert_array_equal(weights.multinomial(200_000, True).numpy(), draws.numpy())   # reproducible
    rows = ember.multinomial(ember.tensor([[0.0, 1.0], [1.0, 0.0]]), 5, replacement=True)
    assert rows.tolist() == [[1] * 5, [0] * 5]


def test_multinomial_without_replacement_draws_in_order():
    ember.manual_seed(11)
    p = np.array([0.5, 0.3, 0.2, 0.0])
    draws = ember.multinomial(ember.tensor(np.tile(p, (40_000, 1))), 2).numpy()
    assert draws.shape == (40_000, 2)
    assert np.all(draws[:, 0] != draws[:, 1]) and not np.any(draws == 3)
    # first draw ~ p; second draw ~ sum_i p_i p_j / (1 - p_i) over i != j
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(3) if i != j) for j in range(3)])
    for column, want in ((draws[:, 0], p[:3]), (draws[:, 1], second)):
        freq = np.bincount(column, minlength=4)[:3] / len(column)
        assert np.all(np.abs(freq - want) <= 5 * np.sqrt(want * (1 - want) / len(column))), (freq, want)
    perm = ember.multinomial(ember.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), 5).tolist()
    assert sorted(perm) == [0, 1, 2, 3, 4]


def test_multinomial_errors():
    p = ember.tensor([0.2, 0.8])
    with pytest.raises(ValueError, match="cannot sample n_sample <= 0"):
        ember.multinomial(p, 0)
    with pytest.raises(ValueError, match="without replacement"):
        ember.multinomial(p, 3)
    with pytest.raises(ValueError, match="not enough categories"):
        ember.multinomial(ember.tensor([0.0, 1.0, 0.0]), 2)
    for bad in ([0.5, -0.1], [float("nan"), 1.0], [float("inf"), 1.0]):
        with pytest.raises(ValueError, match="inf, nan or element < 0"):
            ember.multinomial(ember.tensor(bad), 1)
    with pytest.raises(ValueError, match="sum of probabilities <= 0"):
        ember.multinomial(ember.zeros(3), 1)
    with pytest.raises(ValueError, match="must be 1 or 2 dim"):
        ember.multinomial(ember.ones(2, 2, 2), 1)
    with pytest.raises(TypeError, match="floating point"):
        ember.multinomial(ember.tensor([1, 2]), 1)
