"""Per-op overhead of ember against PyTorch on tiny tensors, where the fixed cost of a call (argument parsing,
allocation, autograd bookkeeping) is all there is. Runs are interleaved in one process and reported as ratios.

    python bench/overhead.py [--repeats 7] [--json out.json]
Targets: a 1x1 add in <= 1/2 of PyTorch's time; a 20-op chain forward+backward in <= 1/3."""
import argparse
import json
import time

import numpy as np

import ember

try:
    import torch
except ImportError:   # pragma: no cover - the benchmark needs the reference
    raise SystemExit("bench/overhead.py compares against PyTorch: pip install torch")

CHAIN_LAYERS = 5   # 4 ops per layer (mul, add, tanh, relu) -> 20 ops, then sum + backward


def make_chain(lib, seed=0):
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal((4, 8)).astype(np.float32))
    ws = [lib.tensor(rng.standard_normal((4, 8)).astype(np.float32) * 0.5, requires_grad=True)
          for _ in range(CHAIN_LAYERS)]
    bs = [lib.tensor(rng.standard_normal(8).astype(np.float32) * 0.1, requires_grad=True) for _ in range(CHAIN_LAYERS)]

    def step():
        h = x
        for w, b in zip(ws, bs):
            h = (h * w + b).tanh().relu()
        h.sum().backward()

    return step, ws, bs


def make_add(lib):
    a, b = lib.ones(1, 1), lib.ones(1, 1)
    return lambda: a + b


def make_add_scalar(lib):
    a = lib.ones(1, 1)
    return lambda: a * 2.0


def make_unary(lib):
    a = lib.ones(1, 1)
    return lambda: a.exp()


def validate():
    """The chain computes the same gradients in both libraries before anything is timed."""
    e_step, e_ws, e_bs = make_chain(ember)
    t_step, t_ws, t_bs = make_chain(torch)
    e_step()
    t_step()
    for e, t in zip(e_ws + e_bs, t_ws + t_bs):
        np.testing.assert_allclose(np.asarray(e.grad), t.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(make_add(ember)()), make_add(torch)().numpy())


def per_call(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleaved(cases, repeats):
    """cases: {name: (ember_fn, torch_fn, calls per sample)} -> {name: (best ember s, best torch s)}."""
    best = {name: [float("inf"), float("inf")] for name in cases}
    for _ in range(repeats):
        for name, (e_fn, t_fn, number) in cases.items():
            best[name][0] = min(best[name][0], per_call(e_fn, number))
            best[name][1] = min(best[name][1], per_call(t_fn, number))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the calls per sample")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    validate()
    cases = {
        "add 1x1": (make_add(ember), make_add(torch), 20000),
        "mul 1x1 by a Python float": (make_add_scalar(ember), make_add_scalar(torch), 20000),
        "exp 1x1": (make_unary(ember), make_unary(torch), 20000),
        "20-op chain fwd+bwd": (make_chain(ember)[0], make_chain(torch)[0], 500),
    }
    cases = {k: (e, t, max(1, int(n * args.scale))) for k, (e, t, n) in cases.items()}
    for e_fn, t_fn, _ in cases.values():   # warm up
        per_call(e_fn, 100)
        per_call(t_fn, 100)
    results = interleaved(cases, args.repeats)
    print(f"ember {ember.__version__} ({ember.config()['isa']}) vs torch {torch.__version__}, "
          f"best of {args.repeats} interleaved samples")
    print(f"{'case':<28}{'ember us':>10}{'torch us':>10}{'ratio':>8}")
    rows = []
    for name, (e, t) in results.items():
        print(f"{name:<28}{e * 1e6:>10.2f}{t * 1e6:>10.2f}{e / t:>8.2f}")
        rows.append({"case": name, "ember_us": e * 1e6, "torch_us": t * 1e6, "ratio": e / t})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
