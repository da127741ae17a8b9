"""conv1d / conv2d forward and backward against PyTorch over kernel sizes, strides, paddings (incl. 'same' with
even kernels), dilations, groups (incl. depthwise), odd sizes and batch 1; every path (direct / im2col /
pointwise) and ISA level forced against the naive reference; fused ReLU; float64 gradcheck; the errors."""
import numpy as np
import pytest

import ember
from ember import _C
from ember.nn import functional_conv as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

ISAS = [level for level in ("ref", "avx2", "avx512") if _C.isa_available(level)]


def leaf(array):
    return ember.from_numpy(np.ascontiguousarray(array)).requires_grad_(True)


def tleaf(array):
    return torch.tensor(np.ascontiguousarray(array), requires_grad=True)


def run_ember(x, w, b, grad, **kw):
    ex, ew = leaf(x), leaf(w)
    eb = leaf(b) if b is not None else None
    conv = _C.conv1d if x.ndim == 3 and w.ndim == 3 else _C.conv2d
    y = conv(ex, ew, eb, **kw)
    y.backward(ember.from_numpy(grad))
    return y.detach().numpy(), ex.grad.numpy(), ew.grad.numpy(), None if b is None else eb.grad.numpy()


def run_torch(x, w, b, grad, activation=None, **kw):
    tx, tw = tleaf(x), tleaf(w)
    tb = tleaf(b) if b is not None else None
    conv = TF.conv1d if w.ndim == 3 else TF.conv2d
    y = conv(tx, tw, tb, **kw)
    if activation == "relu":
        y = torch.relu(y)
    y.backward(torch.from_numpy(grad))
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), None if b is None else tb.grad.numpy()


def finite_difference_check(fn, arrays, eps=1e-6, tol=1e-6):
    """float64 check of fn's backward: for a random cotangent v, d(v . fn)/d(input) by central differences
    (perturbing the NumPy arrays that the leaves share memory with) against the autograd gradients."""
    leaves = [leaf(a) for a in arrays]
    out = fn(*leaves)
    v = np.random.default_rng(0).standard_normal(tuple(out.shape))
    out.backward(ember.from_numpy(v))
    for a, t in zip(arrays, leaves):
        shared = t.detach().numpy()   # zero-copy view of the leaf's storage
        numerical = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            orig = shared[i]
            shared[i] = orig + eps
            plus = float((fn(*leaves).detach().numpy() * v).sum())
            shared[i] = orig - eps
            minus = float((fn(*leaves).detach().numpy() * v).sum())
            shared[i] = orig
            numerical[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(t.grad.numpy(), numerical, rtol=tol, atol=tol)


def assert_close(got, want, tol):
    for g, t in zip(got, want):
        if t is None:
            assert g is None
            continue
        scale = max(1.0, float(np.abs(t).max()))
        np.testing.assert_allclose(g, t, rtol=tol, atol=tol * scale)


def random_case(rng, n, c_in, c_out, size, kernel, groups, bias, dtype=np.float32):
    x = rng.standard_normal((n, c_in) + size).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups) + kernel).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    return x, w, b


# (N, C_in, C_out, (H, W), (KH, KW), stride, padding, dilation, groups, bias)
CONV2D_CASES = [
    (2, 1, 6, (28, 28), (5, 5), 1, 2, 1, 1, True),          # LeNet conv1
    (2, 6, 16, (14, 14), (5, 5), 1, 0, 1, 1, True),         # LeNet conv2
    (1, 3, 5, (7, 9), (3, 3), 1, 1, 1, 1, False),           # batch 1, odd sizes
    (3, 4, 6, (11, 10), (3, 2), (2, 1), (1, 0), 1, 2, True),
    (2, 8, 8, (9, 9), (3, 3), 1, 1, 1, 8, True),            # depthwise
    (2, 4, 8, (10, 9), (3, 3), 1, 2, 2, 4, True),           # depthwise multiplier 2, dilation
    (2, 5, 7, (13, 12), (1, 1), 1, 0, 1, 1, True),          # pointwise
    (2, 6, 4, (9, 8), (1, 1), 2, 0, 1, 1, True),            # 1x1 strided
    (2, 3, 4, (8, 8), (4, 4), 3, 2, 1, 1, True),
    (1, 2, 3, (6, 7), (2, 3), 1, "same", 1, 1, True),       # even kernel: asymmetric padding
    (2, 2, 3, (9, 10), (4, 3), 1, "same", (2, 1), 1, False),
    (2, 3, 2, (5, 6), (3, 3), 1, "valid", 1, 1, True),
    (2, 20, 24, (9, 9), (3, 3), 1, 1, 1, 1, True),
    (2, 5, 6, (11, 9), (3, 3), 2, 1, 1, 1, True),           # strided: im2col
    (2, 3, 3, (4, 4), (3, 3), 1, 3, 1, 1, True),            # padding larger than the kernel reach
]


