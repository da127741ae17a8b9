"""Attention in functional form: scaled_dot_product_attention (one fused C++ op: flash kernels in float32, a
row-at-a-time reference in float64) and multi_head_attention_forward (the computation of nn.MultiheadAttention).
"""
import math

from .. import _C
from .._C import Tensor

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, fused: the T x S score matrix is never materialised.

    query (..., T, D), key (..., S, D), value (..., S, Dv) with equal batch dims; attn_mask bool (True = attend)
    or additive float, broadcastable to (..., T, S); is_causal: query i attends keys j <= i (top-left aligned, as
    PyTorch, also when T != S); scale defaults to 1 / sqrt(D); dropout_p drops attention probabilities (the
    backward regenerates the same draws); enable_gqa lets key and value have fewer heads than query (grouped-query
    attention). Rows with every key masked give zeros, as PyTorch's CPU kernels. A float attn_mask that requires
    grad (a learned attention bias) gets the scores' gradient, summed over the dims it broadcasts along.
    """
    return _C.scaled_dot_product_attention(query, key, value, attn_mask, float(dropout_p), bool(is_causal), scale,
                                           bool(enable_gqa))


def _check_mask_dtype(mask, name):
    if mask is not None and not (mask.dtype == _C.dtype.bool or mask.dtype.is_floating_point):
        raise TypeError(f"multi_head_attention_forward: only bool and floating types of {name} are supported, "
                        f"got {mask.dtype}")


def _attend_mask(mask, dtype):
    """A PyTorch MHA mask (bool: True = masked out; float: additive) as an SDPA mask (bool: True = attend)."""
    if mask is None or mask.dtype != _C.dtype.bool:
        return mask if mask is None else mask.to(dtype)
    return _C.logical_not(mask)


def _combine(a, b, dtype):
    """Both SDPA-style masks (bool attend or additive float): one that masks where either does."""
    if a is None or b is None:
        return a if b is None else b
    if a.dtype == _C.dtype.bool and b.dtype == _C.dtype.bool:
        return _C.logical_and(a, b)
    as_float = [_C.where(m, _C.zeros(1, dtype=dtype), _C.full((1,), float("-inf"), dtype=dtype))
                if m.dtype == _C.dtype.bool else m for m in (a, b)]
    return as_float[0] + as_float[1]


def _merged_mask(attn_mask, key_padding_mask, B, H, T, S, dtype, extra_keys=0):
    """attn_mask (T, S) or (B*H, T, S) and key_padding_mask (B, S), PyTorch MHA semantics, as one SDPA mask
    broadcastable to (B, H, T, S + extra_keys) (appended keys are never masked), or None."""
    _check_mask_dtype(attn_mask, "attn_mask")
    _check_mask_dtype(key_padding_mask, "key_padding_mask")
    if attn_mask is not None:
        if tuple(attn_mask.shape) == (T, S):
            pass
        elif tuple(attn_mask.shape) == (B * H, T, S):
            attn_mask = attn_mask.reshape(B, H, T, S)
        else:
            raise ValueError(f"multi_head_attention_forward: attn_mask should have shape {(T, S)} or "
                             f"{(B * H, T, S)}, but got {tuple(attn_mask.shape)}")
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (B, S):
            raise ValueError(f"multi_head_attention_forward: expected key_padding_mask of shape {(B, S)}, but "
                             f"got {tuple(key_padding_mask.shape)}")
        key_padding_mask = key_padding_mask.reshape(B, 1, 1, S)
    attn_mask, key_padding_mask = (_append_columns(m, extra_keys) for m in (attn_mask, key_padding_mask))
    return _combine(_attend_mask(attn_mask, dtype), _attend_mask(key_padding_mask, dtype), dtype)


def _append_columns(mask, n):
    """mask with n more last-dim columns that mask nothing (False or 0.0), or None."""
    if mask is None or n == 0:
        return mask
    return _C.cat([mask, _C.zeros(*mask.shape[:-1], n, dtype=mask.dtype)], -1)


def _append_rows(x, rows, dim):
    """x with `rows` (broadcast along the other dims) concatenated at the end of dim."""
    shape = list(x.shape)
    shape[dim] = rows.shape[dim]
    return _C.cat([x, rows.expand(*shape)], dim)


def _explicit_attention(q, k, v, mask, dropout_p, training):
    """softmax(q k^T / sqrt(D) + mask) (dropped out) @ v with the weights materialised: (output, weights)."""
    scores = _C.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        scores = scores.masked_fill(_C.logical_not(mask), float("-inf")) if mask.dtype == _C.dtype.bool \
            else scores + mask
    weights = _C.softmax(scores, -1, None)
    if dropout_p > 0.0 and training:
        from .functional import dropout
        weights = dropout(weights, dropout_p, True)
    return _C.matmul(weights, v), weights


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                                 out_proj_bias, dropout_p=0.0, training=True, key_padding_mask=None,
                                 need_weights=True, attn_mask=None, average_attn_weights=True, is_causal=False,
                                 batch_first=False, bias_k=None, bias_v=None, add_zero_attn=False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None):
    """nn.MultiheadAttention's computation. query (T, B, E) or (B, T, E) when batch_first (or unbatched (T, E)),
    key (S, B, kdim) and value (S, B, vdim) likewise. The projections are in_proj_weight (3E, E), or, when it is
    None, q/k/v_proj_weight ((E, E), (E, kdim), (E, vdim)); bias_k / bias_v (1, 1, E) append one learned key and
    value, add_zero_attn a zero one per head. Returns (output like query, weights (B, T, S') averaged over heads
    or (B, H, T, S'), or None when need_weights is False; S' counts the appended keys). Masks follow PyTorch's
    MHA: bool True = masked out; appended keys are never masked."""
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, Tensor):
            raise TypeError(f"MultiheadAttention: {name} must be an ember.Tensor, got {type(x).__name__}")
        if x.ndim not in (2, 3):
            raise ValueError(f"MultiheadAttention: expected {name} to be 2-D (unbatched) or 3-D (batched), "
                             f"got shape {tuple(x.shape)}")
    if not query.ndim == key.ndim == value.ndim:
        raise ValueError("MultiheadAttention: query, key and value must have the same number of dimensions, got "
                         f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if in_proj_weight is not None:
        w_q, w_k, w_v = in_proj_weight.chunk(3, 0)
    elif q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
        raise ValueError("MultiheadAttention: give in_proj_weight, or all of q_proj_weight, k_proj_weight and "
                         "v_proj_weight")
    else:
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    E = w_q.shape[1]
    for name, x, width in (("query", query, E), ("key", key, w_k.shape[1]), ("value", value, w_v.shape[1])):
        if x.shape[-1] != width:
            raise ValueError(f"MultiheadAttention: expected {name} with {width} features in the last dim (the "
                             f"width its projection takes), got shape {tuple(x.shape)}")
    if tuple(key.shape[:-1]) != tuple(value.shape[:-1]):
        raise ValueError(f"MultiheadAttention: key shape {tuple(key.shape)} does not match value shape "
                         f"{tuple(value.shape)} (all but the last dim must agree)")
    if (bias_k is None) != (bias_v is None):
        raise ValueError("MultiheadAttention: bias_k and bias_v must be given together")
    if is_causal and attn_mask is None:
        raise RuntimeError("MultiheadAttention: need attn_mask if specifying the is_causal hint (PyTorch's rule)")
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = (x.unsqueeze(0) for x in (query, key, value))
        key_padding_mask = key_padding_mask.unsqueeze(0) if key_padding_mask is not None else None
    elif not batch_first:
        query, key, value = (x.transpose(0, 1) for x in (query, key, value))   # views: (B, T, E)
    B, T, _ = query.shape
    S = key.shape[1]
    if key.shape[0] != B:
        raise ValueError(f"MultiheadAttention: query batch {B} and key batch {key.shape[0]} differ")
    H, D = num_heads, E // num_heads
    if in_proj_weight is not None and bias_k is None and query is key and key is value:
        qkv = _C.linear(query, in_proj_weight, in_proj_bias, "none").reshape(B, T, 3, H, D)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))          # (B, H, T, D) views
    else:
        b = in_proj_bias.chunk(3, 0) if in_proj_bias is not None else (None, None, None)
        q = _C.linear(query, w_q, b[0], "none").reshape(B, T, H, D).transpose(1, 2)
        k = _C.linear(key, w_k, b[1], "none")
        v = _C.linear(value, w_v, b[2], "none")
        if bias_k is not None:   # (B, S + 1, E)
            k, v = _append_rows(k, bias_k.reshape(1, 1, E), 1), _append_rows(v, bias_v.reshape(1, 1, E), 1)
        k, v = (t.reshape(B, -1, H, D).transpose(1, 2) for t in (k, v))
    if add_zero_attn:
        zero = _C.zeros(1, 1, 1, D, dtype=k.dtype)
        k, v = _append_rows(k, zero, 2), _append_rows(v, zero, 2)
    extra_keys = k.shape[2] - S
    dropout_p = dropout_p if training else 0.0
    weights = None
    if need_weights:
        mask = _merged_mask(attn_mask, key_padding_mask, B, H, T, S, query.dtype, extra_keys)
        out, weights = _explicit_attention(q, k, v, mask, dropout_p, training)
        if average_attn_weights:
            weights = weights.mean(1)
        if unbatched:
            weights = weights.squeeze(0)
    elif is_causal and key_padding_mask is None:
        # PyTorch drops the mask for its causal hint here, so appended keys (past every query) stay unattended.
        out = scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    else:
        mask = _merged_mask(attn_mask, key_padding_mask, B, H, T, S, query.dtype, extra_keys)
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    out = _C.linear(out.transpose(1, 2).reshape(B, T, E), out_proj_weight, out_proj_bias, "none")
    if unbatched:
        return out.squeeze(0), weights
    return (out if batch_first else out.transpose(0, 1)), weights
