"""Property tests of scaled_dot_product_attention (batch dims, T != S, size-0 and size-1 sequences, bool/float
masks, is_causal, scale, non-contiguous q/k/v) and MultiheadAttention against PyTorch with gradients; mismatched
shapes and mask dtypes raise errors that name the op."""
import numpy as np
from hypothesis import given, strategies as st

import ember
from ember import nn
from ember.nn import functional as F
from props_helpers import torch, values, laid_out, assert_close, raises_naming

TF = torch.nn.functional


@given(st.data())
def test_sdpa_matches_torch_with_gradients(data):
    batch = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    t_len, s_len = data.draw(st.integers(0, 6)), data.draw(st.integers(1, 6))
    d, dv = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8))
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    layouts = ["contiguous", "transposed", "stepped", "offset"]
    arrays = [values(rng, batch + shape, dtype) for shape in ((t_len, d), (s_len, d), (s_len, dv))]
    e_in = [laid_out(a, data.draw(st.sampled_from(layouts)), rng)[0].detach().requires_grad_(True) for a in arrays]
    t_in = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    mask_kind = data.draw(st.sampled_from(["none", "bool", "float", "causal"]))
    e_mask = t_mask = None
    if mask_kind in ("bool", "float"):
        mask_shape = data.draw(st.sampled_from([(t_len, s_len), (1, s_len), batch + (t_len, s_len)]))
        if mask_kind == "bool":
            m = rng.random(mask_shape) < 0.7
            m[..., 0] = True                        # keep one key per row (fully masked rows differ by backend)
        else:
            m = rng.standard_normal(mask_shape).astype(arrays[0].dtype)
        e_mask, t_mask = ember.from_numpy(m.copy()), torch.from_numpy(m.copy())
    causal = mask_kind == "causal" and t_len <= s_len
    scale = data.draw(st.one_of(st.none(), st.floats(0.05, 2.0)))
    expected = TF.scaled_dot_product_attention(*t_in, attn_mask=t_mask, is_causal=causal, scale=scale)
    got = F.scaled_dot_product_attention(*e_in, attn_mask=e_mask, is_causal=causal, scale=scale)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-9, atol=1e-10)
    assert_close(got, expected, dtype, **tol)
    if expected.numel():
        grad = rng.standard_normal(tuple(expected.shape)).astype(arrays[0].dtype)
        expected.backward(torch.from_numpy(grad))
        got.backward(ember.from_numpy(grad.copy()))
        for e_leaf, t_leaf in zip(e_in, t_in):
            assert_close(e_leaf.grad, t_leaf.grad, dtype, **({"rtol": 1e-3, "atol": 1e-4} if dtype == "float32"
                                                             else tol))


@given(st.sampled_from(["head_dim", "value_len", "batch", "mask_dtype", "mask_shape", "rank"]), st.integers(1, 4))
def test_sdpa_bad_shapes_and_masks_raise_naming_the_op(problem, n):
    q, k, v = ember.zeros(2, 3, 4), ember.zeros(2, 5, 4), ember.zeros(2, 5, 6)
    mask = None
    if problem == "head_dim":
        k = ember.zeros(2, 5, 4 + n)
    elif problem == "value_len":
        v = ember.zeros(2, 5 + n, 6)
    elif problem == "batch":
        k, v = ember.zeros(2 + n, 5, 4), ember.zeros(2 + n, 5, 6)
    elif problem == "mask_dtype":
        mask = ember.zeros(3, 5, dtype=ember.int64)
    elif problem == "mask_shape":
        mask = ember.zeros(3 + n, 5, dtype=ember.bool)
    else:
        q = ember.zeros(4)
    with raises_naming("scaled_dot_product_attention"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.booleans(), st.booleans(),
       st.integers(0, 2 ** 31))
def test_multihead_attention_matches_torch(heads, head_dim, t_len, batch, batch_first, need_weights, seed):
    embed = heads * head_dim
    torch.manual_seed(seed % 1000)
    t_mha = torch.nn.MultiheadAttention(embed, heads, batch_first=batch_first).double()
    e_mha = nn.MultiheadAttention(embed, heads, batch_first=batch_first, dtype=ember.float64) \
        if "dtype" in nn.MultiheadAttention.__init__.__code__.co_varnames else None
    if e_mha is None:
        e_mha = nn.MultiheadAttention(embed, heads, batch_first=batch_first)
        e_mha.to(ember.float64) if hasattr(e_mha, "to") else None
    e_mha.load_state_dict({k: v.detach().numpy() for k, v in t_mha.state_dict().items()})
    shape = (batch, t_len, embed) if batch_first else (t_len, batch, embed)
    x = np.random.default_rng(seed).standard_normal(shape)
    kpm = np.zeros((batch, t_len), bool)
    kpm[:, t_len - 1:] = t_len > 1
    t_out, t_w = t_mha(*(torch.from_numpy(x),) * 3, key_padding_mask=torch.from_numpy(kpm), need_weights=need_weights)
    ex = ember.from_numpy(x.copy()).to(e_mha.out_proj.weight.dtype)
    e_out, e_w = e_mha(ex, ex, ex, key_padding_mask=ember.from_numpy(kpm.copy()), need_weights=need_weights)
    dtype = "float64" if e_mha.out_proj.weight.dtype == ember.float64 else "float32"
    assert_close(e_out, t_out.detach().to(getattr(torch, dtype)), dtype, rtol=1e-4, atol=1e-5)
    assert (e_w is None) == (t_w is None)
    if t_w is not None:
        assert_close(e_w, t_w.detach().to(getattr(torch, dtype)), dtype, rtol=1e-4, atol=1e-5)
