"""Batch transforms: output shapes and dtypes, what each one does to the pixels, statistics, seeding, errors."""
import numpy as np
import pytest

import ember
from ember.data import transforms as T


def _batch(N=6, C=3, H=8, W=10, seed=0):
    return np.random.default_rng(seed).standard_normal((N, C, H, W)).astype(np.float32)


def test_tensor_in_tensor_out_numpy_in_numpy_out():
    x = _batch()
    for transform in (T.Normalize(0.5, 2.0), T.RandomCrop((8, 10), padding=2, seed=0),
                      T.RandomHorizontalFlip(seed=0), T.RandomRotation(10, seed=0), T.RandomNoise(0.1, seed=0),
                      T.Cutout(3, seed=0), T.RandomAffine(5, translate=(0.1, 0.1), scale=(0.9, 1.1), seed=0)):
        out_numpy = transform(x)
        assert isinstance(out_numpy, np.ndarray) and out_numpy.shape == x.shape and out_numpy.dtype == np.float32
        out_tensor = transform(ember.from_numpy(x))
        assert isinstance(out_tensor, ember.Tensor) and out_tensor.shape == x.shape
        assert out_tensor.dtype == ember.float32


def test_normalize_gives_zero_mean_unit_std_per_channel():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((200, 3, 4, 4)) * np.array([1.0, 2.0, 5.0])[None, :, None, None]
         + np.array([3.0, -1.0, 10.0])[None, :, None, None]).astype(np.float32)
    mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
    out = T.Normalize(mean.tolist(), std.tolist())(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)
    flat = T.Normalize([1.0, 2.0], [2.0, 4.0])(np.ones((4, 2), dtype=np.float32))
    np.testing.assert_allclose(flat, np.tile([0.0, -0.25], (4, 1)))
    with pytest.raises(ValueError, match="3 channels"):
        T.Normalize([0, 0], [1, 1])(x)
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize(0, 0)


def test_horizontal_flip_flips_exactly_the_chosen_images():
    x = _batch(N=64)
    out = T.RandomHorizontalFlip(p=0.5, seed=4)(x)
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept) and 10 < flipped.sum() < 54
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(x), x[:, :, ::-1])


def test_random_crop_with_padding_keeps_shape_and_cuts_shifted_windows():
    x = _batch(N=32, C=2, H=6, W=7)
    out = T.RandomCrop((6, 7), padding=2, seed=3)(x)
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    shifts = set()
    for n in range(32):       # each output is some 6x7 window of its padded image
        matches = [(i, j) for i in range(5) for j in range(5) if np.array_equal(padded[n, :, i:i + 6, j:j + 7], out[n])]
        assert matches
        shifts.add(matches[0])
    assert len(shifts) > 5
    small = T.RandomCrop(4, seed=0)(x)
    assert small.shape == (32, 2, 4, 4)
    assert T.RandomCrop((6, 7), padding=(1, 2), padding_mode="reflect", seed=0)(x).shape == x.shape
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(9)(x)


def test_rotation_by_zero_is_identity_and_by_90_matches_rot90():
    x = _batch(N=4, H=9, W=9)
    np.testing.assert_array_equal(T.RandomRotation((0, 0))(x), x)
    np.testing.assert_array_equal(T.RandomAffine(0, translate=(0, 0), scale=(1, 1))(x), x)
    rotated = T.RandomRotation((90, 90))(x)                       # counter-clockwise as displayed
    np.testing.assert_allclose(rotated, np.rot90(x, k=1, axes=(2, 3)), atol=1e-5)
    nearest = T.RandomRotation((180, 180), interpolation="nearest")(x)
    np.testing.assert_array_equal(nearest, x[:, :, ::-1, ::-1])


