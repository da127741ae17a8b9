"""Every float32 kernel-table entry of every SIMD level the CPU has (ref, avx2, avx512), against the scalar
reference level and against a float64 NumPy formula: sizes 1..67 (every tail of 8 and 16 lanes), a few large
sizes, special values (+-0, +-inf, NaN, subnormals, +-80..+-104 around exp's overflow/underflow)."""
import math

import numpy as np
import pytest

import ember
from ember import _C

LEVELS = [level for level in ("ref", "avx2", "avx512") if _C.isa_available(level)]
SIMD_LEVELS = [level for level in LEVELS if level != "ref"]
SIZES = list(range(1, 68)) + [255, 1000, 4099]
RTOL, ATOL = 2e-6, 1e-6   # transcendental kernels; arithmetic is compared exactly

SPECIALS = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, -3e-39, 1.1754944e-38, 1e-30, -1e-30, 1e-7, -1e-7,
     0.3, -0.3, 0.5, -0.5, 0.62, -0.63, 0.9, -0.9, 1.0, -1.0, 1.3, -1.3, 3.0, -3.0, 5.5, -5.5, 10.0, -10.0, 20.0,
     -20.0, 80.0, -80.0, 88.0, -88.0, 88.72, -88.73, 89.0, -89.0, 100.0, -100.0, 103.9, -103.9, 104.5, -104.5,
     150.0, -150.0, 1e10, -1e10, 3e38, -3e38], dtype=np.float32)

erf64 = np.vectorize(math.erf, otypes=[np.float64])


def sigmoid64(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def gelu_tanh_parts64(x):
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    return np.tanh(inner), math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)


