"""A small CNN on the bundled 8x8 digits (ember.data.load_digits(as_image=True)): two 3x3 convolutions, a max
pool and two linear layers, trained with Adam and a cosine learning-rate schedule. Runs offline in a few seconds; prints the test accuracy.
Usage: python examples/cnn_digits.py [--epochs 16] [--batch-size 32] [--seed 0]"""
import argparse
import time

import numpy as np

import ember
from ember import nn
from ember.nn.conv import Conv2d
from ember.nn.pooling import MaxPool2d


def build_model():
    return nn.Sequential(
        Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        MaxPool2d(2),                                   # 32 x 4 x 4
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10))


def accuracy(model, X, y):
    model.eval()
    with ember.no_grad():
        predicted = model(ember.from_numpy(X)).numpy().argmax(axis=1)
    model.train()
    return float((predicted == y).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    X_train, y_train = ember.data.load_digits("train", as_image=True)
    X_test, y_test = ember.data.load_digits("test", as_image=True)
    X_train, y_train, X_test, y_test = (np.asarray(a) for a in (X_train, y_train, X_test, y_test))
    model = build_model()
    optimizer = ember.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = ember.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(X_train))
        total, batches = 0.0, 0
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = loss_fn(model(ember.from_numpy(X_train[idx])), ember.from_numpy(y_train[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        scheduler.step()
        print(f"epoch {epoch + 1:2d}/{args.epochs}  loss {total / batches:.4f}  "
              f"test accuracy {accuracy(model, X_test, y_test):.4f}  ({time.perf_counter() - start:.1f}s)", flush=True)
    acc = accuracy(model, X_test, y_test)
    print(f"final test accuracy {acc:.4f} on {len(y_test)} images")
    return acc


if __name__ == "__main__":
    main()
