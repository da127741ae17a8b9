"""DataLoader, default_collate, TensorDataset, Subset and random_split: order, shuffling, seeding, drop_last, len,
collation, and the vectorised (no per-sample __getitem__) path for array-backed datasets."""
import numpy as np
import pytest

import ember
from ember.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split)


def _range_dataset(n=10, features=3):
    X = np.arange(n * features, dtype=np.float32).reshape(n, features)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(X, y), X, y


class ListDataset(Dataset):
    """A generic (not array-backed) dataset."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _labels(loader):
    return [int(v) for _, y in loader for v in y.numpy()]


def test_sequential_order_and_batch_contents():
    ds, X, y = _range_dataset(10)
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[1].shape for b in batches] == [(4,), (4,), (2,)]
    x0, y0 = batches[0]
    assert isinstance(x0, ember.Tensor) and x0.dtype == ember.float32 and y0.dtype == ember.int64
    np.testing.assert_array_equal(x0.numpy(), X[:4])
    assert _labels(DataLoader(ds, batch_size=3)) == list(range(10))


def test_len_and_drop_last():
    ds, _, _ = _range_dataset(10)
    assert len(DataLoader(ds, batch_size=4)) == 3
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(ds, batch_size=5, drop_last=True)) == 2
    batches = list(DataLoader(ds, batch_size=4, drop_last=True))
    assert len(batches) == 2 and all(b[0].shape == (4, 3) for b in batches)
    assert len(list(DataLoader(ds, batch_size=4))) == 3


def test_shuffle_is_a_permutation_and_changes_every_epoch():
    ds, _, _ = _range_dataset(50)
    loader = DataLoader(ds, batch_size=7, shuffle=True, seed=3)
    epochs = [_labels(loader) for _ in range(3)]
    for labels in epochs:
        assert sorted(labels) == list(range(50))
    assert epochs[0] != list(range(50))
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2]


def test_seed_makes_epochs_reproducible():
    ds, _, _ = _range_dataset(40)
    a = DataLoader(ds, batch_size=8, shuffle=True, seed=11)
    b = DataLoader(ds, batch_size=8, shuffle=True, seed=11)
    c = DataLoader(ds, batch_size=8, shuffle=True, seed=12)
    assert [_labels(a), _labels(a)] == [_labels(b), _labels(b)]
    assert _labels(DataLoader(ds, batch_size=8, shuffle=True, seed=11)) != _labels(c)


def test_unseeded_shuffle_follows_ember_manual_seed():
    ds, _, _ = _range_dataset(40)
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    ember.manual_seed(5)
    first = [_labels(loader), _labels(loader)]
    ember.manual_seed(5)
    again = [_labels(loader), _labels(loader)]
    assert first == again and first[0] != first[1]
    ember.manual_seed(6)
    assert _labels(loader) != first[0]


def test_seeded_shuffle_is_embers_randperm_seeded_per_epoch():
    # the order C++ (ember::data::DataLoader) reproduces: epoch k of seed s is randperm_seeded(n, s, k)
    ds, _, _ = _range_dataset(37)
    loader = DataLoader(ds, batch_size=5, shuffle=True, seed=2 ** 64 + 9)   # seeds fold modulo 2**64
    for epoch in range(3):
        assert _labels(loader) == ember._C._randperm_seeded(37, 9, epoch).tolist()


def test_seeded_shuffle_leaves_the_global_rng_alone():
    ds, _, _ = _range_dataset(20)
    ember.manual_seed(4)
    expected = ember.rand(3).tolist()
    ember.manual_seed(4)
    _labels(DataLoader(ds, batch_size=6, shuffle=True, seed=1))
    assert ember.rand(3).tolist() == expected


def test_unseeded_shuffle_is_embers_global_randperm():
    ds, _, _ = _range_dataset(25)
    ember.manual_seed(8)
    order = _labels(DataLoader(ds, batch_size=4, shuffle=True))
    ember.manual_seed(8)
    assert order == ember.randperm(25).tolist()


def test_randperm_seeded_streams():
    perms = [ember._C._randperm_seeded(50, 7, stream).tolist() for stream in range(4)]
    assert all(sorted(p) == list(range(50)) for p in perms)
    assert len({tuple(p) for p in perms}) == 4
    assert perms[0] == ember._C._randperm_seeded(50, 7, 0).tolist()
    assert perms[0] != ember._C._randperm_seeded(50, 8, 0).tolist()
    assert ember._C._randperm_seeded(0, 1, 0).tolist() == [] and ember._C._randperm_seeded(1, 1, 0).tolist() == [0]
    with pytest.raises(ValueError, match="randperm_seeded"):
        ember._C._randperm_seeded(-1, 0, 0)


def test_array_backed_path_calls_no_per_sample_getitem(monkeypatch):
    ds, X, _ = _range_dataset(64)
    calls = []
    original = TensorDataset.__getitem__

    def counting(self, index):
        calls.append(index)
        return original(self, index)

    monkeypatch.setattr(TensorDataset, "__getitem__", counting)
    for shuffle in (False, True):
        total = sum(x.shape[0] for x, _ in DataLoader(ds, batch_size=16, shuffle=shuffle, seed=0))
        assert total == 64
    sub = Subset(ds, [5, 1, 3])
    x, y = next(iter(DataLoader(sub, batch_size=3)))
    np.testing.assert_array_equal(y.numpy(), [5, 1, 3])
    np.testing.assert_array_equal(x.numpy(), X[[5, 1, 3]])
    assert calls == []
    ds[2]                                   # the counter itself works
    assert calls == [2]


def test_subclass_overriding_getitem_is_respected():
    class Doubled(TensorDataset):
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            return x * 2, y

    X = np.ones((6, 2), dtype=np.float32)
    ds = Doubled(X, np.zeros(6, dtype=np.int64))
    x, y = next(iter(DataLoader(ds, batch_size=6)))
    np.testing.assert_array_equal(x.numpy(), 2 * X)


def test_numpy_array_and_tensor_as_datasets():
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    batches = list(DataLoader(X, batch_size=4))
    assert batches[0].dtype == ember.float64
    np.testing.assert_array_equal(batches[1].numpy(), X[4:])
    batches = list(DataLoader(ember.from_numpy(X.astype(np.float32)), batch_size=6))
    np.testing.assert_array_equal(batches[0].numpy(), X.astype(np.float32))


def test_tensor_dataset_inputs_and_errors():
    ds = TensorDataset(ember.randn(5, 2), np.arange(5, dtype=np.uint8))
    assert len(ds) == 5
    x, y = ds[-1]
    assert x.shape == (2,) and y.dtype == ember.int64 and int(y) == 4
    with pytest.raises(ValueError, match=r"size mismatch.*\[5, 4\]"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(TypeError, match="Tensor or a NumPy array"):
        TensorDataset([1, 2, 3])
    with pytest.raises(IndexError, match="out of range"):
        ds[5]
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.ones(()))


def test_default_collate_generic_dataset():
    items = [(np.full(3, i, dtype=np.float32), i, float(i) / 2, True, f"s{i}") for i in range(5)]
    x, ints, floats, flags, names = next(iter(DataLoader(ListDataset(items), batch_size=5)))
    assert x.shape == (5, 3) and x.dtype == ember.float32
    assert ints.dtype == ember.int64 and ints.tolist() == [0, 1, 2, 3, 4]
    assert floats.dtype == ember.float64 and floats.tolist() == [0, 0.5, 1.0, 1.5, 2.0]
    assert flags.dtype == ember.bool and names == ["s0", "s1", "s2", "s3", "s4"]


def test_default_collate_dicts_tensors_and_nesting():
    samples = [{"image": ember.full((2, 2), float(i)), "meta": (i, [i, i + 1])} for i in range(3)]
    batch = default_collate(samples)
    assert batch["image"].shape == (3, 2, 2)
    np.testing.assert_array_equal(batch["image"].numpy()[:, 0, 0], [0, 1, 2])
    ids, pair = batch["meta"]
    assert ids.tolist() == [0, 1, 2] and pair[1].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="same shape"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="object"):
        default_collate([object()])


def test_collate_fn_is_used_and_gets_samples():
    ds, _, _ = _range_dataset(6)
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return len(samples)

    assert list(DataLoader(ds, batch_size=4, collate_fn=collate)) == [4, 2] and seen == [4, 2]


def test_transform_applies_to_batch_input():
    ds, X, y = _range_dataset(6)
    loader = DataLoader(ds, batch_size=3, transform=lambda x: x * 10)
    x, labels = next(iter(loader))
    np.testing.assert_array_equal(x.numpy(), X[:3] * 10)
    np.testing.assert_array_equal(labels.numpy(), y[:3])
    generic = DataLoader(ListDataset([np.ones(2, dtype=np.float32)] * 4), batch_size=2,
                         transform=lambda t: t + 1)
    np.testing.assert_array_equal(next(iter(generic)).numpy(), np.full((2, 2), 2.0))


def test_dataloader_argument_errors():
    ds, _, _ = _range_dataset(4)
    for bad in (0, -1, 2.5, None, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(TypeError, match="__len__"):
        DataLoader(object())
    with pytest.raises(TypeError, match="seed"):
        DataLoader(ds, seed="x")
    with pytest.raises(NotImplementedError, match="num_workers"):
        DataLoader(ds, num_workers=2)


def test_random_split_sizes_disjoint_and_reproducible():
    ds, _, _ = _range_dataset(103)
    parts = random_split(ds, [0.8, 0.2], seed=1)
    assert [len(p) for p in parts] == [83, 20]
    indices = [set(p.indices.tolist()) for p in parts]
    assert not indices[0] & indices[1] and indices[0] | indices[1] == set(range(103))
    again = random_split(ds, [0.8, 0.2], seed=1)
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(parts, again))
    assert [len(p) for p in random_split(ds, [50, 50, 3], seed=0)] == [50, 50, 3]
    assert [len(p) for p in random_split(ds, [1 / 3] * 3, seed=0)] == [35, 34, 34]
    ember.manual_seed(9)
    a = random_split(ds, [3, 100])[0].indices
    ember.manual_seed(9)
    assert np.array_equal(a, random_split(ds, [3, 100])[0].indices)
    x, y = parts[1][0]
    assert int(y) == int(parts[1].indices[0])
    with pytest.raises(ValueError, match="sum of lengths"):
        random_split(ds, [10, 10])
    with pytest.raises(ValueError, match="fractions"):
        random_split(ds, [0.5, 0.6])


def test_concat_dataset():
    a, b = ListDataset([1, 2]), ListDataset([3, 4, 5])
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 5
    assert [both[i] for i in range(5)] == [1, 2, 3, 4, 5] and both[-1] == 5
