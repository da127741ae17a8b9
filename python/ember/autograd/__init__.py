"""ember.autograd: backward, grad, grad-mode context managers and float64 gradcheck."""
import functools

from .. import _C
from .gradcheck import gradcheck


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulates gradients of `tensors` into the .grad of the leaves they depend on."""
    _C._backward(tensors, grad_tensors, bool(retain_graph), create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned as a tuple; no .grad is touched."""
    return _C._grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused)


class set_grad_enabled:
    """Context manager (and function) that sets grad mode on or off."""

    def __init__(self, mode):
        self.prev = _C.is_grad_enabled()
        self.mode = bool(mode)
        _C._set_grad_enabled(self.mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)
        return False


class _GradMode:
    mode = True

    def __enter__(self):
        self.prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Disables gradient recording inside the block (or the decorated function)."""
    mode = False


class enable_grad(_GradMode):
    """Enables gradient recording inside the block (or the decorated function)."""
    mode = True


class inference_mode(_GradMode):
    """Same as no_grad in ember."""
    mode = False

    def __init__(self, mode=True):
        self.mode = not mode
