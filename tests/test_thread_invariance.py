"""Results do not depend on the thread count: 20-step training runs (MLP, small conv net, tiny attention model,
dropout included) at 1, 2 and 3 threads agree to 1e-6 relative, and bitwise with
ember.use_deterministic_algorithms(True), also across repeated runs."""
import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.optim

THREADS = (1, 2, 3)


@pytest.fixture(autouse=True)
def restore_threads_and_mode():
    threads, mode = ember.get_num_threads(), ember.are_deterministic_algorithms_enabled()
    yield
    ember.set_num_threads(threads)
    ember.use_deterministic_algorithms(mode)


class TinyAttention(nn.Module):
    """Embedding + one causal attention block + head: 4 (batch x heads) so the flash kernels switch between their
    per-head and per-block splits as the thread count changes."""

    def __init__(self, vocab=32, d=32, heads=2, T=160):
        super().__init__()
        self.heads = heads
        self.token = nn.Embedding(vocab, d)
        self.position = nn.Embedding(T, d)
        self.norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx):
        B, T = idx.shape
        x = self.token(idx) + self.position(ember.arange(T))
        q, k, v = self.qkv(self.norm(x)).reshape(B, T, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, is_causal=True)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, T, -1)))
        return self.head(x)


def mlp_run():
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 256), nn.GELU(),
                          nn.Linear(256, 10))
    x = ember.randn(256, 256)
    y = ember.randint(0, 10, (256,))
    return model, ember.optim.Adam(model.parameters(), lr=1e-3), lambda: F.cross_entropy(model(x), y)


def conv_run():
    from ember.nn.conv import Conv2d
    from ember.nn.pooling import MaxPool2d
    model = nn.Sequential(Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), MaxPool2d(2),
                          Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Dropout(0.1), nn.Flatten(),
                          nn.Linear(32 * 8 * 8, 10))
    x = ember.randn(32, 3, 16, 16)
    y = ember.randint(0, 10, (32,))
    return model, ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), lambda: F.cross_entropy(model(x), y)


def attention_run():
    model = TinyAttention()
    idx = ember.randint(0, 32, (2, 160))
    target = ember.randint(0, 32, (2, 160))
    opt = ember.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    return model, opt, lambda: F.cross_entropy(model(idx).reshape(-1, 32), target.reshape(-1))


RUNS = {"mlp": mlp_run, "conv": conv_run, "attention": attention_run}


def train(name, threads, steps=20):
    ember.set_num_threads(threads)
    ember.manual_seed(1234)
    model, opt, loss_fn = RUNS[name]()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return np.array(losses), weights


@pytest.mark.parametrize("name", sorted(RUNS))
def test_training_agrees_across_thread_counts(name):
    ember.use_deterministic_algorithms(False)
    base_losses, base_weights = train(name, 1)
    assert base_losses[-1] < base_losses[0]   # it trains
    for threads in THREADS[1:]:
        losses, weights = train(name, threads)
        np.testing.assert_allclose(losses, base_losses, rtol=1e-6, atol=0, err_msg=f"{name} at {threads} threads")
        for k in base_weights:
            np.testing.assert_allclose(weights[k], base_weights[k], rtol=1e-6, atol=1e-7,
                                       err_msg=f"{name} weight {k} at {threads} threads")


@pytest.mark.parametrize("name", sorted(RUNS))
def test_deterministic_mode_is_bitwise_across_thread_counts_and_runs(name):
    ember.use_deterministic_algorithms(True)
    assert ember.are_deterministic_algorithms_enabled()
    base_losses, base_weights = train(name, 1)
    for threads in THREADS[1:] + (2,):
        losses, weights = train(name, threads)
        np.testing.assert_array_equal(losses, base_losses, err_msg=f"{name} at {threads} threads")
        for k in base_weights:
            np.testing.assert_array_equal(weights[k], base_weights[k], err_msg=f"{name} weight {k} at {threads} threads")


def test_big_reductions_do_not_depend_on_thread_count():
    x = ember.randn(3_000_001) * 100
    m = ember.randn(1000, 3001)
    results = []
    for threads in THREADS:
        ember.set_num_threads(threads)
        results.append([x.sum().item(), x.mean().item(), x.var().item(), m.sum(0).numpy(), m.sum(1).numpy(),
                        F.softmax(m, dim=1).numpy(), F.layer_norm(m, (3001,)).numpy()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_flag_round_trips_and_validates():
    ember.use_deterministic_algorithms(True)
    assert ember.are_deterministic_algorithms_enabled() is True
    ember.use_deterministic_algorithms(False)
    assert ember.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError):
        ember.use_deterministic_algorithms("yes")