@pytest.mark.parametrize("case", CONV2D_CASES, ids=lambda c: f"{c[1]}-{c[2]}-{c[3]}-{c[4]}-s{c[5]}-p{c[6]}-d{c[7]}-g{c[8]}")
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_matches_torch(case):
    n, c_in, c_out, size, kernel, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(hash(str(case)) % 2**32)
    x, w, b = random_case(rng, n, c_in, c_out, size, kernel, groups, bias)
    tx = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b), stride=stride,
                   padding=padding, dilation=dilation, groups=groups)
    grad = rng.standard_normal(tuple(tx.shape)).astype(np.float32)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_close(run_ember(x, w, b, grad, **kw), run_torch(x, w, b, grad, **kw), 2e-4)


PATH_CASES = [
    (2, 1, 6, (12, 11), (5, 5), 1, 2, 1, 1),
    (3, 6, 16, (9, 10), (5, 5), 1, 0, 1, 1),
    (2, 4, 6, (7, 9), (3, 3), 1, (2, 1), (1, 2), 2),
    (2, 6, 6, (8, 8), (3, 3), 1, 1, 1, 6),
    (5, 3, 9, (6, 5), (2, 4), 1, "same", 1, 1),
    (2, 4, 5, (7, 6), (3, 3), 2, 1, 1, 1),
    (1, 3, 10, (5, 5), (1, 1), 1, 0, 1, 1),
    (2, 2, 3, (3, 4), (3, 3), 1, 4, 1, 1),
]


def applicable_paths(case, dtype):
    _, _, _, _, kernel, stride, padding, _, _ = case
    paths = ["im2col"]
    if stride == 1 and dtype == np.float32:
        paths.append("direct")
    if kernel == (1, 1) and stride == 1 and padding in (0, "valid"):
        paths.append("pointwise")
    return paths


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("case", PATH_CASES, ids=str)
def test_each_path_matches_reference(case, isa):
    n, c_in, c_out, size, kernel, stride, padding, dilation, groups = case
    rng = np.random.default_rng(7)
    x, w, b = random_case(rng, n, c_in, c_out, size, kernel, groups, True)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ref_y = _C.conv2d(ember.from_numpy(x), ember.from_numpy(w), ember.from_numpy(b), path="ref", **kw)
    grad = rng.standard_normal(tuple(ref_y.shape)).astype(np.float32)
    want = run_ember(x, w, b, grad, path="ref", **kw)
    for path in applicable_paths(case, np.float32):
        got = run_ember(x, w, b, grad, path=path, isa=isa, **kw)
        assert_close(got, want, 1e-4)
        relu_got = run_ember(x, w, b, grad, path=path, isa=isa, activation="relu", **kw)
        relu_want = run_torch(x, w, b, grad, activation="relu", **kw)
        assert_close(relu_got, relu_want, 1e-4)


def test_direct_kernels_hit_every_channel_block_and_tail():
    # Output channel counts 1..17 and plane sizes that leave every vector tail; direct vs the reference.
    rng = np.random.default_rng(3)
    for c_out in (1, 2, 3, 5, 7, 9, 11, 13, 17):
        for size in ((3, 5), (6, 7), (9, 13)):
            x, w, b = random_case(rng, 2, 3, c_out, size, (3, 3), 1, True)
            ref_y = _C.conv2d(ember.from_numpy(x), ember.from_numpy(w), ember.from_numpy(b), padding=1, path="ref")
            grad = rng.standard_normal(tuple(ref_y.shape)).astype(np.float32)
            want = run_ember(x, w, b, grad, padding=1, path="ref")
            for isa in ISAS:
                assert_close(run_ember(x, w, b, grad, padding=1, path="direct", isa=isa), want, 1e-4)


@pytest.mark.parametrize("c_in, c_out", [(70, 9), (5, 37)])
def test_direct_path_with_many_channels(c_in, c_out):
    """A 5x5 kernel with a deep input-channel loop (70: four passes of 16 and a tail of 6, 9 output channels in
    blocks of 5 and 4), or a deep dX one (37 output channels are dX's inputs): the same as the reference, forward
    (with and without the fused ReLU) and backward, on every level."""
    rng = np.random.default_rng(4)
    x, w, b = random_case(rng, 2, c_in, c_out, (11, 12), (5, 5), 1, True)
    ref_y = _C.conv2d(ember.from_numpy(x), ember.from_numpy(w), ember.from_numpy(b), padding=2, path="ref")
    grad = rng.standard_normal(tuple(ref_y.shape)).astype(np.float32)
    want = run_ember(x, w, b, grad, padding=2, path="ref")
    relu_want = run_torch(x, w, b, grad, activation="relu", padding=2)
    for isa in ISAS:
        assert_close(run_ember(x, w, b, grad, padding=2, path="direct", isa=isa), want, 1e-4)
        assert_close(run_ember(x, w, b, grad, padding=2, path="direct", isa=isa, activation="relu"), relu_want, 1e-4)


