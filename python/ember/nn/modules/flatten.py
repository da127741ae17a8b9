"""Flatten and Unflatten: reshaping layers (views where the layout allows)."""
from .module import Module


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim `dim` into `unflattened_size` (a tuple of ints; one may be -1)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(dim, int):
            raise TypeError(f"Unflatten: invalid type {type(dim).__name__} for dim (expected an int)")
        if not isinstance(unflattened_size, (tuple, list)) or not all(isinstance(s, int) for s in unflattened_size):
            raise TypeError("Unflatten: unflattened_size must be a tuple of ints, got " + repr(unflattened_size))
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        shape = list(input.shape)
        if not -len(shape) <= self.dim < len(shape):
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for an input of {len(shape)} dims")
        dim = self.dim % len(shape)
        try:
            return input.reshape(tuple(shape[:dim]) + self.unflattened_size + tuple(shape[dim + 1:]))
        except (ValueError, RuntimeError) as exc:
            raise type(exc)(f"Unflatten: cannot unflatten dim {self.dim} of size {shape[dim]} into "
                            f"{self.unflattened_size}: {exc}") from exc

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
