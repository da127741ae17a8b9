"""EMBER_ISA=ref|avx2|avx512 forces the kernel level of a fresh process: config() reports it, and ops computed
under each level agree with each other (exactly for arithmetic, to a few ulps for transcendental functions)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ember import _C

LEVELS = [level for level in ("ref", "avx2", "avx512") if _C.isa_available(level)]

CHILD = r"""
import json, numpy as np, ember
x = ember.from_numpy(np.linspace(-9.0, 9.0, 1001, dtype=np.float32))
y = ember.from_numpy(np.linspace(3.0, -2.0, 1001, dtype=np.float32))
results = {
    "add": ember.add(x, y), "mul": ember.mul(x, y), "div": ember.div(x, y), "maximum": ember.maximum(x, y),
    "exp": ember.exp(x), "tanh": ember.tanh(x), "sigmoid": ember.sigmoid(x), "relu": ember.relu(x),
    "silu": ember.silu(x), "sum": ember.sum(x), "sum_exp": ember.sum(ember.exp(x)),
}
print(json.dumps({"isa": ember.config()["isa"],
                  "results": {k: np.asarray(v.numpy(), dtype=np.float64).ravel().tolist() for k, v in results.items()}}))
"""
EXACT = {"add", "mul", "div", "maximum", "relu"}


def run_with_isa(level):
    env = dict(os.environ, EMBER_ISA=level)
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def outputs():
    return {level: run_with_isa(level) for level in LEVELS}


@pytest.mark.parametrize("level", LEVELS)
def test_forced_level_is_reported(outputs, level):
    assert outputs[level]["isa"] == level


@pytest.mark.parametrize("level", [level for level in LEVELS if level != "ref"])
def test_forced_levels_agree_with_ref(outputs, level):
    ref = outputs["ref"]["results"]
    got = outputs[level]["results"]
    assert set(got) == set(ref)
    for name in ref:
        if name in EXACT:
            np.testing.assert_array_equal(got[name], ref[name], err_msg=f"{level} {name}")
        elif name == "sum":   # sum(x) cancels to ~0: compare against the size of sum(|x|) = 4509
            np.testing.assert_allclose(got[name], ref[name], rtol=0, atol=1e-6 * 4509, err_msg=f"{level} {name}")
        else:
            np.testing.assert_allclose(got[name], ref[name], rtol=2e-6, atol=1e-6, err_msg=f"{level} {name}")


def test_unknown_level_falls_back_to_best():
    """An EMBER_ISA the CPU lacks (or an unknown name) still gives a working process at a supported level."""
    done = run_with_isa("not-a-level")
    assert done["isa"] in LEVELS
