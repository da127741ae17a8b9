# Tests of scaled_dot_product_attention (flash kernels at every ISA level, the reference, float64 gradcheck)
# against PyTorch: full/causal, bool/float masks, T != S, sizes that cross every tile edge, dropout, errors.
import math
import os

import numpy as np
import pytest

import ember
from ember.nn.functional_attention import scaled_dot_product_attention

torch = pytest.importorskip("torch")

LEVELS = [level for level in ("ref", "avx2", "avx512") if ember._C.isa_available(level)]
IMPLEMENTATIONS = LEVELS + ["reference"]


def sdpa_using(implementation, q, k, v, **kwargs):
    return ember._C._scaled_dot_product_attention_using(implementation, q, k, v, kwargs.get("attn_mask"),
                                                        kwargs.get("dropout_p", 0.0), kwargs.get("is_causal", False),
                                                        kwargs.get("scale"), kwargs.get("enable_gqa", False))


def leaf(array):
    return ember.tensor(array, requires_grad=True)


def torch_reference(q, k, v, grad_out, attn_mask=None, is_causal=False, scale=None):
    """PyTorch in float64 on the same values: output and gradients of sum(out * grad_out)."""
    tq, tk, tv = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (q, k, v))
    mask = None
    if attn_mask is not None:
        mask = torch.tensor(attn_mask) if attn_mask.dtype == np.bool_ else torch.tensor(attn_mask, dtype=torch.float64)
    out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=mask, is_causal=is_causal,
                                                           scale=scale)
    (out * torch.tensor(grad_out, dtype=torch.float64)).sum().backward()
    return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


def run_ember(implementation, q, k, v, grad_out, attn_mask=None, is_causal=False, scale=None, dtype=np.float32):
    eq, ek, ev = (leaf(x.astype(dtype)) for x in (q, k, v))
    mask = None
    if attn_mask is not None:
        mask = ember.tensor(attn_mask if attn_mask.dtype == np.bool_ else attn_mask.astype(dtype))
    out = sdpa_using(implementation, eq, ek, ev, attn_mask=mask, is_causal=is_causal, scale=scale)
    out.backward(ember.tensor(grad_out.astype(dtype)))
    return out.detach().numpy(), eq.grad.numpy(), ek.grad.numpy(), ev.grad.numpy()


def random_case(rng, batch, T, S, D, Dv):
    q = rng.standard_normal(batch + (T, D)).astype(np.float32)
    k = rng.standard_normal(batch + (S, D)).astype(np.float32)
    v = rng.standard_normal(batch + (S, Dv)).astype(np.float32)
    g = rng.standard_normal(batch + (T, Dv)).astype(np.float32)
    return q, k, v, g


def make_mask(rng, kind, shape):
    if kind is None:
        return None
    if kind == "bool":
        mask = rng.random(shape) < 0.7
        mask[..., 0] = True   # no fully masked rows here (tested separately)
        return mask
    return (rng.standard_normal(shape) * 2).astype(np.float32)


def assert_matches(got, want, atol):
    names = ("output", "dq", "dk", "dv")
    for name, g, w in zip(names, got, want):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=atol, err_msg=name)


CASES = [
    # batch, T, S, D, Dv, causal, mask kind, mask shape (None: full (..., T, S))
    ((2, 3), 37, 37, 16, 16, False, None, None),
    ((2, 3), 37, 37, 16, 16, True, None, None),
    ((1, 2), 129, 129, 64, 64, True, None, None),
    ((2,), 7, 129, 8, 8, False, "bool", None),
    ((2, 2), 129, 7, 80, 80, True, None, None),          # causal with T > S
    ((2, 2), 7, 37, 80, 16, True, None, None),           # causal with T < S: later keys never attended
    ((3,), 1, 1, 8, 8, False, None, None),
    ((2, 2), 37, 129, 64, 80, False, "float", (37, 129)),   # mask broadcast over batch and heads
    ((2, 2), 129, 37, 8, 64, False, "bool", (2, 1, 1, 37)),  # key-padding style mask
    ((), 37, 37, 16, 8, False, "float", None),            # 2-D inputs
    ((2,), 290, 290, 16, 16, True, None, None),           # several key blocks per query block (Q packed)
    ((4, 4), 290, 270, 16, 24, True, None, None),         # two backward query blocks (192 or 256 rows)
    ((2,), 7, 300, 16, 8, False, "bool", None),
    # few queries (decoding): K and V read in place, no tiles
    ((2, 3), 1, 300, 80, 72, False, "float", None),
    ((2, 2), 3, 37, 16, 8, True, None, None),
    ((2, 2), 4, 129, 64, 64, False, "bool", (2, 1, 1, 129)),
    ((5,), 2, 1, 8, 24, False, None, None),
    ((2, 2), 8, 40, 24, 40, True, None, None),
    ((3,), 5, 70, 64, 64, False, "float", (5, 70)),
]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"b{c[0]}-T{c[1]}-S{c[2]}-D{c[3]}-Dv{c[4]}-c{int(c[5])}-{c[6]}")
def test_forward_and_backward_match_torch(implementation, case):
    batch, T, S, D, Dv, causal, mask_kind, mask_shape = case
    rng = np.random.default_rng(T * 1000 + S + D)
    q, k, v, g = random_case(rng, batch, T, S, D, Dv)
    mask = make_mask(rng, mask_kind, mask_shape or batch + (T, S))
    want = torch_reference(q, k, v, g, attn_mask=mask, is_causal=causal)
    got = run_ember(implementation, q, k, v, g, attn_mask=mask, is_causal=causal)
    assert_matches(got, want, atol=2e-4 * math.sqrt(max(T, S)))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_custom_scale_and_float_mask_with_minus_inf(implementation):
    rng = np.random.default_rng(1)
    q, k, v, g = random_case(rng, (2, 2), 37, 70, 16, 16)
    mask = np.where(rng.random((37, 70)) < 0.5, -np.inf, 0.0).astype(np.float32)
    mask[:, 3] = 0.0
    want = torch_reference(q, k, v, g, attn_mask=mask, scale=0.3)
    got = run_ember(implementation, q, k, v, g, attn_mask=mask, scale=0.3)
    assert_matches(got, want, atol=1e-3)
    # Causal, several key blocks (the scale rides in the K and Q packs).
    q, k, v, g = random_case(rng, (1, 3), 150, 150, 24, 24)
    want = torch_reference(q, k, v, g, is_causal=True, scale=0.7)
    got = run_ember(implementation, q, k, v, g, is_causal=True, scale=0.7)
    assert_matches(got, want, atol=1e-3)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("T", [9, 3])
