"""Bundled datasets: load_digits (shapes, classes, the fixed split), load_text, CharVocab and char windows."""
import numpy as np
import pytest

import ember
from ember.data import CharVocab, DataLoader, char_dataset, load_digits, load_text


def test_digits_shapes_range_and_classes():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y).tolist()) == set(range(10))
    raw, _ = load_digits(normalize=False)
    assert raw.max() == 16.0 and np.array_equal(raw / 16, X)
    images, _ = load_digits(as_image=True)
    assert images.shape == (1797, 1, 8, 8) and np.array_equal(images.reshape(1797, 64), X)
    assert int(X[0].sum() * 16) == 294 and y[0] == 0 and y[1] == 1     # the well-known first samples


def test_digits_split_is_fixed_disjoint_and_stratified():
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    assert len(X_train) + len(X_test) == 1797 and len(X_test) == 359
    X_all, y_all = load_digits()
    rows = {row.tobytes() for row in X_all}
    assert {row.tobytes() for row in X_train} | {row.tobytes() for row in X_test} == rows
    assert sorted(np.bincount(y_train) + np.bincount(y_test)) == sorted(np.bincount(y_all))
    np.testing.assert_allclose(np.bincount(y_test) / np.bincount(y_all), 0.2, atol=0.01)
    X_again, y_again = load_digits("test")
    assert np.array_equal(X_again, X_test) and np.array_equal(y_again, y_test)
    assert not np.shares_memory(X_again, X_test)                     # callers may modify their copy
    with pytest.raises(ValueError, match="split"):
        load_digits("validation")


def test_digits_train_in_a_dataloader():
    X, y = load_digits("train", as_image=True)
    loader = DataLoader(ember.data.TensorDataset(X, y), batch_size=128, shuffle=True, seed=0)
    xb, yb = next(iter(loader))
    assert xb.shape == (128, 1, 8, 8) and yb.shape == (128,)


def test_load_text_and_vocab_round_trip():
    text = load_text()
    assert isinstance(text, str) and len(text) > 100_000 and "def " in text
    assert load_text() == text
    vocab = CharVocab(text)
    ids = vocab.encode(text[:5000])
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < len(vocab)
    assert vocab.decode(ids) == text[:5000]
    assert vocab.decode(ember.from_numpy(ids)) == text[:5000]
    assert CharVocab("ba\u00e9a").chars == ["a", "b", "\u00e9"]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        CharVocab("abc").encode("abz")
    with pytest.raises(ValueError, match="ids must lie"):
        CharVocab("abc").decode([3])
    with pytest.raises(ValueError, match="unknown corpus"):
        load_text("shakespeare")


def test_char_dataset_windows_and_fast_batches():
    text = "hello world, hello ember"
    ds, vocab = char_dataset(text, block_size=4)
    assert len(ds) == len(text) - 4
    x, y = ds[3]
    assert vocab.decode(x.numpy()) == text[3:7] and vocab.decode(y.numpy()) == text[4:8]
    batches = list(DataLoader(ds, batch_size=8))
    xb, yb = batches[0]
    assert xb.shape == (8, 4) and xb.dtype == ember.int64
    assert [vocab.decode(row) for row in xb.numpy()] == [text[i:i + 4] for i in range(8)]
    np.testing.assert_array_equal(xb.numpy()[:, 1:], yb.numpy()[:, :-1])
    with pytest.raises(ValueError, match="longer than"):
        char_dataset("abc", block_size=3)
    with pytest.raises(ValueError, match="block_size"):
        char_dataset("abcdef", block_size=0)