def test_affine_translation_and_fill():
    x = np.ones((1, 1, 5, 5), dtype=np.float32)
    shifted = T.affine_sample(x, [0.0], [[2.0, 0.0]], [1.0])           # 2 pixels to the right
    np.testing.assert_array_equal(shifted[0, 0, :, :2], 0)
    np.testing.assert_array_equal(shifted[0, 0, :, 2:], 1)
    image = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    down = T.affine_sample(image, [0.0], [[0.0, 1.0]], [1.0], fill=-1.0)
    np.testing.assert_array_equal(down[0, 0, 1:], image[0, 0, :-1])
    np.testing.assert_array_equal(down[0, 0, 0], -1)
    zoom = T.affine_sample(image, [0.0], [[0.0, 0.0]], [2.0])
    assert zoom[0, 0, 2, 2] == image[0, 0, 2, 2]                       # the centre stays put


def test_rotation_keeps_mass_roughly_and_is_reproducible():
    x = np.zeros((8, 1, 16, 16), dtype=np.float32)
    x[:, :, 6:10, 6:10] = 1.0
    out = T.RandomRotation(30, seed=7)(x)
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 16.0, rtol=0.1)
    np.testing.assert_array_equal(out, T.RandomRotation(30, seed=7)(x))
    assert not np.array_equal(out, T.RandomRotation(30, seed=8)(x))


def test_noise_statistics():
    x = np.zeros((50, 3, 16, 16), dtype=np.float32)
    out = T.RandomNoise(0.5, seed=0)(x)
    assert abs(out.mean()) < 0.01 and abs(out.std() - 0.5) < 0.01
    with pytest.raises(ValueError, match="std"):
        T.RandomNoise(-1)


def test_cutout_zeroes_one_square_per_image():
    x = np.ones((20, 2, 12, 12), dtype=np.float32)
    out = T.Cutout(4, seed=1)(x)
    for image in out:
        zero_rows, zero_cols = np.nonzero(image[0] == 0)
        assert np.array_equal(image[0] == 0, image[1] == 0)
        assert 1 <= len(zero_rows) <= 16
        assert zero_rows.max() - zero_rows.min() < 4 and zero_cols.max() - zero_cols.min() < 4
    assert np.sum(out == 0) >= 20 * 2 * 4


def test_seeded_transforms_repeat_and_unseeded_follow_ember_seed():
    x = _batch()
    pipeline = lambda seed: T.Compose([T.RandomCrop(8, padding=1, seed=seed), T.RandomHorizontalFlip(seed=seed),
                                       T.RandomNoise(0.1, seed=seed)])
    a, b = pipeline(0), pipeline(0)
    first = [a(x), a(x)]
    np.testing.assert_array_equal(first[0], b(x))
    np.testing.assert_array_equal(first[1], b(x))
    assert not np.array_equal(first[0], first[1])
    unseeded = pipeline(None)
    ember.manual_seed(3)
    one = unseeded(x)
    ember.manual_seed(3)
    np.testing.assert_array_equal(one, unseeded(x))


def test_transform_in_dataloader():
    X = np.ones((10, 1, 4, 4), dtype=np.float32)
    ds = ember.data.TensorDataset(X, np.arange(10))
    loader = ember.data.DataLoader(ds, batch_size=5, transform=T.Compose([T.Normalize(0.5, 0.5)]))
    x, _ = next(iter(loader))
    np.testing.assert_array_equal(x.numpy(), np.ones((5, 1, 4, 4)))


def test_transform_errors():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        T.RandomHorizontalFlip()(np.zeros((3, 4, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        T.RandomRotation(5)(np.zeros((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="Tensor or a NumPy array"):
        T.Cutout(2)([[1.0]])
    with pytest.raises(ValueError, match="probability"):
        T.RandomHorizontalFlip(p=2)
    with pytest.raises(ValueError, match="size"):
        T.RandomCrop(0)
    with pytest.raises(ValueError, match="translate"):
        T.RandomAffine(0, translate=(2, 0))
    with pytest.raises(ValueError, match="interpolation"):
        T.RandomRotation(5, interpolation="cubic")
    with pytest.raises(TypeError, match="not callable"):
        T.Compose([1])