def test_fully_masked_rows_give_zeros_like_torch(implementation, T):
    rng = np.random.default_rng(2)
    q, k, v, g = random_case(rng, (2,), T, 70, 8, 8)
    mask = rng.random((2, T, 70)) < 0.5
    mask[0, 1] = False
    mask[1, T - 1] = False
    want = torch_reference(q, k, v, g, attn_mask=mask)
    got = run_ember(implementation, q, k, v, g, attn_mask=mask)
    assert not np.isnan(got[0]).any()
    assert (got[0][0, 1] == 0).all() and (got[1][1, T - 1] == 0).all()
    assert_matches(got, want, atol=1e-4)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_one_dominant_key_in_every_column_position(implementation):
    # Each query row has one score near 400 (exp would overflow without the true row max): the row max must see
    # every column, whichever vector lane, unrolled chain or tail holds it.
    rng = np.random.default_rng(5)
    q, k, v, g = random_case(rng, (1,), 7, 200, 16, 16)
    for row, key in enumerate([5, 20, 40, 60, 130, 170, 199]):
        k[0, key] = q[0, row] * (1600 / (q[0, row] @ q[0, row]))
    want = torch_reference(q, k, v, g)
    got = run_ember(implementation, q, k, v, g)
    assert np.isfinite(got[0]).all()
    assert_matches(got, want, atol=1e-3)


def test_every_flash_level_agrees_with_the_reference_on_odd_sizes():
    rng = np.random.default_rng(3)
    for T, S in [(1, 67), (67, 1), (49, 65), (96, 130)]:
        q, k, v, g = random_case(rng, (2,), T, S, 24, 40)
        want = run_ember("reference", q, k, v, g, is_causal=True)
        for level in LEVELS:
            assert_matches(run_ember(level, q, k, v, g, is_causal=True), want, atol=1e-4)


def test_strided_inputs_and_output_layout_follows_the_query():
    rng = np.random.default_rng(4)
    B, T, H, D = 2, 37, 3, 16
    x = rng.standard_normal((B, T, 3 * H * D)).astype(np.float32)
    g = rng.standard_normal((B, H, T, D)).astype(np.float32)
    packed = ember.tensor(x, requires_grad=True)
    q, k, v = (packed[:, :, i * H * D:(i + 1) * H * D].reshape(B, T, H, D).transpose(1, 2) for i in range(3))
    out = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out.shape == (B, H, T, D)
    assert out.transpose(1, 2).is_contiguous()   # PyTorch's flash layout: merging heads needs no copy
    out.backward(ember.tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    tq, tk, tv = (tx[:, :, i * H * D:(i + 1) * H * D].reshape(B, T, H, D).transpose(1, 2) for i in range(3))
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    tout.backward(torch.tensor(g))
    assert out.stride() == tout.stride()
    dense = ember.tensor(g)   # a contiguous (B, H, T, D) query: a contiguous output, as in PyTorch
    assert scaled_dot_product_attention(dense, dense, dense).stride() == \
        torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(g),) * 3).stride()
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(packed.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_float64_gradcheck():
    rng = np.random.default_rng(5)
    q, k, v = (ember.tensor(rng.standard_normal(s), dtype=ember.float64, requires_grad=True)
               for s in [(2, 5, 4), (2, 6, 4), (2, 6, 3)])
    mask = ember.tensor(rng.standard_normal((5, 6)), dtype=ember.float64)
    assert ember.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, attn_mask=mask), (q, k, v))
    assert ember.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, is_causal=True), (q, k, v))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("shape,mask_shape", [((2, 3, 37, 8), (37, 129 + 2)), ((1, 1, 129, 16), (129, 140)),
                                              ((2, 3, 7, 8), (3, 7, 20)), ((2, 3, 40, 8), (2, 1, 40, 1)),
                                              ((4, 5, 16), (4, 5, 9))])