def test_auto_path_choice():
    def path(x_shape, w_shape, **kw):
        return _C._conv2d_path(ember.zeros(x_shape), ember.zeros(w_shape), **kw)
    assert path((64, 1, 28, 28), (6, 1, 5, 5), padding=2) == "direct"
    assert path((64, 6, 14, 14), (16, 6, 5, 5)) == "direct"
    assert path((32, 64, 32, 32), (64, 1, 3, 3), padding=1, groups=64) == "direct"
    assert path((32, 64, 32, 32), (64, 64, 3, 3), padding=1) == "direct"
    assert path((2, 3, 9, 9), (4, 3, 3, 3), dilation=2) == "direct"
    assert path((32, 128, 16, 16), (256, 128, 1, 1)) == "pointwise"
    assert path((2, 3, 9, 9), (4, 3, 3, 3), stride=2) == "im2col"
    assert path((2, 3, 9, 9), (4, 3, 1, 1), stride=2) == "im2col"
    x64 = ember.zeros((2, 3, 9, 9), dtype=ember.float64)
    assert _C._conv2d_path(x64, ember.zeros((4, 3, 3, 3), dtype=ember.float64)) == "im2col"


CONV1D_CASES = [
    (2, 3, 4, 17, 3, 1, 1, 1, 1, True),
    (1, 4, 6, 10, 4, 2, 0, 1, 2, False),
    (3, 4, 4, 12, 3, 1, 2, 2, 4, True),
    (2, 2, 5, 9, 4, 1, "same", 1, 1, True),
    (2, 2, 3, 9, 3, 1, "same", 3, 1, True),
    (2, 3, 2, 8, 1, 1, 0, 1, 1, True),
]


@pytest.mark.parametrize("case", CONV1D_CASES, ids=str)
def test_conv1d_matches_torch(case):
    n, c_in, c_out, length, k, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(11)
    x, w, b = random_case(rng, n, c_in, c_out, (length,), (k,), groups, bias)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    out_shape = tuple(TF.conv1d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                                dilation=dilation, groups=groups).shape)
    grad = rng.standard_normal(out_shape).astype(np.float32)
    assert_close(run_ember(x, w, b, grad, **kw), run_torch(x, w, b, grad, **kw), 2e-4)


def test_functional_wrappers_unbatched_and_non_contiguous():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 10, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = F.conv2d(ember.from_numpy(x), ember.from_numpy(w), padding=1)
    want = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)
    assert tuple(y.shape) == tuple(want.shape) == (4, 10, 9)
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)
    x1 = rng.standard_normal((3, 12)).astype(np.float32)
    w1 = rng.standard_normal((2, 3, 3)).astype(np.float32)
    y1 = F.conv1d(ember.from_numpy(x1), ember.from_numpy(w1), stride=2)
    np.testing.assert_allclose(y1.numpy(), TF.conv1d(torch.from_numpy(x1), torch.from_numpy(w1), stride=2).numpy(),
                               rtol=1e-4, atol=1e-4)
    # A channels-last view (non-contiguous) and a transposed weight view.
    xl = rng.standard_normal((2, 7, 8, 3)).astype(np.float32)
    ex = ember.from_numpy(xl).permute(0, 3, 1, 2)
    wt = rng.standard_normal((3, 5, 2, 2)).astype(np.float32)
    ew = ember.from_numpy(wt).permute(1, 0, 2, 3)
    got = F.conv2d(ex, ew, activation="relu")
    ref = torch.relu(TF.conv2d(torch.from_numpy(xl).permute(0, 3, 1, 2), torch.from_numpy(wt).permute(1, 0, 2, 3)))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)


def test_relu_gradient_is_zero_where_output_is_not_positive():
    x = ember.zeros((1, 1, 3, 3)).requires_grad_(True)
    w = ember.ones((1, 1, 1, 1)).requires_grad_(True)
    b = ember.zeros((1,)).requires_grad_(True)
    y = F.conv2d(x, w, b, activation="relu")   # all outputs exactly 0: relu'(0) = 0, as torch
    y.sum().backward()
    assert np.all(x.grad.numpy() == 0) and np.all(w.grad.numpy() == 0) and np.all(b.grad.numpy() == 0)


