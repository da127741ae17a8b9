"""RMSprop with momentum, centering, weight decay and maximize; one fused C++ call per parameter group.

    g = -grad if maximize else grad;  g += weight_decay * param;  v = alpha * v + (1 - alpha) * g * g
    centered: g_avg = lerp(g_avg, g, 1 - alpha), avg = sqrt(v - g_avg^2) + eps;  else avg = sqrt(v) + eps
    momentum > 0: buf = momentum * buf + g / avg, param -= lr * buf;  else param -= lr * g / avg
"""
from .. import _C
from ._validate import non_negative, number, unsupported_flags
from .optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        unsupported_flags("RMSprop", differentiable, capturable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
                        capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        non_negative(group["lr"], "learning rate")
        non_negative(group["eps"], "epsilon value")
        non_negative(group["momentum"], "momentum value")
        non_negative(group["weight_decay"], "weight_decay value")
        non_negative(group["alpha"], "alpha value")

    def _state_keys(self, group):
        keys = ("step", "square_avg")
        if group["momentum"] > 0:
            keys += ("momentum_buffer",)
        if group["centered"]:
            keys += ("grad_avg",)
        return keys   # the order _C._rmsprop_step expects

    def _init_state(self, param, group, state):
        state["step"] = _C.zeros((), dtype=_C.dtype.float32)
        state["square_avg"] = _C.zeros(param.shape, dtype=param.dtype)
        if group["momentum"] > 0:
            state["momentum_buffer"] = _C.zeros(param.shape, dtype=param.dtype)
        if group["centered"]:
            state["grad_avg"] = _C.zeros(param.shape, dtype=param.dtype)

    def _update_group(self, group, params, tensors):
        _C._rmsprop_step(tensors, number(group["lr"]), group["alpha"], group["eps"], group["weight_decay"],
                         group["momentum"], group["centered"], group["maximize"])
