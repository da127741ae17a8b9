"""The Tensor API: creation (PyTorch's dtypes), random numbers, views, repr, NumPy interop, conversions and the
errors bad input must raise."""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

EMBER_OF_TORCH = {torch.bool: ember.bool, torch.int64: ember.int64, torch.float32: ember.float32,
                  torch.float64: ember.float64}


def values(t):
    return np.array(t.detach().numpy())


def assert_like_torch(e, t):
    assert e.dtype == EMBER_OF_TORCH[t.dtype], (e.dtype, t.dtype)
    assert tuple(e.shape) == tuple(t.shape)
    np.testing.assert_array_equal(values(e), t.numpy())


# ---------------------------------------------------------------- creation

@pytest.mark.parametrize("data", [
    [1.0, 2.0], [1, 2], [True, False], 3.5, 7, True, [[1, 2], [3, 4]], [[1.5], [2.5]], [], [[]],
    [1, 2.5], [True, 2], np.float64(2.5), np.arange(3, dtype=np.int64), np.ones((2, 2), dtype=np.float64),
    np.ones(3, dtype=np.float32), np.array([True]), np.int64(4),
], ids=repr)
def test_tensor_infers_pytorch_default_dtypes(data):
    assert_like_torch(ember.tensor(data), torch.tensor(data))


def test_tensor_with_dtype_and_requires_grad_and_copy():
    t = ember.tensor([1, 2], dtype=ember.float64, requires_grad=True)
    assert t.dtype == ember.float64 and t.requires_grad and t.is_leaf
    arr = np.array([1.0, 2.0], dtype=np.float32)
    e = ember.tensor(arr)
    arr[0] = 9
    assert values(e)[0] == 1.0   # tensor() copies
    for source in (arr, np.arange(12.0).reshape(3, 4)[::-1, ::2], np.asfortranarray(np.ones((3, 5))), [1, 2, 3]):
        copy = ember.tensor(source)   # into ember's storage: contiguous and 64-byte aligned, as op outputs
        assert copy.is_contiguous() and copy.data_ptr() % 64 == 0
        np.testing.assert_array_equal(copy.numpy(), np.asarray(source))
    assert ember.tensor([1.5], dtype=ember.int64).dtype == ember.int64
    assert ember.tensor([1, 0], dtype=ember.bool).tolist() == [True, False]
    assert ember.tensor(np.arange(3, dtype=np.int32)).dtype == ember.int64   # no int32 in ember
    with pytest.raises(ValueError, match="rectangular"):
        ember.tensor([[1, 2], [3]])
    with pytest.raises(TypeError):
        ember.tensor(["a"])
    with pytest.raises(ValueError):
        ember.tensor([1.0], device="cuda")


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_zeros_ones_empty(name):
    fe, ft = getattr(ember, name), getattr(torch, name)
    for args in [(2, 3), ((2, 3),), ([4],), (0,), ((),)]:
        e, t = fe(*args), ft(*args)
        assert e.dtype == ember.float32 and tuple(e.shape) == tuple(t.shape)
        if name != "empty":
            np.testing.assert_array_equal(values(e), t.numpy())
    assert fe(2, dtype=ember.int64).dtype == ember.int64
    assert fe(2, dtype=ember.bool).dtype == ember.bool
    assert fe(2, requires_grad=True).requires_grad


def test_full_infers_dtype_from_the_value():
    for value in [1.5, 2, True]:
        assert_like_torch(ember.full((2, 2), value), torch.full((2, 2), value))
    assert ember.full((2,), 3, dtype=ember.float64).dtype == ember.float64


@pytest.mark.parametrize("args", [(5,), (2, 7), (0, 1, 0.25), (1, 2.5, 0.5), (10, 0, -3), (5.0,), (-1.5, 1.5, 0.3),
                                  (0, 1, 0.1), (0, 0), (3, 3, 1), (1, -2, -0.5)], ids=repr)
def test_arange_matches_torch(args):
    e, t = ember.arange(*args), torch.arange(*args)
    assert e.dtype == EMBER_OF_TORCH[t.dtype] and tuple(e.shape) == tuple(t.shape)
    np.testing.assert_allclose(values(e), t.numpy(), rtol=1e-6, atol=1e-7)


