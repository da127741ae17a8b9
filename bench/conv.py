"""Convolution and pooling benchmark: ember vs PyTorch (oneDNN), interleaved in one process, validated before
timing. Reports ms per call, GFLOP/s and the median of per-round time ratios torch/ember (> 1: ember faster); --path
forces one of ember's conv paths. The default-path layers and the LeNet-5 step are in `ember bench --only conv
lenet_sgd_step`.
Usage: python bench/conv.py [--threads 2] [--quick] [--path auto|direct|im2col|pointwise] [--json out.json]"""
import argparse
import json
import os
import statistics
import time

import torch  # noqa: E402  (torch first, as PyTorch users have it)
import numpy as np  # noqa: E402

import ember  # noqa: E402
from ember import _C  # noqa: E402
from _interleave import PARK_SECONDS  # noqa: E402

# (name, N, C_in, C_out, H, W, K, padding, groups, input needs grad)
CONVS = [
    ("lenet conv1", 64, 1, 6, 28, 28, 5, 2, 1, False),
    ("lenet conv2", 64, 6, 16, 14, 14, 5, 0, 1, True),
    ("3x3 64->64", 32, 64, 64, 32, 32, 3, 1, 1, True),
    ("1x1 128->256", 32, 128, 256, 16, 16, 1, 0, 1, True),
    ("dw 3x3 64", 32, 64, 64, 32, 32, 3, 1, 64, True),
]