def test_learned_float_mask_gets_the_scores_gradient_like_torch(implementation, shape, mask_shape):
    """An additive attn_mask that requires grad (a learned attention bias) gets dL/dscores summed over the dims it
    broadcasts along; -inf entries (and fully masked rows) get 0. T and S past one key block; one (batch, head)
    pair also runs the few-pairs schedule."""
    rng = np.random.default_rng(8)
    S = mask_shape[-1] if mask_shape[-1] != 1 else 23
    q = rng.standard_normal(shape).astype(np.float32)
    k = rng.standard_normal(shape[:-2] + (S, shape[-1])).astype(np.float32)
    v = rng.standard_normal(shape[:-2] + (S, 5)).astype(np.float32)
    bias = rng.standard_normal(mask_shape).astype(np.float32)
    if mask_shape[-1] > 1:
        bias[..., 0, :] = -np.inf   # a fully masked row
        bias[..., 1, :3] = -np.inf
    g = rng.standard_normal(shape[:-1] + (5,)).astype(np.float32)
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (q, k, v, bias)]
    want = torch.nn.functional.scaled_dot_product_attention(*tensors[:3], attn_mask=tensors[3])
    want.backward(torch.tensor(g, dtype=torch.float64))
    eq, ek, ev, eb = (leaf(x) for x in (q, k, v, bias))
    out = sdpa_using(implementation, eq, ek, ev, attn_mask=eb)
    out.backward(ember.tensor(g))
    assert eb.grad.shape == bias.shape and eb.grad.dtype == ember.float32
    want_grad = np.nan_to_num(tensors[3].grad.numpy())   # torch: NaN in fully masked rows; ember (as its CPU flash): 0
    np.testing.assert_allclose(eb.grad.numpy(), want_grad, rtol=1e-4, atol=2e-5)
    for mine, theirs in zip((eq, ek, ev), tensors):
        np.testing.assert_allclose(mine.grad.numpy(), np.nan_to_num(theirs.grad.numpy()), rtol=1e-4, atol=2e-5)


# Scores per chunk of the mask gradient (ops/attention.cpp: kMaskGradChunkElements); the shapes below need 2+ chunks.
MASK_GRAD_CHUNK = 1 << 20


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("shape,mask_shape", [((40, 3, 100, 8), (3, 100, 110)), ((40, 3, 100, 8), (40, 1, 100, 110)),
                                              ((150, 90, 8), (90, 100))])
def test_learned_mask_gradient_in_chunks_of_the_batch_like_torch(implementation, shape, mask_shape):
    """Past MASK_GRAD_CHUNK scores the mask's gradient is summed chunk by chunk along the first batch dim (a bias
    shared by the batch adds the chunks up, a per-batch one gets each chunk's rows); the sums match torch."""
    S = mask_shape[-1]
    assert math.prod(shape[:-1]) * S > MASK_GRAD_CHUNK * 1.2
    rng = np.random.default_rng(12)
    q = rng.standard_normal(shape).astype(np.float32)
    k = rng.standard_normal(shape[:-2] + (S, shape[-1])).astype(np.float32)
    v = rng.standard_normal(shape[:-2] + (S, 4)).astype(np.float32)
    bias = rng.standard_normal(mask_shape).astype(np.float32)
    g = rng.standard_normal(shape[:-1] + (4,)).astype(np.float32)
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (q, k, v, bias)]
    torch.nn.functional.scaled_dot_product_attention(*tensors[:3], attn_mask=tensors[3]).backward(
        torch.tensor(g, dtype=torch.float64))
    eq, ek, ev, eb = (leaf(x) for x in (q, k, v, bias))
    sdpa_using(implementation, eq, ek, ev, attn_mask=eb).backward(ember.tensor(g))
    assert eb.grad.shape == bias.shape
    np.testing.assert_allclose(eb.grad.numpy(), tensors[3].grad.numpy(), rtol=1e-4, atol=5e-5)
    for mine, theirs in zip((eq, ek, ev), tensors):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_chunked_mask_gradient_keeps_the_dropout_draws(implementation):
    """The chunks' dropout draws are the forward's: q, k, v gradients equal those of the unchunked backward (the
    same mask without a gradient)."""
    rng = np.random.default_rng(13)
    q, k, v = (rng.standard_normal((40, 3, 100, 8)).astype(np.float32) for _ in range(3))
    bias = rng.standard_normal((3, 100, 100)).astype(np.float32)
    grads = []
    for learned in (False, True):
        eq, ek, ev = (leaf(x) for x in (q, k, v))
        eb = ember.tensor(bias, requires_grad=learned)
        ember.manual_seed(5)
        sdpa_using(implementation, eq, ek, ev, attn_mask=eb, dropout_p=0.3).sum().backward()
        grads.append([t.grad.numpy() for t in (eq, ek, ev)])
    for unchunked, chunked in zip(*grads):
        np.testing.assert_allclose(chunked, unchunked, rtol=1e-5, atol=1e-6)


def peak_resident_growth(fn):
    """Growth of the process's peak resident set while fn runs (Linux: VmHWM, reset through clear_refs)."""
    def peak():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pytest.skip("cannot reset the peak resident set here")
    before = peak()
    fn()
    return peak() - before


@pytest.mark.skipif(not os.path.exists("/proc/self/status") or ember._C.build_info()["sanitize"],
                    reason="reads the peak RSS from /proc (Linux); ASan's quarantine keeps freed memory")
def test_a_bias_shared_by_the_batch_gets_its_gradient_without_a_batch_sized_buffer():
    """256 x 4 heads x 128^2 scores (64 MiB of float32): the shared (4, 128, 128) bias's gradient comes from 4 MiB
    chunks, not one buffer of every (batch, head)'s scores."""
    rng = np.random.default_rng(14)
    q, k, v = (leaf(rng.standard_normal((256, 4, 128, 8)).astype(np.float32)) for _ in range(3))
    bias = ember.tensor(rng.standard_normal((4, 128, 128)).astype(np.float32), requires_grad=True)
    scaled_dot_product_attention(q, k, v, attn_mask=bias.detach()).sum().backward()   # warm: outputs, grads, scratch
    growth = peak_resident_growth(lambda: scaled_dot_product_attention(q, k, v, attn_mask=bias).sum().backward())
    assert bias.grad.shape == (4, 128, 128)
    assert growth < 24 << 20, f"peak resident set grew by {growth >> 20} MiB"


