"""The models and datasets behind `ember train`: a digits MLP and CNN (ember.keras, channels-last 8x8 images) and
a small character-level GPT (ember.nn: token + position embeddings, pre-norm causal self-attention blocks).
Builders only; the training run, checkpoints and resume live in train.py."""

import numpy as np

from . import _C
from . import nn
from .nn import functional as F

__all__ = ["load_digits_split", "load_text_split", "build_mlp", "build_cnn", "CharGPT"]


def load_digits_split(as_image):
    """The bundled digits' fixed train/test split: x float32 in [0, 1] as (N, 64) or channels-last (N, 8, 8, 1)."""
    from .data import load_digits
    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    x_train, x_test = np.asarray(x_train, np.float32), np.asarray(x_test, np.float32)
    if as_image:
        x_train, x_test = x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)
    return x_train, np.asarray(y_train, np.int64), x_test, np.asarray(y_test, np.int64)


def load_text_split(block_size, train_windows, test_windows, seed):
    """Next-character windows (x, y) of the bundled text: training windows from the first 90% of it, test windows
    from the rest, at positions drawn with `seed`. Returns x_train, y_train, x_test, y_test, vocab."""
    from .data import load_text
    from .data.datasets import CharVocab
    text = load_text()
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    cut = int(len(ids) * 0.9)
    rng = np.random.default_rng(seed)
    offsets = np.arange(block_size + 1)

    def windows(low, high, count):
        starts = rng.integers(low, high - block_size - 1, count)
        cut_windows = ids[starts[:, None] + offsets]
        return np.ascontiguousarray(cut_windows[:, :-1]), np.ascontiguousarray(cut_windows[:, 1:])
    x_train, y_train = windows(0, cut, train_windows)
    x_test, y_test = windows(cut, len(ids), test_windows)
    return x_train, y_train, x_test, y_test, vocab


def build_mlp(keras):
    return keras.Sequential([
        keras.layers.Dense(128, activation="relu", input_shape=(64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax")], name="mlp")


def build_cnn(keras):
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax")], name="cnn")


class CausalSelfAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))     # (B, heads, T, d) views, no copies
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, width, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CharGPT(nn.Module):
    """A small GPT over characters: (B, T) int64 ids -> (B, T, vocab) logits for the next character."""

    def __init__(self, vocab_size, block_size=32, width=64, heads=4, layers=2):
        super().__init__()
        self.block_size = block_size
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(block_size, width)
        self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)
        self._positions = {}

    def forward(self, ids):
        T = ids.shape[1]
        if T > self.block_size:
            raise ValueError(f"CharGPT: sequences of at most {self.block_size} characters, got {T}")
        positions = self._positions.get(T)
        if positions is None:
            positions = self._positions[T] = _C.from_numpy(np.arange(T, dtype=np.int64))
        x = self.token(ids) + self.position(positions)
        return self.head(self.norm(self.blocks(x)))

    def sample(self, vocab, prompt, length, temperature=0.8, seed=0):
        """`prompt` continued by `length` characters drawn from the model (NumPy RNG seeded with `seed`)."""
        from .autograd import no_grad
        rng = np.random.default_rng(seed)
        ids = list(vocab.encode(prompt))
        was_training = self.training
        self.eval()
        with no_grad():
            for _ in range(length):
                context = np.asarray(ids[-self.block_size:], dtype=np.int64)[None]
                logits = self(_C.from_numpy(context)).numpy()[0, -1] / temperature
                p = np.exp(logits - logits.max())
                ids.append(int(rng.choice(len(p), p=p / p.sum())))
        self.train(was_training)
        return vocab.decode(np.asarray(ids))
