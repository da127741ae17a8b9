"""matmul / bmm / linear (fused bias + activation) forward and backward against PyTorch, a float64
finite-difference gradient check, and the error messages for bad input."""
import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")

matmul = getattr(ember, "matmul", None) or _C.matmul
bmm = getattr(ember, "bmm", None) or _C.bmm
linear = _C.linear   # ember's fused form: linear(x, weight, bias=None, activation="none")


def leaf(array, requires_grad=True):
    t = ember.from_numpy(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_torch(array, requires_grad=True):
    return torch.tensor(np.ascontiguousarray(array), requires_grad=requires_grad)


def numpy_of(t):
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t.numpy())


def randn(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


MATMUL_SHAPES = [
    ((5,), (5,)), ((4,), (4, 3)), ((3, 4), (4,)), ((3, 4), (4, 6)), ((1, 1), (1, 1)),
    ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
    ((7,), (2, 7, 3)), ((2, 6, 7), (7,)), ((1, 13, 17), (3, 17, 19)), ((0, 3, 4), (4, 2)), ((3, 0), (0, 5)),
    ((4, 2, 70, 33), (33, 9)),
]


@pytest.mark.parametrize("shape_a,shape_b", MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_forward_backward_matches_torch(shape_a, shape_b, dtype):
    rng = np.random.default_rng(len(shape_a) * 10 + len(shape_b))
    a, b = randn(rng, shape_a, dtype), randn(rng, shape_b, dtype)
    ea, eb = leaf(a), leaf(b)
    ta, tb = as_torch(a), as_torch(b)
    out, tout = matmul(ea, eb), torch.matmul(ta, tb)
    assert tuple(out.shape) == tuple(tout.shape)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(numpy_of(out), tout.detach().numpy(), rtol=tol, atol=tol)
    g = randn(rng, tuple(tout.shape), dtype)
    out.backward(ember.from_numpy(g))
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(numpy_of(ea.grad), ta.grad.numpy(), rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(numpy_of(eb.grad), tb.grad.numpy(), rtol=tol, atol=tol * 10)


def test_matmul_noncontiguous_operands_and_grad():
    """Transposed and strided views (zero-copy from NumPy) go straight to the kernel and give the same numbers."""
    rng = np.random.default_rng(11)
    base_a = randn(rng, (3, 40, 30))
    a_view = base_a.transpose(0, 2, 1)[:, ::2, :]           # (3, 15, 40): transposed and strided
    b_view = base_a[:, :, ::2]                               # (3, 40, 15): strided columns
    ea, eb = leaf(a_view), leaf(b_view)
    ta, tb = as_torch(a_view), as_torch(b_view)
    out = matmul(ea, eb)
    np.testing.assert_allclose(numpy_of(out), np.matmul(a_view.astype(np.float64), b_view), rtol=1e-4, atol=1e-4)
    g = randn(rng, (3, 15, 15))
    out.backward(ember.from_numpy(g))
    torch.matmul(ta, tb).backward(torch.from_numpy(g))
    np.testing.assert_allclose(numpy_of(ea.grad), ta.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(numpy_of(eb.grad), tb.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_matmul_expanded_gradient_input():
    """A gradient with zero strides (as from sum's backward) is read in place."""
    rng = np.random.default_rng(12)
    a, b = randn(rng, (6, 9)), randn(rng, (9, 4))
    ea, eb = leaf(a), leaf(b)
    out = matmul(ea, eb)
    g = np.broadcast_to(np.float32(1.5), (6, 4))
    out.backward(ember.from_numpy(g))
    np.testing.assert_allclose(numpy_of(ea.grad), np.full((6, 4), 1.5) @ b.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(numpy_of(eb.grad), a.T @ np.full((6, 4), 1.5), rtol=1e-5, atol=1e-5)


def test_bmm_matches_torch():
    rng = np.random.default_rng(13)
    a, b = randn(rng, (4, 17, 9)), randn(rng, (4, 9, 23))
    ea, eb, ta, tb = leaf(a), leaf(b), as_torch(a), as_torch(b)
    out, tout = bmm(ea, eb), torch.bmm(ta, tb)
    np.testing.assert_allclose(numpy_of(out), tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = randn(rng, (4, 17, 23))
    out.backward(ember.from_numpy(g))
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(numpy_of(ea.grad), ta.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(numpy_of(eb.grad), tb.grad.numpy(), rtol=1e-5, atol=1e-5)


TORCH_ACT = {
    "none": lambda y: y,
    "relu": torch.relu,
    "gelu": torch.nn.functional.gelu,
    "gelu_tanh": lambda y: torch.nn.functional.gelu(y, approximate="tanh"),
}


@pytest.mark.parametrize("act", ["none", "relu", "gelu", "gelu_tanh"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("x_shape", [(37, 19), (2, 5, 19), (19,), (150, 19)])   # 150: several row blocks of db
def test_linear_matches_torch(act, with_bias, x_shape):
    rng = np.random.default_rng(hash((act, with_bias, x_shape)) % 2**32)
    x, w, b = randn(rng, x_shape), randn(rng, (45, 19)), randn(rng, (45,))
    ex, ew = leaf(x), leaf(w)
    eb = leaf(b) if with_bias else None
    tx, tw = as_torch(x), as_torch(w)
    tb = as_torch(b) if with_bias else None
    out = linear(ex, ew, eb, act)
    tout = TORCH_ACT[act](torch.nn.functional.linear(tx, tw, tb))
    np.testing.assert_allclose(numpy_of(out), tout.detach().numpy(), rtol=1e-5, atol=2e-5)
    g = randn(rng, tuple(tout.shape))
    out.backward(ember.from_numpy(g))
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(numpy_of(ex.grad), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(numpy_of(ew.grad), tw.grad.numpy(), rtol=1e-4, atol=1e-4)
    if with_bias:
        np.testing.assert_allclose(numpy_of(eb.grad), tb.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_linear_inference_uses_fused_epilogue():
    """Without grad the activation runs inside the GEMM; the result must equal the unfused one."""
    rng = np.random.default_rng(14)
    x, w, b = randn(rng, (64, 70)), randn(rng, (33, 70)), randn(rng, (33,))
    with ember.no_grad():
        for act in ["relu", "gelu", "gelu_tanh"]:
            out = linear(ember.from_numpy(x), ember.from_numpy(w), ember.from_numpy(b), act)
            ref = TORCH_ACT[act](torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w),
                                                            torch.from_numpy(b)))
            np.testing.assert_allclose(numpy_of(out), ref.numpy(), rtol=1e-5, atol=2e-5)


def test_relu_gradient_at_zero_is_zero():
    x = np.zeros((2, 3), np.float32)
    w = np.ones((4, 3), np.float32)
    ex, ew = leaf(x), leaf(w)
    linear(ex, ew, None, "relu").backward(ember.from_numpy(np.ones((2, 4), np.float32)))
    np.testing.assert_array_equal(numpy_of(ex.grad), np.zeros((2, 3)))
    np.testing.assert_array_equal(numpy_of(ew.grad), np.zeros((4, 3)))


def finite_difference_check(fn, arrays, eps=1e-6, tol=1e-6):
    """fn(*tensors) -> tensor; compares d(sum(out * probe))/d(input) with central differences (float64)."""
    rng = np.random.default_rng(99)
    leaves = [leaf(a.copy()) for a in arrays]
    out = fn(*leaves)
    probe = rng.standard_normal(tuple(out.shape))
    out.backward(ember.from_numpy(probe))
    for index, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        for pos in np.ndindex(a.shape):
            for sign in (+1, -1):
                shifted = [x.copy() for x in arrays]
                shifted[index][pos] += sign * eps
                with ember.no_grad():
                    value = float(np.sum(numpy_of(fn(*[ember.from_numpy(s) for s in shifted])) * probe))
                numeric[pos] += sign * value / (2 * eps)
        np.testing.assert_allclose(numpy_of(leaves[index].grad), numeric, rtol=tol, atol=tol)


def test_gradcheck_float64_matmul_broadcast():
    rng = np.random.default_rng(15)
    finite_difference_check(matmul, [rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((3, 4, 2))])
    finite_difference_check(matmul, [rng.standard_normal((4,)), rng.standard_normal((2, 4, 3))])


@pytest.mark.parametrize("act", ["none", "relu", "gelu", "gelu_tanh"])
def test_gradcheck_float64_linear(act):
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 3, 4))
    x[0, 0, 0] = 0.3   # keep away from the ReLU kink
    finite_difference_check(lambda x, w, b: linear(x, w, b, act),
                            [x, rng.standard_normal((5, 4)), rng.standard_normal((5,))])


def test_bad_inputs_raise_clear_errors():
    a32 = ember.from_numpy(np.zeros((3, 4), np.float32))
    b32 = ember.from_numpy(np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) cannot be multiplied \(4 != 5\)"):
        matmul(a32, b32)
    with pytest.raises(ValueError, match="matmul: batch dimensions"):
        matmul(ember.from_numpy(np.zeros((2, 3, 4), np.float32)), ember.from_numpy(np.zeros((3, 4, 5), np.float32)))
    with pytest.raises(ValueError, match="at least 1D"):
        matmul(ember.from_numpy(np.array(1.0, np.float32)), a32)
    with pytest.raises(TypeError, match="matmul"):
        matmul(ember.from_numpy(np.zeros((3, 4), np.int64)), ember.from_numpy(np.zeros((4, 2), np.int64)))
    with pytest.raises(TypeError, match="same dtype"):
        matmul(a32, ember.from_numpy(np.zeros((4, 2), np.float64)))
    with pytest.raises(ValueError, match="bmm: expected 3-D"):
        bmm(a32, a32)
    with pytest.raises(ValueError, match="bmm: batch sizes"):
        bmm(ember.from_numpy(np.zeros((2, 3, 4), np.float32)), ember.from_numpy(np.zeros((3, 4, 5), np.float32)))
    with pytest.raises(ValueError, match="linear: input of shape"):
        linear(a32, ember.from_numpy(np.zeros((6, 5), np.float32)))
    with pytest.raises(ValueError, match="linear: bias must have shape"):
        linear(a32, ember.from_numpy(np.zeros((6, 4), np.float32)), ember.from_numpy(np.zeros(5, np.float32)))
    with pytest.raises(ValueError, match="activation"):
        linear(a32, ember.from_numpy(np.zeros((6, 4), np.float32)), None, "swish")
    with pytest.raises(ValueError, match="linear: weight must be 2-D"):
        linear(a32, ember.from_numpy(np.zeros(4, np.float32)))


def test_operator_and_methods():
    rng = np.random.default_rng(17)
    a, b = randn(rng, (3, 5)), randn(rng, (5, 2))
    ea, eb = ember.from_numpy(a), ember.from_numpy(b)
    expected = a.astype(np.float64) @ b
    for out in (ea @ eb, ea.matmul(eb), ember.matmul(ea, eb)):
        np.testing.assert_allclose(numpy_of(out), expected, rtol=1e-5, atol=1e-5)
    a3, b3 = randn(rng, (2, 3, 5)), randn(rng, (2, 5, 4))
    np.testing.assert_allclose(numpy_of(ember.from_numpy(a3).bmm(ember.from_numpy(b3))), np.matmul(a3, b3),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not hasattr(ember.Tensor, "__setitem__"), reason="ember.autograd.gradcheck needs index assignment")
def test_ember_gradcheck_float64():
    rng = np.random.default_rng(18)
    gradcheck = ember.autograd.gradcheck
    x = leaf(rng.standard_normal((2, 3, 4)))
    w = leaf(rng.standard_normal((4, 5)))
    assert gradcheck(lambda x, w: x @ w, (x, w))
    wl = leaf(rng.standard_normal((3, 4)))
    bl = leaf(rng.standard_normal((3,)))
    assert gradcheck(lambda x, w, b: linear(x, w, b, "gelu"), (x, wl, bl))


def test_unfoldable_leading_dims():
    """Leading dims that cannot be merged into rows (a permuted view) take the batched / copied path."""
    rng = np.random.default_rng(19)
    base = randn(rng, (5, 2, 19))
    x = base.transpose(1, 0, 2)                      # (2, 5, 19), batch stride < row stride
    w, bias = randn(rng, (7, 19)), randn(rng, (7,))
    ex, ew, eb = leaf(x), leaf(w), leaf(bias)
    tx, tw, tb = as_torch(x), as_torch(w), as_torch(bias)
    out = linear(ex, ew, eb, "relu")
    tout = torch.relu(torch.nn.functional.linear(tx, tw, tb))
    np.testing.assert_allclose(numpy_of(out), tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = randn(rng, (2, 5, 7))
    out.backward(ember.from_numpy(g))
    tout.backward(torch.from_numpy(g))
    for e, t in ((ex, tx), (ew, tw), (eb, tb)):
        np.testing.assert_allclose(numpy_of(e.grad), t.grad.numpy(), rtol=1e-4, atol=1e-4)
    ea, ewt = leaf(x), leaf(w.T.copy())
    ta, twt = as_torch(x), as_torch(w.T.copy())
    out = matmul(ea, ewt)
    tout = torch.matmul(ta, twt)
    np.testing.assert_allclose(numpy_of(out), tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    out.backward(ember.from_numpy(g))
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(numpy_of(ea.grad), ta.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(numpy_of(ewt.grad), twt.grad.numpy(), rtol=1e-4, atol=1e-4)