def test_float64_gradcheck_of_a_learned_mask_and_its_dtype():
    rng = np.random.default_rng(9)
    q, k, v = (ember.tensor(rng.standard_normal(s), dtype=ember.float64, requires_grad=True)
               for s in [(2, 5, 4), (2, 6, 4), (2, 6, 3)])
    bias = ember.tensor(rng.standard_normal((1, 5, 6)), dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, m: scaled_dot_product_attention(a, k, v, attn_mask=m), (q, bias))
    # a float64 bias on float32 attention: its gradient comes back in float64
    wide = ember.tensor(rng.standard_normal((5, 6)), dtype=ember.float64, requires_grad=True)
    scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=wide).sum().backward()
    assert wide.grad.dtype == ember.float64 and wide.grad.shape == (5, 6)


def test_float64_gradcheck_with_dropout_uses_the_same_draws_in_backward():
    rng = np.random.default_rng(6)
    q, k, v = (ember.tensor(rng.standard_normal(s), dtype=ember.float64, requires_grad=True)
               for s in [(2, 5, 4), (2, 6, 4), (2, 6, 3)])

    def dropped(a, b, c):
        ember.manual_seed(11)   # every evaluation draws the same mask
        return scaled_dot_product_attention(a, b, c, dropout_p=0.4)

    assert ember.autograd.gradcheck(dropped, (q, k, v))


@pytest.mark.parametrize("T", [37, 2])
def test_dropout_is_deterministic_and_float32_matches_float64_reference(T):
    rng = np.random.default_rng(7)
    q, k, v, g = random_case(rng, (2, 2), T, 70, 16, 16)
    results = []
    for implementation, dtype in [(LEVELS[-1], np.float32), ("ref", np.float32), ("reference", np.float64)]:
        ember.manual_seed(123)
        results.append(run_ember(implementation, q, k, v, g, dtype=dtype))
        ember.manual_seed(123)
        out = sdpa_using(implementation, *(ember.tensor(x.astype(dtype)) for x in (q, k, v)))
        np.testing.assert_array_equal(out.numpy(), results[-1][0])
    for got in results[:2]:
        assert_matches(got, results[2], atol=1e-4)
    ember.manual_seed(123)
    a = scaled_dot_product_attention(*(ember.tensor(x) for x in (q, k, v)), dropout_p=0.3)
    b = scaled_dot_product_attention(*(ember.tensor(x) for x in (q, k, v)), dropout_p=0.3)
    assert not np.allclose(a.numpy(), b.numpy())   # the generator advanced


def test_dropout_mask_statistics():
    # With v = identity rows, out = dropped probabilities: about p of them are zero, the mean is preserved.
    S = 64
    q = ember.zeros((4, 64, 8))
    k = ember.zeros((4, S, 8))
    v = ember.tensor(np.tile(np.eye(S, dtype=np.float32), (4, 1, 1)))
    ember.manual_seed(0)
    p = scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy()
    zero_fraction = (p == 0).mean()
    assert abs(zero_fraction - 0.25) < 0.02
    assert abs(p.mean() - 1.0 / S) < 0.02 / S
    ember.manual_seed(0)
    assert (scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0).all()


def test_no_grad_and_zero_sizes():
    with ember.no_grad():
        out = scaled_dot_product_attention(ember.randn(2, 3, 4), ember.randn(2, 5, 4), ember.randn(2, 5, 6))
    assert out.shape == (2, 3, 6) and out.grad_fn is None
    out = scaled_dot_product_attention(ember.randn(2, 3, 4), ember.randn(2, 0, 4), ember.randn(2, 0, 6))
    assert out.shape == (2, 3, 6) and (out.numpy() == 0).all()
    empty = scaled_dot_product_attention(ember.randn(0, 3, 4), ember.randn(0, 5, 4), ember.randn(0, 5, 6))
    assert empty.shape == (0, 3, 6)
    for implementation in IMPLEMENTATIONS:   # no keys: the gradient of q is 0 (its buffer starts uninitialised)
        q = leaf(np.full((2, 3, 4), 7.0, np.float32))
        sdpa_using(implementation, q, ember.randn(2, 0, 4), ember.randn(2, 0, 6)).sum().backward()
        assert (q.grad.numpy() == 0).all(), implementation


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("shapes,causal,mask", [((2, 8, 2, 5, 7), False, None), ((2, 8, 2, 19, 19), True, None),
                                                 ((1, 6, 3, 4, 6), False, "bool"), ((4, 1, 6, 5), False, "float"),
                                                 ((4, 3, 1, 19, 19), False, None),
                                                 ((2, 8, 2, 1, 40), False, None)])