def test_arange_dtype_and_errors():
    assert ember.arange(5, dtype=ember.float64).dtype == ember.float64
    assert ember.arange(np.int64(4)).dtype == ember.int64
    with pytest.raises(ValueError):
        ember.arange(0, 5, 0)
    with pytest.raises(ValueError):
        ember.arange(5, 0, 1)
    with pytest.raises(ValueError):
        ember.arange(0, float("inf"))


@pytest.mark.parametrize("args", [(0, 1, 5), (3, 10, 1), (-1, 1, 2), (0, 1, 0), (1, 0, 7), (0, 1, 100)], ids=repr)
def test_linspace_matches_torch(args):
    e, t = ember.linspace(*args), torch.linspace(*args)
    assert_like_torch_close(e, t)


def assert_like_torch_close(e, t):
    assert e.dtype == EMBER_OF_TORCH[t.dtype] and tuple(e.shape) == tuple(t.shape)
    np.testing.assert_allclose(values(e), t.numpy(), rtol=1e-6, atol=1e-7)


def test_eye_and_like_factories():
    assert_like_torch(ember.eye(3), torch.eye(3))
    assert_like_torch(ember.eye(2, 4), torch.eye(2, 4))
    assert_like_torch(ember.eye(3, dtype=ember.int64), torch.eye(3, dtype=torch.int64))
    x = ember.ones(2, 3, dtype=ember.float64)
    for name in ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"]:
        y = getattr(ember, name)(x)
        assert y.dtype == ember.float64 and tuple(y.shape) == (2, 3)
    assert_like_torch(ember.full_like(x, 7), torch.full_like(torch.ones(2, 3, dtype=torch.float64), 7))
    assert ember.zeros_like(x, dtype=ember.int64).dtype == ember.int64
    assert ember.zeros_like(ember.ones(2, dtype=ember.int64), dtype=ember.bool).dtype == ember.bool
    with pytest.raises(ValueError):
        ember.eye(-1)


# ---------------------------------------------------------------- random

def test_manual_seed_reproducibility():
    for fn in [lambda: ember.rand(5), lambda: ember.randn(2, 3), lambda: ember.randint(0, 10, (6,)),
               lambda: ember.randperm(7)]:
        ember.manual_seed(123)
        a = values(fn())
        ember.manual_seed(123)
        b = values(fn())
        np.testing.assert_array_equal(a, b)
    ember.manual_seed(1)
    first, second = values(ember.rand(4)), values(ember.rand(4))
    assert not np.array_equal(first, second)   # the stream advances


def test_random_statistics():
    ember.manual_seed(0)
    u = values(ember.rand(200_000))
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    n = values(ember.randn(200_000, dtype=ember.float64))
    assert n.dtype == np.float64
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
    assert abs(np.mean(np.abs(n) < 1) - 0.6827) < 0.01
    r = values(ember.randint(-3, 4, (100_000,)))
    assert r.dtype == np.int64 and r.min() == -3 and r.max() == 3
    counts = np.bincount(r + 3)
    assert counts.min() > 13_000
    p = values(ember.randperm(1000))
    np.testing.assert_array_equal(np.sort(p), np.arange(1000))
    assert not np.array_equal(p, np.arange(1000))
    assert ember.randint(5, (2, 2)).dtype == ember.int64


def test_randn_float32_follows_the_normal_distribution():
    # the float32 path (vector log, polynomial cos): moments, tails and a binned comparison with the normal CDF
    import math
    ember.manual_seed(3)
    n = values(ember.randn(1_000_003)).astype(np.float64)   # odd length: a partial last chunk
    assert np.isfinite(n).all()
    assert abs(n.mean()) < 0.005 and abs(n.std() - 1) < 0.005
    assert abs(np.mean(np.abs(n) > 3) - 0.0026998) < 0.0005
    edges = np.linspace(-4, 4, 33)
    expected = np.diff([0.5 * (1 + math.erf(e / math.sqrt(2))) for e in edges])
    observed = np.histogram(n, bins=edges)[0] / n.size
    assert (np.abs(observed - expected) < 5 * np.sqrt(expected / n.size) + 1e-5).all()


def test_random_results_do_not_depend_on_thread_count():
    before = ember.get_num_threads()
    try:
        out = []
        for n in [1, 2]:
            ember.set_num_threads(n)
            ember.manual_seed(5)
            out.append(values(ember.randn(100_000)))
        np.testing.assert_array_equal(out[0], out[1])
    finally:
        ember.set_num_threads(before)