@pytest.mark.parametrize("path", ["ref", "im2col", "pointwise"])
def test_gradcheck_float64(path):
    rng = np.random.default_rng(2)
    if path == "pointwise":
        x, w, b = random_case(rng, 2, 4, 2, (3, 2), (1, 1), 2, True, np.float64)
        kw = dict(groups=2)
    else:
        x, w, b = random_case(rng, 2, 2, 2, (4, 3), (2, 2), 1, True, np.float64)
        kw = dict(stride=(2, 1), padding=1, dilation=(1, 2))
    finite_difference_check(lambda a, c, d: _C.conv2d(a, c, d, path=path, **kw), (x, w, b))


def test_gradcheck_float64_conv1d_same():
    rng = np.random.default_rng(4)
    x, w, b = random_case(rng, 1, 2, 3, (6,), (4,), 1, True, np.float64)
    finite_difference_check(lambda a, c, d: F.conv1d(a, c, d, padding="same"), (x, w, b))


def test_float64_forward_matches_torch():
    rng = np.random.default_rng(9)
    x, w, b = random_case(rng, 2, 4, 6, (9, 8), (3, 3), 2, True, np.float64)
    y = F.conv2d(ember.from_numpy(x), ember.from_numpy(w), ember.from_numpy(b), padding=1, groups=2)
    want = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1, groups=2)
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


def test_errors():
    x = ember.zeros((2, 3, 8, 8))
    w = ember.zeros((6, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(2, 4, 8, 8\) has 4 channels.*\(6, 3, 3, 3\)"):
        F.conv2d(ember.zeros((2, 4, 8, 8)), w)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.conv2d(ember.zeros((1, 3, 2, 2)), w)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.conv2d(x, w, stride=(1, -1))
    with pytest.raises(ValueError, match="padding must be non-negative"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="groups=2 does not divide the 3 input channels"):
        F.conv2d(x, ember.zeros((6, 1, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="groups=4 does not divide the 6 output channels"):
        F.conv2d(ember.zeros((1, 4, 5, 5)), ember.zeros((6, 1, 3, 3)), groups=4)
    with pytest.raises(ValueError, match="groups must be a positive"):
        F.conv2d(x, w, groups=0)
    with pytest.raises(ValueError, match=r"expected a 3-D \(unbatched\) or 4-D \(batched\) input, got a 2-D"):
        F.conv2d(ember.zeros((3, 8)), w)
    with pytest.raises(ValueError, match="4-D weight"):
        F.conv2d(x, ember.zeros((6, 3, 3)))
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        F.conv2d(x, w, padding="same", stride=2)
    with pytest.raises(ValueError, match="padding must be 'same', 'valid'"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match="bias must have shape"):
        F.conv2d(x, w, ember.zeros((5,)))
    with pytest.raises(TypeError, match="same dtype"):
        F.conv2d(x, ember.zeros((6, 3, 3, 3), dtype=ember.float64))
    with pytest.raises(ValueError, match="conv1d: expected a 2-D"):
        F.conv1d(x, ember.zeros((6, 3, 3)))
    with pytest.raises(ValueError, match="conv1d: input of shape"):
        F.conv1d(ember.zeros((2, 4, 9)), ember.zeros((6, 3, 3)))
    with pytest.raises(ValueError, match="path 'direct' needs float32 and stride 1"):
        _C.conv2d(x, w, stride=2, path="direct")
    with pytest.raises(ValueError, match="activation"):
        F.conv2d(x, w, activation="tanh")


@pytest.mark.parametrize("threads", [1, 3])
def test_batch_one_splits_output_channels_across_threads(threads):
    previous = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        rng = np.random.default_rng(12)
        for c_in, c_out, kernel, groups in ((3, 20, (3, 3), 1), (8, 12, (5, 5), 4), (4, 4, (5, 5), 4)):
            x, w, b = random_case(rng, 1, c_in, c_out, (40, 40), kernel, groups, True)
            kw = dict(padding=1, groups=groups)
            want = _C.conv2d(ember.from_numpy(x), ember.from_numpy(w), ember.from_numpy(b), path="ref", **kw)
            got = _C.conv2d(ember.from_numpy(x), ember.from_numpy(w), ember.from_numpy(b), path="direct",
                            activation="relu", **kw)
            np.testing.assert_allclose(got.numpy(), np.maximum(want.numpy(), 0), rtol=1e-4, atol=1e-4)
    finally:
        ember.set_num_threads(previous)
