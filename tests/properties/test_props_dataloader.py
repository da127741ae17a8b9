"""Property tests of ember.data: TensorDataset / DataLoader over drawn dataset sizes, batch sizes, drop_last, shuffle
and seeds (every sample exactly once per epoch, right batch shapes, same seed -> same order, the vectorised gather
path equal to the per-sample __getitem__ path, transforms applied to inputs only), random_split, and clear errors
for bad arguments naming DataLoader / TensorDataset."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import ember
from ember.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, random_split, transforms
from props_helpers import raises_naming

SIZES = st.one_of(st.sampled_from([0, 1]), st.integers(2, 40))
BATCHES = st.one_of(st.sampled_from([1]), st.integers(2, 12))
SEEDS = st.integers(0, 2 ** 63)


def labelled(n, features):
    """x row i holds i*features .. i*features+features-1 (float32), y[i] = i (int64): each sample names itself."""
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    return x, np.arange(n, dtype=np.int64)


def epoch_ids(loader, features):
    """The sample ids one pass over `loader` yields, checking each batch's shapes and x/y agreement."""
    ids = []
    for x_batch, y_batch in loader:
        x, y = x_batch.numpy(), y_batch.numpy()
        assert x.shape == (len(y), features) and y.ndim == 1
        assert x_batch.dtype == ember.float32 and y_batch.dtype == ember.int64
        np.testing.assert_array_equal(x, (y[:, None] * features + np.arange(features)).astype(np.float32))
        ids.append(y)
    return ids