def test_random_errors():
    with pytest.raises(ValueError):
        ember.randint(5, 5, (2,))
    with pytest.raises(TypeError):
        ember.rand(2, dtype=ember.int64)
    with pytest.raises(ValueError):
        ember.randperm(-1)


# ---------------------------------------------------------------- views

VIEWS = [(lambda x: x.view(6, 4), 24), (lambda x: x.view(-1), 24), (lambda x: x.reshape(4, 6), 24),
         (lambda x: x.permute(2, 0, 1), 24), (lambda x: x.transpose(0, 2), 24), (lambda x: ember.select(x, 0, 1), 12),
         (lambda x: x.unsqueeze(1), 24), (lambda x: x.flatten(), 24), (lambda x: x.flatten(1), 24),
         (lambda x: ember.narrow(x, 2, 1, 2), 12), (lambda x: x.view(2, 3, 4, 1).squeeze(3), 24),
         (lambda x: x.view(1, 24).t(), 24), (lambda x: x.view(1, 2, 12).expand(3, 2, 12), 24),
         (lambda x: x.transpose(1, 2), 24)]


@pytest.mark.parametrize("make,covered", VIEWS, ids=range(len(VIEWS)))
def test_views_share_memory(make, covered):
    x = ember.arange(24.0).reshape(2, 3, 4)
    v = make(x)
    assert x.data_ptr() <= v.data_ptr() < x.data_ptr() + 24 * 4
    v.fill_(-1.0)   # a write through the view lands in x
    assert int((values(x) == -1).sum()) == covered


def test_view_strides_and_offsets():
    x = ember.arange(24.0).reshape(2, 3, 4)
    assert x.view(1, 2, 12).expand(3, 2, 12).stride() == (0, 12, 1)
    t = x.transpose(0, 1)
    assert t.data_ptr() == x.data_ptr() and t.stride() == (4, 12, 1)
    n = ember.narrow(x, 2, 1, 2)
    assert n.data_ptr() == x.data_ptr() + 4 and n.storage_offset() == 1
    x.permute(2, 0, 1).mul_(2)
    np.testing.assert_array_equal(values(x).ravel(), np.arange(24) * 2)


def test_view_shapes_match_torch():
    t = torch.arange(24.0).reshape(2, 3, 4)
    e = ember.arange(24.0).reshape(2, 3, 4)
    cases = [lambda a: a.view(4, -1), lambda a: a.reshape(-1, 2), lambda a: a.permute(1, 2, 0),
             lambda a: a.transpose(-1, 0), lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(0).squeeze(),
             lambda a: a.flatten(0, 1), lambda a: a.view(2, 1, 3, 4).squeeze(1), lambda a: a.view(1, 24).squeeze(0), lambda a: a.permute(2, 1, 0).reshape(4, 6),
             lambda a: a.view(24, 1).expand(24, 3), lambda a: a.view(2, 12).t(), lambda a: a.mT]
    for fn in cases:
        ev, tv = fn(e), fn(t)
        assert tuple(ev.shape) == tuple(tv.shape)
        assert ev.stride() == tv.stride()
        np.testing.assert_array_equal(values(ev), tv.numpy())


def test_view_errors():
    x = ember.zeros(2, 3)
    with pytest.raises(RuntimeError, match="reshape"):
        x.t().view(6)
    assert tuple(x.t().reshape(6).shape) == (6,)   # reshape copies instead
    with pytest.raises(ValueError):
        x.view(4, -1)
    with pytest.raises(ValueError):
        x.view(-1, -1)
    with pytest.raises(ValueError):
        x.view(7)
    with pytest.raises(IndexError):
        x.transpose(0, 2)
    with pytest.raises(ValueError):
        x.permute(0, 0)
    with pytest.raises(ValueError):
        x.expand(3, 3)
    with pytest.raises(IndexError):
        x.unsqueeze(4)
    with pytest.raises(ValueError):
        ember.zeros(2, 3, 4).t()


def test_reshape_of_non_contiguous_copies_and_keeps_gradient():
    x = ember.arange(6.0).reshape(2, 3).requires_grad_()
    y = x.t().reshape(6)
    assert y.data_ptr() != x.data_ptr()
    (y * ember.arange(6.0)).sum().backward()
    np.testing.assert_array_equal(values(x.grad), np.arange(6.0).reshape(3, 2).T)


