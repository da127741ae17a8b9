"""Bad hyperparameters and bad parameter lists raise PyTorch's errors (and ember's stricter duplicate check)."""
import pytest

import ember
import ember.optim as eoptim


def params(n=2):
    return [ember.zeros((3,), requires_grad=True) for _ in range(n)]


@pytest.mark.parametrize("make,error,message", [
    (lambda: eoptim.SGD(params(), lr=-1), ValueError, "^Invalid learning rate: -1$"),
    (lambda: eoptim.SGD(params(), lr=0.1, momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
    (lambda: eoptim.SGD(params(), lr=0.1, weight_decay=-1e-4), ValueError, "Invalid weight_decay value"),
    (lambda: eoptim.SGD(params(), lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires a momentum"),
    (lambda: eoptim.SGD(params(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "zero dampening"),
    (lambda: eoptim.Adam(params(), lr=-0.01), ValueError, "Invalid learning rate: -0.01"),
    (lambda: eoptim.Adam(params(), betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0: 1.0"),
    (lambda: eoptim.Adam(params(), betas=(0.9, -0.1)), ValueError, "Invalid beta parameter at index 1: -0.1"),
    (lambda: eoptim.Adam(params(), eps=-1e-8), ValueError, "Invalid epsilon value: -1e-08"),
    (lambda: eoptim.AdamW(params(), weight_decay=-0.1), ValueError, "Invalid weight_decay value: -0.1"),
    (lambda: eoptim.Adam(params(), differentiable=True), NotImplementedError, "differentiable"),
    (lambda: eoptim.Adagrad(params(), lr_decay=-1), ValueError, "Invalid lr_decay value: -1"),
    (lambda: eoptim.Adagrad(params(), initial_accumulator_value=-1), ValueError,
     "Invalid initial_accumulator_value value: -1"),
    (lambda: eoptim.Adagrad(params(), eps=-1), ValueError, "Invalid epsilon value: -1"),
    (lambda: eoptim.RMSprop(params(), alpha=-0.1), ValueError, "Invalid alpha value: -0.1"),
    (lambda: eoptim.RMSprop(params(), momentum=-0.1), ValueError, "Invalid momentum value: -0.1"),
    (lambda: eoptim.RMSprop(params(), lr=float("nan")), ValueError, "Invalid learning rate: nan"),
    (lambda: eoptim.SGD([], lr=0.1), ValueError, "optimizer got an empty parameter list"),
    (lambda: eoptim.Adam(iter([])), ValueError, "optimizer got an empty parameter list"),
    (lambda: eoptim.SGD(ember.zeros((3,)), lr=0.1), TypeError, "should be an iterable of Tensors or dicts"),
    (lambda: eoptim.SGD([ember.zeros((2,)), 3.0], lr=0.1), TypeError, "one of the params is float"),
    (lambda: eoptim.SGD([ember.zeros((2,), requires_grad=True) * 2], lr=0.1), ValueError,
     "can't optimize a non-leaf Tensor"),
    (lambda: eoptim.SGD({"params": set(params())}, lr=0.1), TypeError, "ordered collections"),
    (lambda: eoptim.SGD([ember.zeros((2,), dtype=ember.int64)], lr=0.1), TypeError, "float32 or float64"),
])
def test_bad_construction(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_duplicate_parameters():
    p, q = params()
    with pytest.raises(ValueError, match="duplicate parameters"):
        eoptim.SGD([p, q, p], lr=0.1)
    opt = eoptim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [q, p]})
    assert len(opt.param_groups) == 1


def test_add_param_group_defaults_and_checks():
    p, q = params()
    opt = eoptim.Adam([p], lr=0.01, betas=(0.8, 0.9))
    opt.add_param_group({"params": q, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.8, 0.9)
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([ember.zeros((1,), requires_grad=True)])
    with pytest.raises(ValueError, match="Invalid learning rate: -2"):
        opt.add_param_group({"params": [ember.zeros((1,), requires_grad=True)], "lr": -2})


def test_required_hyperparameter():
    class Custom(eoptim.Optimizer):
        def __init__(self, params, lr=eoptim.optimizer.required):
            super().__init__(params, dict(lr=lr))

    Custom([{"params": params(1), "lr": 0.1}])
    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Custom(params(1))


def test_load_state_dict_checks_group_sizes():
    opt = eoptim.SGD(params(2), lr=0.1)
    other = eoptim.SGD(params(3), lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict(other.state_dict())
    two_groups = eoptim.SGD([{"params": params(1)}, {"params": params(1)}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(two_groups.state_dict())


def test_mismatched_gradient_raises():
    p = ember.zeros((3,), requires_grad=True)
    opt = eoptim.Adam([p])
    with pytest.raises((RuntimeError, ValueError, TypeError)):   # refused by the setter or by the step
        p.grad = ember.zeros((4,))
        opt.step()
    assert p.detach().numpy().tolist() == [0.0, 0.0, 0.0]


def test_repr_lists_groups():
    text = repr(eoptim.SGD(params(), lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text
