"""`ember bench` end to end on a few cheap workloads, in-process: the JSON's documented fields, --only errors
(exit status 2), --plot with or without matplotlib, the --cpp merge with a fake C++ binary, ember-only runs
validated without torch, and a workload that computes the wrong thing being reported as failed."""
import importlib.util
import json
import os
import stat
import sys

import numpy as np
import pytest

import ember
from ember import cli
from ember.bench import _core, runner

CHEAP = ["add_1x1", "linear_8x8_forward", "gemm_sq128"]


def _bench(tmp_path, *extra):
    path = tmp_path / "bench.json"
    code = cli.main(["bench", "--quick", "--rounds", "2", "--threads", "1", "--json", str(path), *extra])
    return code, (json.loads(path.read_text()) if path.exists() else None)


def test_quick_json_has_the_documented_fields(tmp_path, capsys):
    threads_before = ember.get_num_threads()
    code, report = _bench(tmp_path, "--only", *CHEAP, "--markdown", str(tmp_path / "table.md"))
    assert code == 0
    table = (tmp_path / "table.md").read_text().splitlines()
    assert len(table) == 2 + len(CHEAP) and table[2].startswith("| gemm_sq128 | ")
    assert ember.get_num_threads() == threads_before          # the caller's setting is restored
    assert report["schema"] == 1 and report["threads"] == [1] and report["rounds"] == 2
    machine = report["machine"]
    assert machine["isa"] == ember._C.isa() and machine["logical_cpus"] >= 1 and machine["cpu"]
    assert machine["fma_peak_gflops"]["1"] > 0.1
    assert set(report["versions"]) == {"ember", "python", "numpy", "torch"}
    assert report["versions"]["ember"] == ember.__version__
    records = {r["name"]: r for r in report["workloads"]}
    assert set(records) == set(CHEAP)
    for r in records.values():
        assert {"name", "family", "threads", "params", "flops", "validation", "timings_s", "median_s", "ratios",
                "gflops", "percent_of_peak"} <= set(r)
        assert r["validation"]["status"] == "passed" and r["threads"] == 1
        assert len(r["timings_s"]["ember"]) == 2 and all(t > 0 for t in r["timings_s"]["ember"])
        assert r["median_s"]["ember"] == pytest.approx(np.median(r["timings_s"]["ember"]))
    gemm = records["gemm_sq128"]
    assert gemm["family"] == "gemm" and gemm["flops"] == 2 * 128 ** 3
    assert gemm["gflops"]["ember"] == pytest.approx(gemm["flops"] / gemm["median_s"]["ember"] / 1e9)
    assert gemm["percent_of_peak"]["ember"] == pytest.approx(
        100 * gemm["gflops"]["ember"] / machine["fma_peak_gflops"]["1"])
    assert "numpy" in gemm["timings_s"] and gemm["ratios"]["vs_numpy"] > 0     # from the worker process
    assert records["add_1x1"]["flops"] is None and records["add_1x1"]["gflops"] == {}
    if importlib.util.find_spec("torch") is not None:
        for r in records.values():
            e, t = r["timings_s"]["ember"], r["timings_s"]["torch"]
            assert r["ratios"]["vs_torch"] == pytest.approx(np.median([b / a for a, b in zip(e, t)]))
    out = capsys.readouterr().out
    assert "measured FMA peak" in out and "gemm_sq128" in out


def test_unknown_only_name_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--only", "add_1x1", "no_such_workload"])
    assert exc.value.code == 2
    assert "no_such_workload" in capsys.readouterr().err


def test_family_names_select_their_workloads():
    chosen = runner.select(runner.all_workloads(), ["overhead"], quick=False)
    assert [w.name for w in chosen] == ["add_1x1", "linear_8x8_forward", "tiny_sgd_step"]
    quick = {w.name for w in runner.select(runner.all_workloads(), None, quick=True)}
    every = {w.name for w in runner.all_workloads()}
    assert quick < every and "gemm_sq2048" not in quick and "char_gpt_adamw_step" in quick


def test_plot(tmp_path, capsys):
    png = tmp_path / "ratios.png"
    if importlib.util.find_spec("matplotlib") is None:
        with pytest.raises(SystemExit) as exc:
            cli.main(["bench", "--quick", "--only", "add_1x1", "--plot", str(png)])
        assert exc.value.code == 2 and "matplotlib" in capsys.readouterr().err
        assert not png.exists()
    else:
        code, _ = _bench(tmp_path, "--only", "add_1x1", "--plot", str(png))
        assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _fake_cpp(tmp_path, body):
    script = tmp_path / "fake_cpp"
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_cpp_results_are_merged(tmp_path):
    fake = _fake_cpp(tmp_path, "import json, sys\nn = int(sys.argv[sys.argv.index('--threads') + 1])\n"
                               "print(json.dumps({'threads': n, 'results': {'add_1x1': {'median_s': 2e-7, "
                               "'runs_s': [2e-7, 3e-7]}, 'mlp_adam_step': {'median_s': 1e-3, 'runs_s': [1e-3]}}}))\n")
    code, report = _bench(tmp_path, "--only", "add_1x1", "--cpp", fake)
    assert code == 0
    (record,) = report["workloads"]
    assert record["timings_s"]["cpp"] == [2e-7, 3e-7] and record["median_s"]["cpp"] == 2e-7
    assert record["ratios"]["python_over_cpp"] == pytest.approx(record["median_s"]["ember"] / 2e-7)
    assert report["cpp"]["binary"] == fake and report["cpp"]["runs"][0]["threads"] == 1


def test_cpp_failure_is_reported(tmp_path, capsys):
    fake = _fake_cpp(tmp_path, "print('not json')\n")
    assert cli.main(["bench", "--quick", "--only", "add_1x1", "--threads", "1", "--cpp", fake]) == 1
    assert "did not print a JSON object" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--only", "add_1x1", "--cpp", str(tmp_path / "missing")])
    assert exc.value.code == 2


def test_without_torch_ember_is_validated_against_numpy(tmp_path):
    code, report = _bench(tmp_path, "--no-torch", "--no-numpy", "--only", "conv_lenet1_fwd", "tiny_sgd_step",
                          "linear_8x8_forward")
    assert code == 0
    for r in report["workloads"]:
        assert set(r["timings_s"]) == {"ember"} and r["ratios"] == {}
        assert "torch" not in r["validation"]["reference"]


def test_wrong_results_fail_validation_and_are_not_timed():
    def prepare(torch):
        return _core.Prepared({"ember": lambda: None},
                              _core.check_close([(np.ones(3), np.ones(3) * 1.01)], 1e-4, "ones"))
    bad = _core.Workload("bad", "overhead", {}, None, prepare)
    record = runner.run_workload(bad, None, 1, 1.0, None, 2, 0.001, print)
    assert record["validation"]["status"] == "failed" and "> 0.0001" in record["validation"]["error"]
    assert record["timings_s"] == {}
    with pytest.raises(_core.ValidationError):
        _core.relative_error(np.array([np.nan]), np.array([0.0]))


def test_numpy_worker_skips_lines_that_are_not_replies():
    # An editable install rebuilding on import writes to the worker's stdout before its first reply.
    import io

    class FakeProcess:
        stdin = io.StringIO()
        stdout = io.StringIO("Running cmake --build\nninja: no work to do.\n" + json.dumps({"ok": True, "x": 1}) + "\n")

    worker = runner.NumpyWorker.__new__(runner.NumpyWorker)
    worker.proc = FakeProcess()
    assert worker.ask(cmd="prepare")["x"] == 1
    with pytest.raises(RuntimeError, match="exited"):
        worker.ask(cmd="prepare")
