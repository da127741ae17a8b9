"""Whole training steps, ember vs PyTorch on the same weights, data and threads, interleaved in one process:
the MLP 784-512-256-10 (batch 128, Adam) and a tiny step (Linear(8, 8), batch 1, SGD). A step is zero_grad +
forward + loss + backward + optimizer step. Validated first (same losses over 5 steps), reported as ratios of
steps/s (ember / torch, median of per-round ratios).

    python bench/train_step.py [--threads 1 2] [--rounds 7] [--json out.json]
Targets: MLP >= 1.5x PyTorch at 1 and 2 threads; tiny step <= 1/5 of PyTorch's time."""
import argparse
import json
import statistics
import time

import torch  # noqa: I001  (torch first: one OpenMP runtime for both)
import numpy as np

import ember
import ember.nn
import ember.optim


def build(lib, sizes, optimizer, lr, batch, seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(lib.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(lib.nn.ReLU())
    model = lib.nn.Sequential(*layers)
    state = {k: rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.05 for k, v in model.state_dict().items()}
    model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    opt = getattr(lib.optim, optimizer)(model.parameters(), lr=lr)
    x = lib.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    y = lib.tensor(rng.integers(0, sizes[-1], batch).astype(np.int64))
    loss_fn = lib.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def time_steps(step, seconds=0.25):
    step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return (time.perf_counter() - start) / n


WORKLOADS = {
    "mlp_adam_b128": dict(sizes=[784, 512, 256, 10], optimizer="Adam", lr=1e-3, batch=128),
    "tiny_sgd_b1": dict(sizes=[8, 8], optimizer="SGD", lr=1e-2, batch=1),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results = []
    for name, cfg in WORKLOADS.items():
        e_step, t_step = build(ember, **cfg), build(torch, **cfg)
        for _ in range(5):   # validate: same losses
            le, lt = e_step().item(), t_step().item()
            assert abs(le - lt) <= 1e-3 * max(1.0, abs(lt)), f"{name}: ember loss {le} != torch loss {lt}"
        for threads in args.threads:
            ember.set_num_threads(threads)
            torch.set_num_threads(threads)
            ratios, e_times, t_times = [], [], []
            for _ in range(args.rounds):
                te, tt = time_steps(e_step), time_steps(t_step)
                e_times.append(te)
                t_times.append(tt)
                ratios.append(tt / te)
            row = dict(workload=name, threads=threads, ember_ms=statistics.median(e_times) * 1e3,
                       torch_ms=statistics.median(t_times) * 1e3, speedup=statistics.median(ratios))
            results.append(row)
            print(f"{name:16s} threads={threads}  ember {row['ember_ms']:8.3f} ms  torch {row['torch_ms']:8.3f} ms"
                  f"  ember speed / torch speed = {row['speedup']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