class PerSample(Dataset):
    """A plain Python dataset (no _gather): DataLoader must call __getitem__ and collate."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        return ember.from_numpy(self.x[index].copy()), int(self.y[index])


@given(n=SIZES, features=st.integers(1, 4), batch_size=BATCHES, drop_last=st.booleans(), shuffle=st.booleans(),
       seed=st.one_of(st.none(), SEEDS), transposed=st.booleans())
def test_every_sample_once_per_epoch_with_right_batch_shapes(n, features, batch_size, drop_last, shuffle, seed,
                                                              transposed):
    x, y = labelled(n, features)
    x_input = ember.from_numpy(np.ascontiguousarray(x.T)).t() if transposed else ember.from_numpy(x)
    loader = DataLoader(TensorDataset(x_input, y), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                        seed=seed)
    full, rest = divmod(n, batch_size)
    expected_batches = full if drop_last or not rest else full + 1
    assert len(loader) == expected_batches
    for _ in range(2):   # two epochs
        ids = epoch_ids(loader, features)
        assert len(ids) == expected_batches
        assert all(len(b) == batch_size for b in ids[:full])
        if expected_batches > full:
            assert len(ids[-1]) == rest
        seen = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        assert len(np.unique(seen)) == len(seen) == (full * batch_size if drop_last else n)
        assert set(seen.tolist()) <= set(range(n))
        if not shuffle:
            np.testing.assert_array_equal(seen, np.arange(len(seen)))


@given(n=SIZES, batch_size=BATCHES, drop_last=st.booleans(), seed=SEEDS)
def test_same_seed_gives_same_order_and_gather_equals_getitem_path(n, batch_size, drop_last, seed):
    x, y = labelled(n, 2)
    make = lambda dataset: DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=drop_last, seed=seed)
    first, second = make(TensorDataset(x, y)), make(TensorDataset(x, y))
    per_sample = make(PerSample(x, y))
    subset = make(Subset(TensorDataset(x, y), np.arange(n)))
    for _ in range(3):
        orders = [np.concatenate(epoch_ids(loader, 2) or [np.zeros(0, np.int64)])
                  for loader in (first, second, per_sample, subset)]
        for order in orders[1:]:
            np.testing.assert_array_equal(order, orders[0])


@given(n=SIZES, batch_size=BATCHES, seed=SEEDS)
def test_unseeded_shuffle_follows_ember_manual_seed(n, batch_size, seed):
    x, y = labelled(n, 1)
    orders = []
    for _ in range(2):
        ember.manual_seed(seed % 2 ** 32)
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
        orders.append([np.concatenate(epoch_ids(loader, 1) or [np.zeros(0, np.int64)]) for _ in range(2)])
    for a, b in zip(*orders):
        np.testing.assert_array_equal(a, b)


@given(n=st.integers(1, 30), batch_size=BATCHES, scale=st.floats(-3, 3, allow_nan=False), shuffle=st.booleans(),
       array_dataset=st.booleans())
def test_transform_applies_to_inputs_only(n, batch_size, scale, shuffle, array_dataset):
    x, y = labelled(n, 3)
    transform = transforms.Lambda(lambda batch: batch * scale)
    if array_dataset:
        loader = DataLoader(x, batch_size=batch_size, shuffle=shuffle, seed=1, transform=transform)
        plain = DataLoader(x, batch_size=batch_size, shuffle=shuffle, seed=1)
        for got, raw in zip(loader, plain):
            np.testing.assert_allclose(got.numpy(), raw.numpy() * np.float32(scale), rtol=1e-6)
        return
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, seed=1, transform=transform)
    for x_batch, y_batch in loader:
        ids = y_batch.numpy()
        expected = (ids[:, None] * 3 + np.arange(3)).astype(np.float32) * np.float32(scale)
        np.testing.assert_allclose(x_batch.numpy(), expected, rtol=1e-6)


@given(parts=st.lists(st.integers(0, 10), min_size=1, max_size=4), batch_size=BATCHES, seed=SEEDS)
def test_concat_dataset_and_random_split_cover_every_sample_once(parts, batch_size, seed):
    n = sum(parts)
    x, y = labelled(n, 1)
    bounds = np.cumsum([0] + parts)
    concat = ConcatDataset([TensorDataset(x[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])
    assert len(concat) == n
    seen = np.concatenate(epoch_ids(DataLoader(concat, batch_size=batch_size), 1) or [np.zeros(0, np.int64)])
    np.testing.assert_array_equal(seen, np.arange(n))
    splits = random_split(TensorDataset(x, y), parts, seed=seed)
    assert [len(s) for s in splits] == parts
    ids = [np.concatenate(epoch_ids(DataLoader(s, batch_size=batch_size), 1) or [np.zeros(0, np.int64)])
           for s in splits]
    np.testing.assert_array_equal(np.sort(np.concatenate(ids)), np.arange(n))
    again = random_split(TensorDataset(x, y), parts, seed=seed)
    for a, b in zip(splits, again):
        np.testing.assert_array_equal(a.indices, b.indices)


# ------------------------------------------------------------------------------------------------ invalid draws

@given(bad=st.one_of(st.integers(-5, 0), st.floats(0.5, 8).filter(lambda f: f != int(f)), st.just(True),
                     st.just("4"), st.just(None)))
def test_bad_batch_sizes_raise_naming_dataloader(bad):
    with raises_naming("DataLoader"):
        DataLoader(TensorDataset(np.zeros((4, 1), np.float32)), batch_size=bad)


@given(bad=st.one_of(st.integers(-2 ** 40, -1), st.floats(0, 10), st.just("7"), st.just(True)))
def test_bad_seeds_raise_naming_dataloader(bad):
    with raises_naming("DataLoader"):
        DataLoader(TensorDataset(np.zeros((4, 1), np.float32)), shuffle=True, seed=bad)


@given(n=st.integers(0, 6), extra=st.integers(1, 4), index_past=st.integers(0, 3))
def test_bad_datasets_and_indices_raise_naming_them(n, extra, index_past):
    with raises_naming("TensorDataset"):
        TensorDataset(np.zeros((n, 2), np.float32), np.zeros(n + extra, np.int64))
    with raises_naming("TensorDataset"):
        TensorDataset()
    with raises_naming("TensorDataset"):
        TensorDataset(np.zeros((n, 2)), np.float32(1.0))
    with raises_naming("TensorDataset"):
        TensorDataset(np.array(["a"] * n, dtype=object))
    dataset = TensorDataset(np.zeros((n, 2), np.float32))
    with raises_naming("TensorDataset"):
        dataset[n + index_past]
    with raises_naming("TensorDataset"):
        dataset[-n - 1 - index_past]
    with raises_naming("TensorDataset"):
        dataset[0.5]
    with raises_naming("DataLoader"):
        DataLoader(object())
    with raises_naming("DataLoader"):
        DataLoader(dataset, collate_fn=3)
    with raises_naming("DataLoader"):
        DataLoader(dataset, transform="flip")
    with raises_naming("DataLoader"):
        DataLoader(dataset, num_workers=1 + index_past)
    with raises_naming("DataLoader"):
        DataLoader(np.float32(3.0))
    with raises_naming("Subset"):
        Subset(dataset, [n + index_past])
    with raises_naming("random_split"):
        random_split(dataset, [n + extra])


def test_default_collate_shape_mismatch_raises_naming_it():
    class Ragged(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return ember.zeros(index + 1)
    with pytest.raises(ValueError, match="default_collate"):
        list(DataLoader(Ragged(), batch_size=2))
