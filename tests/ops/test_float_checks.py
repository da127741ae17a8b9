# isnan / isinf / isposinf / isneginf / isfinite / isclose / allclose / nan_to_num against PyTorch: float32,
# float64 and int64, special values, broadcasting, the Tensor methods, nan_to_num's gradient and bad input.
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

SPECIALS = [0.0, -0.0, 1.5, -2.0, np.nan, np.inf, -np.inf, 1e-30, 3.4e38]
CHECKS = ["isnan", "isinf", "isposinf", "isneginf", "isfinite"]


def values(dtype):
    if dtype == np.int64:
        return np.array([0, -3, 7, 2**40], np.int64)
    return np.array(SPECIALS, dtype).reshape(3, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("name", CHECKS)
def test_checks_match_torch(name, dtype):
    x = values(dtype)
    want = getattr(torch, name)(torch.from_numpy(x)).numpy()
    got = getattr(ember, name)(ember.tensor(x))
    assert got.dtype == ember.bool
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(getattr(ember.tensor(x), name)().numpy(), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("equal_nan", [False, True])
def test_isclose_and_allclose_match_torch(dtype, equal_nan):
    a = np.array(SPECIALS, dtype)
    rng = np.random.default_rng(0)
    with np.errstate(over="ignore"):   # 3.4e38 * 1.001 overflows to inf in float32: one more case
        b = (a[:, None] * (1 + rng.choice([0.0, 1e-6, 1e-3], size=(9, 9)))).astype(dtype)   # (9,) vs (9, 9)
    b[0, :] = a
    for rtol, atol in [(1e-5, 1e-8), (1e-2, 0.0), (0.0, 1e-3)]:
        want = torch.isclose(torch.from_numpy(a), torch.from_numpy(b), rtol, atol, equal_nan).numpy()
        got = ember.isclose(ember.tensor(a), ember.tensor(b), rtol, atol, equal_nan)
        np.testing.assert_array_equal(got.numpy(), want)
        for x, y in [(a, b[0]), (a, b[1]), (a, b)]:
            assert ember.allclose(ember.tensor(x), ember.tensor(y), rtol, atol, equal_nan) == torch.allclose(
                torch.from_numpy(np.broadcast_to(x, np.broadcast_shapes(x.shape, y.shape)).copy()),
                torch.from_numpy(np.broadcast_to(y, np.broadcast_shapes(x.shape, y.shape)).copy()), rtol, atol, equal_nan)


def test_isclose_on_integers_matches_torch():
    a, b = np.array([1, 5, -3, 100], np.int64), np.array([1, 6, -3, 103], np.int64)
    for rtol, atol in [(0.0, 0.0), (0.0, 1.0), (0.01, 0.0)]:
        want = torch.isclose(torch.from_numpy(a), torch.from_numpy(b), rtol, atol).numpy()
        np.testing.assert_array_equal(ember.isclose(ember.tensor(a), ember.tensor(b), rtol, atol).numpy(), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_to_num_matches_torch_with_its_gradient(dtype):
    x = np.array(SPECIALS, dtype)
    g = np.arange(1, 10, dtype=dtype)
    for kw in [{}, {"nan": 1.0, "posinf": 2.0, "neginf": -2.0}, {"posinf": 7.0}]:
        ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, want = ember.nan_to_num(ex, **kw), torch.nan_to_num(tx, **kw)
        np.testing.assert_array_equal(out.detach().numpy(), want.detach().numpy())
        out.backward(ember.tensor(g))
        want.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())
    ints = np.array([1, -2], np.int64)
    np.testing.assert_array_equal(ember.tensor(ints).nan_to_num().numpy(), ints)


def test_bad_input_gets_clear_errors():
    x = ember.tensor([1.0])
    for name in CHECKS + ["nan_to_num"]:
        with pytest.raises(TypeError, match=f"{name}\\(\\): argument 'input' must be a Tensor"):
            getattr(ember, name)([1.0])
    with pytest.raises(TypeError, match="same dtype"):
        ember.isclose(x, ember.tensor([1], dtype=ember.int64))
    with pytest.raises(ValueError, match="non-negative"):
        ember.allclose(x, x, rtol=-1.0)
    with pytest.raises(TypeError, match="must be a Tensor"):
        ember.allclose(x, 1.0)
