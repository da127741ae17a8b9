"""Shared pytest fixtures: a fixed seed for every test and the SIMD levels this CPU can run."""
import numpy as np
import pytest

import ember


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)
    np.random.seed(0)


def available_isas():
    return [level for level in ("ref", "avx2", "avx512") if ember._C.isa_available(level)]
