"""sum, mean and sum_to against PyTorch: every dim, tuple/negative dims, keepdim, non-contiguous views, size-0/1
dims, integer and bool sums (int64), the dtype argument, backward, float64 finite differences and bad input."""
import itertools

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

LAYOUTS = ("contiguous", "transposed", "sliced")


def make_pair(data, layout="contiguous", requires_grad=True):
    """(ember_leaf, ember_input, torch_leaf, torch_input) with the inputs in `layout` (non-contiguous views of the
    leaves for "transposed" and "sliced")."""
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
    return e_leaf, view(e_leaf), t_leaf, view(t_leaf)


def assert_close(e, t, rtol=1e-5, atol=1e-5):
    a, b = e.detach().numpy(), t.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    assert str(a.dtype) == str(b.dtype), (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def backward_both(e_out, t_out, seed=1):
    g = np.random.default_rng(seed).standard_normal(tuple(t_out.shape)).astype(t_out.detach().numpy().dtype)
    e_out.backward(ember.tensor(g))
    t_out.backward(torch.tensor(g))


DIM_CHOICES = [None, 0, -1, 1, (0, 2), (2, 0), (-1, -3), (0, 1, 2)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean_match_torch(layout, name):
    data = np.random.standard_normal((3, 4, 5)).astype(np.float32)
    for dim, keepdim in itertools.product(DIM_CHOICES, (False, True)):
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout)
        if dim is None:
            e_out, t_out = getattr(e_in, name)(), getattr(t_in, name)()
        else:
            e_out, t_out = getattr(ember, name)(e_in, dim, keepdim), getattr(torch, name)(t_in, dim, keepdim)
        assert_close(e_out, t_out)
        backward_both(e_out, t_out)
        assert_close(e_leaf.grad, t_leaf.grad)


@pytest.mark.parametrize("shape", [(1,), (1, 1), (4, 1, 3), (0,), (0, 3), (3, 0), ()])
def test_size_one_zero_and_scalar(shape):
    data = np.random.standard_normal(shape).astype(np.float32)
    dims = [None] + ([d for d in range(-len(shape), len(shape))] if shape else [0, -1])
    for dim, keepdim, name in itertools.product(dims, (False, True), ("sum", "mean")):
        e_leaf, e_in, t_leaf, t_in = make_pair(data)
        if dim is None:
            e_out, t_out = getattr(e_in, name)(), getattr(t_in, name)()
        else:
            e_out, t_out = getattr(e_in, name)(dim, keepdim), getattr(t_in, name)(dim, keepdim)
        assert_close(e_out, t_out)   # mean over nothing is NaN, sum over nothing is 0
        backward_both(e_out, t_out)
        assert_close(e_leaf.grad, t_leaf.grad)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_integer_and_bool_sums_are_int64(layout):
    rng = np.random.default_rng(0)
    for data in (rng.integers(-100, 100, (3, 4, 5)), rng.integers(0, 2, (3, 4, 5)).astype(bool)):
        e_leaf, e_in, t_leaf, t_in = make_pair(data, layout, requires_grad=False)
        for dim in (None, 0, (1, 2), -1):
            e_out = ember.sum(e_in) if dim is None else ember.sum(e_in, dim)
            t_out = torch.sum(t_in) if dim is None else torch.sum(t_in, dim)
            assert e_out.dtype == ember.int64
            np.testing.assert_array_equal(e_out.numpy(), t_out.numpy())
    big = ember.tensor(np.full(10, 2**40))
    assert ember.sum(big).item() == 10 * 2**40   # no float rounding on the integer path


def test_dtype_argument():
    data = np.random.standard_normal((4, 5)).astype(np.float32)
    e, t = ember.tensor(data), torch.tensor(data)
    assert_close(ember.sum(e, 1, dtype=ember.float64), torch.sum(t, 1, dtype=torch.float64), rtol=1e-12)
    assert_close(e.mean(dtype=ember.float64), t.mean(dtype=torch.float64), rtol=1e-12)
    ints = np.arange(12).reshape(3, 4)
    assert_close(ember.tensor(ints).mean(0, dtype=ember.float32), torch.tensor(ints).mean(0, dtype=torch.float32))
    assert_close(ember.tensor(ints).sum(1, dtype=ember.float32), torch.tensor(ints).sum(1, dtype=torch.float32))
    x = ember.tensor(data, requires_grad=True)
    ember.sum(x, dtype=ember.float64).backward()
    assert x.grad.dtype == ember.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.ones_like(data))


