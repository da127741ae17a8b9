"""The `ember` command end to end (in-process, in a temporary folder): `ember info`, `ember train` for each model
with --epochs 1, bit-identical --resume against an uninterrupted run, and usage errors (exit status 2)."""
import json
import os
import signal

import numpy as np
import pytest

import ember
from ember import cli
from ember import train as train_module


def _train(tmp_path, *extra):
    return cli.main(["train", "--out", str(tmp_path), "--verbose", "0", *extra])


def test_info(capsys):
    assert cli.main(["info"]) == 0
    assert "simd" in capsys.readouterr().out


def test_train_cnn_one_epoch_writes_a_run_folder(tmp_path, capsys):
    assert _train(tmp_path, "--epochs", "1", "--name", "quick") == 0
    out = capsys.readouterr()
    folder = tmp_path / "quick"
    assert "test accuracy:" in out.out
    assert {"model.safetensors", "checkpoint.safetensors", "settings.json"} <= set(os.listdir(folder))
    checkpoint = ember.load(str(folder / "checkpoint.safetensors"))
    assert checkpoint["epoch"] == 1 and checkpoint["settings"]["model"] == "cnn"
    assert set(checkpoint) >= {"model", "optimizer", "scheduler", "rng", "history"}
    weights = ember.load(str(folder / "model.safetensors"))
    assert weights["layers.0.weight"].shape == (16, 1, 3, 3)
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["test_accuracy"] > 0.5
    try:
        import matplotlib  # noqa: F401
        assert (folder / "curves.png").exists()
    except ImportError:
        assert "matplotlib is not installed" in out.err


def test_default_name_and_mlp(tmp_path, capsys):
    assert _train(tmp_path, "--model", "mlp", "--epochs", "1") == 0
    (run,) = os.listdir(tmp_path)
    assert run.startswith("mlp-digits-")


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, capsys, monkeypatch):
    common = ["--model", "mlp", "--seed", "3", "--threads", "1", "--epochs", "3"]
    assert _train(tmp_path, *common, "--name", "straight") == 0
    # the same run, interrupted by Ctrl-C right after the first epoch's checkpoint, then resumed
    make_checkpoint = train_module._checkpoint_callback

    def interrupted_after_first_epoch(*args):
        callback = make_checkpoint(*args)
        save = callback.on_epoch_end

        def on_epoch_end(epoch, logs=None):
            save(epoch, logs)
            if epoch == 0:
                os.kill(os.getpid(), signal.SIGINT)
        callback.on_epoch_end = on_epoch_end
        return callback
    monkeypatch.setattr(train_module, "_checkpoint_callback", interrupted_after_first_epoch)
    assert _train(tmp_path, *common, "--name", "split") == 0
    assert ember.load(str(tmp_path / "split" / "checkpoint.safetensors"))["epoch"] == 1
    assert "Stopped after epoch 1/3; resume with: ember train --resume" in capsys.readouterr().out
    monkeypatch.setattr(train_module, "_checkpoint_callback", make_checkpoint)
    assert cli.main(["train", "--resume", str(tmp_path / "split"), "--verbose", "0", "--threads", "1"]) == 0
    straight = ember.load(str(tmp_path / "straight" / "checkpoint.safetensors"))
    split = ember.load(str(tmp_path / "split" / "checkpoint.safetensors"))
    assert split["epoch"] == 3
    assert straight["history"]["loss"] == split["history"]["loss"]            # exactly equal floats
    assert straight["history"]["val_loss"] == split["history"]["val_loss"]
    for key, value in straight["model"].items():
        np.testing.assert_array_equal(value.numpy(), split["model"][key].numpy())
    assert tuple(straight["rng"]) == tuple(split["rng"])


def test_gpt_on_text_prints_a_sample(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train_module, "GPT_WINDOWS", (256, 64))          # a few steps: this checks the plumbing
    assert _train(tmp_path, "--model", "gpt", "--epochs", "1", "--name", "gpt") == 0
    out = capsys.readouterr().out
    # repr() quotes the sample with " when it contains a ', so either quote may open it
    assert ("sample: 'The " in out or 'sample: "The ' in out) and "next-character accuracy" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "-1"], "expected a non-negative integer"),
    (["train", "--batch-size", "0"], "expected a positive integer"),
    (["train", "--lr", "abc"], "expected a positive number"),
    (["train", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["train", "--model", "gpt", "--dataset", "digits"], "--model gpt trains on --dataset text"),
    (["train", "--resume", "/nonexistent/run"], "no checkpoint at"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_exit_with_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