UNARY64 = {
    "neg": lambda x: -x,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "abs": np.abs,
    "tanh": np.tanh,
    "sigmoid": sigmoid64,
    "relu": lambda x: np.where(x > 0, x, np.where(np.isnan(x), x, 0.0)),
    "gelu": lambda x: 0.5 * x * (1 + erf64(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + gelu_tanh_parts64(x)[0]),
    "silu": lambda x: x * sigmoid64(x),
}
EXACT_UNARY = {"neg", "sqrt", "rsqrt", "abs", "relu"}


def gelu_tanh_grad64(x):
    th, dinner = gelu_tanh_parts64(x)
    return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * dinner


# name -> (f'(saved) in float64, whether saved is the forward output)
BACKWARD64 = {
    "relu_backward": (lambda x: np.where(x <= 0, 0.0, 1.0), False),
    "gelu_backward": (lambda x: 0.5 * (1 + erf64(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
                      False),
    "gelu_tanh_backward": (gelu_tanh_grad64, False),
    "silu_backward": (lambda x: sigmoid64(x) * (1 + x * (1 - sigmoid64(x))), False),
    "sigmoid_backward": (lambda y: y * (1 - y), True),
    "tanh_backward": (lambda y: 1 - y * y, True),
}


def data(n, seed, scale=3.0, specials=True):
    """n float32 values: normal * scale, with special values sprinkled in when asked."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * scale).astype(np.float32)
    if specials and n >= 4:
        where = rng.choice(n, size=max(1, n // 5), replace=False)
        x[where] = rng.choice(SPECIALS, size=where.size)
    return x


def float64_of(f, x):
    with np.errstate(all="ignore"):
        return np.asarray(f(x.astype(np.float64)), dtype=np.float64).astype(np.float32)


def assert_close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


# ---------------------------------------------------------------------------------------------- unary


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(UNARY64))
def test_unary_every_size(level, name):
    for n in SIZES:
        x = data(n, seed=n)
        y = _C._kernel_unary(level, name, x)
        what = f"{level} {name} n={n}"
        if name in EXACT_UNARY:
            np.testing.assert_array_equal(y, _C._kernel_unary("ref", name, x), err_msg=what)
        else:
            assert_close(y, _C._kernel_unary("ref", name, x), what=what + " vs ref")
        assert_close(y, float64_of(UNARY64[name], x), what=what + " vs float64")


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(UNARY64))
def test_unary_special_values(level, name):
    x = SPECIALS
    y = _C._kernel_unary(level, name, x)
    ref = _C._kernel_unary("ref", name, x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref), err_msg=f"{level} {name}: NaN positions")
    assert_close(y, ref, what=f"{level} {name} specials vs ref")
    assert_close(y, float64_of(UNARY64[name], x), what=f"{level} {name} specials vs float64")


@pytest.mark.parametrize("level", LEVELS)
def test_unary_pinned_values(level):
    def run(name, values):
        return _C._kernel_unary(level, name, np.array(values, dtype=np.float32))

    assert np.isnan(run("relu", [np.nan])[0])
    assert np.signbit(run("relu", [-0.0])[0]) == np.signbit(np.float32(0.0))   # +0, as the reference
    np.testing.assert_array_equal(run("exp", [np.inf, -np.inf, 89.0, -104.0, 0.0]), [np.inf, 0, np.inf, 0, 1])
    assert np.isnan(run("exp", [np.nan])[0])
    sub = run("exp", [-100.0])[0]   # e^-100 = 3.72e-44, a subnormal
    assert 0 < sub < 1.2e-38 and abs(sub - 3.720076e-44) <= 1.5e-45
    np.testing.assert_array_equal(run("log", [0.0, -0.0, np.inf, 1.0]), [-np.inf, -np.inf, np.inf, 0.0])
    assert np.isnan(run("log", [-1.0, -np.inf, np.nan])).all()
    assert np.isnan(run("sqrt", [-1.0])[0]) and run("sqrt", [-0.0])[0] == 0
    np.testing.assert_array_equal(run("tanh", [100.0, -100.0, np.inf, -np.inf]), [1, -1, 1, -1])
    np.testing.assert_array_equal(run("sigmoid", [100.0, -100.0, np.inf, -np.inf]), [1, 0, 1, 0])
    np.testing.assert_array_equal(run("gelu", [np.inf, 0.0, 30.0]), [np.inf, 0, 30.0])
    for name in UNARY64:
        assert np.isnan(run(name, [np.nan])[0]), name


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu"])
def test_unary_accuracy_dense(level, name):
    """A dense sweep of each function's interesting range: a few ulps from float64."""
    lo, hi = {"log": (1e-6, 1e6), "exp": (-103.0, 88.5)}.get(name, (-12.0, 12.0))
    x = (np.geomspace(lo, hi, 20001) if name == "log" else np.linspace(lo, hi, 20001)).astype(np.float32)
    y = _C._kernel_unary(level, name, x)
    assert_close(y, float64_of(UNARY64[name], x), rtol=1e-6, atol=1e-7, what=f"{level} {name}")


@pytest.mark.parametrize("level", LEVELS)
def test_gelu_erf_accuracy(level):
    """Exact (erf) GELU: 1 + erf(x/sqrt 2) recovered from gelu within 1e-6 absolute, also for tiny x."""
    x = np.concatenate([np.linspace(-6, 6, 12000), [1e-30, -1e-30, 1e-8, -1e-8]]).astype(np.float32)   # no 0
    y = _C._kernel_unary(level, "gelu", x).astype(np.float64)
    x64 = x.astype(np.float64)
    assert np.max(np.abs(2 * y / x64 - (1 + erf64(x64 / math.sqrt(2))))) < 1e-6


@pytest.mark.parametrize("level", LEVELS)
def test_unary_inplace(level):
    x = data(67, seed=3)
    for name in UNARY64:
        np.testing.assert_array_equal(_C._kernel_unary(level, name, x, inplace=True), _C._kernel_unary(level, name, x))


# --------------------------------------------------------------------------------------------- binary

BINARY64 = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "maximum": np.maximum,
            "minimum": np.minimum}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(BINARY64))
@pytest.mark.parametrize("strides", [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_binary_every_size_exact(level, name, strides):
    sa, sb = strides
    for n in SIZES:
        a = data(n if sa else 1, seed=n)
        b = data(n if sb else 1, seed=1000 + n)
        b[b == 0] = 0.75   # keep 0/0 out of the way of the NaN-position check below (still covered by specials)
        out = _C._kernel_binary(level, name, a, b, sa, sb, n)
        a_full, b_full = np.broadcast_to(a, (n,)) if sa else np.full(n, a[0]), np.broadcast_to(b, (n,)) if sb else np.full(n, b[0])
        with np.errstate(all="ignore"):
            expected = BINARY64[name](a_full.astype(np.float64), b_full.astype(np.float64)).astype(np.float32)
        what = f"{level} {name} strides={strides} n={n}"
        np.testing.assert_array_equal(out, expected, err_msg=what)
        np.testing.assert_array_equal(out, _C._kernel_binary("ref", name, a, b, sa, sb, n), err_msg=what)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(BINARY64))
def test_binary_special_values(level, name):
    a = np.repeat(SPECIALS, SPECIALS.size)
    b = np.tile(SPECIALS, SPECIALS.size)
    out = _C._kernel_binary(level, name, a, b, 1, 1, a.size)
    with np.errstate(all="ignore"):
        expected = BINARY64[name](a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(out, expected)
    if name in ("maximum", "minimum"):
        assert np.isnan(out[np.isnan(a) | np.isnan(b)]).all()


# ------------------------------------------------------------------------------------------- backward


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(BACKWARD64))
def test_backward_every_size(level, name):
    derivative, saves_output = BACKWARD64[name]
    for n in SIZES + [SPECIALS.size]:
        if n == SPECIALS.size:
            x = SPECIALS.copy()
        else:
            x = data(n, seed=n)
        saved = _C._kernel_unary("ref", name.replace("_backward", ""), x) if saves_output else x
        if name == "gelu_tanh_backward":   # float32's x^3 overflows where float64's does not
            saved = np.where(np.abs(saved) > 1e12, np.float32(7.0), saved).astype(np.float32)
        gy = data(n, seed=5000 + n, scale=1.0, specials=False)
        gx = _C._kernel_backward(level, name, saved, gy)
        what = f"{level} {name} n={n}"
        assert_close(gx, _C._kernel_backward("ref", name, saved, gy), what=what + " vs ref")
        expected = float64_of(lambda s: gy.astype(np.float64) * derivative(s), saved)
        assert_close(gx, expected, rtol=RTOL, atol=2 * ATOL, what=what + " vs float64")


@pytest.mark.parametrize("level", LEVELS)
def test_relu_backward_selects_instead_of_multiplying(level):
    """Where x <= 0 the gradient is exactly 0 even when gy is inf or NaN, as torch's threshold_backward; elsewhere
    (x > 0 or NaN) gy passes unchanged. Odd sizes reach every vector tail."""
    for n in (1, 7, 17, 33):
        x = np.resize(np.array([-1.0, 0.0, -0.0, np.nan, 2.0, -np.inf, np.inf], np.float32), n)
        gy = np.resize(np.array([np.inf, np.nan, -np.inf, np.inf, np.nan, 3.0, -np.inf, 5.0], np.float32), n)
        want = np.where(x <= 0, np.float32(0), gy)
        np.testing.assert_array_equal(_C._kernel_backward(level, "relu_backward", x, gy), want)


# ------------------------------------------------------------------------------------------ sum / max


def sum_tolerance(x):
    return 1e-6 * float(np.sum(np.abs(x.astype(np.float64)))) + 1e-30


@pytest.mark.parametrize("level", LEVELS)
def test_sum_every_size(level):
    for n in SIZES + [2048, 2049, 4096 + 17]:
        x = data(n, seed=n, specials=False)
        got = _C._kernel_sum(level, x)
        exact = math.fsum(x.astype(np.float64))
        assert abs(got - exact) <= sum_tolerance(x), (level, n, got, exact)


@pytest.mark.parametrize("level", LEVELS)
def test_sum_long_does_not_drift(level):
    """4M values in [0, 1): a single float accumulator is off by ~1e-3 relative here; the kernel stays ~1e-7."""
    x = np.random.default_rng(0).random(1 << 22, dtype=np.float32) + np.float32(0.25)
    exact = float(np.sum(x.astype(np.float64)))
    naive = float(np.cumsum(x, dtype=np.float32)[-1])
    tolerance = 1e-6 * exact
    assert abs(naive - exact) > tolerance   # the test can fail: a naive accumulator would
    assert abs(_C._kernel_sum(level, x) - exact) <= tolerance


@pytest.mark.parametrize("level", LEVELS)
def test_sum_special_values(level):
    assert _C._kernel_sum(level, np.array([1, np.inf, 2], dtype=np.float32)) == np.inf
    assert math.isnan(_C._kernel_sum(level, np.array([1, np.inf, -np.inf], dtype=np.float32)))
    for n in (1, 9, 17, 67):
        for where in {0, n // 2, n - 1}:
            x = data(n, seed=n, specials=False)
            x[where] = np.nan
            assert math.isnan(_C._kernel_sum(level, x))
    assert _C._kernel_sum(level, np.zeros(0, dtype=np.float32)) == 0


@pytest.mark.parametrize("level", LEVELS)
def test_max_every_size_and_nan(level):
    for n in SIZES:
        x = data(n, seed=n, specials=False)
        assert _C._kernel_max(level, x) == np.max(x), (level, n)
        for where in {0, n // 2, n - 1}:
            y = x.copy()
            y[where] = np.nan
            assert math.isnan(_C._kernel_max(level, y)), (level, n, where)
        assert _C._kernel_max(level, np.full(n, -np.inf, dtype=np.float32)) == -np.inf
        y = x.copy()
        y[n - 1] = np.inf
        assert _C._kernel_max(level, y) == np.inf


# -------------------------------------------------------------------------------------------- softmax


def softmax64(x):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=1, keepdims=True)
        m = np.where(m == -np.inf, 0.0, m)
        e = np.exp(x - m)
        return e / e.sum(axis=1, keepdims=True), x - m - np.log(e.sum(axis=1, keepdims=True))


ROW_SHAPES = [(3, c) for c in range(1, 68)] + [(2, 1000), (1, 5000), (5, 33)]


@pytest.mark.parametrize("level", LEVELS)
def test_softmax_rows(level):
    for rows, cols in ROW_SHAPES:
        x = data(rows * cols, seed=cols, specials=False).reshape(rows, cols)
        soft, log_soft = softmax64(x)
        for name, expected in (("softmax_rows", soft), ("log_softmax_rows", log_soft)):
            y = _C._kernel_rows(level, name, x)
            what = f"{level} {name} {rows}x{cols}"
            # log_softmax = x - logsumexp: an ulp or two of max|x| absolute; softmax: a few ulps relative
            atol = 3e-7 * (1 + float(np.abs(x).max())) if name == "log_softmax_rows" else 1e-7
            assert_close(y, _C._kernel_rows("ref", name, x), rtol=4e-6, atol=atol, what=what + " vs ref")
            assert_close(y, expected.astype(np.float32), rtol=4e-6, atol=atol, what=what + " vs float64")


@pytest.mark.parametrize("level", LEVELS)
def test_softmax_rows_special_values(level):
    x = np.array([[-np.inf] * 5,                           # all -inf: NaN, as PyTorch
                  [0, -np.inf, 1, -np.inf, 2],             # -inf entries get 0
                  [0, np.nan, 1, 2, 3],                    # NaN spreads over its row
                  [0, np.inf, 1, 2, 3],                    # +inf: inf - inf = NaN
                  [100, 100, -100, 0, 100],                # large values do not overflow
                  [1e-45, -1e-45, 0, -0.0, 1e-40]], dtype=np.float32)
    for name, expected in zip(("softmax_rows", "log_softmax_rows"), softmax64(x)):
        y = _C._kernel_rows(level, name, x)
        ref = _C._kernel_rows("ref", name, x)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ref), err_msg=f"{level} {name}")
        assert_close(y, ref, what=f"{level} {name} vs ref")
        assert_close(y, expected.astype(np.float32), what=f"{level} {name} vs float64")
    soft = _C._kernel_rows(level, "softmax_rows", x)
    assert np.isnan(soft[0]).all() and np.isnan(soft[2]).all() and np.isnan(soft[3]).all()
    assert soft[1, 1] == 0 and soft[1, 3] == 0


@pytest.mark.parametrize("level", LEVELS)
def test_softmax_backward_rows(level):
    for rows, cols in ROW_SHAPES:
        x = data(rows * cols, seed=cols, specials=False).reshape(rows, cols)
        gy = data(rows * cols, seed=77 + cols, scale=1.0, specials=False).reshape(rows, cols)
        soft, log_soft = softmax64(x)
        g64 = gy.astype(np.float64)
        expected = {
            "softmax_backward_rows": soft * (g64 - np.sum(g64 * soft, axis=1, keepdims=True)),
            "log_softmax_backward_rows": g64 - np.exp(log_soft) * np.sum(g64, axis=1, keepdims=True),
        }
        for name, forward in (("softmax_backward_rows", "softmax_rows"), ("log_softmax_backward_rows", "log_softmax_rows")):
            y = _C._kernel_rows("ref", forward, x)
            gx = _C._kernel_rows_backward(level, name, y, gy)
            what = f"{level} {name} {rows}x{cols}"
            assert_close(gx, _C._kernel_rows_backward("ref", name, y, gy), rtol=1e-5, atol=1e-6, what=what + " vs ref")
            scale = 1e-6 * (1 + np.abs(g64).sum(axis=1, keepdims=True))
            assert (np.abs(gx - expected[name]) <= scale + 1e-5 * np.abs(expected[name])).all(), what + " vs float64"


@pytest.mark.parametrize("level", LEVELS)
def test_cross_entropy_rows(level):
    for rows, cols in ROW_SHAPES:
        x = data(rows * cols, seed=cols, specials=False).reshape(rows, cols)
        scale = data(rows, seed=5 + cols, scale=1.0, specials=False)
        offset = 0.1 / cols
        lse, grad = _C._kernel_cross_entropy_rows(level, x, scale, offset)
        x64 = x.astype(np.float64)
        m = x64.max(axis=1, keepdims=True)
        lse64 = (m + np.log(np.exp(x64 - m).sum(axis=1, keepdims=True)))[:, 0]
        grad64 = scale[:, None] * (np.exp(x64 - lse64[:, None]) - offset)
        ref_lse, ref_grad = _C._kernel_cross_entropy_rows("ref", x, scale, offset)
        what = f"{level} cross-entropy rows {rows}x{cols}"
        atol = 3e-7 * (1 + float(np.abs(x).max()))
        assert_close(lse, ref_lse, rtol=2e-6, atol=atol, what=what + " lse vs ref")
        assert_close(lse, lse64.astype(np.float32), rtol=2e-6, atol=atol, what=what + " lse vs float64")
        assert_close(grad, ref_grad, rtol=1e-5, atol=1e-7, what=what + " grad vs ref")
        assert_close(grad, grad64.astype(np.float32), rtol=1e-5, atol=1e-7, what=what + " grad vs float64")


@pytest.mark.parametrize("level", LEVELS)
def test_cross_entropy_rows_special_values(level):
    x = np.array([[-np.inf] * 5,                          # all -inf: lse -inf
                  [0, -np.inf, 1, -np.inf, 2],            # -inf entries: probability 0
                  [0, np.nan, 1, 2, 3],                   # NaN: lse NaN
                  [0, np.inf, 1, 2, 3],                   # +inf: lse +inf
                  [100, 100, -100, 0, 100]], dtype=np.float32)   # no overflow
    lse, grad = _C._kernel_cross_entropy_rows(level, x, np.ones(5, np.float32), 0.0)
    ref_lse, ref_grad = _C._kernel_cross_entropy_rows("ref", x, np.ones(5, np.float32), 0.0)
    np.testing.assert_array_equal(lse[[0, 2, 3]], np.array([-np.inf, np.nan, np.inf], np.float32))
    np.testing.assert_allclose(lse[[1, 4]], [2 + np.log1p(np.exp(-1) + np.exp(-2)), 100 + np.log(3)], rtol=1e-6)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(ref_grad), err_msg=level)
    assert_close(grad[[1, 4]], ref_grad[[1, 4]], what=f"{level} cross-entropy grad vs ref")
    assert grad[1, 1] == 0 and grad[1, 3] == 0


