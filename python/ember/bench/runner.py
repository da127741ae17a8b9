"""The `ember bench` loop: per thread count, measure the FMA peak, then for each selected workload prepare and
validate, time ember and torch interleaved in this process (one after the other inside each round) and NumPy in
its worker process in the same round, and record raw timings, median-of-per-round ratios, GFLOP/s and % of peak."""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from . import attention, conv, cpp, gemm, overhead, train
from ._core import ValidationError, calibrate, seconds_per_call

FAMILIES = ("gemm", "conv", "attention", "train", "overhead")
# OpenBLAS's threads spin after each NumPy call; a pause lets them park before ember and torch run again.
OPENBLAS_PARK_SECONDS = 0.1
# torch's OpenMP workers spin ~10 ms after a parallel region (ember's pool 0.4 ms) and would take the second core
# from the next sample's library: each sample waits until the previous library's threads have parked.
POOL_PARK_SECONDS = 0.02


def all_workloads():
    return gemm.workloads() + conv.workloads() + attention.workloads() + train.workloads() + overhead.workloads()


def select(workloads, only, quick):
    """--only names or family names (unknown ones raise KeyError listing them); else all, or the quick subset."""
    if only:
        names = {w.name for w in workloads}
        unknown = [n for n in only if n not in names and n not in FAMILIES]
        if unknown:
            raise KeyError(", ".join(unknown))
        return [w for w in workloads if w.name in only or w.family in only]
    return [w for w in workloads if w.quick or not quick]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fma_peak(threads, samples=3):
    from .. import _C
    return max(_C._fma_peak_gflops(threads) for _ in range(samples))


class NumpyWorker:
    """NumPy in a child process with its BLAS limited to `threads` threads (JSON lines over pipes)."""

    def __init__(self, threads):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # let OpenBLAS pick its own kernels and blocking
            env.pop(var, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "ember.bench._numpy_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        while line and not line.startswith("{"):   # other output (an editable install rebuilding on import)
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the NumPy worker process exited")
        reply = json.loads(line)
        if not reply["ok"]:
            raise ValidationError(reply["error"])
        return reply

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=30)


def time_workload(prepared, numpy_worker, name, rounds, min_seconds):
    """{library: [seconds per call, one per round]}: ember, torch, then NumPy inside each round."""
    runners = prepared.runners
    for run in runners.values():
        run()                                                     # warm up (caches, allocator, lazy init)
    calls = calibrate(runners.values(), min_seconds)
    times = {who: [] for who in runners}
    if numpy_worker is not None:
        times["numpy"] = []
    for _ in range(rounds):
        for who, run in runners.items():
            time.sleep(POOL_PARK_SECONDS)
            run()   # untimed: wakes this library's threads (and an idle vCPU) before its sample
            times[who].append(seconds_per_call(run, calls))
        if numpy_worker is not None:
            times["numpy"].append(numpy_worker.ask(cmd="time", name=name, calls=calls)["seconds"])
            time.sleep(OPENBLAS_PARK_SECONDS)
    return times


def summarize(record, times, peak):
    record["timings_s"] = times
    record["median_s"] = {who: statistics.median(ts) for who, ts in times.items()}
    ember_times = times["ember"]
    record["ratios"] = {f"vs_{who}": statistics.median(r / e for e, r in zip(ember_times, ts))
                        for who, ts in times.items() if who != "ember"}
    if record["flops"]:
        record["gflops"] = {who: record["flops"] / s / 1e9 for who, s in record["median_s"].items()}
        record["percent_of_peak"] = {who: 100.0 * g / peak for who, g in record["gflops"].items()}


def run_workload(workload, torch, threads, peak, numpy_worker, rounds, min_seconds, log):
    record = {"name": workload.name, "family": workload.family, "threads": threads, "params": workload.params,
              "flops": workload.flops, "timings_s": {}, "median_s": {}, "ratios": {}, "gflops": {},
              "percent_of_peak": {}}
    worker = numpy_worker if workload.numpy_spec is not None else None
    try:
        prepared = workload.prepare(torch)
        record["validation"] = dict(prepared.validation)
        if worker is not None:
            try:
                reply = worker.ask(cmd="prepare", name=workload.name, spec=workload.numpy_spec)
                record["validation"]["numpy_max_error"] = reply["max_error"]
            except ValidationError as exc:
                log(f"  {workload.name}: numpy not timed: {exc}")
                record["validation"]["numpy"] = f"failed: {exc}"
                worker = None
    except ValidationError as exc:
        record["validation"] = {"status": "failed", "error": str(exc)}
        return record
    summarize(record, time_workload(prepared, worker, workload.name, rounds, min_seconds), peak)
    return record


def machine_info(threads_list, peaks):
    from .. import _C
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "isa": _C.isa(), "fma_peak_gflops": {str(t): peaks[t] for t in threads_list}}


