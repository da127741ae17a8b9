"""SGD with momentum, dampening, Nesterov, weight decay and maximize; one fused C++ call per parameter group.

    g = -grad if maximize else grad;  g += weight_decay * param
    if momentum: buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
                 g = g + momentum * buf if nesterov else buf
    param -= lr * g
"""
from .. import _C
from ._validate import non_negative, number, unsupported_flags
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        non_negative(lr, "learning rate")
        non_negative(momentum, "momentum value")
        non_negative(weight_decay, "weight_decay value")
        unsupported_flags("SGD", differentiable)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _check_group(self, group):
        non_negative(group["lr"], "learning rate")
        non_negative(group["momentum"], "momentum value")
        non_negative(group["weight_decay"], "weight_decay value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _state_keys(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update_group(self, group, params, tensors):
        created = _C._sgd_step(tensors, number(group["lr"]), group["momentum"], group["dampening"],
                               group["weight_decay"], group["nesterov"], group["maximize"])
        if created is not None:   # the first step of some parameters made their momentum buffers
            for p, buffer in zip(params, created):
                if buffer is not None:
                    self.state[p]["momentum_buffer"] = buffer
