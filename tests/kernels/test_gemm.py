"""The raw sgemm/dgemm kernels (ember._C._sgemm/_dgemm hooks) against a float64 NumPy reference: every ISA level,
every tail size, transposed/strided/column-major operands, beta, the fused epilogue, and thread invariance."""
import math

import numpy as np
import pytest

from ember import _C

ISAS = [level for level in ("ref", "avx2", "avx512") if _C.isa_available(level)]
ACTIVATIONS = ["none", "relu", "gelu", "gelu_tanh"]
_erf = np.vectorize(math.erf, otypes=[np.float64])


def activate(x, act):
    if act == "relu":
        return np.maximum(x, 0.0)
    if act == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if act == "gelu_tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return x


def operand(rng, rows, cols, layout, dtype=np.float32):
    """A (rows, cols) array in the given memory layout: 'c' (row-major), 'f' (column-major) or 'view' (strided)."""
    if layout == "c":
        return rng.standard_normal((rows, cols)).astype(dtype)
    if layout == "f":
        return np.asfortranarray(rng.standard_normal((rows, cols)).astype(dtype))
    big = rng.standard_normal((2 * rows + 1, 3 * cols + 2)).astype(dtype)
    return big[1::2, 2::3][:rows, :cols]


def check_sgemm(rng, M, N, K, isa, trans_a=False, trans_b=False, layouts=("c", "c", "c"), alpha=1.0, beta=0.0,
                bias=False, act="none", threads=0, dtype=np.float32, bias_per_row=False, pre=False):
    a = operand(rng, K, M, layouts[0], dtype) if trans_a else operand(rng, M, K, layouts[0], dtype)
    b = operand(rng, N, K, layouts[1], dtype) if trans_b else operand(rng, K, N, layouts[1], dtype)
    c = operand(rng, M, N, layouts[2], dtype)
    c_before = c.astype(np.float64)
    if beta == 0.0:
        c[...] = np.nan   # beta == 0 must not read C
        c_before[...] = 0.0
    bias_vec = rng.standard_normal(M if bias_per_row else N).astype(dtype) if bias else None
    a64 = (a.T if trans_a else a).astype(np.float64)
    b64 = (b.T if trans_b else b).astype(np.float64)
    expected = alpha * (a64 @ b64) + beta * c_before
    if bias:
        expected = expected + (bias_vec.astype(np.float64)[:, None] if bias_per_row else bias_vec.astype(np.float64))
    expected_pre, expected = expected, activate(expected, act)
    scale = np.abs(alpha) * (np.abs(a64) @ np.abs(b64)) + np.abs(beta * c_before) + 1.0
    pre_out = None
    if pre:   # the values before the activation, into an array laid out like c
        pre_out = operand(rng, M, N, layouts[2], dtype)
        pre_out[...] = np.nan
    if dtype == np.float32:
        _C._sgemm(a, b, c, alpha, beta, trans_a, trans_b, isa, bias_vec, act, threads, bias_per_row, pre=pre_out)
        tol = 2e-6
    else:
        _C._dgemm(a, b, c, alpha, beta, trans_a, trans_b, bias_vec, act, pre=pre_out)
        tol = 1e-13
    if pre:
        assert (np.abs(pre_out.astype(np.float64) - expected_pre) / scale).max(initial=0.0) < tol, "pre"
    err = np.abs(c.astype(np.float64) - expected) / scale
    assert not np.isnan(c).any(), f"NaN in C for M={M} N={N} K={K}"
    assert err.max(initial=0.0) < tol, (
        f"{isa} M={M} N={N} K={K} ta={trans_a} tb={trans_b} layouts={layouts} beta={beta} act={act}: "
        f"max scaled error {err.max():.3g}")


TAILS = [0, 1, 2, 3, 5, 7, 8, 11, 12, 13, 16, 17, 23, 31, 32, 33, 47, 64, 65, 70]