def test_size_zero_and_size_one_dims():
    x = ember.zeros(0, 3)
    assert x.numel() == 0 and tuple(x.reshape(3, 0, 5).shape) == (3, 0, 5)
    assert tuple((x + ember.ones(1, 3)).shape) == (0, 3)
    assert values(x.sum()) == 0
    y = ember.ones(1, 1, 1)
    assert tuple(y.squeeze().shape) == () and y.squeeze().item() == 1.0


# ---------------------------------------------------------------- repr

@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([1.0, 2.0]), lambda lib: lib.tensor([1, 2]), lambda lib: lib.tensor([True, False]),
    lambda lib: lib.tensor([1.5, 2.25], dtype=lib.float64), lambda lib: lib.tensor([1.0, 2.0], requires_grad=True),
    lambda lib: lib.tensor([[1.0, 2.0], [3.0, 4.0]]), lambda lib: lib.tensor(3.0), lambda lib: lib.tensor(3),
    lambda lib: lib.tensor([]), lambda lib: lib.zeros(0, 3), lambda lib: lib.tensor([0.5, -1.0]),
    lambda lib: lib.tensor([1, 2], dtype=lib.float64), lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64,
                                                                              requires_grad=True),
], ids=range(13))
def test_repr_matches_torch(make):
    expected = repr(make(torch)).replace("torch.", "ember.")
    assert repr(make(ember)) == expected


def test_repr_with_grad_fn():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    assert repr(x + 1) == "tensor([2., 3.], grad_fn=<AddBackward0>)"
    assert str(ember.tensor([1, 2])) == "tensor([1, 2])"


# ---------------------------------------------------------------- NumPy interop

def test_numpy_asarray_memoryview_are_zero_copy():
    x = ember.arange(6.0).reshape(2, 3)
    a = x.numpy()
    a[0, 0] = 42
    assert x.tolist()[0][0] == 42
    b = np.asarray(x)
    assert b.ctypes.data == x.data_ptr()
    m = memoryview(x)
    assert m.shape == (2, 3) and m.format == "f" and not m.readonly
    t = x.t()
    c = t.numpy()
    assert c.ctypes.data == x.data_ptr() and c.strides == (4, 12)
    np.testing.assert_array_equal(c, values(x).T)
    with pytest.raises(RuntimeError, match="detach"):
        ember.ones(2, requires_grad=True).numpy()
    np.testing.assert_array_equal(np.asarray(ember.ones(2, requires_grad=True)), [1, 1])
    assert np.asarray(x, dtype=np.float64).dtype == np.float64


def test_numpy_keeps_the_tensor_alive():
    a = ember.arange(5.0).numpy()
    import gc
    gc.collect()
    np.testing.assert_array_equal(a, np.arange(5.0))


def test_from_numpy_is_zero_copy_and_keeps_the_array_alive():
    arr = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = ember.from_numpy(arr)
    assert t.dtype == ember.float64 and t.data_ptr() == arr.ctypes.data
    arr[1, 2] = -5
    assert t.tolist()[1][2] == -5
    t.add_(1)
    assert arr[0, 0] == 1
    view = np.arange(12, dtype=np.int64).reshape(3, 4)[:, ::2]
    tv = ember.from_numpy(view)
    assert tv.stride() == (4, 2)
    np.testing.assert_array_equal(values(tv), view)
    del arr
    import gc
    gc.collect()
    assert t.tolist()[0] == [1.0, 2.0, 3.0]
    for dt in [np.bool_, np.float32, np.int64]:
        assert ember.from_numpy(np.zeros(2, dtype=dt)).dtype.itemsize == np.dtype(dt).itemsize


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.uint8, np.complex64, np.int16])
def test_from_numpy_rejects_unsupported_dtypes(dtype):
    with pytest.raises(TypeError, match="from_numpy"):
        ember.from_numpy(np.zeros(3, dtype=dtype))


def test_from_numpy_rejects_negative_strides():
    with pytest.raises(ValueError, match="negative strides"):
        ember.from_numpy(np.arange(4.0)[::-1])


# ---------------------------------------------------------------- conversions

