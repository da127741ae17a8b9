"""The Optimizer base class: parameter groups with defaults, per-parameter state, zero_grad, state_dict in PyTorch's
layout. Subclasses validate hyperparameters and make ONE fused C++ call per group in `_update_group`; the Python
here only collects tensor lists (cached between steps) and never runs per-element math. The cache follows changes to
param_groups, state (load_state_dict, new entries) and grads; replacing one state tensor in place of another
(`opt.state[p]['exp_avg'] = t`) needs `opt._lists_cache.clear()`."""
from collections import defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

from .. import _C
from .._C import Tensor
from ..autograd import enable_grad

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyperparameter without a default: every param group must then give it."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj):
    if isinstance(obj, Tensor):
        return "ember.Tensor"
    module = type(obj).__module__
    return type(obj).__qualname__ if module in (None, "builtins") else f"{module}.{type(obj).__qualname__}"


class _GroupTensors:
    """The cached tensors one fused call needs for a group, valid while the group and the state stay the same."""
    __slots__ = ("group", "params", "count", "keys", "state", "state_len", "tensors")


class Optimizer:
    """Base class of all optimizers: holds `param_groups` (dicts with 'params' and hyperparameters) and `state`
    (a dict keyed by parameter)."""

    # Names of the per-parameter state tensors the fused step takes, in order; None entries are omitted.
    def _state_keys(self, group):
        return ()

    def _init_state(self, param, group, state):
        """Fills the (empty) state of a parameter before its first update."""

    def _update_group(self, group, params, tensors):
        """One fused C++ call updating every parameter of the group that has a gradient."""
        raise NotImplementedError

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._lists_cache = {}
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got " + _typename(params))
        if isinstance(params, dict):
            params = [params]
        try:
            param_groups = list(params)
        except TypeError:
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got " + _typename(params)) from None
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(dict(param_group))

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lists_cache = {}

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    # ---- parameter groups

    def add_param_group(self, param_group):
        """Adds a group of parameters (a dict with 'params' and optional hyperparameters overriding the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        param_group["params"] = params
        if len(params) == 0:
            raise ValueError("optimizer got an empty parameter list")

        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not (param.is_leaf or getattr(param, "retains_grad", False)):
                raise ValueError("can't optimize a non-leaf Tensor")
            if param.dtype not in (_C.dtype.float32, _C.dtype.float64):
                raise TypeError(f"optimizer can only optimize float32 or float64 Tensors, got {param.dtype}")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)

        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters; ember updates a group "
                             "in one fused call, so each parameter may appear only once")
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                current = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {current} to the optimizer")
            if not ids.isdisjoint(id(p) for p in group["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(param_group)
        self.param_groups.append(param_group)

    def _check_group(self, group):
        """Validates a group's hyperparameters (subclasses override)."""

    # ---- gradients and steps

    def zero_grad(self, set_to_none=True):
        """Resets the gradients of all optimized parameters: to None (default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if grad.grad_fn is not None:
                        grad = grad.detach()
                        p.grad = grad
                    grad.zero_()

    def step(self, closure=None):
        """Performs one update of every group; `closure` (re-evaluating the loss) runs first with grad enabled."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = group["params"]
            self._update_group(group, params, self._group_tensors(group, params))
        return loss

    def _group_tensors(self, group, params):
        """The group's tensors for the fused call (_C._GroupTensors: params and, per state key, the state tensors
        aligned with params, None where absent); state is created for parameters that have a gradient and none yet.
        Cached once every parameter has all its state, so that a step then costs a few checks here and no list
        conversion (the kernels read each parameter's .grad themselves)."""
        keys = self._state_keys(group)
        cache = self._lists_cache.get(id(group))
        if (cache is not None and cache.group is group and cache.params is params and cache.count == len(params)
                and cache.keys == keys and cache.state is self.state and cache.state_len == len(self.state)):
            return cache.tensors
        state = self.state
        if keys:
            for p in params:
                if p.grad is not None and not state.get(p):
                    self._init_state(p, group, state[p])
        lists = []
        complete = True
        for key in keys:
            column = [state[p].get(key) if p in state else None for p in params]
            complete = complete and all(t is not None for t in column)
            lists.append(column)
        tensors = _C._GroupTensors(params, None, lists)
        if complete:
            cache = _GroupTensors()
            cache.group, cache.params, cache.count, cache.keys = group, params, len(params), keys
            cache.state, cache.state_len, cache.tensors = self.state, len(self.state), tensors
            self._lists_cache[id(group)] = cache
        return tensors

    # ---- serialisation (PyTorch's layout)

    def state_dict(self):
        """{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index, ...]}]}; parameters are
        numbered in group order. State tensors are the live ones (as in PyTorch)."""
        index_of = {}
        next_index = 0
        packed_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if id(p) not in index_of:
                    index_of[id(p)] = next_index
                    next_index += 1
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            packed_groups.append(packed)
        packed_state = {(index_of[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict):
        """Loads a state_dict() of an optimizer with the same groups (sizes must match). State tensors are copied
        into the parameters' dtype; a step count may be a number, a tensor or a NumPy array."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups'")
        groups = self.param_groups
        saved_groups = [_copy_value(dict(group)) for group in state_dict["param_groups"]]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = {name: _load_state_value(param, name, v) for name, v in value.items()}
            else:
                state[key] = _copy_value(value)
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        for group in new_groups:
            self._check_group(group)
        self.state = state
        self.param_groups = new_groups
        self._lists_cache = {}


def _copy_value(value):
    """A deep copy in which tensors are cloned (containers are rebuilt, other values deep-copied)."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_value(v) for v in value)
    return deepcopy(value)


def _to_tensor(value):
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return _C.from_numpy(np.array(value, copy=True))
    return None


def _load_state_value(param, name, value):
    """A copy of a saved state entry: 'step' as a float32 one-element tensor, other tensors in the param's dtype."""
    if name == "step":
        tensor = _to_tensor(value)
        number = float(tensor.item()) if tensor is not None else float(value)
        return _C.full((), number, dtype=_C.dtype.float32)
    tensor = _to_tensor(value)
    if tensor is None:
        return _copy_value(value)
    if tensor.dtype in (_C.dtype.float32, _C.dtype.float64) and tensor.dtype != param.dtype:
        return tensor.detach().to(param.dtype).contiguous().clone()
    return tensor.detach().contiguous().clone()