def test_grouped_query_attention_matches_torch(implementation, shapes, causal, mask):
    """Key / value heads shared by groups of query heads read in place (no repeated copies); their gradients sum
    over the group. Tiles, the few-query path and the reference."""
    torch.manual_seed(3)
    if len(shapes) == 5:
        B, Hq, Hkv, T, S = shapes
        q_shape, kv_shape = (B, Hq, T, 16), (B, Hkv, S, 16)
    else:   # unbatched (heads, L, E)
        Hq, Hkv, T, S = shapes
        q_shape, kv_shape = (Hq, T, 16), (Hkv, S, 16)
    q, k, v = (torch.randn(shape, requires_grad=True) for shape in (q_shape, kv_shape, kv_shape))
    attn_mask = None
    if mask == "bool":
        attn_mask = torch.rand(T, S) < 0.7
        attn_mask[:, 0] = True
    elif mask == "float":
        attn_mask = torch.randn(T, S)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal,
                                                            enable_gqa=True)
    eq, ek, ev = (leaf(x.detach().numpy()) for x in (q, k, v))
    got = sdpa_using(implementation, eq, ek, ev, attn_mask=to_ember(attn_mask), is_causal=causal, enable_gqa=True)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = torch.randn(want.shape)
    want.backward(g)
    got.backward(ember.tensor(g.numpy()))
    for mine, theirs in ((eq, q), (ek, k), (ev, v)):   # key / value gradients sum over their query heads
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_grouped_query_attention_errors():
    q, kv = ember.randn(2, 6, 3, 8), ember.randn(2, 4, 3, 8)
    with pytest.raises(ValueError, match="dividing query's 6"):
        scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
    with pytest.raises(ValueError, match="same number of heads"):
        scaled_dot_product_attention(q, ember.randn(2, 3, 3, 8), ember.randn(2, 2, 3, 8), enable_gqa=True)
    with pytest.raises(ValueError, match="batch dimensions"):   # without enable_gqa, heads must match
        scaled_dot_product_attention(q, ember.randn(2, 3, 3, 8), ember.randn(2, 3, 3, 8))
    with pytest.raises(ValueError, match="enable_gqa needs"):
        scaled_dot_product_attention(ember.randn(3, 8), ember.randn(3, 8), ember.randn(3, 8), enable_gqa=True)


def test_errors():
    q, k, v = ember.randn(2, 3, 4), ember.randn(2, 5, 4), ember.randn(2, 5, 6)
    with pytest.raises(ValueError, match="head dim"):
        scaled_dot_product_attention(q, ember.randn(2, 5, 3), v)
    with pytest.raises(ValueError, match="batch dimensions"):
        scaled_dot_product_attention(q, ember.randn(3, 5, 4), ember.randn(3, 5, 6))
    with pytest.raises(ValueError, match="sequence length"):
        scaled_dot_product_attention(q, k, ember.randn(2, 4, 6))
    with pytest.raises(ValueError, match="at least 2-D"):
        scaled_dot_product_attention(ember.randn(4), k, v)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        scaled_dot_product_attention(q, k, v, attn_mask=ember.ones((3, 4), dtype=ember.bool))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        scaled_dot_product_attention(q, k, v, attn_mask=ember.ones((1, 2, 3, 5), dtype=ember.bool))
    with pytest.raises(TypeError, match="attn_mask must be bool or floating"):
        scaled_dot_product_attention(q, k, v, attn_mask=ember.ones((3, 5), dtype=ember.int64))
    with pytest.raises(TypeError, match="same floating dtype"):
        scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(RuntimeError, match="is_causal"):
        scaled_dot_product_attention(q, k, v, attn_mask=ember.ones((3, 5), dtype=ember.bool), is_causal=True)
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match="not available"):
        sdpa_using("sse9", q, k, v)


# ---- nn.MultiheadAttention and the Transformer encoder against PyTorch with copied weights

from ember.nn.attention import MultiheadAttention  # noqa: E402
from ember.nn.transformer import (TransformerEncoder, TransformerEncoderLayer, TransformerDecoder,  # noqa: E402
                                  TransformerDecoderLayer, Transformer)


def copy_weights(ember_module, torch_module):
    ember_module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})


def to_ember(x):
    return None if x is None else ember.tensor(x.numpy())


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("masks", ["none", "bool", "float+padding", "causal"])
def test_multihead_attention_matches_torch(batch_first, need_weights, average, masks):
    torch.manual_seed(0)
    E, H, T, B = 16, 4, 7, 3
    reference = torch.nn.MultiheadAttention(E, H, batch_first=batch_first)
    module = MultiheadAttention(E, H, batch_first=batch_first)
    copy_weights(module, reference)
    shape = (B, T, E) if batch_first else (T, B, E)
    x = torch.randn(shape, requires_grad=True)
    attn_mask = padding = None
    is_causal = masks == "causal"
    if masks == "bool":
        attn_mask = torch.rand(T, T) < 0.3
        attn_mask.fill_diagonal_(False)
    elif masks == "float+padding":
        attn_mask = torch.randn(B * H, T, T)
        padding = torch.zeros(B, T, dtype=torch.bool)
        padding[0, -2:] = True
    elif masks == "causal":
        attn_mask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    kwargs = dict(need_weights=need_weights, average_attn_weights=average, is_causal=is_causal)
    want, want_w = reference(x, x, x, attn_mask=attn_mask, key_padding_mask=padding, **kwargs)
    ex = ember.tensor(x.detach().numpy(), requires_grad=True)
    got, got_w = module(ex, ex, ex, attn_mask=to_ember(attn_mask), key_padding_mask=to_ember(padding), **kwargs)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
    if need_weights:
        np.testing.assert_allclose(got_w.detach().numpy(), want_w.detach().numpy(), rtol=1e-4, atol=1e-6)
    else:
        assert got_w is None
    g = torch.randn(shape)
    want.backward(g)
    got.backward(ember.tensor(g.numpy()))
    np.testing.assert_allclose(ex.grad.numpy(), x.grad.numpy(), rtol=1e-3, atol=1e-5)
    for name, p in reference.named_parameters():
        np.testing.assert_allclose(dict(module.named_parameters())[name].grad.numpy(), p.grad.numpy(), rtol=1e-3,
                                   atol=1e-5, err_msg=name)