def test_item_tolist_and_python_numbers():
    assert ember.tensor(2.5).item() == 2.5 and isinstance(ember.tensor(2.5).item(), float)
    assert ember.tensor([7]).item() == 7 and isinstance(ember.tensor([7]).item(), int)
    assert ember.tensor(True).item() is True
    assert ember.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert ember.tensor([1.5, 2.5]).tolist() == [1.5, 2.5]
    assert ember.tensor(3).tolist() == 3
    assert float(ember.tensor([2.5])) == 2.5 and int(ember.tensor(3.7)) == 3
    assert bool(ember.tensor([1])) is True and bool(ember.tensor(0.0)) is False
    assert [1, 2, 3][ember.tensor(1)] == 2
    big = ember.tensor([2**62])
    assert big.item() == 2**62   # int64 items are exact
    with pytest.raises(ValueError):
        ember.tensor([1, 2]).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ember.tensor([1, 2]))
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        float(ember.tensor([1.0, 2.0]))


def test_to_dtype_and_conversion_methods():
    x = ember.tensor([1.7, -2.2, 0.0])
    t = torch.tensor([1.7, -2.2, 0.0])
    for ed, td in [(ember.int64, torch.int64), (ember.float64, torch.float64), (ember.bool, torch.bool)]:
        assert_like_torch_close(x.to(ed), t.to(td))
    assert_like_torch(x.long(), t.long())
    assert_like_torch_close(x.double(), t.double())
    assert_like_torch(x.bool(), t.bool())
    assert x.to(ember.float32) is x
    assert x.to(ember.float32, copy=True) is not x
    assert x.float() is x
    assert x.to("cpu") is x
    assert x.to(np.float64).dtype == ember.float64
    with pytest.raises(TypeError, match="dtype"):
        x.to(np.int8)
    with pytest.raises(TypeError):
        x.to("int8")


# ---------------------------------------------------------------- bad input

def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="negative"):
        ember.zeros(-1)
    with pytest.raises(ValueError, match="negative"):
        ember.empty(2, -3)
    with pytest.raises(MemoryError):
        ember.empty(2**62)
    with pytest.raises(MemoryError):
        ember.zeros(2**31, 2**31, 2**10)
    with pytest.raises(ValueError) as info:
        ember.ones(2, 3) * ember.ones(3, 2)
    assert "(2, 3)" in str(info.value) and "(3, 2)" in str(info.value)
    with pytest.raises(TypeError):
        ember.zeros(2, dtype="complex64")
    with pytest.raises(TypeError):
        ember.zeros(2, dtype=np.int32)
    with pytest.raises(TypeError):
        ember.zeros("3")
    with pytest.raises(TypeError):
        ember.zeros(2.5)
    with pytest.raises(TypeError):
        ember.exp([1.0, 2.0])
    with pytest.raises(TypeError):
        ember.ones(2) + None
    with pytest.raises(TypeError):
        ember.full((2,), "x")


def test_attributes():
    x = ember.zeros(2, 3, dtype=ember.float64)
    assert x.shape == (2, 3) and x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert x.ndim == 2 and x.dim() == 2 and x.numel() == 6 and len(x) == 2
    assert x.stride() == (3, 1) and x.stride(0) == 3 and x.is_contiguous() and not x.t().is_contiguous()
    assert x.element_size() == 8 and x.is_floating_point() and x.device == "cpu"
    assert repr(ember.float64) == "ember.float64" and ember.float is ember.float32
    with pytest.raises(TypeError):
        len(ember.tensor(1.0))
    with pytest.raises(IndexError):
        x.size(2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_transposed_copies_match_numpy(dtype):
    # the tiled transpose path (last two dims running (1, stride)): odd sizes around the 32 x 32 tiles, batched,
    # 4 KiB row strides (1024 columns), and layouts that must fall back to the row loop
    rng = np.random.default_rng(0)
    for shape, perm in (((45, 70), (1, 0)), ((1024, 33), (1, 0)), ((3, 40, 50), (0, 2, 1)),
                        ((2, 33, 3, 65), (0, 3, 2, 1)), ((40, 3, 50), (2, 1, 0)), ((31, 64), (1, 0))):
        data = (rng.standard_normal(shape) * 100).astype(dtype)
        view = ember.tensor(data).permute(*perm)
        out = view.contiguous()
        assert out.is_contiguous()
        np.testing.assert_array_equal(out.numpy(), np.ascontiguousarray(data.transpose(perm)))
    sliced = ember.tensor(np.arange(64 * 96, dtype=dtype).reshape(64, 96))[::2, 1::3].t()   # strided both ways
    np.testing.assert_array_equal(sliced.contiguous().numpy(), np.arange(64 * 96, dtype=dtype).reshape(64, 96)[::2, 1::3].T)
