"""Hyperparameter checks shared by the optimizers, with PyTorch's messages; and the options ember ignores."""
from .._C import Tensor


def number(value):
    """A Python float from a number or a one-element tensor (PyTorch accepts Tensor lr)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        return float(value.item())
    return value


def non_negative(value, what):
    """Raises ValueError(f"Invalid {what}: {value}") unless 0 <= value (NaN fails)."""
    if not 0.0 <= number(value):
        raise ValueError(f"Invalid {what}: {value}")


def unsupported_flags(name, differentiable=False, capturable=False):
    if differentiable:
        raise NotImplementedError(f"{name}: differentiable=True is not supported by ember")
    if capturable:
        raise NotImplementedError(f"{name}: capturable=True is not supported by ember (CPU only)")
