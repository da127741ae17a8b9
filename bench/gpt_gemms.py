"""The GEMMs of one char-GPT block (d 256, FFN 1024, 16 x 128 tokens; `ember bench`'s char_gpt_adamw_step), each
as its layer runs it: forward X W^T, input gradient dY W, weight gradient dY^T X. ember vs torch, interleaved,
with each library's share of the machine's FMA peak: where the training step's GEMM time goes.
Usage: python bench/gpt_gemms.py [--threads N] [--rounds R]"""
import argparse

import numpy as np
import torch  # torch first, as PyTorch users have it: both then share one OpenMP runtime

import ember
from _interleave import interleaved

TOKENS = 16 * 128
LAYERS = [("qkv", 256, 768), ("proj", 256, 256), ("ffn1", 256, 1024), ("ffn2", 1024, 256)]


def layer_cases(rng, layer, d_in, d_out):
    """(name, flops, ember thunk, torch thunk, expected) for one Linear's three GEMMs, operands as the layer holds
    them."""
    shapes = ((TOKENS, d_in), (d_out, d_in), (TOKENS, d_out))
    x, w, dy = (rng.standard_normal(shape, dtype=np.float32) for shape in shapes)
    ex, ew, edy = (ember.from_numpy(a) for a in (x, w, dy))
    tx, tw, tdy = (torch.from_numpy(a) for a in (x, w, dy))
    flops = 2.0 * TOKENS * d_in * d_out
    return [(f"{layer} forward   X W^T", flops, lambda: ex @ ew.T, lambda: tx @ tw.t(), x @ w.T),
            (f"{layer} input grad dY W", flops, lambda: edy @ ew, lambda: tdy @ tw, dy @ w),
            (f"{layer} weight grad dY^T X", flops, lambda: edy.T @ ex, lambda: tdy.t() @ tx, dy.T @ x)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    ember.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    peak = max(ember._C._fma_peak_gflops(args.threads) for _ in range(3))
    print(f"threads {args.threads}, ember isa {ember._C.isa()}, FMA peak {peak:.0f} GFLOP/s, torch {torch.__version__}")
    total_e = total_t = 0.0
    rng = np.random.default_rng(0)
    for name, flops, run_ember, run_torch, expected in (case for layer in LAYERS for case in layer_cases(rng, *layer)):
        for got in (run_ember().numpy(), run_torch().numpy()):   # validate before timing
            scale = np.abs(expected).max()
            assert np.abs(got - expected).max() <= 1e-4 * scale, f"{name}: wrong result"
        te, tt, ratio = interleaved(run_ember, run_torch, args.rounds)
        total_e, total_t = total_e + te, total_t + tt
        print(f"{name:28s} ember {flops / te / 1e9 / peak:4.0%} of peak, torch {flops / tt / 1e9 / peak:4.0%}: "
              f"x{ratio:.2f}")
    print(f"block total: ember {1e3 * total_e:.1f} ms, torch {1e3 * total_t:.1f} ms: x{total_t / total_e:.2f}")


if __name__ == "__main__":
    main()
