"""Elementwise ops, reductions and softmax: ember vs PyTorch, interleaved in one process.

For each op, size and thread count the two libraries run in alternating blocks of calls (>= 20 ms each, the
order flips every round: a block's steady state, not the first call after the other library's thread pool
spun) on the same float32 data, after their results were checked against each other; the table reports the
median time of each and the median per-round ratio ember speed / torch speed (> 1: ember is faster).

    python bench/elementwise.py                       # 1M, 4M, 16M elements; 1 and 2 threads
    python bench/elementwise.py --sizes 1M --ops exp,gelu --threads 1 --repeats 31
"""
import argparse
import sys

import torch   # first, as PyTorch users have it
import numpy as np

import ember
from ember import _C
from _interleave import interleaved

SIZES = {"1M": 1 << 20, "4M": 1 << 22, "16M": 1 << 24}
SOFTMAX_COLS = 1024


def find_softmax():
    """ember's softmax over the last dim, wherever this build has it (it lives in another area of the API)."""
    for owner in (ember, getattr(ember, "nn", None) and getattr(ember.nn, "functional", None), _C):
        function = getattr(owner, "softmax", None) if owner is not None else None
        if function is not None:
            return lambda x: function(x, -1)
    return None


def make_cases(n, softmax):
    """name -> (ember inputs -> result, torch inputs -> result, inputs builder, rtol, atol)."""
    cases = {
        "add": (lambda a, b: ember.add(a, b), lambda a, b: torch.add(a, b)),
        "mul": (lambda a, b: ember.mul(a, b), lambda a, b: torch.mul(a, b)),
        "add_ (in place)": (lambda a, b: a.add_(b), lambda a, b: a.add_(b)),
        "exp": (lambda a, b: ember.exp(a), lambda a, b: torch.exp(a)),
        "relu": (lambda a, b: ember.relu(a), lambda a, b: torch.relu(a)),
        "gelu": (lambda a, b: _C.gelu(a, "none"), lambda a, b: torch.nn.functional.gelu(a)),
        "sum": (lambda a, b: ember.sum(a), lambda a, b: torch.sum(a)),
    }
    if softmax is not None:
        cases[f"softmax (rows, {SOFTMAX_COLS})"] = (lambda a, b: softmax(a), lambda a, b: torch.softmax(a, -1))
    return cases


def to_numpy(result):
    if isinstance(result, torch.Tensor):
        return result.detach().numpy().astype(np.float64)
    return np.asarray(result.numpy(), dtype=np.float64)


def run(args):
    softmax = find_softmax()
    rows = []
    for size_name in args.sizes:
        n = SIZES[size_name]
        rng = np.random.default_rng(0)
        a_np = rng.standard_normal(n).astype(np.float32)
        b_np = rng.standard_normal(n).astype(np.float32)
        for name, (ember_fn, torch_fn) in make_cases(n, softmax).items():
            if args.ops and not any(name.startswith(op) for op in args.ops):
                continue
            shape = (n // SOFTMAX_COLS, SOFTMAX_COLS) if name.startswith("softmax") else (n,)
            # Each library's own storage (as tensor() makes it), not NumPy's less aligned buffers.
            ea, eb = ember.tensor(a_np.reshape(shape)), ember.tensor(b_np.reshape(shape))
            ta, tb = torch.tensor(a_np.reshape(shape)), torch.tensor(b_np.reshape(shape))
            if name.startswith("add_"):   # validate on copies; time on fresh buffers (values drift, harmlessly)
                got, want = to_numpy(ember_fn(ember.tensor(a_np), eb)), to_numpy(torch_fn(ta.clone(), tb))
            else:
                got, want = to_numpy(ember_fn(ea, eb)), to_numpy(torch_fn(ta, tb))
            rtol = 1e-5 if name != "sum" else 1e-4
            if not np.allclose(got, want, rtol=rtol, atol=1e-5, equal_nan=True):
                raise SystemExit(f"validation failed for {name} at {size_name}: max diff {np.max(np.abs(got - want))}")
            for threads in args.threads:
                ember.set_num_threads(threads)
                torch.set_num_threads(threads)
                repeats = args.repeats or (21 if n <= SIZES["1M"] else 11 if n <= SIZES["4M"] else 7)
                ember_call, torch_call = (lambda: ember_fn(ea, eb)), (lambda: torch_fn(ta, tb))
                for _ in range(2):   # warm-up
                    ember_call(); torch_call()
                ember_s, torch_s, ratio = interleaved(ember_call, torch_call, repeats)
                ember_ms, torch_ms = ember_s * 1e3, torch_s * 1e3
                rows.append((name, size_name, threads, ember_ms, torch_ms, ratio))
                print(f"  {name:24s} {size_name:>4s} t={threads}  ember {ember_ms:8.3f} ms  torch {torch_ms:8.3f} ms"
                      f"  ratio {ratio:5.2f}", file=sys.stderr, flush=True)
    if softmax is None:
        print("(softmax: not bound in this build of ember; skipped)")
    print(f"ember {ember.config()['isa']} | torch {torch.__version__} | float32 | medians of interleaved blocks")
    print(f"{'op':24s} {'size':>5s} {'thr':>3s} {'ember ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for name, size_name, threads, ember_ms, torch_ms, ratio in rows:
        print(f"{name:24s} {size_name:>5s} {threads:3d} {ember_ms:9.3f} {torch_ms:9.3f} {ratio:6.2f}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M,4M,16M", help="comma-separated, from 1M, 4M, 16M")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--ops", default="", help="comma-separated op name prefixes (default: all)")
    parser.add_argument("--repeats", type=int, default=0, help="interleaved pairs per case (default: by size)")
    args = parser.parse_args()
    args.sizes = [s for s in args.sizes.split(",") if s]
    for s in args.sizes:
        if s not in SIZES:
            parser.error(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    args.threads = [int(t) for t in args.threads.split(",") if t]
    args.ops = [o for o in args.ops.split(",") if o]
    run(args)


if __name__ == "__main__":
    main()
