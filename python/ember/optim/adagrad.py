"""Adagrad with lr_decay, initial_accumulator_value and maximize; one fused C++ call per parameter group.

    step += 1;  g = -grad if maximize else grad;  g += weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay);  sum += g * g;  param -= clr * g / (sqrt(sum) + eps)
"""
from .. import _C
from ._validate import non_negative, number, unsupported_flags
from .optimizer import Optimizer


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        unsupported_flags("Adagrad", differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        self._check_group(defaults)
        super().__init__(params, defaults)
        # As PyTorch, the state of every parameter exists from the start.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state[p])

    def _check_group(self, group):
        non_negative(group["lr"], "learning rate")
        non_negative(group["lr_decay"], "lr_decay value")
        non_negative(group["weight_decay"], "weight_decay value")
        non_negative(group["initial_accumulator_value"], "initial_accumulator_value value")
        non_negative(group["eps"], "epsilon value")

    def _state_keys(self, group):
        return ("step", "sum")

    def _init_state(self, param, group, state):
        state["step"] = _C.zeros((), dtype=_C.dtype.float32)
        state["sum"] = _C.full(param.shape, float(group["initial_accumulator_value"]), dtype=param.dtype)

    def _update_group(self, group, params, tensors):
        _C._adagrad_step(tensors, number(group["lr"]), group["lr_decay"], group["weight_decay"], group["eps"],
                         group["maximize"])