def versions(torch):
    import ember
    try:
        import numpy
        numpy_version = numpy.__version__
    except ImportError:   # pragma: no cover - numpy is a dependency
        numpy_version = None
    return {"ember": ember.__version__, "python": platform.python_version(), "numpy": numpy_version,
            "torch": torch.__version__ if torch is not None else None}


def _bench_argv():
    return sys.argv[sys.argv.index("bench") + 1:] if "bench" in sys.argv else []


def run_suite(workloads, threads_list, torch, use_numpy, rounds, min_seconds, cpp_path=None, log=print):
    """Returns the JSON-ready report (see ember.bench's docstring). Raises cpp.CppBenchError if --cpp fails."""
    import ember
    report = {"schema": 1, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": ["ember", "bench"] + _bench_argv(), "rounds": rounds,
              "load_average_start": os.getloadavg()[0], "threads": threads_list, "workloads": []}
    if cpp_path:
        report["cpp"] = {"binary": cpp_path, "runs": []}
    peaks = {}
    saved = (ember.get_num_threads(), torch.get_num_threads() if torch is not None else None)
    try:
        _run_thread_counts(report, peaks, workloads, threads_list, torch, use_numpy, rounds, min_seconds, cpp_path,
                           log)
    finally:   # leave the caller's thread settings as they were
        ember.set_num_threads(saved[0])
        if torch is not None:
            torch.set_num_threads(saved[1])
    report["load_average_end"] = os.getloadavg()[0]
    report["machine"] = machine_info(threads_list, peaks)
    report["versions"] = versions(torch)
    return report


def _run_thread_counts(report, peaks, workloads, threads_list, torch, use_numpy, rounds, min_seconds, cpp_path, log):
    import ember
    for threads in threads_list:
        cpp_data = None
        if cpp_path and any(w.name in cpp.CPP_WORKLOADS for w in workloads):
            log(f"{threads} thread(s): running {cpp_path} --threads {threads}")
            cpp_data = cpp.run_binary(cpp_path, threads)
            report["cpp"]["runs"].append(cpp_data)
        ember.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        peaks[threads] = fma_peak(threads)
        log(f"{threads} thread(s): measured FMA peak {peaks[threads]:.0f} GFLOP/s ({ember._C.isa()})")
        worker = NumpyWorker(threads) if use_numpy and any(w.numpy_spec for w in workloads) else None
        try:
            for workload in workloads:
                record = run_workload(workload, torch, threads, peaks[threads], worker, rounds, min_seconds, log)
                if cpp_data is not None:
                    cpp.merge([record], cpp_data)
                report["workloads"].append(record)
                log(format_row(record))
        finally:
            if worker is not None:
                worker.close()


def _fmt_time(seconds):
    if seconds is None:
        return "-"
    return f"{seconds * 1e6:.2f} us" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


def format_row(r):
    if r["validation"]["status"] != "passed":
        return f"  {r['name']:<26} {r['threads']}t  VALIDATION FAILED: {r['validation']['error']}"
    med, ratios = r["median_s"], r["ratios"]
    text = f"  {r['name']:<26} {r['threads']}t  ember {_fmt_time(med['ember']):>11}"
    if r["gflops"]:
        text += f" {r['gflops']['ember']:7.1f} GFLOP/s {r['percent_of_peak']['ember']:3.0f}% pk"
    for who in ("torch", "numpy"):
        if f"vs_{who}" in ratios:
            text += f" | x{who} {ratios[f'vs_{who}']:.2f}"
    if "python_over_cpp" in ratios:
        text += f" | py/C++ {ratios['python_over_cpp']:.2f}"
    return text


def markdown_table(report):
    """The README table: one row per workload, per thread count: ember's time, GFLOP/s, % of peak and ratios."""
    threads = report["threads"]
    head = "| workload | " + " | ".join(f"{t}t ember | {t}t GFLOP/s (% peak) | {t}t x torch | {t}t x numpy"
                                        for t in threads) + " |"
    lines = [head, "|---|" + "---:|" * (4 * len(threads))]
    by_name = {}
    for r in report["workloads"]:
        by_name.setdefault(r["name"], {})[r["threads"]] = r
    for name, per_thread in by_name.items():
        cells = []
        for t in threads:
            r = per_thread.get(t)
            if r is None or r["validation"]["status"] != "passed":
                cells += ["failed" if r else "", "", "", ""]
                continue
            gf = f"{r['gflops']['ember']:.0f} ({r['percent_of_peak']['ember']:.0f}%)" if r["gflops"] else "-"
            cells += [_fmt_time(r["median_s"]["ember"]), gf] + [
                f"{r['ratios'][k]:.2f}" if k in r["ratios"] else "-" for k in ("vs_torch", "vs_numpy")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
