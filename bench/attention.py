"""Attention benchmark: ember's fused scaled_dot_product_attention vs PyTorch's (ATen's CPU flash kernel), forward
and forward+backward, full and causal, interleaved in one process (ABAB rounds; each validated first), and the
char-GPT training step (4 layers, 4 heads, d 256, T 128, vocab 96, batch 16, AdamW) in both frameworks.
GFLOP/s: forward 4·B·H·T²·D (halved for causal), forward+backward 3.5x that.
Usage: python bench/attention.py [--rounds 5] [--quick] [--skip-gpt] [--isa avx2] [--json out.json]"""
import argparse
import json
import statistics
import time

import torch  # noqa: E402  (torch first: ember's OpenMP then binds to the same runtime)
import numpy as np  # noqa: E402

import ember  # noqa: E402

SHAPES = [(8, 8, 256, 64), (4, 4, 1024, 64)]   # B, H, T, D


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
        a = seconds_per_call(ember_fn)
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


# ---- char-GPT training step: examples/char_gpt.py's model in ember and the same model in PyTorch

GPT = dict(layers=4, heads=4, d_model=256, block_size=128, vocab=96, batch=16)


def torch_gpt(vocab, block_size, d_model, n_layers, n_heads):
    """examples/char_gpt.py's CharGPT in PyTorch, with the same module names (state_dicts match)."""
    nn, F = torch.nn, torch.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).reshape(B, T, 3, n_heads, C // n_heads).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(B, T, C))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(d_model, 4 * d_model)
            self.proj = nn.Linear(4 * d_model, d_model)

        def forward(self, x):
            return self.proj(F.gelu(self.fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.attn, self.ln2, self.mlp = nn.LayerNorm(d_model), CausalSelfAttention(), \
                nn.LayerNorm(d_model), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class CharGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.token = nn.Embedding(vocab, d_model)
            self.position = nn.Embedding(block_size, d_model)
            self.blocks = nn.ModuleList([Block() for _ in range(n_layers)])
            self.ln = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab, bias=False)

        def forward(self, idx):
            x = self.token(idx) + self.position(torch.arange(idx.shape[1]))
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln(x))

    return CharGPT()


def bench_gpt_step(rounds):
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "char_gpt.py"
    spec = importlib.util.spec_from_file_location("char_gpt", path)
    char_gpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(char_gpt)
    c = GPT
    ember.manual_seed(0)
    model_e = char_gpt.CharGPT(c["vocab"], c["block_size"], c["d_model"], c["layers"], c["heads"])
    model_t = torch_gpt(c["vocab"], c["block_size"], c["d_model"], c["layers"], c["heads"])
    model_t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in model_e.state_dict().items()})
    opt_e = ember.optim.AdamW(model_e.parameters(), lr=1e-3, weight_decay=0.01)
    opt_t = torch.optim.AdamW(model_t.parameters(), lr=1e-3, weight_decay=0.01)
    rng = np.random.default_rng(0)
    x = rng.integers(0, c["vocab"], (c["batch"], c["block_size"]))
    y = rng.integers(0, c["vocab"], (c["batch"], c["block_size"]))
    xe, ye, xt, yt = ember.tensor(x), ember.tensor(y), torch.tensor(x), torch.tensor(y)

    def step_ember():
        loss = ember.nn.functional.cross_entropy(model_e(xe).reshape(-1, c["vocab"]), ye.reshape(-1))
        opt_e.zero_grad()
        loss.backward()
        opt_e.step()
        return loss.item()

    def step_torch():
        loss = torch.nn.functional.cross_entropy(model_t(xt).reshape(-1, c["vocab"]), yt.reshape(-1))
        opt_t.zero_grad()
        loss.backward()
        opt_t.step()
        return loss.item()

    for _ in range(3):   # same batch, same weights: the losses must agree step by step
        le, lt = step_ember(), step_torch()
        assert abs(le - lt) <= 1e-3 * abs(lt), f"char-GPT losses differ: ember {le} vs torch {lt}"
    te, tt, ratio = interleaved(step_ember, step_torch, rounds)
    n_params = sum(p.numel() for p in model_e.parameters())
    print(f"char-GPT step ({c['layers']}L {c['heads']}H d{c['d_model']} T{c['block_size']} V{c['vocab']} "
          f"B{c['batch']}, {n_params:,} params, AdamW): ember {te * 1e3:.1f} ms, torch {tt * 1e3:.1f} ms, "
          f"speedup {ratio:.2f}x")
    return {"ember_ms": te * 1e3, "torch_ms": tt * 1e3, "speedup": ratio}


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
    parser.add_argument("--skip-gpt", action="store_true")
    parser.add_argument("--isa", default="", help="force ember's kernel table: ref, avx2, avx512")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    torch.set_num_threads(ember.get_num_threads())
    print(f"threads {ember.get_num_threads()}, ember isa {args.isa or ember._C.isa()}, torch {torch.__version__}")
    rows = bench_sdpa(rounds, args.isa, args.quick)
    print_rows(rows)
    results = {"sdpa": rows}
    if not args.skip_gpt:
        results["gpt"] = bench_gpt_step(rounds)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
