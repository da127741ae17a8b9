"""The examples run end to end and reach their accuracy targets."""
import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_classifier_reaches_97_percent(capsys):
    accuracy = load_example("mlp_classifier").main([])
    assert accuracy >= 0.97
    assert "test accuracy" in capsys.readouterr().out


def test_char_gpt_loss_falls_below_the_unigram_entropy(capsys):
    final, entropy, sample = load_example("char_gpt").main(["--steps", "200", "--sample-length", "40"])
    assert final < entropy - 0.5
    assert sample.startswith("The ") and len(sample) == 44
    assert "sample:" in capsys.readouterr().out
