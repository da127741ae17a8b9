"""Long runs keep a flat resident set: 10,000 training steps (MLP + Adam, and a conv net + SGD with a DataLoader)
must not grow RSS beyond a small budget once warm. Large storage starts on a huge page and asks for huge pages."""
import os

import numpy as np
import pytest

import ember
from ember import nn
from ember.data import DataLoader, TensorDataset

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RSS from /proc (Linux)"),
    pytest.mark.skipif(ember._C.build_info()["sanitize"], reason="ASan's quarantine keeps freed memory: RSS says nothing"),
]

BUDGET_BYTES = 8 << 20


def resident_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line")


def run_steps(step, steps, warmup):
    for _ in range(warmup):
        step()
    before = resident_bytes()
    for _ in range(steps):
        step()
    return resident_bytes() - before


def test_mlp_adam_10k_steps_flat_memory():
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3)
    x, y = ember.randn(16, 32), ember.randint(0, 10, (16,))
    losses = []

    def step():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    growth = run_steps(step, 10_000, warmup=500)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert growth < BUDGET_BYTES, f"RSS grew by {growth / 2**20:.1f} MiB over 10,000 steps"


def test_conv_dataloader_steps_flat_memory():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    optimizer = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    data = TensorDataset(rng.standard_normal((64, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 64))
    loader = DataLoader(data, batch_size=8, shuffle=True, seed=0)

    def epoch():
        for xb, yb in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()

    growth = run_steps(epoch, 1_250, warmup=60)   # 8 steps an epoch: 10,000 steps
    assert growth < BUDGET_BYTES, f"RSS grew by {growth / 2**20:.1f} MiB over 10,000 steps"


def vma_flags(address):
    with open("/proc/self/smaps") as smaps:
        inside = False
        for line in smaps:
            head = line.split()[0]
            if "-" in head and all(c in "0123456789abcdef-" for c in head):
                start, end = (int(x, 16) for x in head.split("-"))
                inside = start <= address < end
            elif inside and line.startswith("VmFlags:"):
                return line.split()[1:]
    raise RuntimeError(f"no mapping holds {address:#x}")


def test_large_storage_starts_on_a_huge_page_and_asks_for_huge_pages():
    big = ember.zeros(1 << 20)   # 4 MiB: two whole 2 MiB pages
    assert big.data_ptr() % (2 << 20) == 64   # 64 bytes past a 2 MiB boundary (the block's header)
    assert "hg" in vma_flags(big.data_ptr())   # madvise(MADV_HUGEPAGE)
    small = ember.zeros(1 << 18)   # 1 MiB: plain malloc, no advice
    assert small.data_ptr() % 64 == 0
