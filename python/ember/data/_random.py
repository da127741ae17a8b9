"""Random number sources for ember.data: a NumPy generator seeded either by the caller or by ember's global RNG,
so that `ember.manual_seed(s)` makes shuffling, splitting and augmentation reproducible."""
import numpy as np

from .. import _C


def seed_from_ember():
    """A 64-bit seed drawn from ember's global RNG (advances it, like any other ember random call)."""
    halves = _C._randint(0, 2 ** 31, (2,), _C.dtype.int64).numpy()
    return (int(halves[0]) << 31) | int(halves[1])


def check_seed(seed, owner):
    """Validates a user seed: None or a non-negative int."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{owner}: seed must be an int or None, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{owner}: seed must be non-negative, got {seed}")
    return int(seed)


def make_generator(seed):
    """A NumPy generator from `seed`, or from a fresh seed drawn from ember's RNG when `seed` is None."""
    return np.random.default_rng(seed_from_ember() if seed is None else seed)


class RandomSource:
    """The generator of one seeded object: fixed sequence when seeded, ember's RNG (drawn per use) when not."""

    def __init__(self, seed, owner):
        self.seed = check_seed(seed, owner)
        self._generator = None if self.seed is None else np.random.default_rng(self.seed)

    def generator(self):
        """The generator to use for one call (a batch, an epoch)."""
        return self._generator if self._generator is not None else make_generator(None)