def bce_logits64(x, y, pw, g):
    x, y, pw, g = (np.asarray(v, np.float64) for v in (x, y, pw, g))
    softplus_neg = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)
    sig = 1 / (1 + np.exp(-x))
    return ((1 - y) * x + (1 + (pw - 1) * y) * softplus_neg, g * (sig * (pw * y + 1 - y) - pw * y),
            g * ((pw - 1) * softplus_neg - x))


@pytest.mark.parametrize("level", LEVELS)
def test_bce_logits_every_size(level):
    for n in list(range(0, 40)) + [1000, 5001]:
        x = data(n, seed=n, scale=6.0, specials=False)
        y = np.random.default_rng(n).uniform(0, 1, n).astype(np.float32)
        pw = np.random.default_rng(n + 1).uniform(0.5, 3, n).astype(np.float32)
        g = data(n, seed=n + 2, scale=1.0, specials=False)
        for weights in (None, pw):
            got = _C._kernel_bce_logits(level, x, y, weights, g)
            ref = _C._kernel_bce_logits("ref", x, y, weights, g)
            expected = bce_logits64(x, y, np.ones(n) if weights is None else weights, g)
            for name, a, r, e in zip(("loss", "grad_x", "grad_y"), got, ref, expected):
                what = f"{level} bce_logits {name} n={n} pos_weight={weights is not None}"
                assert_close(a, r, rtol=1e-5, atol=1e-6, what=what + " vs ref")
                assert_close(a, e.astype(np.float32), rtol=1e-5, atol=1e-6, what=what + " vs float64")


