"""Regression tests for the crashes and wrong results the property tests found, one test per bug (each names the
file that was fixed)."""
import numpy as np
import pytest

import ember


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((0,), 0), ((2, 0), 1), ((3, 0, 2), 1), ((0, 3), 0)])
def test_softmax_backward_of_an_empty_tensor_does_not_divide_by_zero(op, shape, dim):
    # csrc/ops/softmax.cpp SoftmaxBackward::apply: kGrain / row length with a size-0 row killed the process (SIGFPE)
    x = ember.zeros(*shape, dtype=ember.float32).requires_grad_(True)
    getattr(ember, op)(x, dim).backward(ember.ones(*shape))
    assert tuple(x.grad.shape) == shape
