# Tests of scaled_dot_product_attention (flash kernels at every ISA level, the reference, float64 gradcheck)
# against PyTorch: full/causal, bool/float masks, T != S, sizes that cross every tile edge, dropout, errors.
import math

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
                                                        kwargs.get("scale"))


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


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_fully_masked_rows_give_zeros_like_torch(implementation):
    rng = np.random.default_rng(2)
    q, k, v, g = random_case(rng, (2,), 9, 70, 8, 8)
    mask = rng.random((2, 9, 70)) < 0.5
    mask[0, 3] = False
    mask[1, 8] = False
    want = torch_reference(q, k, v, g, attn_mask=mask)
    got = run_ember(implementation, q, k, v, g, attn_mask=mask)
    assert not np.isnan(got[0]).any()
    assert (got[0][0, 3] == 0).all() and (got[1][1, 8] == 0).all()
    assert_matches(got, want, atol=1e-4)


def test_every_flash_level_agrees_with_the_reference_on_odd_sizes():
    rng = np.random.default_rng(3)
    for T, S in [(1, 67), (67, 1), (49, 65), (96, 130)]:
        q, k, v, g = random_case(rng, (2,), T, S, 24, 40)
        want = run_ember("reference", q, k, v, g, is_causal=True)
        for level in LEVELS:
            assert_matches(run_ember(level, q, k, v, g, is_causal=True), want, atol=1e-4)


def test_strided_inputs_and_heads_inner_output_layout():
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
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(packed.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_float64_gradcheck():
    rng = np.random.default_rng(5)
    q, k, v = (ember.tensor(rng.standard_normal(s), dtype=ember.float64, requires_grad=True)
               for s in [(2, 5, 4), (2, 6, 4), (2, 6, 3)])
    mask = ember.tensor(rng.standard_normal((5, 6)), dtype=ember.float64)
    assert ember.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, attn_mask=mask), (q, k, v))
    assert ember.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, is_causal=True), (q, k, v))


def test_float64_gradcheck_with_dropout_uses_the_same_draws_in_backward():
    rng = np.random.default_rng(6)
    q, k, v = (ember.tensor(rng.standard_normal(s), dtype=ember.float64, requires_grad=True)
               for s in [(2, 5, 4), (2, 6, 4), (2, 6, 3)])

    def dropped(a, b, c):
        ember.manual_seed(11)   # every evaluation draws the same mask
        return scaled_dot_product_attention(a, b, c, dropout_p=0.4)

    assert ember.autograd.gradcheck(dropped, (q, k, v))


def test_dropout_is_deterministic_and_float32_matches_float64_reference():
    rng = np.random.default_rng(7)
    q, k, v, g = random_case(rng, (2, 2), 37, 70, 16, 16)
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
    assert scaled_dot_product_attention(ember.randn(0, 3, 4), ember.randn(0, 5, 4), ember.randn(0, 5, 6)).shape == (0, 3, 6)


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