def test_multihead_attention_cross_attention_unbatched_and_parameters():
    torch.manual_seed(1)
    reference = torch.nn.MultiheadAttention(8, 2, bias=False)
    module = MultiheadAttention(8, 2, bias=False)
    assert [n for n, _ in module.named_parameters()] == [n for n, _ in reference.named_parameters()]
    assert module.in_proj_weight.shape == (24, 8) and module.in_proj_bias is None
    copy_weights(module, reference)
    q, kv = torch.randn(5, 8), torch.randn(9, 8)   # unbatched (T, E) and (S, E)
    want, want_w = reference(q, kv, kv)
    got, got_w = module(*(ember.tensor(a.numpy()) for a in (q, kv, kv)))
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_w.detach().numpy(), want_w.detach().numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("options", [dict(kdim=6, vdim=10), dict(add_bias_kv=True), dict(add_zero_attn=True),
                                     dict(kdim=6, vdim=10, add_bias_kv=True, add_zero_attn=True, bias=False)])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masks", ["none", "bool+padding", "float3d", "causal"])
def test_multihead_attention_other_key_widths_bias_kv_and_zero_attn_match_torch(options, need_weights, masks):
    torch.manual_seed(2)
    E, H, T, S, B = 16, 4, 5, 7, 3
    reference = torch.nn.MultiheadAttention(E, H, batch_first=True, **options)
    module = MultiheadAttention(E, H, batch_first=True, **options)
    assert [n for n, _ in module.named_parameters()] == [n for n, _ in reference.named_parameters()]
    copy_weights(module, reference)
    self_attention = "kdim" not in options
    q = torch.randn(B, T, E, requires_grad=True)
    k = q if self_attention else torch.randn(B, S, options["kdim"], requires_grad=True)
    v = q if self_attention else torch.randn(B, S, options["vdim"], requires_grad=True)
    S = k.shape[1]
    attn_mask = padding = None
    if masks == "bool+padding":
        attn_mask = torch.rand(T, S) < 0.3
        padding = torch.zeros(B, S, dtype=torch.bool)
        padding[0, -2:] = True
    elif masks == "float3d":
        attn_mask = torch.randn(B * H, T, S)
    elif masks == "causal":   # PyTorch's hint: without weights its SDPA leaves the appended keys unattended
        attn_mask = torch.triu(torch.full((T, S), float("-inf")), diagonal=1)
    kwargs = dict(need_weights=need_weights, is_causal=masks == "causal" and T == S)
    want, want_w = reference(q, k, v, attn_mask=attn_mask, key_padding_mask=padding, **kwargs)
    eq = ember.tensor(q.detach().numpy(), requires_grad=True)
    ek = eq if self_attention else ember.tensor(k.detach().numpy(), requires_grad=True)
    ev = eq if self_attention else ember.tensor(v.detach().numpy(), requires_grad=True)
    got, got_w = module(eq, ek, ev, attn_mask=to_ember(attn_mask), key_padding_mask=to_ember(padding), **kwargs)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
    if need_weights:
        assert got_w.shape == want_w.shape   # (B, T, S + appended keys)
        np.testing.assert_allclose(got_w.detach().numpy(), want_w.detach().numpy(), rtol=1e-4, atol=1e-6)
    g = torch.randn(B, T, E)
    want.backward(g)
    got.backward(ember.tensor(g.numpy()))
    for mine, theirs in ((eq, q), (ek, k), (ev, v))[:1 if self_attention else 3]:
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-3, atol=1e-5)
    for name, p in reference.named_parameters():
        np.testing.assert_allclose(dict(module.named_parameters())[name].grad.numpy(), p.grad.numpy(), rtol=1e-3,
                                   atol=1e-5, err_msg=name)


def test_multihead_attention_init_follows_torch():
    module = MultiheadAttention(64, 4)
    w = module.in_proj_weight.detach().numpy()
    bound = math.sqrt(6.0 / (64 + 192))   # xavier_uniform_ on (3E, E)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert (module.in_proj_bias.detach().numpy() == 0).all() and (module.out_proj.bias.detach().numpy() == 0).all()
    separate = MultiheadAttention(64, 4, kdim=32, vdim=48, add_bias_kv=True)
    assert separate.in_proj_weight is None and separate.k_proj_weight.shape == (64, 32)
    for w, fan_in in ((separate.q_proj_weight, 64), (separate.k_proj_weight, 32), (separate.v_proj_weight, 48)):
        bound = math.sqrt(6.0 / (64 + fan_in))
        assert np.abs(w.detach().numpy()).max() <= bound and np.abs(w.detach().numpy()).max() > 0.8 * bound
    assert separate.bias_k.shape == (1, 1, 64) and separate.bias_k.detach().numpy().std() > 0   # xavier_normal_


