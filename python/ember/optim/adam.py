"""Adam and AdamW (decoupled weight decay), with amsgrad and maximize; one fused C++ call per parameter group.

    step += 1;  g = -grad if maximize else grad
    AdamW: param *= 1 - lr * weight_decay      Adam: g += weight_decay * param
    m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g;  amsgrad: v_max = max(v_max, v), use v_max
    param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
"""
from .. import _C
from ._validate import non_negative, number, unsupported_flags
from .optimizer import Optimizer


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        unsupported_flags(type(self).__name__, differentiable, capturable)
        betas = tuple(number(b) for b in betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        non_negative(group["lr"], "learning rate")
        non_negative(group["eps"], "epsilon value")
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"Invalid betas: expected two values, got {betas}")
        for i, beta in enumerate(betas):
            if not 0.0 <= number(beta) < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        non_negative(group["weight_decay"], "weight_decay value")

    def _state_keys(self, group):
        if group["amsgrad"]:
            return ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("step", "exp_avg", "exp_avg_sq")

    def _init_state(self, param, group, state):
        state["step"] = _C.zeros((), dtype=_C.dtype.float32)
        state["exp_avg"] = _C.zeros(param.shape, dtype=param.dtype)
        state["exp_avg_sq"] = _C.zeros(param.shape, dtype=param.dtype)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = _C.zeros(param.shape, dtype=param.dtype)

    def _update_group(self, group, params, tensors):
        beta1, beta2 = group["betas"]
        _C._adam_step(tensors, number(group["lr"]), number(beta1), number(beta2), group["eps"], group["weight_decay"],
                      group["amsgrad"], group["maximize"], group["decoupled_weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay (param *= 1 - lr * weight_decay before the Adam update)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