@pytest.mark.parametrize("level", LEVELS)
def test_bce_logits_special_values(level):
    x = np.array([0, 1e-30, -1e-30, 20, -20, 90, -90, 200, -200, np.inf, -np.inf, np.nan], np.float32)
    y = np.array([0.5, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1], np.float32)
    g = np.ones_like(x)
    loss, gx, gy = _C._kernel_bce_logits(level, x, y, None, g)
    e_loss, e_gx, e_gy = bce_logits64(x[:9], y[:9], np.ones(9), g[:9])
    assert_close(loss[:9], e_loss.astype(np.float32), rtol=1e-5, atol=1e-30, what=f"{level} loss")   # tiny losses too
    assert_close(gx[:9], e_gx.astype(np.float32), rtol=1e-5, atol=1e-30, what=f"{level} grad_x")
    assert_close(gy[:9], e_gy.astype(np.float32), rtol=1e-5, atol=1e-6, what=f"{level} grad_y")
    ref = _C._kernel_bce_logits("ref", x, y, None, g)
    for a, r in zip((loss, gx, gy), ref):
        np.testing.assert_array_equal(np.isnan(a[9:]), np.isnan(r[9:]), err_msg=level)
        np.testing.assert_array_equal(a[9:][~np.isnan(r[9:])], r[9:][~np.isnan(r[9:])], err_msg=level)