def test_multihead_attention_errors():
    with pytest.raises(ValueError, match="divisible"):
        MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="kdim must be a positive int"):
        MultiheadAttention(8, 2, kdim=0)
    cross = MultiheadAttention(8, 2, kdim=4, vdim=6)
    with pytest.raises(ValueError, match="key with 4 features"):
        cross(ember.randn(3, 2, 8), ember.randn(5, 2, 8), ember.randn(5, 2, 6))
    with pytest.raises(ValueError, match="all but the last dim"):
        cross(ember.randn(3, 2, 8), ember.randn(5, 2, 4), ember.randn(4, 2, 6))
    module = MultiheadAttention(8, 2)
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        module(ember.randn(1, 2, 3, 8), ember.randn(1, 2, 3, 8), ember.randn(1, 2, 3, 8))
    with pytest.raises(ValueError, match="query with 8 features"):
        module(ember.randn(3, 2, 6), ember.randn(3, 2, 6), ember.randn(3, 2, 6))
    x = ember.randn(3, 2, 8)
    with pytest.raises(ValueError, match="attn_mask should have shape"):
        module(x, x, x, attn_mask=ember.zeros((4, 4)))
    with pytest.raises(ValueError, match="key_padding_mask"):
        module(x, x, x, key_padding_mask=ember.zeros((3, 3), dtype=ember.bool))
    with pytest.raises(RuntimeError, match="is_causal"):
        module(x, x, x, is_causal=True)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_encoder_matches_torch(norm_first, activation):
    torch.manual_seed(2)
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation=activation, norm_first=norm_first)
    reference = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(16), enable_nested_tensor=False)
    module = TransformerEncoder(TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation=activation,
                                                        norm_first=norm_first), 2, norm=ember.nn.LayerNorm(16))
    assert list(module.state_dict()) == list(reference.state_dict())
    copy_weights(module, reference)
    x = torch.randn(9, 2, 16, requires_grad=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(9)
    padding = torch.zeros(2, 9, dtype=torch.bool)
    padding[1, -3:] = True
    for kwargs in ({}, {"mask": mask, "is_causal": True}, {"src_key_padding_mask": padding}):
        want = reference(x, **kwargs)
        ex = ember.tensor(x.detach().numpy(), requires_grad=True)
        got = module(ex, **{k: to_ember(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()})
        valid = np.ones((9, 2, 1), bool) if "src_key_padding_mask" not in kwargs else ~padding.numpy().T[..., None]
        np.testing.assert_allclose(np.where(valid, got.detach().numpy(), 0), np.where(valid, want.detach().numpy(), 0),
                                   rtol=1e-4, atol=1e-5)
        g = torch.randn(9, 2, 16)
        x.grad = None
        want.backward(g)
        got.backward(ember.tensor(g.numpy()))
        np.testing.assert_allclose(ex.grad.numpy(), x.grad.numpy(), rtol=1e-3, atol=1e-4)


def test_transformer_layer_submodules_callable_activation_and_dropout_modes():
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.5, activation=ember.nn.functional.silu, batch_first=True)
    names = [n for n, _ in layer.named_children()]
    assert names == ["self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2"]
    x = ember.randn(2, 5, 8)
    layer.eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())
    layer.train()
    assert not np.allclose(layer(x).detach().numpy(), layer(x).detach().numpy())
    encoder = TransformerEncoder(layer, 3)
    assert len(encoder.layers) == 3 and encoder.layers[0] is not encoder.layers[1]
    assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
    with pytest.raises(ValueError, match="activation"):
        TransformerEncoderLayer(8, 2, activation="swish")
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderLayer(10, 4)


def _check_against_torch(module, reference, inputs, kwargs, valid):
    """Forward and input gradients of module vs reference on float32 inputs; `valid` masks padded rows."""
    t_inputs = [torch.tensor(x, requires_grad=True) for x in inputs]
    e_inputs = [ember.tensor(x, requires_grad=True) for x in inputs]
    want = reference(*t_inputs, **kwargs)
    got = module(*e_inputs, **{k: to_ember(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()})
    np.testing.assert_allclose(np.where(valid, got.detach().numpy(), 0), np.where(valid, want.detach().numpy(), 0),
                               rtol=1e-4, atol=1e-5)
    g = np.where(valid, np.random.default_rng(5).standard_normal(tuple(want.shape)), 0).astype(np.float32)
    want.backward(torch.tensor(g))
    got.backward(ember.tensor(g))
    for e, t in zip(e_inputs, t_inputs):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_decoder_matches_torch(norm_first, activation):
    """Target self-attention (causal mask, padding) and memory attention (padding) with T != S, copied weights."""
    torch.manual_seed(3)
    layer = torch.nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, activation=activation, norm_first=norm_first)
    reference = torch.nn.TransformerDecoder(layer, 2, norm=torch.nn.LayerNorm(16))
    module = TransformerDecoder(TransformerDecoderLayer(16, 4, 32, dropout=0.0, activation=activation,
                                                        norm_first=norm_first), 2, norm=ember.nn.LayerNorm(16))
    assert list(module.state_dict()) == list(reference.state_dict())
    with torch.no_grad():   # distinct norms and zero-initialised biases, so a swapped one shows
        for p in reference.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    copy_weights(module, reference)
    rng = np.random.default_rng(4)
    tgt = rng.standard_normal((7, 2, 16)).astype(np.float32)
    memory = rng.standard_normal((11, 2, 16)).astype(np.float32)
    tgt_padding = torch.zeros(2, 7, dtype=torch.bool)
    tgt_padding[1, -2:] = True
    memory_padding = torch.zeros(2, 11, dtype=torch.bool)
    memory_padding[0, -4:] = True
    causal = torch.nn.Transformer.generate_square_subsequent_mask(7)
    everywhere = np.ones((7, 2, 1), bool)
    for kwargs, valid in (({}, everywhere), ({"tgt_mask": causal, "tgt_is_causal": True}, everywhere),
                          ({"tgt_mask": causal, "memory_key_padding_mask": memory_padding}, everywhere),
                          ({"tgt_key_padding_mask": tgt_padding}, ~tgt_padding.numpy().T[..., None])):
        _check_against_torch(module, reference, [tgt, memory], kwargs, valid)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch_and_initialises_like_it(batch_first):
    torch.manual_seed(5)
    reference = torch.nn.Transformer(16, 4, 2, 1, 24, dropout=0.0, batch_first=batch_first)
    module = Transformer(16, 4, 2, 1, 24, dropout=0.0, batch_first=batch_first)
    assert list(module.state_dict()) == list(reference.state_dict())
    params = dict(module.named_parameters())
    for name, p in params.items():   # Xavier-uniform matrices; vectors as their layers initialise them
        got = np.abs(p.detach().numpy())
        if p.dim() > 1:
            bound = np.sqrt(6.0 / sum(p.shape[:2]))
        elif "norm" in name or "in_proj_bias" in name or "out_proj" in name:
            np.testing.assert_array_equal(p.detach().numpy(), reference.state_dict()[name].numpy())
            continue
        else:   # Linear's default bias init
            bound = 1.0 / np.sqrt(params[name.replace("bias", "weight")].shape[1])
        assert got.max() <= bound and got.max() > 0.8 * bound, name
    copy_weights(module, reference)
    rng = np.random.default_rng(6)
    shape = (lambda T: (3, T, 16)) if batch_first else (lambda T: (T, 3, 16))
    src, tgt = rng.standard_normal(shape(9)).astype(np.float32), rng.standard_normal(shape(5)).astype(np.float32)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5)
    _check_against_torch(module, reference, [src, tgt], {"tgt_mask": mask}, np.ones((1, 1, 1), bool))


