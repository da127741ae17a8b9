"""DLPack interop with NumPy and PyTorch: zero-copy both ways, lifetimes, strides, errors, no leaks."""
import gc

import numpy as np
import pytest

import ember


def values(t):
    return np.array(t.detach().numpy())


# ---------------------------------------------------------------- export: ember -> numpy / torch

def test_numpy_from_dlpack_shares_memory_both_ways():
    t = ember.arange(6.0).reshape(2, 3)
    a = np.from_dlpack(t)
    assert a.flags.writeable   # the versioned capsule with flags=0
    assert a.ctypes.data == t.data_ptr() and a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 1] = 42
    assert t.tolist()[0][1] == 42
    t.add_(1)
    assert a[0, 0] == 1


def test_torch_from_dlpack_shares_memory_both_ways():
    torch = pytest.importorskip("torch")
    t = ember.arange(6, dtype=ember.int64).reshape(3, 2)
    tt = torch.from_dlpack(t)
    assert tt.dtype == torch.int64 and tuple(tt.shape) == (3, 2) and tt.data_ptr() == t.data_ptr()
    tt[1, 1] = -7
    assert t.tolist()[1][1] == -7
    t.mul_(2)
    assert tt[2, 0].item() == 8


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_every_dtype_exports(dtype):
    torch = pytest.importorskip("torch")
    t = ember.tensor(np.array([1, 0, 1], dtype=dtype))
    np.testing.assert_array_equal(np.from_dlpack(t), values(t))
    assert torch.from_dlpack(t).numpy().dtype == np.dtype(dtype)


def test_consumer_keeps_storage_alive_after_the_producer_dies():
    torch = pytest.importorskip("torch")
    t = ember.arange(1000.0)
    a = np.from_dlpack(t)
    tt = torch.from_dlpack(t)
    del t
    gc.collect()
    junk = [ember.ones(1000) for _ in range(20)]   # reuse freed memory if it had been freed
    np.testing.assert_array_equal(a, np.arange(1000.0))
    np.testing.assert_array_equal(tt.numpy(), np.arange(1000.0))
    del junk


def test_export_of_non_contiguous_views():
    torch = pytest.importorskip("torch")
    base = ember.arange(12.0).reshape(3, 4)
    for view in [base.t(), ember.narrow(base, 1, 1, 2), base.view(3, 1, 4).expand(3, 2, 4)]:
        a = np.from_dlpack(view)
        np.testing.assert_array_equal(a, values(view))
        assert a.strides == tuple(s * 4 for s in view.stride())
        np.testing.assert_array_equal(torch.from_dlpack(view).numpy(), values(view))


def test_legacy_capsule_when_no_max_version():
    t = ember.ones(3)
    legacy = t.__dlpack__()
    assert "dltensor" in repr(legacy) and "versioned" not in repr(legacy)
    versioned = t.__dlpack__(max_version=(1, 0))
    assert "dltensor_versioned" in repr(versioned)
    assert t.__dlpack_device__() == (1, 0)
    # an unconsumed capsule frees its tensor on its own; a legacy one imports fine
    back = ember.from_dlpack(legacy)
    assert back.data_ptr() == t.data_ptr()
    with pytest.raises(ValueError, match="only once"):
        ember.from_dlpack(legacy)


def test_export_arguments():
    t = ember.ones(3)
    with pytest.raises(BufferError):
        t.__dlpack__(stream=1)
    t.__dlpack__(stream=-1)
    with pytest.raises(BufferError):
        t.__dlpack__(dl_device=(2, 0))
    t.__dlpack__(dl_device=(1, 0))
    copied = np.from_dlpack(ember.from_dlpack(t.__dlpack__(max_version=(1, 0), copy=True)))
    assert copied.ctypes.data != t.data_ptr()
    np.testing.assert_array_equal(copied, [1, 1, 1])
    with pytest.raises(RuntimeError, match="detach"):
        np.from_dlpack(ember.ones(2, requires_grad=True))
    np.from_dlpack(ember.ones(2, requires_grad=True).detach())


# ---------------------------------------------------------------- import: numpy / torch -> ember

def test_from_dlpack_numpy_is_zero_copy():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = ember.from_dlpack(a)
    assert t.dtype == ember.float64 and t.shape == (2, 3) and t.data_ptr() == a.ctypes.data
    a[1, 1] = 100
    assert t.tolist()[1][1] == 100
    t.add_(1)
    assert a[0, 0] == 1


