"""nn.Parameter: a Tensor subclass that Modules register as a learnable parameter.

A Parameter is a real ember.Tensor (the C++ ops accept it as is): its constructor aliases the data of the
tensor it is given, without that tensor's autograd history, as torch.nn.Parameter does."""
import copy

from .. import _C
from .._C import Tensor


class Parameter(Tensor):
    """A tensor that is a module parameter: `requires_grad=True` by default; shares `data`'s memory."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected data to be an ember.Tensor, got {type(data).__name__}")
        Tensor.__init__(self, _shared_from=data)
        self.requires_grad_(bool(requires_grad))

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(self.detach().clone(), self.requires_grad)
        if self.grad is not None:
            result.grad = self.grad.clone()
        memo[id(self)] = result
        return result

    def __copy__(self):
        return Parameter(self.detach(), self.requires_grad)

    def __reduce_ex__(self, protocol):
        # pickles as (data as a NumPy array, requires_grad); ember.save uses safetensors, this is for copy/pickle
        return (_rebuild_parameter, (copy.deepcopy(self.detach().numpy()), self.requires_grad))


def _rebuild_parameter(array, requires_grad):
    return Parameter(_C.from_numpy(array), requires_grad)