@pytest.mark.parametrize("level", LEVELS)
def test_mse_kernels_every_size(level):
    for n in list(range(0, 70)) + [1000, 5001]:
        a, b = data(n, seed=n, specials=False), data(n, seed=n + 1, specials=False)
        total, grad = _C._kernel_mse(level, a, b, 0.75)
        ref_total, ref_grad = _C._kernel_mse("ref", a, b, 0.75)
        d = a.astype(np.float64) - b
        assert abs(total - (d * d).sum()) <= 1e-6 * (1 + (d * d).sum()), f"{level} squared_distance n={n}"
        assert abs(total - ref_total) <= 1e-6 * (1 + ref_total), f"{level} squared_distance n={n} vs ref"
        np.testing.assert_array_equal(grad, ref_grad, err_msg=f"{level} scaled_difference n={n}")
        assert_close(grad, (0.75 * d).astype(np.float32), what=f"{level} scaled_difference n={n} vs float64")


# ------------------------------------------------------------------------------------------- the hooks


def test_hooks_reject_bad_input():
    x = np.ones(4, dtype=np.float32)
    with pytest.raises(ValueError, match="level"):
        _C._kernel_unary("sse9", "exp", x)
    with pytest.raises(ValueError, match="unknown unary kernel"):
        _C._kernel_unary("ref", "cosh", x)
    with pytest.raises(ValueError, match="strides"):
        _C._kernel_binary("ref", "add", x, x, 2, 1, 4)
    with pytest.raises(ValueError, match="too short"):
        _C._kernel_binary("ref", "add", x, x, 1, 1, 5)
    with pytest.raises(ValueError):
        _C._kernel_backward("ref", "relu_backward", x, np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError):
        _C._kernel_rows("ref", "softmax_rows", x)
    with pytest.raises(ValueError):
        _C._kernel_max("ref", np.zeros(0, dtype=np.float32))


