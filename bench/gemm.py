"""sgemm benchmark: ember vs NumPy (OpenBLAS) vs PyTorch, interleaved in one process, validated against a
float64 product before timing. Reports GFLOP/s, % of the measured FMA peak, and the median of per-round
ratios ember/numpy and ember/torch. Usage: python bench/gemm.py [--threads 1,2] [--quick] [--json out.json]"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # let OpenBLAS pick its own kernels and blocking
    os.environ.pop(_var, None)

import torch  # noqa: E402  (torch first: ember's OpenMP then binds to the same runtime)
import numpy as np  # noqa: E402

from ember import _C  # noqa: E402

SQUARES = [128, 256, 512, 1024, 2048, 3072]
# (name, M, K, N, op): op(A) is (M, K), op(B) is (K, N); TN = A stored transposed, NT = B stored transposed.
TRAINING = [
    ("mlp fc1 fwd", 128, 784, 512, "NN"), ("mlp fc1 dW", 784, 128, 512, "TN"), ("mlp fc1 dX", 128, 512, 784, "NT"),
    ("gpt qkv fwd", 2048, 256, 768, "NN"), ("gpt qkv dW", 256, 2048, 768, "TN"), ("gpt qkv dX", 2048, 768, 256, "NT"),
    ("gpt down fwd", 2048, 1024, 256, "NN"), ("gpt down dW", 1024, 2048, 256, "TN"),
    ("gpt down dX", 2048, 256, 1024, "NT"),
]
SKINNY = [
    ("head fwd", 128, 512, 10, "NN"), ("head dW", 512, 128, 10, "TN"), ("head dX", 128, 10, 512, "NT"),
    ("sq128", 128, 128, 128, "NN"),
]


def set_openblas_threads(n):
    """threadpoolctl when installed, else the OpenBLAS symbol numpy's bundled library exports."""
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(n, user_api="blas")
        return True
    except ImportError:
        pass
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "openblas" in line.lower() and line.strip().endswith(".so")
                or ("openblas" in line.lower() and ".so" in line)}
    for path in libs:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(ctypes.c_int(n))
                return True
    return False


# OpenBLAS worker threads spin for a while after each call and steal the cores of whatever runs next in this
# process; a pause after NumPy's turn lets them go to sleep so ember's and torch's timings are not deflated.
OPENBLAS_PARK_SECONDS = 0.25


def make_case(M, K, N, op, rng):
    a = rng.standard_normal((K, M) if op[0] == "T" else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if op[1] == "T" else (K, N)).astype(np.float32)
    a_op = a.T if op[0] == "T" else a
    b_op = b.T if op[1] == "T" else b
    return a, b, a_op, b_op


def runners(a, b, a_op, b_op, op, isa):
    c_ember = np.empty((a_op.shape[0], b_op.shape[1]), np.float32)
    c_numpy = np.empty_like(c_ember)
    c_torch = torch.empty(c_ember.shape)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ta_op = ta.t() if op[0] == "T" else ta
    tb_op = tb.t() if op[1] == "T" else tb
    trans_a, trans_b = op[0] == "T", op[1] == "T"
    return {
        "ember": (lambda: _C._sgemm(a, b, c_ember, 1.0, 0.0, trans_a, trans_b, isa), lambda: c_ember),
        "torch": (lambda: torch.mm(ta_op, tb_op, out=c_torch), lambda: c_torch.numpy()),
        "numpy": (lambda: np.matmul(a_op, b_op, out=c_numpy), lambda: c_numpy),
    }


def validate(run, result, a_op, b_op, name, who):
    run()
    expected = a_op.astype(np.float64) @ b_op.astype(np.float64)
    scale = np.abs(a_op).astype(np.float64) @ np.abs(b_op).astype(np.float64) + 1.0
    err = float(np.max(np.abs(result() - expected) / scale))
    if err > 1e-5:
        raise SystemExit(f"{who} gives wrong results on {name}: scaled error {err:.3g}")


def time_calls(run, calls):
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def bench_case(name, M, K, N, op, rounds, rng, min_seconds, isa=""):
    a, b, a_op, b_op = make_case(M, K, N, op, rng)
    fns = runners(a, b, a_op, b_op, op, isa)
    for who, (run, result) in fns.items():
        validate(run, result, a_op, b_op, name, who)
    flops = 2.0 * M * N * K
    single = min(time_calls(fns["ember"][0], 1), time_calls(fns["numpy"][0], 1))
    calls = max(1, int(min_seconds / max(single, 1e-7)))
    times = {who: [] for who in fns}
    for _ in range(rounds):                      # interleaved: ember, torch, numpy, ember, ...
        for who, (run, _) in fns.items():
            times[who].append(time_calls(run, calls))
        time.sleep(OPENBLAS_PARK_SECONDS)           # let OpenBLAS's spinning threads park before ember runs
    gflops = {who: flops / statistics.median(ts) / 1e9 for who, ts in times.items()}
    ratio_numpy = statistics.median(n / e for e, n in zip(times["ember"], times["numpy"]))
    ratio_torch = statistics.median(t / e for e, t in zip(times["ember"], times["torch"]))
    return {"case": name, "M": M, "K": K, "N": N, "op": op, "gflops": gflops, "ember/numpy": ratio_numpy,
            "ember/torch": ratio_torch}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    parser.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--json", default="", help="write results here")
    parser.add_argument("--isa", default="", help="force ember's kernel level (ref, avx2, avx512)")
    parser.add_argument("--cases", default="", help="comma-separated case names to run (default: all)")
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 9)
    min_seconds = 0.02 if args.quick else 0.05
    squares = [128, 512, 1024, 2048] if args.quick else SQUARES
    cases = [(f"sq{n}", n, n, n, "NN") for n in squares] + TRAINING + SKINNY
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [c for c in cases if c[0] in wanted]
    rng = np.random.default_rng(0)
    print(f"ember isa={args.isa or _C.isa()} kernel={_C._sgemm_kernel(args.isa)['name']}  torch {torch.__version__}  numpy {np.__version__}"
          f"  load {os.getloadavg()[0]:.2f}")
    results = []
    for threads in [int(t) for t in args.threads.split(",")]:
        _C.set_num_threads(threads)
        torch.set_num_threads(threads)
        if not set_openblas_threads(threads):
            print("warning: could not set OpenBLAS threads", file=sys.stderr)
        peak = max(_C._fma_peak_gflops(threads, args.isa) for _ in range(3))
        print(f"\n{threads} thread(s): measured FMA peak {peak:.0f} GFLOP/s")
        print(f"{'case':<14}{'M x K x N':>18}{'op':>4} | {'ember':>7}{'%pk':>5} {'numpy':>7} {'torch':>7} |"
              f" {'e/np':>6} {'e/torch':>7}")
        for case in cases:
            r = bench_case(*case, rounds=rounds, rng=rng, min_seconds=min_seconds, isa=args.isa)
            r["threads"], r["peak"] = threads, peak
            results.append(r)
            g = r["gflops"]
            print(f"{r['case']:<14}{f'{r[chr(77)]}x{r[chr(75)]}x{r[chr(78)]}':>18}{r['op']:>4} | {g['ember']:7.1f}"
                  f"{100 * g['ember'] / peak:4.0f}% {g['numpy']:7.1f} {g['torch']:7.1f} | {r['ember/numpy']:6.2f}"
                  f" {r['ember/torch']:7.2f}", flush=True)
    print(f"\nload at end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