@pytest.mark.parametrize("isa", ISAS)
def test_every_tail_size(isa):
    """M and N over every residue of the 6x16 / 12x32 / 4x8 tiles, K over short and multi-step depths."""
    rng = np.random.default_rng(1)
    for M in TAILS:
        for N in TAILS:
            K = [0, 1, 7, 37, 70][(M + N) % 5]
            check_sgemm(rng, M, N, K, isa)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_transposes_strides_and_beta(isa, trans_a, trans_b):
    rng = np.random.default_rng(2)
    layouts = ["c", "f", "view"]
    for case, (M, N, K) in enumerate([(13, 29, 17), (1, 40, 9), (37, 1, 70), (25, 33, 5), (66, 70, 41)]):
        lay = (layouts[case % 3], layouts[(case + 1) % 3], layouts[(case + trans_a + 2 * trans_b) % 3])
        check_sgemm(rng, M, N, K, isa, trans_a, trans_b, lay, alpha=1.0, beta=0.0)
        check_sgemm(rng, M, N, K, isa, trans_a, trans_b, lay, alpha=-0.5, beta=0.75)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_epilogue_bias_and_activation(isa, act):
    rng = np.random.default_rng(3)
    for M, N, K in [(7, 19, 13), (30, 45, 3), (12, 32, 64)]:
        check_sgemm(rng, M, N, K, isa, bias=True, act=act)
        check_sgemm(rng, M, N, K, isa, bias=False, act=act, beta=0.5)
    # Column-major C flips the bias to per-row inside the driver.
    check_sgemm(rng, 21, 18, 11, isa, layouts=("c", "c", "f"), bias=True, act=act)
    check_sgemm(rng, 9, 14, 6, isa, layouts=("c", "c", "view"), bias=True, act=act, beta=1.0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_epilogue_also_stores_the_pre_activation(isa, act):
    """Epilogue.pre (a training layer's pre-activation) on every path: full and edge tiles, K across blocks,
    narrow N (which then skips the dot/transposed paths), column-major and strided C, 2 threads, float64."""
    rng = np.random.default_rng(9)
    for M, N, K in [(7, 19, 13), (30, 45, 3), (12, 32, 64), (29, 35, 901), (70, 9, 40), (8, 3, 0)]:
        check_sgemm(rng, M, N, K, isa, bias=True, act=act, pre=True)
    check_sgemm(rng, 21, 18, 11, isa, layouts=("c", "c", "f"), bias=True, act=act, pre=True)
    check_sgemm(rng, 9, 14, 6, isa, layouts=("c", "c", "view"), beta=1.0, act=act, pre=True)
    check_sgemm(rng, 600, 40, 300, isa, bias=True, bias_per_row=True, act=act, threads=2, pre=True)
    check_sgemm(rng, 30, 45, 17, isa, bias=True, act=act, dtype=np.float64, pre=True)
    with pytest.raises(ValueError, match="pre must be"):
        a, c = np.ones((4, 4), np.float32), np.zeros((4, 4), np.float32)
        _C._sgemm(a, a, c, isa=isa, pre=np.zeros((4, 5), np.float32))


@pytest.mark.parametrize("isa", ISAS)
def test_deep_k_and_wide_n_blocks(isa):
    """K beyond the KC block (beta carried across blocks, epilogue applied once) and N beyond NC, or beyond the
    columns whose B panel fits the L2 (AVX-512: equal column blocks, the last with an edge sliver)."""
    rng = np.random.default_rng(4)
    check_sgemm(rng, 29, 35, 901, isa, beta=0.5, bias=True, act="relu")
    check_sgemm(rng, 30, 1100, 769, isa, beta=0.5, bias=True, act="gelu", threads=1)
    check_sgemm(rng, 30, 2300, 769, isa, beta=0.5, bias=True, act="gelu", threads=2)
    check_sgemm(rng, 30, 800, 1100, isa, trans_a=True, beta=0.5, bias=True, threads=1)   # KC shrunk to one panel
    # Row-major A rows 4 KiB apart (K = 1024): packed even in a rows-outer walk (in place they share an L1 set).
    check_sgemm(rng, 61, 100, 1024, isa, beta=0.5, bias=True, act="relu", threads=1)
    check_sgemm(rng, 61, 300, 1024, isa, beta=0.5, bias=True, act="relu", threads=2)
    check_sgemm(rng, 3, 4200, 5, isa, trans_b=True, bias=True, act="gelu")
    check_sgemm(rng, 300, 40, 20, isa, trans_a=True, layouts=("view", "c", "c"))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_narrow_n_paths(isa, trans_a, trans_b):
    """N <= 12 runs as dot products along K when A's rows are contiguous (AVX-512), else N <= MR with M >= NR
    runs as C^T = B^T A^T (row-major A read in place, the last partial sliver packed): every N up to the tile
    height, M off the sliver width, K off the vector width and across KC blocks, all layouts."""
    rng = np.random.default_rng(8)
    mr = _C._sgemm_kernel(isa)["mr"]
    layouts = ["c", "f", "view"]
    for N in range(1, mr + 1):
        M, K = [33, 70, 101, 64][N % 4], [16, 37, 129][N % 3]
        lay = (layouts[N % 3], layouts[(N + trans_a) % 3], layouts[(N + 2 * trans_b) % 3])
        check_sgemm(rng, M, N, K, isa, trans_a, trans_b, lay)
        check_sgemm(rng, M, N, K, isa, trans_a, trans_b, lay[::-1], alpha=-0.5, beta=0.75, bias=True, act="gelu")
    check_sgemm(rng, 97, mr, 901, isa, trans_a, trans_b, beta=0.5, bias=True, act="relu")
    check_sgemm(rng, 2500, min(10, mr), 600, isa, trans_a, trans_b, threads=2)
    # Column-major C with few rows: the flipped problem is narrow and its bias runs per row.
    check_sgemm(rng, 7, 50, 40, isa, trans_a, trans_b, ("c", "c", "f"), beta=0.5, bias=True, act="gelu_tanh")
    # A per-row bias (as convolution's), and more rows than one scratch block of the transposed path (8192).
    check_sgemm(rng, 70, 9, 40, isa, trans_a, trans_b, beta=0.5, bias=True, bias_per_row=True, act="relu")
    check_sgemm(rng, 8300, 3, 20, isa, trans_a, trans_b, ("view", "c", "c"), beta=0.5, bias=True, bias_per_row=True)
    check_sgemm(rng, 3000, 8, 300, isa, trans_a, trans_b, bias=True, bias_per_row=True, threads=2)


@pytest.mark.parametrize("isa", ISAS)
def test_threads_do_not_change_results(isa):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 257)).astype(np.float32)
    b = rng.standard_normal((257, 190)).astype(np.float32)
    c1 = np.empty((300, 190), np.float32)
    c2 = np.empty((300, 190), np.float32)
    _C._sgemm(a, b, c1, isa=isa, threads=1)
    _C._sgemm(a, b, c2, isa=isa, threads=2)
    np.testing.assert_array_equal(c1, c2)
    narrow = rng.standard_normal((3000, 10)).astype(np.float32)   # the transposed narrow-N path, split over M
    c1, c2 = np.empty((3000, 10), np.float32), np.empty((3000, 10), np.float32)
    big = rng.standard_normal((3000, 1000)).astype(np.float32)
    _C._sgemm(big, narrow[:1000], c1, isa=isa, threads=1)
    _C._sgemm(big, narrow[:1000], c2, isa=isa, threads=2)
    np.testing.assert_array_equal(c1, c2)