def test_from_dlpack_numpy_non_contiguous_view_honours_strides():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    view = a[:, ::2]
    t = ember.from_dlpack(view)
    assert t.stride() == (6, 2) and t.data_ptr() == view.ctypes.data
    np.testing.assert_array_equal(values(t), view)
    np.testing.assert_array_equal(values(t * 2), view * 2)
    view2 = a.T[1:3]
    t2 = ember.from_dlpack(view2)
    np.testing.assert_array_equal(values(t2), view2)


def test_from_dlpack_keeps_the_producer_alive():
    a = np.arange(1000, dtype=np.int64)
    t = ember.from_dlpack(a)
    del a
    gc.collect()
    junk = [np.ones(1000, dtype=np.int64) for _ in range(20)]
    np.testing.assert_array_equal(values(t), np.arange(1000))
    del junk


def test_torch_to_ember_to_numpy_round_trip():
    torch = pytest.importorskip("torch")
    tt = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    e = ember.from_dlpack(tt)
    assert e.data_ptr() == tt.data_ptr()
    a = np.from_dlpack(e)
    assert a.ctypes.data == tt.data_ptr()
    a[2, 3] = -1
    assert tt[2, 3].item() == -1 and e.tolist()[2][3] == -1
    te = ember.from_dlpack(tt.t())
    np.testing.assert_array_equal(values(te), tt.t().numpy())
    for dtype in [torch.float64, torch.int64, torch.bool]:
        src = torch.tensor([1, 0, 1], dtype=dtype)
        np.testing.assert_array_equal(values(ember.from_dlpack(src)), src.numpy())
    del tt, a
    gc.collect()
    assert e.tolist()[0] == [0, 1, 2, 3]


def test_from_dlpack_of_an_ember_tensor_and_a_capsule():
    t = ember.arange(4.0)
    same = ember.from_dlpack(t)
    assert same.data_ptr() == t.data_ptr()
    cap = np.arange(3.0).__dlpack__()
    assert values(ember.from_dlpack(cap)).tolist() == [0.0, 1.0, 2.0]
    assert "used_dltensor" in repr(cap)


def test_from_dlpack_errors():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="dtype"):
        ember.from_dlpack(np.zeros(3, dtype=np.float16))
    with pytest.raises(TypeError, match="dtype"):
        ember.from_dlpack(np.zeros(3, dtype=np.int32))
    with pytest.raises(TypeError, match="dtype"):
        ember.from_dlpack(torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(TypeError):
        ember.from_dlpack([1.0, 2.0])
    readonly = np.zeros(3)
    readonly.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        ember.from_dlpack(readonly)
    with pytest.raises(ValueError, match="negative strides"):
        ember.from_dlpack(np.arange(4.0)[::-1])

    class FakeCuda:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be called")

    with pytest.raises(ValueError, match="CPU"):
        ember.from_dlpack(FakeCuda())


def test_misaligned_byte_offset_is_rejected():
    raw = np.zeros(17, dtype=np.uint8)
    misaligned = raw[1:].view(np.float64)   # a float64 array at an odd address
    try:
        cap = misaligned.__dlpack__(max_version=(1, 0))
    except (BufferError, TypeError):
        pytest.skip("numpy refuses to export a misaligned array")
    with pytest.raises(ValueError, match="aligned|multiple"):
        ember.from_dlpack(cap)


def test_producer_without_max_version_keyword():
    class OldProducer:
        def __init__(self, array):
            self.array = array

        def __dlpack_device__(self):
            return (1, 0)

        def __dlpack__(self, stream=None):
            return self.array.__dlpack__()

    t = ember.from_dlpack(OldProducer(np.arange(3, dtype=np.int64)))
    assert t.tolist() == [0, 1, 2]


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(ember._C.build_info()["sanitize"], reason="ASan's quarantine keeps freed memory: RSS says nothing")
def test_many_export_import_cycles_do_not_leak():
    torch = pytest.importorskip("torch")
    t = ember.ones(256)
    a = np.ones(256, dtype=np.float32)
    tt = torch.ones(256)

    def cycle(n):
        for _ in range(n):
            np.from_dlpack(t)
            ember.from_dlpack(a)
            ember.from_dlpack(np.from_dlpack(t))
            torch.from_dlpack(t)
            ember.from_dlpack(tt)
            t.__dlpack__(max_version=(1, 0))   # never consumed
            t.__dlpack__()

    cycle(2000)   # warm up allocators
    gc.collect()
    before = _rss_mb()
    cycle(20_000)
    gc.collect()
    assert _rss_mb() - before < 8, "RSS grew: DLPack contexts leak"
