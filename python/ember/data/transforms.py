"""Batch transforms for augmentation: each takes a whole (N, C, H, W) batch (ember tensor or NumPy array) and
returns the same kind, drawing per-image parameters at once and working with vectorised NumPy (no per-image or
per-pixel Python loop). Randomness: a transform built with `seed` repeats the same sequence; without one it draws
from ember's global RNG, so `ember.manual_seed` makes it reproducible."""
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import _C
from ._random import RandomSource


def _unpack(x, owner, ndim=4, need_float=False):
    """(array, was_tensor) for a batch; validates rank and dtype."""
    was_tensor = isinstance(x, _C.Tensor)
    if was_tensor:
        arr = x.detach()._numpy_view()
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        raise TypeError(f"{owner}: expected an ember Tensor or a NumPy array, got {type(x).__name__}")
    if ndim == 4 and arr.ndim != 4:
        raise ValueError(f"{owner}: expected an (N, C, H, W) batch, got shape {tuple(arr.shape)}")
    if arr.ndim < ndim:
        raise ValueError(f"{owner}: expected a batch with at least {ndim} dimensions, got shape {tuple(arr.shape)}")
    if need_float and arr.dtype.kind != "f":
        raise TypeError(f"{owner}: expected a floating-point batch, got dtype {arr.dtype}")
    return arr, was_tensor


def _pack(arr, was_tensor):
    return _C.from_numpy(np.ascontiguousarray(arr)) if was_tensor else arr


def _pair(value, owner, name):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"{owner}: {name} must be a positive int or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


def _check_probability(p, owner):
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{owner}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