def test_transformer_errors_and_mask():
    mask = Transformer.generate_square_subsequent_mask(4).numpy()
    np.testing.assert_array_equal(mask, torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    assert Transformer.generate_square_subsequent_mask(0).shape == (0, 0)
    with pytest.raises(ValueError, match="sz"):
        Transformer.generate_square_subsequent_mask(-1)
    with pytest.raises(ValueError, match="CPU only"):
        Transformer.generate_square_subsequent_mask(3, device="cuda")
    assert Transformer.generate_square_subsequent_mask(3, dtype=ember.float64).dtype == ember.float64
    model = Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="batch number"):
        model(ember.randn(5, 2, 8), ember.randn(4, 3, 8))
    with pytest.raises(RuntimeError, match="feature number"):
        model(ember.randn(5, 2, 8), ember.randn(4, 2, 6))
    with pytest.raises(ValueError, match="activation"):
        TransformerDecoderLayer(8, 2, activation="swish")
    with pytest.raises(TypeError, match="Module"):
        TransformerDecoder("layer", 2)
    with pytest.raises(ValueError, match="num_layers"):
        TransformerDecoder(TransformerDecoderLayer(8, 2), -1)
    with pytest.raises(ValueError, match="divisible"):
        TransformerDecoderLayer(10, 4)
    encoder = TransformerEncoder(TransformerEncoderLayer(8, 2, 16), 3)
    custom = Transformer(8, 2, custom_encoder=encoder, num_decoder_layers=1)
    assert custom.encoder is encoder and len(custom.decoder.layers) == 1
    assert custom(ember.randn(5, 2, 8), ember.randn(3, 2, 8)).shape == (3, 2, 8)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("T", [5, 16])   # the few-query path and the tiles
def test_probabilities_are_float32_accurate(implementation, T):
    """With V the identity the output is the probabilities themselves: within a few float32 ulps of float64 (the
    row primitives' exponential, base e or 2, and the normalisation), over 40 keys of scores spread across
    [-2, 2], masked and not."""
    rng = np.random.default_rng(15)
    q = rng.uniform(-1.5, 1.5, (2, T, 1)).astype(np.float32)
    k = rng.uniform(-1.5, 1.5, (2, 40, 1)).astype(np.float32)
    v = np.broadcast_to(np.eye(40, dtype=np.float32), (2, 40, 40)).copy()
    mask = rng.uniform(-1.0, 1.0, (T, 40)).astype(np.float32)
    for m in (None, mask):
        got = sdpa_using(implementation, ember.tensor(q), ember.tensor(k), ember.tensor(v),
                         attn_mask=None if m is None else ember.tensor(m)).numpy()
        scores = q.astype(np.float64) @ k.astype(np.float64).transpose(0, 2, 1) + (0.0 if m is None else m)
        want = np.exp(scores - scores.max(-1, keepdims=True))
        want /= want.sum(-1, keepdims=True)
        np.testing.assert_allclose(got, want, rtol=8e-7, atol=0)


def test_results_do_not_depend_on_the_thread_count():
    # Fewer (batch, head) pairs than threads take the split schedule (tasks own key blocks, a pass adds their dQ
    # products up) when it has the work to spread: one pair of 300 x 290 from 2 threads on, four pairs at 3 and 9;
    # otherwise each pair is one task. Both add in the same order, so any thread count gives identical bits.
    rng = np.random.default_rng(8)
    previous = ember.get_num_threads()
    try:
        for batch, T, S in [((1,), 100, 90), ((3, 4), 100, 90), ((4, 4), 270, 90),   # two backward query blocks
                            ((1,), 300, 290), ((2, 2), 300, 290)]:
            q, k, v, g = random_case(rng, batch, T, S, 16, 16)
            results = []
            for threads in (1, 2, 3, 9):
                ember.set_num_threads(threads)
                results.append(run_ember(LEVELS[-1], q, k, v, g, is_causal=True))
            for got in results[1:]:
                for a, b in zip(got, results[0]):
                    np.testing.assert_array_equal(a, b)
    finally:
        ember.set_num_threads(previous)
