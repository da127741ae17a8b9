"""Attention in functional form: scaled_dot_product_attention (one fused C++ op: flash kernels in float32, a
row-at-a-time reference in float64) and multi_head_attention_forward (the computation of nn.MultiheadAttention).
"""
from .. import _C

__all__ = ["scaled_dot_product_attention"]


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, fused: the T x S score matrix is never materialised.

    query (..., T, D), key (..., S, D), value (..., S, Dv) with equal batch dims; attn_mask bool (True = attend)
    or additive float, broadcastable to (..., T, S); is_causal: query i attends keys j <= i (top-left aligned, as
    PyTorch, also when T != S); scale defaults to 1 / sqrt(D); dropout_p drops attention probabilities (the
    backward regenerates the same draws). Rows with every key masked give zeros, as PyTorch's CPU kernels.
    """
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa=True is not supported")
    return _C.scaled_dot_product_attention(query, key, value, attn_mask, float(dropout_p), bool(is_causal), scale)