def test_active_level_is_available():
    assert _C.isa() in LEVELS
    assert ember.config()["isa"] == _C.isa()


def layer_norm64(x, w, b, gy, eps):
    x, gy = x.astype(np.float64), gy.astype(np.float64)
    mu = x.mean(axis=1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + eps)
    xhat = (x - mu) * rstd
    w64 = np.ones(x.shape[1]) if w is None else w.astype(np.float64)
    y = xhat * w64 + (0.0 if b is None else b.astype(np.float64))
    g = gy * w64
    gx = rstd * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
    return y, mu[:, 0], rstd[:, 0], gx, (gy * xhat).sum(axis=0), gy.sum(axis=0)


@pytest.mark.parametrize("level", LEVELS)
def test_layer_norm_rows(level):
    """Forward (y, mean, rstd) and backward (gx and the weight/bias partials) on every tail of 8 and 16 lanes,
    with and without affine parameters, against float64 and (SIMD levels) the ref kernel."""
    rng = np.random.default_rng(11)
    names = ("y", "mean", "rstd", "gx", "gw", "gb")
    for cols in list(range(1, 40)) + [64, 255, 1030]:
        rows = 1 + cols % 5
        x = (rng.standard_normal((rows, cols)) * 3 + 1.5).astype(np.float32)
        gy = rng.standard_normal((rows, cols)).astype(np.float32)
        affine = cols % 3 != 0
        w = rng.standard_normal(cols).astype(np.float32) if affine else None
        b = rng.standard_normal(cols).astype(np.float32) if affine else None
        got = _C._kernel_layer_norm(level, x, w, b, gy, 1e-5)
        want = layer_norm64(x, w, b, gy, 1e-5)
        for name, g, e in zip(names, got, want):
            if cols == 1 and name == "gx":
                e = np.zeros_like(e)   # one column: xhat = 0 and g - mean(g) = 0
            scale = np.abs(e).max(initial=0.0) + 1.0
            assert np.abs(g - e).max(initial=0.0) <= 2e-5 * scale, f"{level} {name} cols={cols}"
        if level != "ref":
            for name, g, r in zip(names, got, _C._kernel_layer_norm("ref", x, w, b, gy, 1e-5)):
                assert np.abs(g - r).max(initial=0.0) <= 2e-5 * (np.abs(r).max(initial=0.0) + 1.0), f"{name} vs ref"


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_max_pool_2x2_plane(level):
    """Values and first-maximum indices equal the ref kernel exactly: odd widths (every tail of 16 outputs), ties,
    signed zeros and NaN (a NaN wins, the first NaN's index)."""
    rng = np.random.default_rng(12)
    for H, W in [(2, 2), (3, 5), (4, 31), (6, 32), (5, 33), (28, 28), (10, 10), (7, 67), (2, 97)]:
        x = rng.integers(-3, 4, size=(H, W)).astype(np.float32)   # many ties
        x[rng.random((H, W)) < 0.05] = np.nan
        x[rng.random((H, W)) < 0.05] = -0.0
        y, idx = _C._kernel_max_pool_2x2(level, x)
        y_ref, idx_ref = _C._kernel_max_pool_2x2("ref", x)
        np.testing.assert_array_equal(idx, idx_ref, err_msg=f"{level} {H}x{W}")
        np.testing.assert_array_equal(y.view(np.uint32), y_ref.view(np.uint32), err_msg=f"{level} {H}x{W}")
