"""`ember bench --cpp BINARY`: runs the C++ benchmark (bench/cpp/ember_bench_cpp) with the same thread count and
merges its timings into the Python workloads of the same name, as python_over_cpp = Python median / C++ median (how
much the Python layer adds). The binary prints one JSON object:
{"threads": N, "results": {NAME: {"median_s": float, "runs_s": [float, ...]}}}."""
import json
import subprocess

CPP_WORKLOADS = ("mlp_adam_step", "lenet_sgd_step", "char_gpt_adamw_step", "add_1x1", "linear_8x8_forward",
                 "tiny_sgd_step")


class CppBenchError(RuntimeError):
    pass


def run_binary(path, threads, timeout=900):
    """The binary's parsed JSON for one thread count; CppBenchError with the reason if it fails or lies."""
    try:
        done = subprocess.run([path, "--threads", str(threads)], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CppBenchError(f"could not run {path}: {exc}") from None
    if done.returncode != 0:
        raise CppBenchError(f"{path} exited with status {done.returncode}: {done.stderr.strip()[-500:]}")
    text = done.stdout.strip()
    try:
        data = json.loads(text[text.index("{"):])
    except ValueError:
        raise CppBenchError(f"{path} did not print a JSON object: {text[:200]!r}") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not all(
            isinstance(r, dict) and isinstance(r.get("median_s"), (int, float)) for r in results.values()):
        raise CppBenchError(f"{path}: expected {{'threads': N, 'results': {{NAME: {{'median_s': s, 'runs_s': "
                            f"[...]}}}}}}, got {text[:200]!r}")
    if data.get("threads") != threads:
        raise CppBenchError(f"{path} ran with {data.get('threads')} threads, asked for {threads}")
    return data


def merge(records, data):
    """Adds the C++ timings to the matching, validated records (same name and thread count)."""
    threads = data["threads"]
    for record in records:
        result = data["results"].get(record["name"])
        if result is None or record["threads"] != threads or record["validation"]["status"] != "passed":
            continue
        record["timings_s"]["cpp"] = [float(s) for s in result.get("runs_s", [result["median_s"]])]
        record["median_s"]["cpp"] = float(result["median_s"])
        if result["median_s"] > 0:
            record["ratios"]["python_over_cpp"] = record["median_s"]["ember"] / float(result["median_s"])
