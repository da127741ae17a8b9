"""Training steps while another process keeps a core busy: the MLP, LeNet-5 and char-GPT steps of `ember bench`,
ember and PyTorch at the same thread count, alone and next to a `while True: pass` process (unpinned, and pinned to
the last core). Reports each framework's slowdown factor (contended time / alone time, median over rounds; each round
measures alone and contended back to back).

    python bench/contention.py [--threads 2] [--rounds 5] [--models mlp,lenet,gpt] [--json out.json]
Target: ember slows by at most ~2x with one competing busy process."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch  # noqa: I001  (torch first, as in the other benchmarks)

import ember
from ember.bench import train as bench_train


def steps(prepare):
    """The ember and torch step functions of one of ember bench's validated training workloads."""
    return prepare(torch).runners


def mlp_steps():
    return steps(bench_train._mlp)


def lenet_steps():
    return steps(bench_train._lenet)


def gpt_steps():
    return steps(bench_train._gpt)


MODELS = {"mlp": mlp_steps, "lenet": lenet_steps, "gpt": gpt_steps}


def seconds_per_step(step, min_seconds, min_steps=3):
    step()
    n, start = 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - start < min_seconds:
        step()
        n += 1
    return (time.perf_counter() - start) / n


def start_busy(pinned):
    code = "while True: pass"
    if pinned:
        code = f"import os; os.sched_setaffinity(0, {{{os.cpu_count() - 1}}})\n" + code
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.05)   # let it start spinning
    return proc


def stop_busy(proc):
    proc.kill()
    proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default="mlp,lenet,gpt")
    parser.add_argument("--seconds", type=float, default=0.3, help="minimum timing window per measurement")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    ember.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"ember {ember.__version__} ({ember._C.isa()}) | torch {torch.__version__} | {args.threads} threads | "
          f"{os.cpu_count()} cores | median of {args.rounds} rounds")
    print(f"{'model':8s} {'busy':9s} {'ember alone':>12s} {'ember busy':>11s} {'slowdown':>9s}   "
          f"{'torch alone':>12s} {'torch busy':>11s} {'slowdown':>9s}")
    results = []
    for model in args.models.split(","):
        steps = MODELS[model]()
        for pinned in (False, True):
            times = {lib: {"alone": [], "busy": [], "ratio": []} for lib in steps}
            for _ in range(args.rounds):
                for lib, step in steps.items():
                    alone = seconds_per_step(step, args.seconds)
                    proc = start_busy(pinned)
                    try:
                        busy = seconds_per_step(step, args.seconds)
                    finally:
                        stop_busy(proc)
                    times[lib]["alone"].append(alone)
                    times[lib]["busy"].append(busy)
                    times[lib]["ratio"].append(busy / alone)
            row = {"model": model, "busy": "pinned" if pinned else "unpinned"}
            for lib in steps:
                row[lib] = {k: statistics.median(v) for k, v in times[lib].items()}
            results.append(row)
            e, t = row["ember"], row["torch"]
            print(f"{model:8s} {row['busy']:9s} {e['alone'] * 1e3:9.2f} ms {e['busy'] * 1e3:8.2f} ms {e['ratio']:8.2f}x   "
                  f"{t['alone'] * 1e3:9.2f} ms {t['busy'] * 1e3:8.2f} ms {t['ratio']:8.2f}x", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
