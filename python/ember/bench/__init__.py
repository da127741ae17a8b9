"""`ember bench`: ember against PyTorch and NumPy (when installed) on GEMM, convolution, attention, whole training
steps and per-op overhead, on this machine, with every result validated before it is timed.

How it measures: torch is imported before ember; ember and torch run interleaved in one process (inside each
round one library after the other, calls per sample calibrated once, each sample after a 20 ms pause in which the
other library's spinning worker threads park and one untimed call) and each ratio is the median of the per-round
ratios; NumPy runs in its own worker process (OpenBLAS's spinning threads would steal the cores), in the same
rounds. All libraries get the same thread count (ember.set_num_threads, torch.set_num_threads,
OPENBLAS/OMP/MKL_NUM_THREADS for the worker). The FMA peak is measured per thread count by a C++ microbenchmark of
independent FMA chains at ember's ISA level (`_C._fma_peak_gflops`).

JSON (--json PATH), schema 1:
  schema, created (UTC ISO time), command, rounds, threads (list), load_average_start, load_average_end
  machine:   cpu (model name), logical_cpus, platform, isa (the kernel level ember uses: ref, avx2, avx512),
             fma_peak_gflops {threads (as a string): measured GFLOP/s}
  versions:  ember, python, numpy, torch (null when not installed)
  cpp:       only with --cpp: {binary, runs: [the binary's JSON object per thread count]}
  workloads: one record per workload and thread count:
    name, family (gemm, conv, attention, train, overhead), threads, params (shapes/model), flops (per call; null
    for per-op overhead), validation {status: passed|failed, reference, max_error (or error when failed)},
    timings_s {library: [seconds per call, one per round]}, median_s {library: seconds},
    ratios {vs_torch, vs_numpy: median over rounds of reference time / ember time (> 1: ember faster);
            python_over_cpp: ember's Python median / the C++ binary's median},
    gflops {library: GFLOP/s at the median}, percent_of_peak {library: % of fma_peak_gflops[threads]}
  A workload that fails validation has status "failed" and no timings; the exit status is then 1.
"""
import importlib.util
import json
import os
import sys

from ..cli import _positive_int
from . import runner
from .cpp import CppBenchError

__all__ = ["add_parser", "run"]

QUICK = dict(rounds=3, min_seconds=0.01)
FULL = dict(rounds=7, min_seconds=0.05)
_TORCH_FIRST_MARK = "EMBER_BENCH_TORCH_FIRST"


def add_parser(sub):
    names = ", ".join(w.name for w in runner.all_workloads())
    bench = sub.add_parser(
        "bench", help="benchmark ember against PyTorch and NumPy on this machine",
        description="Validate, then time ember against PyTorch and NumPy (when installed): GEMM, conv, attention, "
                    "training steps and per-op overhead; ratios > 1 mean ember is faster.",
        epilog=f"workloads: {names}; families: {', '.join(runner.FAMILIES)}")
    bench.add_argument("--quick", action="store_true", help="a subset of smaller workloads and fewer rounds")
    bench.add_argument("--only", nargs="+", metavar="NAME", help="workload or family names to run")
    bench.add_argument("--threads", nargs="+", type=_positive_int, metavar="N",
                       help="thread counts to run, each in turn (default: ember's current count)")
    bench.add_argument("--rounds", type=_positive_int, help="interleaved rounds per workload (default 3 quick, 7)")
    bench.add_argument("--json", metavar="PATH", help="write every raw timing, ratio and the machine here")
    bench.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of the ratios (needs matplotlib)")
    bench.add_argument("--markdown", metavar="PATH", help="write the results as a Markdown table")
    bench.add_argument("--cpp", metavar="BINARY", help="also run the C++ benchmark (bench/cpp/ember_bench_cpp) and "
                                                       "report Python / C++ time ratios")
    bench.add_argument("--no-torch", action="store_true", help="ember (and NumPy) only, even if torch is installed")
    bench.add_argument("--no-numpy", action="store_true", help="skip the NumPy worker process")
    bench.set_defaults(func=run, parser=bench)
    return bench


def _reexec_with_torch_first():
    """The `ember` command has imported ember already; torch must come first, so start over in a fresh process."""
    os.environ[_TORCH_FIRST_MARK] = "1"
    code = "import sys, torch; from ember.cli import main; sys.exit(main(sys.argv[1:]))"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-c", code, "bench", *sys.argv[sys.argv.index("bench") + 1:]])


def run(args):
    parser = args.parser
    try:
        workloads = runner.select(runner.all_workloads(), args.only, args.quick)
    except KeyError as exc:
        parser.error(f"unknown workload(s) for --only: {exc.args[0]} (see `ember bench --help`)")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib: pip install matplotlib (or pip install 'ember[plot]')")
    if args.cpp and not os.access(args.cpp, os.X_OK):
        parser.error(f"--cpp: {args.cpp} is not an executable file")
    torch = None
    if not args.no_torch and importlib.util.find_spec("torch") is not None:
        if "torch" not in sys.modules and os.environ.get(_TORCH_FIRST_MARK) is None and \
                getattr(args, "from_command_line", False) and "bench" in sys.argv:
            _reexec_with_torch_first()
        import torch
    settings = dict(QUICK if args.quick else FULL)
    if args.rounds:
        settings["rounds"] = args.rounds
    threads = args.threads or [runner_threads()]
    print(f"ember bench: {len(workloads)} workload(s), threads {threads}, torch "
          f"{torch.__version__ if torch is not None else 'not used'}, load {os.getloadavg()[0]:.2f}", flush=True)
    try:
        report = runner.run_suite(workloads, threads, torch, not args.no_numpy, settings["rounds"],
                                  settings["min_seconds"], cpp_path=args.cpp,
                                  log=lambda line: print(line, flush=True))
    except CppBenchError as exc:
        print(f"ember bench: --cpp failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(runner.markdown_table(report))
        print(f"wrote {args.markdown}")
    if args.plot:
        from .plot import plot_ratios
        plot_ratios(report, args.plot)
        print(f"wrote {args.plot}")
    failed = [r["name"] for r in report["workloads"] if r["validation"]["status"] != "passed"]
    if failed:
        print(f"ember bench: validation failed for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def runner_threads():
    import ember
    return ember.get_num_threads()
