"""Training steps while another process keeps a core busy: MLP (bench/train_step.py), LeNet-5 (bench/conv.py) and
char-GPT (bench/attention.py) steps, ember and PyTorch at the same thread count, alone and next to a
`while True: pass` process (unpinned, and pinned to the last core). Reports each framework's slowdown factor
(contended time / alone time, median over rounds; each round measures alone and contended back to back).

    python bench/contention.py [--threads 2] [--rounds 5] [--models mlp,lenet,gpt] [--json out.json]
Target: ember slows by at most ~2x with one competing busy process."""
import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import torch  # noqa: I001  (torch first, as in the other benchmarks)
import numpy as np

import ember
import ember.nn
import ember.optim

HERE = pathlib.Path(__file__).resolve().parent


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mlp_steps():
    train_step = load(HERE / "train_step.py", "bench_train_step")
    w = train_step.WORKLOADS["mlp_adam_b128"]
    return {lib.__name__: train_step.build(lib, w["sizes"], w["optimizer"], w["lr"], w["batch"]) for lib in (ember, torch)}


def lenet_steps():
    conv = load(HERE / "conv.py", "bench_conv")
    return conv.lenet_runners(np.random.default_rng(0))


def gpt_steps():
    attention = load(HERE / "attention.py", "bench_attention")
    char_gpt = load(HERE.parent / "examples" / "char_gpt.py", "char_gpt")
    c = attention.GPT
    ember.manual_seed(0)
    model_e = char_gpt.CharGPT(c["vocab"], c["block_size"], c["d_model"], c["layers"], c["heads"])
    model_t = attention.torch_gpt(c["vocab"], c["block_size"], c["d_model"], c["layers"], c["heads"])
    model_t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in model_e.state_dict().items()})
    opt_e = ember.optim.AdamW(model_e.parameters(), lr=1e-3, weight_decay=0.01)
    opt_t = torch.optim.AdamW(model_t.parameters(), lr=1e-3, weight_decay=0.01)
    rng = np.random.default_rng(0)
    x = rng.integers(0, c["vocab"], (c["batch"], c["block_size"]))
    y = rng.integers(0, c["vocab"], (c["batch"], c["block_size"]))
    xe, ye, xt, yt = ember.tensor(x), ember.tensor(y), torch.tensor(x), torch.tensor(y)

    def step(model, opt, lib, xs, ys):
        def run():
            loss = lib.nn.functional.cross_entropy(model(xs).reshape(-1, c["vocab"]), ys.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return run
    return {"ember": step(model_e, opt_e, ember, xe, ye), "torch": step(model_t, opt_t, torch, xt, yt)}


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