def test_dgemm_matches_float64_reference():
    rng = np.random.default_rng(6)
    for M, N, K in [(0, 3, 2), (5, 7, 0), (13, 9, 21), (1, 30, 4)]:
        for trans_a, trans_b in [(False, False), (True, False), (False, True)]:
            check_sgemm(rng, M, N, K, "", trans_a, trans_b, ("c", "view", "f"), alpha=0.5, beta=0.25, bias=True,
                        act="gelu", dtype=np.float64)


def test_simd_levels_agree_with_reference_kernel():
    """Every SIMD level against the scalar reference kernel on one awkward shape (no NumPy in the loop)."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((53, 67)).astype(np.float32)
    b = rng.standard_normal((67, 45)).astype(np.float32)
    bias = rng.standard_normal(45).astype(np.float32)
    results = {}
    for isa in ISAS:
        c = np.empty((53, 45), np.float32)
        _C._sgemm(a, b, c, isa=isa, bias=bias, activation="gelu_tanh")
        results[isa] = c
    for isa in ISAS:
        np.testing.assert_allclose(results[isa], results["ref"], rtol=1e-5, atol=1e-5)


def test_bad_arguments_raise():
    a = np.zeros((3, 4), np.float32)
    b = np.zeros((5, 2), np.float32)
    c = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="_sgemm"):
        _C._sgemm(a, b, c)
    with pytest.raises(TypeError, match="float32"):
        _C._sgemm(a.astype(np.float64), np.zeros((4, 2), np.float32), c)
    with pytest.raises(ValueError, match="not available|unknown"):
        _C._sgemm(a, np.zeros((4, 2), np.float32), c, isa="sse9")
    with pytest.raises(ValueError, match="activation"):
        _C._sgemm(a, np.zeros((4, 2), np.float32), c, activation="swish")


def test_kernel_names_and_fma_probe():
    for isa in ISAS:
        info = _C._sgemm_kernel(isa)
        assert info["mr"] >= 1 and info["nr"] >= 1 and info["kc"] >= 1
    assert _C._sgemm_kernel("avx2")["name"] == "sgemm_avx2_6x16" if "avx2" in ISAS else True
    assert _C._fma_peak_gflops(1, ISAS[-1]) > 0.1