class Compose:
    """Applies transforms one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t!r},\n" for t in self.transforms) + ")"


class Lambda:
    """Wraps a function of a batch as a transform."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("Lambda: fn must be callable")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class Normalize:
    """(x - mean[c]) / std[c] for each channel c of an (N, C, ...) batch."""

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("Normalize: mean and std must be numbers or sequences of numbers (one per channel)")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std.tolist()}")

    def __call__(self, x):
        arr, was_tensor = _unpack(x, "Normalize", ndim=2, need_float=True)
        channels = arr.shape[1]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values.size not in (1, channels):
                raise ValueError(f"Normalize: {name} has {values.size} values but the batch has {channels} channels")
        shape = (1, -1) + (1,) * (arr.ndim - 2)
        mean = self.mean.astype(arr.dtype).reshape(shape)
        std = self.std.astype(arr.dtype).reshape(shape)
        return _pack((arr - mean) / std, was_tensor)

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomHorizontalFlip:
    """Mirrors each image left-right with probability p."""
    axis = 3

    def __init__(self, p=0.5, seed=None):
        self.p = _check_probability(p, type(self).__name__)
        self._random = RandomSource(seed, type(self).__name__)

    def __call__(self, x):
        arr, was_tensor = _unpack(x, type(self).__name__)
        flip = self._random.generator().random(arr.shape[0]) < self.p
        mirrored = np.flip(arr, axis=self.axis)
        return _pack(np.where(flip[:, None, None, None], mirrored, arr), was_tensor)

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirrors each image top-bottom with probability p."""
    axis = 2


class RandomCrop:
    """Pads the batch (`padding`: int, (left/right, top/bottom) or (left, top, right, bottom)) and cuts a
    size-(h, w) window at a random place in each image."""

    def __init__(self, size, padding=None, fill=0.0, padding_mode="constant", seed=None):
        self.size = _pair(size, "RandomCrop", "size")
        self.padding = self._parse_padding(padding)
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: padding_mode must be constant, edge, reflect or symmetric, "
                             f"got {padding_mode!r}")
        self.fill = fill
        self.padding_mode = padding_mode
        self._random = RandomSource(seed, "RandomCrop")

    @staticmethod
    def _parse_padding(padding):
        if padding is None:
            return (0, 0, 0, 0)
        if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
            padding = (padding,)
        padding = tuple(padding)
        if len(padding) not in (1, 2, 4) or not all(isinstance(p, numbers.Integral) and p >= 0 for p in padding):
            raise ValueError(f"RandomCrop: padding must be non-negative ints (1, 2 or 4 of them), got {padding!r}")
        if len(padding) == 1:
            return padding * 4
        if len(padding) == 2:
            return (padding[0], padding[1], padding[0], padding[1])
        return padding

    def __call__(self, x):
        arr, was_tensor = _unpack(x, "RandomCrop")
        left, top, right, bottom = self.padding
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        if self.padding_mode == "constant":
            padded = np.pad(arr, widths, mode="constant", constant_values=self.fill)
        else:
            padded = np.pad(arr, widths, mode=self.padding_mode)
        (h, w), (N, _, H, W) = self.size, padded.shape
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop size {(h, w)} is larger than the padded image {(H, W)}")
        rng = self._random.generator()
        tops, lefts = rng.integers(0, H - h + 1, N), rng.integers(0, W - w + 1, N)
        windows = sliding_window_view(padded, (h, w), axis=(2, 3))       # (N, C, H-h+1, W-w+1, h, w)
        return _pack(windows[np.arange(N), :, tops, lefts], was_tensor)  # (N, C, h, w)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


def affine_sample(images, angles, translations, scales, fill=0.0, interpolation="bilinear"):
    """Resamples each image of (N, C, H, W) `images` under its own affine map about the image centre: rotation by
    angles[n] degrees (counter-clockwise as displayed), scaling by scales[n], then a shift of translations[n] =
    (dx, dy) pixels. Pixels that come from outside the image get `fill`. Vectorised over the whole batch."""
    N, C, H, W = images.shape
    center_y, center_x = (H - 1) / 2.0, (W - 1) / 2.0
    radians = np.deg2rad(np.asarray(angles, dtype=np.float64))
    cos, sin = np.cos(radians)[:, None, None], np.sin(radians)[:, None, None]
    scale = np.asarray(scales, dtype=np.float64)[:, None, None]
    shift = np.asarray(translations, dtype=np.float64).reshape(N, 2)
    rows, cols = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    dx = cols[None] - center_x - shift[:, 0, None, None]                  # (N, H, W), output relative to centre
    dy = rows[None] - center_y - shift[:, 1, None, None]
    source_x = center_x + (cos * dx - sin * dy) / scale                   # inverse map: where each output comes from
    source_y = center_y + (sin * dx + cos * dy) / scale
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill)   # border of `fill`
    batch = np.arange(N)[:, None, None]

    def gather(y, x):      # integer source coordinates (N, H, W) -> values (N, H, W, C); outside -> fill
        y = np.clip(y, -1, H).astype(np.intp) + 1
        x = np.clip(x, -1, W).astype(np.intp) + 1
        return padded[batch, :, y, x]

    if interpolation == "nearest":
        out = gather(np.floor(source_y + 0.5), np.floor(source_x + 0.5))
    else:
        y0, x0 = np.floor(source_y), np.floor(source_x)
        wy = (source_y - y0)[..., None].astype(images.dtype)
        wx = (source_x - x0)[..., None].astype(images.dtype)
        top = gather(y0, x0) * (1 - wx) + gather(y0, x0 + 1) * wx
        bottom = gather(y0 + 1, x0) * (1 - wx) + gather(y0 + 1, x0 + 1) * wx
        out = top * (1 - wy) + bottom * wy
    return out.transpose(0, 3, 1, 2).astype(images.dtype, copy=False)


def _range(value, owner, name, center=0.0):
    """A number d -> (center - d, center + d); a pair stays a pair."""
    if isinstance(value, numbers.Real):
        if value < 0:
            raise ValueError(f"{owner}: {name} must be non-negative when a single number, got {value}")
        return (center - float(value), center + float(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, numbers.Real) for v in value):
        if value[0] > value[1]:
            raise ValueError(f"{owner}: {name} range must be (min, max), got {tuple(value)}")
        return (float(value[0]), float(value[1]))
    raise ValueError(f"{owner}: {name} must be a number or a (min, max) pair, got {value!r}")


class RandomAffine:
    """Random rotation (degrees: d or (min, max)), translation (translate: (a, b) fractions of width and height)
    and scaling (scale: (min, max)) of each image, sampled bilinearly (or nearest) with `fill` outside."""

    def __init__(self, degrees, translate=None, scale=None, fill=0.0, interpolation="bilinear", seed=None):
        owner = type(self).__name__
        self.degrees = _range(degrees, owner, "degrees")
        if translate is not None:
            if (not isinstance(translate, (tuple, list)) or len(translate) != 2
                    or not all(isinstance(t, numbers.Real) and 0 <= t <= 1 for t in translate)):
                raise ValueError(f"{owner}: translate must be a pair of fractions in [0, 1], got {translate!r}")
            translate = (float(translate[0]), float(translate[1]))
        if scale is not None:
            scale = _range(scale, owner, "scale")
            if scale[0] <= 0:
                raise ValueError(f"{owner}: scale must be positive, got {scale}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"{owner}: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.translate, self.scale, self.fill, self.interpolation = translate, scale, fill, interpolation
        self._random = RandomSource(seed, owner)

    def __call__(self, x):
        arr, was_tensor = _unpack(x, type(self).__name__, need_float=True)
        N, _, H, W = arr.shape
        rng = self._random.generator()
        angles = rng.uniform(*self.degrees, size=N)
        shifts = np.zeros((N, 2))
        if self.translate is not None:
            shifts = rng.uniform(-1.0, 1.0, size=(N, 2)) * np.array([self.translate[0] * W, self.translate[1] * H])
        scales = rng.uniform(*self.scale, size=N) if self.scale is not None else np.ones(N)
        return _pack(affine_sample(arr, angles, shifts, scales, self.fill, self.interpolation), was_tensor)

    def __repr__(self):
        return (f"{type(self).__name__}(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"interpolation={self.interpolation!r})")


class RandomRotation(RandomAffine):
    """Random rotation of each image by an angle in (-degrees, degrees) (or (min, max))."""

    def __init__(self, degrees, fill=0.0, interpolation="bilinear", seed=None):
        super().__init__(degrees, fill=fill, interpolation=interpolation, seed=seed)


class RandomNoise:
    """Adds Gaussian noise N(mean, std^2) to every element."""

    def __init__(self, std, mean=0.0, seed=None):
        if not isinstance(std, numbers.Real) or std < 0:
            raise ValueError(f"RandomNoise: std must be a non-negative number, got {std!r}")
        self.std, self.mean = float(std), float(mean)
        self._random = RandomSource(seed, "RandomNoise")

    def __call__(self, x):
        arr, was_tensor = _unpack(x, "RandomNoise", ndim=1, need_float=True)
        noise = self._random.generator().normal(self.mean, self.std, size=arr.shape).astype(arr.dtype)
        return _pack(arr + noise, was_tensor)

    def __repr__(self):
        return f"RandomNoise(std={self.std}, mean={self.mean})"


class Cutout:
    """Sets a size-(h, w) square of every image to `fill`, centred at a random pixel (clipped at the borders)."""

    def __init__(self, size, fill=0.0, seed=None):
        self.size = _pair(size, "Cutout", "size")
        self.fill = fill
        self._random = RandomSource(seed, "Cutout")

    def __call__(self, x):
        arr, was_tensor = _unpack(x, "Cutout")
        N, _, H, W = arr.shape
        h, w = self.size
        rng = self._random.generator()
        center_y, center_x = rng.integers(0, H, N), rng.integers(0, W, N)
        top, left = center_y - h // 2, center_x - w // 2
        rows, cols = np.arange(H), np.arange(W)
        inside_rows = (rows[None] >= top[:, None]) & (rows[None] < (top + h)[:, None])      # (N, H)
        inside_cols = (cols[None] >= left[:, None]) & (cols[None] < (left + w)[:, None])    # (N, W)
        mask = (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]                  # (N, 1, H, W)
        return _pack(np.where(mask, np.asarray(self.fill, dtype=arr.dtype), arr), was_tensor)

    def __repr__(self):
        return f"Cutout(size={self.size}, fill={self.fill})"