def test_float64_precision_and_long_rows():
    data = np.random.default_rng(1).standard_normal(200_001)
    e = ember.tensor(data)
    np.testing.assert_allclose(ember.sum(e).item(), data.sum(), rtol=1e-12)
    np.testing.assert_allclose(ember.mean(e).item(), data.mean(), rtol=1e-10, atol=1e-14)
    f32 = data.astype(np.float32)
    np.testing.assert_allclose(ember.tensor(f32).sum().item(), f32.astype(np.float64).sum(), rtol=1e-5, atol=1e-2)
    cols = np.random.default_rng(2).standard_normal((5000, 7)).astype(np.float32)
    np.testing.assert_allclose(ember.tensor(cols).sum(0).numpy(), cols.astype(np.float64).sum(0), rtol=1e-4, atol=1e-3)


def numerical_check(fn, shape, eps=1e-6):
    """Float64 Jacobian of fn by backward of one-hot gradients against central differences."""
    x0 = np.random.default_rng(0).standard_normal(shape)
    evaluate = lambda a: fn(ember.tensor(a, dtype=ember.float64)).detach().numpy().reshape(-1)  # noqa: E731
    n_out = evaluate(x0).size
    for j in range(n_out):
        x = ember.tensor(x0, dtype=ember.float64, requires_grad=True)
        out = fn(x)
        onehot = np.zeros(n_out)
        onehot[j] = 1.0
        out.backward(ember.tensor(onehot.reshape(tuple(out.shape)), dtype=ember.float64))
        numerical = np.zeros(x0.size)
        for i in range(x0.size):
            plus, minus = x0.copy().reshape(-1), x0.copy().reshape(-1)
            plus[i] += eps
            minus[i] -= eps
            numerical[i] = (evaluate(plus.reshape(shape))[j] - evaluate(minus.reshape(shape))[j]) / (2 * eps)
        np.testing.assert_allclose(x.grad.numpy().reshape(-1), numerical, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("fn", [lambda x: ember.sum(x, (0, 2)), lambda x: x.mean(1, keepdim=True),
                                lambda x: x.transpose(0, 2).sum(-1), lambda x: ember._C._sum_to(x, (3, 1))],
                         ids=["sum", "mean_keepdim", "sum_transposed", "sum_to"])
def test_finite_differences(fn):
    numerical_check(fn, (2, 3, 4))


def test_sum_to_matches_broadcast_inverse():
    data = np.random.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for target in [(3, 4, 5), (1, 4, 1), (5,), (3, 1, 5), (2, 3, 4, 5), (1,), ()]:
        out = ember._C._sum_to(ember.tensor(data), target)
        t_out = torch.tensor(data).sum_to_size(target) if target else torch.tensor(data).sum()
        assert tuple(out.shape) == tuple(target)
        np.testing.assert_allclose(out.numpy(), t_out.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="sum_to"):
        ember._C._sum_to(ember.tensor(data), (2, 4, 5))
    with pytest.raises(ValueError, match="sum_to"):
        ember._C._sum_to(ember.tensor(data), (1, 2, 3, 4, 5))


def test_thread_count_does_not_change_results():
    data = np.random.default_rng(3).standard_normal((300, 301)).astype(np.float32)
    previous = ember.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            ember.set_num_threads(threads)
            e = ember.tensor(data)
            results.append([ember.sum(e, 1).numpy(), ember.sum(e, 0).numpy(), ember.mean(e.t(), 0).numpy()])
        for a, b in zip(*results):
            np.testing.assert_array_equal(a, b)
    finally:
        ember.set_num_threads(previous)


def test_bad_input_raises():
    x = ember.zeros((2, 3))
    with pytest.raises(IndexError, match="out of range"):
        ember.sum(x, 2)
    with pytest.raises(IndexError, match="out of range"):
        x.mean((0, -3))
    with pytest.raises(ValueError, match="multiple times"):
        ember.sum(x, (1, -1))
    with pytest.raises(TypeError, match="mean"):
        ember.mean(ember.tensor([1, 2]))
    with pytest.raises(TypeError):
        ember.sum(x, "0")
    with pytest.raises(TypeError, match="dtype"):
        ember.sum(x, dtype="complex64")
