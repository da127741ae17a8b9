"""LeNet-5 (conv 1->6 k5 p2, pool, conv 6->16 k5, pool, 400-120-84-10) on 28x28 inputs, SGD with momentum.
By default the bundled 8x8 digits are upsampled 3x (24x24) and zero-padded to 28x28, so it runs offline;
--random trains on random data instead and reports the time per step (batch 64 by default).
Usage: python examples/lenet.py [--epochs 10] | python examples/lenet.py --random --steps 50"""
import argparse
import time

import numpy as np

import ember
from ember import nn
from ember.nn.conv import Conv2d
from ember.nn.pooling import MaxPool2d


def lenet5():
    return nn.Sequential(
        Conv2d(1, 6, 5, padding=2), nn.ReLU(), MaxPool2d(2),    # 6 x 14 x 14
        Conv2d(6, 16, 5), nn.ReLU(), MaxPool2d(2),              # 16 x 5 x 5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def digits_28x28(split):
    X, y = ember.data.load_digits(split, as_image=True)
    X = np.asarray(X).repeat(3, axis=2).repeat(3, axis=3)          # 24 x 24
    X = np.pad(X, ((0, 0), (0, 0), (2, 2), (2, 2)))                 # 28 x 28
    return np.ascontiguousarray(X, dtype=np.float32), np.asarray(y)


def step(model, optimizer, loss_fn, X, y):
    loss = loss_fn(model(ember.from_numpy(X)), ember.from_numpy(y))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--random", action="store_true", help="random 28x28 data; time the training step")
    parser.add_argument("--steps", type=int, default=50, help="steps with --random")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = lenet5()
    optimizer = ember.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    if args.random:
        X = rng.standard_normal((args.batch_size, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, args.batch_size)
        for _ in range(3):
            step(model, optimizer, loss_fn, X, y)   # warm-up
        start = time.perf_counter()
        for i in range(args.steps):
            loss = step(model, optimizer, loss_fn, X, y)
        elapsed = time.perf_counter() - start
        print(f"{args.steps} steps, batch {args.batch_size}: {1e3 * elapsed / args.steps:.2f} ms/step "
              f"({args.steps / elapsed:.1f} steps/s), last loss {loss:.4f}")
        return

    X_train, y_train = digits_28x28("train")
    X_test, y_test = digits_28x28("test")
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(X_train))
        losses = [step(model, optimizer, loss_fn, X_train[order[i:i + args.batch_size]],
                       y_train[order[i:i + args.batch_size]]) for i in range(0, len(order), args.batch_size)]
        model.eval()
        with ember.no_grad():
            acc = float((model(ember.from_numpy(X_test)).numpy().argmax(axis=1) == y_test).mean())
        model.train()
        print(f"epoch {epoch + 1:2d}/{args.epochs}  loss {np.mean(losses):.4f}  test accuracy {acc:.4f}  "
              f"({time.perf_counter() - start:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
