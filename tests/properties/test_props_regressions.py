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


@pytest.mark.parametrize("make", [lambda: ember.empty(2 ** 40), lambda: ember.zeros(2 ** 62, 4),
                                  lambda: ember.ones(2 ** 31, 2 ** 31, 2 ** 31), lambda: ember.rand(2 ** 50),
                                  lambda: ember.full((2 ** 63 - 1, 2), 1.0)])
def test_huge_allocations_raise_memory_error_naming_the_op_and_size(make):
    # csrc/core/tensor.cpp checked_numel/empty: the MemoryError said only "std::bad_alloc"
    with pytest.raises(MemoryError, match=r"empty: .*size \("):
        make()


def test_out_of_range_index_errors_name_the_op():
    # csrc/ops/index.cpp and csrc/ops/views.cpp: "index 3 is out of bounds ..." did not say which op
    x = ember.zeros(2, 3)
    with pytest.raises(IndexError, match="index_select: index 3 is out of bounds for dimension 1 with size 3"):
        ember.index_select(x, 1, ember.tensor([0, 3]))
    with pytest.raises(IndexError, match="select: index -4 is out of bounds"):
        ember.select(x, 1, -4)
    with pytest.raises(IndexError, match="index: index 2 is out of bounds"):
        x[ember.tensor([2])]


def test_expand_of_a_size_one_dim_to_a_negative_size_names_expand():
    # csrc/ops/views.cpp expand: (1,) -> (-2,) passed the size check and failed later as "view: negative dimension"
    with pytest.raises(ValueError, match="expand: negative size -2"):
        ember.zeros(1).expand(-2)


@pytest.mark.parametrize("op", ["mse_loss", "l1_loss", "huber_loss", "cross_entropy", "nll_loss",
                                "binary_cross_entropy"])
def test_bad_reduction_errors_name_the_loss(op):
    # python/ember/nn/functional.py _reduction: "avg is not a valid value for reduction" did not say which loss
    from ember.nn import functional as F
    target = ember.zeros(2, dtype=ember.int64) if op in ("cross_entropy", "nll_loss") else ember.full((2, 3), 0.5)
    with pytest.raises(ValueError, match=f"{op}: avg is not a valid value for reduction"):
        getattr(F, op)(ember.full((2, 3), 0.5), target, reduction="avg")
    with pytest.raises(ValueError, match="MSELoss: avg is not a valid value"):
        ember.nn.MSELoss(reduction="avg")


@pytest.mark.parametrize("op", ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"])
def test_loss_target_that_does_not_broadcast_names_the_loss(op):
    # python/ember/nn/functional.py _pair: the error came from inside the formula ("sub: shapes ... cannot be broadcast")
    from ember.nn import functional as F
    with pytest.raises(ValueError, match=f"{op}: the target size \\(2, 3\\) does not broadcast"):
        getattr(F, op)(ember.zeros(1, 2), ember.zeros(2, 3))


@pytest.mark.parametrize("dtype", [[], {"a": 1}, 3, None])
def test_safetensors_header_with_a_non_string_dtype_is_a_value_error(tmp_path, dtype):
    # python/ember/io.py _validate_entries: `dtype in {...}` raised TypeError (unhashable list) instead of ValueError
    import json
    text = json.dumps({"x": {"dtype": dtype, "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"\0" * 4)
    with pytest.raises(ValueError, match="bad.safetensors.*dtype must be a string"):
        ember.load(path)


def test_safetensors_errors_name_the_file_and_deep_json_is_refused(tmp_path):
    # python/ember/io.py load: errors did not name the file; 100k-deep JSON raised RecursionError
    path = tmp_path / "deep.safetensors"
    text = b"[" * 100_000 + b"]" * 100_000
    path.write_bytes(len(text).to_bytes(8, "little") + text)
    with pytest.raises(ValueError, match="load: .*deep.safetensors.*nested too deeply"):
        ember.load(path)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizers_step_a_size_zero_parameter_from_numpy(name):
    # csrc/core/tensor.cpp Tensor::is_contiguous: an empty tensor with NumPy's zero strides was "not contiguous", so
    # every fused optimizer step refused it ("sgd_step: params[0] is not contiguous")
    p = ember.from_numpy(np.zeros(0, np.float32)).requires_grad_(True)
    assert p.is_contiguous() and ember.zeros(0, 3).t().is_contiguous()
    p.grad = ember.from_numpy(np.zeros(0, np.float32))
    getattr(ember.optim, name)([p], lr=0.1).step()
    assert tuple(p.shape) == (0,)
