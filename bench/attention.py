"""Attention benchmark: ember's fused scaled_dot_product_attention vs PyTorch's (ATen's CPU flash kernel), forward
and forward+backward, full and causal, interleaved in one process (ABAB rounds; each validated first), with ember's
kernel level forced by --isa. The same SDPA shapes at the default level and the char-GPT training step are in
`ember bench --only attention char_gpt_adamw_step` (python/ember/bench/).
GFLOP/s: forward 4·B·H·T²·D (halved for causal), forward+backward 3.5x that.
Usage: python bench/attention.py [--rounds 5] [--quick] [--isa avx2] [--json out.json]"""
import argparse
import json
import statistics
import time

import torch  # noqa: E402  (torch first, as PyTorch users have it)
import numpy as np  # noqa: E402

import ember  # noqa: E402
from _interleave import PARK_SECONDS  # noqa: E402

# B, H, T, D; the last is one long sequence: no more (batch, head) pairs than a few threads
SHAPES = [(8, 8, 256, 64), (4, 4, 1024, 64), (1, 2, 2048, 64)]


def seconds_per_call(fn, min_time=0.15):
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and calls >= 2:
            return elapsed / calls


def interleaved(ember_fn, torch_fn, rounds):
    """Median times and the median of per-round speed ratios (torch time / ember time)."""
    te, tt, ratios = [], [], []
    for _ in range(rounds):
        time.sleep(PARK_SECONDS)   # the other library's spinning threads park first
        a = seconds_per_call(ember_fn)
        time.sleep(PARK_SECONDS)
        b = seconds_per_call(torch_fn)
        te.append(a)
        tt.append(b)
        ratios.append(b / a)
    return statistics.median(te), statistics.median(tt), statistics.median(ratios)


def sdpa_runners(B, H, T, D, causal, backward, isa):
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((B, H, T, D)).astype(np.float32) for _ in range(4))
    eq, ek, ev = (ember.tensor(x, requires_grad=backward) for x in (q, k, v))
    tq, tk, tv = (torch.tensor(x, requires_grad=backward) for x in (q, k, v))
    eg, tg = ember.tensor(g), torch.tensor(g)

    def run_ember():
        out = ember._C._scaled_dot_product_attention_using(isa, eq, ek, ev, None, 0.0, causal, None)
        if backward:
            for x in (eq, ek, ev):
                x.grad = None
            out.backward(eg)
        return out

    def run_torch():
        out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
        if backward:
            for x in (tq, tk, tv):
                x.grad = None
            out.backward(tg)
        return out

    out_e, out_t = run_ember(), run_torch()
    np.testing.assert_allclose(out_e.detach().numpy(), out_t.detach().numpy(), rtol=1e-3, atol=1e-4)
    if backward:
        for a, b in zip((eq, ek, ev), (tq, tk, tv)):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-3, atol=2e-4)
    return run_ember, run_torch


def bench_sdpa(rounds, isa, quick):
    rows = []
    for B, H, T, D in SHAPES[:1] if quick else SHAPES:
        for backward in (False, True):
            ember_times = {}
            for causal in (False, True):
                run_e, run_t = sdpa_runners(B, H, T, D, causal, backward, isa)
                te, tt, ratio = interleaved(run_e, run_t, rounds)
                flops = 4.0 * B * H * T * T * D * (0.5 if causal else 1.0) * (3.5 if backward else 1.0)
                ember_times[causal] = te
                rows.append({"case": f"B{B} H{H} T{T} D{D} {'causal' if causal else 'full'} "
                                     f"{'fwd+bwd' if backward else 'fwd'}",
                             "ember_ms": te * 1e3, "torch_ms": tt * 1e3, "ember_gflops": flops / te / 1e9,
                             "torch_gflops": flops / tt / 1e9, "speedup": ratio})
            rows[-1]["causal/full (ember)"] = ember_times[True] / ember_times[False]
    return rows


def print_rows(rows):
    print(f"{'case':38s} {'ember ms':>9s} {'torch ms':>9s} {'ember GF/s':>10s} {'torch GF/s':>10s} {'speedup':>8s}")
    for r in rows:
        extra = f"   causal/full {r['causal/full (ember)']:.2f}" if "causal/full (ember)" in r else ""
        print(f"{r['case']:38s} {r['ember_ms']:9.2f} {r['torch_ms']:9.2f} {r['ember_gflops']:10.1f} "
              f"{r['torch_gflops']:10.1f} {r['speedup']:7.2f}x{extra}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="only the T=256 shape, 3 rounds")
    parser.add_argument("--isa", default="", help="force ember's kernel table: ref, avx2, avx512")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    torch.set_num_threads(ember.get_num_threads())
    print(f"threads {ember.get_num_threads()}, ember isa {args.isa or ember._C.isa()}, torch {torch.__version__}")
    rows = bench_sdpa(rounds, args.isa, args.quick)
    print_rows(rows)
    results = {"sdpa": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
