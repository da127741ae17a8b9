"""Attention workloads of `ember bench`: scaled_dot_product_attention, full and causal, forward and
forward+backward (gradients of q, k, v), on (B, H, T, D) = (8, 8, 256, 64) and, outside --quick, (4, 4, 1024, 64);
and one decoding step (one query against 1024 cached keys, B8 H8 D64). FLOPs: forward 4*B*H*T*S*D (halved if
causal), forward+backward 3.5x that. Validated against PyTorch, or without
it against a float64 NumPy softmax(q k^T / sqrt(D)) v (forward) and finite gradients (backward)."""
import math

import numpy as np

from ._core import Prepared, ValidationError, check_close, to_numpy, Workload

SHAPES = [((8, 8, 256, 64), True), ((4, 4, 1024, 64), False)]   # (B, H, T, D), in --quick
DECODE = (8, 8, 1024, 64)   # (B, H, S, D) with one query
TOLERANCE = 1e-3


def numpy_attention(q, k, v, causal):
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    return (scores / scores.sum(-1, keepdims=True)) @ v


def _prepare(B, H, T, D, causal, backward, seed, S=None):
    S = T if S is None else S

    def prepare(torch):
        import ember
        rng = np.random.default_rng(seed)
        q, g = (rng.standard_normal((B, H, T, D)).astype(np.float32) for _ in range(2))
        k, v = (rng.standard_normal((B, H, S, D)).astype(np.float32) for _ in range(2))
        libs = {"ember": ember} if torch is None else {"ember": ember, "torch": torch}
        runners = {}
        for who, lib in libs.items():
            tq, tk, tv, tg = (lib.from_numpy(a.copy()) for a in (q, k, v, g))
            if backward:
                for t in (tq, tk, tv):
                    t.requires_grad_(True)
            sdpa = lib.nn.functional.scaled_dot_product_attention

            def run(lib=lib, sdpa=sdpa, tq=tq, tk=tk, tv=tv, tg=tg):
                y = sdpa(tq, tk, tv, is_causal=causal)
                return (y,) + tuple(lib.autograd.grad([y], [tq, tk, tv], [tg])) if backward else (y,)
            runners[who] = run
        got = [to_numpy(t) for t in runners["ember"]()]
        if torch is not None:
            want = [to_numpy(t) for t in runners["torch"]()]
            return Prepared(runners, check_close(zip(got, want), TOLERANCE, "torch"))
        validation = check_close([(got[0], numpy_attention(q, k, v, causal))], TOLERANCE,
                                 "float64 numpy forward" + (", finite gradients" if backward else ""))
        if not all(np.all(np.isfinite(a)) for a in got[1:]):
            raise ValidationError("non-finite gradients")
        return Prepared(runners, validation)
    return prepare


def workloads():
    out = []
    seed = 100
    for (B, H, T, D), quick in SHAPES:
        for causal in (False, True):
            for backward in (False, True):
                flops = 4.0 * B * H * T * T * D * (0.5 if causal else 1.0) * (3.5 if backward else 1.0)
                name = f"attn_t{T}_{'causal' if causal else 'full'}_{'fwdbwd' if backward else 'fwd'}"
                params = {"B": B, "H": H, "T": T, "D": D, "causal": causal, "mode": "fwd+bwd" if backward else "fwd"}
                out.append(Workload(name, "attention", params, flops, _prepare(B, H, T, D, causal, backward, seed),
                                    quick=quick))
                seed += 1
    # One new token against a KV cache (autoregressive decoding): K and V read once, no tiles.
    B, H, S, D = DECODE
    out.append(Workload(f"attn_decode_s{S}_fwd", "attention", {"B": B, "H": H, "T": 1, "S": S, "D": D,
                                                               "causal": False, "mode": "fwd"},
                        4.0 * B * H * S * D, _prepare(B, H, 1, D, False, False, seed, S=S), quick=True))
    return out
