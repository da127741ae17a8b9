"""Optimizer-step benchmark: ember's fused Adam vs torch.optim.Adam (default single-tensor and foreach=True) on one
10M-parameter tensor, reported as GB/s (a step reads param, grad, m, v and writes param, m, v: 28 bytes per float32
parameter, so it should be memory-bandwidth bound); and a tiny SGD-with-momentum step (6 small tensors, the
per-call overhead of a tiny training step). Interleaved in one process, validated against torch before timing; ratios
are medians of per-round ratios. Usage: python bench/optim.py [--threads N] [--size 10000000] [--rounds 7] [--json F]"""
import argparse
import json
import statistics
import time

import torch  # noqa: E402  (torch first, as PyTorch users have it)
import numpy as np  # noqa: E402

import ember  # noqa: E402
import ember.optim  # noqa: E402

BYTES_PER_ADAM_PARAM = 7 * 4
TINY_SHAPES = [(16, 8), (16,), (16, 16), (16,), (4, 16), (4,)]


def pair(shapes, seed=0):
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) * 1e-3 for s in shapes]
    e = [ember.tensor(w, requires_grad=True) for w in initial]
    t = [torch.tensor(w, requires_grad=True) for w in initial]
    for ep, tp, g in zip(e, t, grads):
        ep.grad, tp.grad = ember.tensor(g), torch.tensor(g)
    return e, t


def timed(step, repeats):
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def validate(ember_params, torch_params, what):
    for e, t in zip(ember_params, torch_params):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-4, atol=1e-6, err_msg=what)


def bench_adam(size, rounds):
    ember_params, torch_params = pair([(size,)])
    _, torch_foreach_params = pair([(size,)])
    contenders = {
        "ember fused": ember.optim.Adam(ember_params, lr=1e-3),
        "torch default": torch.optim.Adam(torch_params, lr=1e-3),
        "torch foreach": torch.optim.Adam(torch_foreach_params, lr=1e-3, foreach=True),
    }
    for _ in range(3):   # warm-up doubles as validation: the same 3 steps in each
        for opt in contenders.values():
            opt.step()
    validate(ember_params, torch_params, "adam vs torch default")
    validate(ember_params, torch_foreach_params, "adam vs torch foreach")
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, opt in contenders.items():
            times[name].append(timed(opt.step, 3))
    return times


def bench_stream_reference(size, rounds):
    """NumPy c = a + b over `size` floats (12 bytes per element): the machine's streaming bandwidth, for scale."""
    a, b, c = (np.ones(size, np.float32) for _ in range(3))
    np.add(a, b, out=c)
    seconds = statistics.median(timed(lambda: np.add(a, b, out=c), 3) for _ in range(rounds))
    return size * 12 / seconds / 1e9


def bench_tiny_sgd(rounds):
    ember_params, torch_params = pair(TINY_SHAPES)
    contenders = {
        "ember fused": ember.optim.SGD(ember_params, lr=1e-2, momentum=0.9),
        "torch default": torch.optim.SGD(torch_params, lr=1e-2, momentum=0.9),
    }
    for _ in range(3):
        for opt in contenders.values():
            opt.step()
    validate(ember_params, torch_params, "tiny sgd vs torch")
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, opt in contenders.items():
            times[name].append(timed(opt.step, 2000))
    return times


def ratio(times, base, other):
    return statistics.median(o / b for b, o in zip(times[base], times[other]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        ember.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    report = {"threads": ember.get_num_threads(), "isa": ember.config()["isa"], "size": args.size}

    adam = bench_adam(args.size, args.rounds)
    print(f"Adam step, {args.size / 1e6:.0f}M float32 params, {report['threads']} threads, isa={report['isa']}")
    print(f"{'':16}{'median ms':>10}{'GB/s':>8}{'torch/ember':>13}")
    report["adam"] = {}
    for name, samples in adam.items():
        ms = statistics.median(samples) * 1e3
        gbps = args.size * BYTES_PER_ADAM_PARAM / (ms * 1e-3) / 1e9
        speedup = ratio(adam, "ember fused", name)
        report["adam"][name] = {"ms": ms, "GB/s": gbps, "time_ratio_vs_ember": speedup}
        print(f"{name:16}{ms:10.2f}{gbps:8.1f}{speedup:13.2f}")

    stream = bench_stream_reference(args.size, args.rounds)
    report["numpy_add_GB/s"] = stream
    print(f"(reference: numpy c = a + b streams {stream:.1f} GB/s on one thread)")

    tiny = bench_tiny_sgd(args.rounds)
    print(f"\nSGD(momentum) step, {len(TINY_SHAPES)} tiny tensors")
    print(f"{'':16}{'median us':>10}{'torch/ember':>13}")
    report["tiny_sgd"] = {}
    for name, samples in tiny.items():
        us = statistics.median(samples) * 1e6
        speedup = ratio(tiny, "ember fused", name)
        report["tiny_sgd"][name] = {"us": us, "time_ratio_vs_ember": speedup}
        print(f"{name:16}{us:10.1f}{speedup:13.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