def conv_flops(n, c_in, c_out, h, w, k, padding, groups):
    oh, ow = h + 2 * padding - k + 1, w + 2 * padding - k + 1
    return 2.0 * n * c_out * oh * ow * (c_in // groups) * k * k


CLOCK = time.perf_counter   # --cpu-time: time.thread_time (1 thread only; robust to a shared, loaded box)


def time_calls(run, calls):
    start = CLOCK()
    for _ in range(calls):
        run()
    return (CLOCK() - start) / calls


def interleave(fns, rounds, min_seconds):
    """fns: {who: callable}. Returns {who: [seconds per call per round]}, rounds interleaved ABAB."""
    single = min(time_calls(f, 1) for f in fns.values())
    calls = max(1, int(min_seconds / max(single, 1e-7)))
    times = {who: [] for who in fns}
    for _ in range(rounds):
        for who, f in fns.items():
            time.sleep(PARK_SECONDS)   # the other library's spinning threads park first
            times[who].append(time_calls(f, calls))
    return times


def conv_runners(case, backward, path, rng):
    name, n, c_in, c_out, h, w, k, padding, groups, input_grad = case
    x = rng.standard_normal((n, c_in, h, w)).astype(np.float32)
    wt = (rng.standard_normal((c_out, c_in // groups, k, k)) * 0.1).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    ex, ew, eb = ember.from_numpy(x), ember.from_numpy(wt), ember.from_numpy(b)
    tx, tw, tb = torch.from_numpy(x), torch.from_numpy(wt), torch.from_numpy(b)
    if backward:
        for t in (ew, eb, tw, tb) + ((ex, tx) if input_grad else ()):
            t.requires_grad_(True)
    ey = _C.conv2d(ex, ew, eb, padding=padding, groups=groups, path=path)
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=padding, groups=groups)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    eg, tg = ember.from_numpy(g), torch.from_numpy(g)
    e_inputs = [ew, eb] + ([ex] if input_grad else [])
    t_inputs = [tw, tb] + ([tx] if input_grad else [])

    def run_ember():
        y = _C.conv2d(ex, ew, eb, padding=padding, groups=groups, path=path)
        return _C._grad([y], e_inputs, [eg], False, False, False) if backward else (y,)

    def run_torch():
        y = torch.nn.functional.conv2d(tx, tw, tb, padding=padding, groups=groups)
        return torch.autograd.grad([y], t_inputs, [tg]) if backward else (y,)

    # validate: forward and every gradient within float32 tolerance of torch
    for got, want in zip(run_ember(), run_torch()):
        got, want = got.detach().numpy(), want.detach().numpy()
        scale = max(1.0, float(np.abs(want).max()))
        err = float(np.abs(got - want).max()) / scale
        if err > 1e-4:
            raise SystemExit(f"ember gives wrong results on {name} ({'fwd+bwd' if backward else 'fwd'}): {err:.3g}")
    return {"ember": run_ember, "torch": run_torch}, _C._conv2d_path(ex, ew, padding=padding, groups=groups)


def pool_runners(rng):
    x = rng.standard_normal((64, 6, 28, 28)).astype(np.float32)
    ex = ember.from_numpy(x).requires_grad_(True)
    tx = torch.from_numpy(x).requires_grad_(True)
    g = rng.standard_normal((64, 6, 14, 14)).astype(np.float32)
    eg, tg = ember.from_numpy(g), torch.from_numpy(g)

    def run_ember():
        return _C._grad([_C.max_pool2d(ex, 2)], [ex], [eg], False, False, False)

    def run_torch():
        return torch.autograd.grad([torch.nn.functional.max_pool2d(tx, 2)], [tx], [tg])

    np.testing.assert_array_equal(run_ember()[0].numpy(), run_torch()[0].numpy())
    return {"ember": run_ember, "torch": run_torch}


def report(name, mode, times, flops, extra=""):
    med = {who: statistics.median(ts) for who, ts in times.items()}
    ratio = statistics.median(t / e for e, t in zip(times["ember"], times["torch"]))
    gf = (lambda s: f"{flops / s / 1e9:7.1f}") if flops else (lambda s: "      -")
    print(f"{name:<14}{mode:<8}{extra:<10}| {med['ember'] * 1e3:8.3f} {gf(med['ember'])} | {med['torch'] * 1e3:8.3f}"
          f" {gf(med['torch'])} | {ratio:6.2f}", flush=True)
    return {"case": name, "mode": mode, "path": extra.strip(), "ember_ms": med["ember"] * 1e3,
            "torch_ms": med["torch"] * 1e3, "torch/ember": ratio,
            "ember_gflops": flops / med["ember"] / 1e9 if flops else None,
            "torch_gflops": flops / med["torch"] / 1e9 if flops else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=0, help="thread count for both (default: ember's)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--path", default="auto", help="force an ember path (auto, direct, im2col, pointwise)")
    parser.add_argument("--only", default="", help="comma-separated substrings of case names")
    parser.add_argument("--json", default="", help="write results here")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the calling thread's CPU clock (forces 1 thread): for a loaded machine")
    args = parser.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.thread_time
        args.threads = 1
    threads = args.threads or _C.get_num_threads()
    _C.set_num_threads(threads)
    torch.set_num_threads(threads)
    rounds, min_seconds = (5, 0.03) if args.quick else (9, 0.08)
    rng = np.random.default_rng(0)
    print(f"ember isa={_C.isa()} threads={threads}  torch {torch.__version__}  load {os.getloadavg()[0]:.2f}")
    print(f"{'case':<14}{'mode':<8}{'path':<10}| {'ember ms':>8} {'GFLOP/s':>7} | {'torch ms':>8} {'GFLOP/s':>7} |"
          f" {'t/e':>6}")
    results = []
    only = [s for s in args.only.split(",") if s]
    for case in CONVS:
        if only and not any(s in case[0] for s in only):
            continue
        flops = conv_flops(*case[1:9])
        for backward in (False, True):
            try:
                fns, auto_path = conv_runners(case, backward, args.path, rng)
            except ValueError as e:   # a forced path that does not apply to this shape
                print(f"{case[0]:<14}skipped: {e}")
                break
            times = interleave(fns, rounds, min_seconds)
            # fwd+bwd: forward + dX (when needed) + dW, each about the forward's flops
            total = flops * ((3 if case[9] else 2) if backward else 1)
            results.append(report(case[0], "fwd+bwd" if backward else "fwd", times, total,
                                  args.path if args.path != "auto" else auto_path))
    if not only or any(s in "maxpool" for s in only):
        times = interleave(pool_runners(rng), rounds, min_seconds)
        results.append(report("maxpool 2x2", "fwd+bwd", times, 0.0))
    print(f"load at end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
