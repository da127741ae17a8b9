"""Train an MLP on the bundled 8x8 handwritten digits with ember's PyTorch-style API (needs no download).

    python examples/mlp_classifier.py [--epochs 30] [--threads 2] [--seed 0]
"""
import argparse
import time

import ember
from ember import nn
from ember.data import DataLoader, TensorDataset, load_digits


def build_model():
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def evaluate(model, x, y):
    model.eval()
    with ember.no_grad():
        predictions = model(x).argmax(dim=1)
    model.train()
    return (predictions == y).float().mean().item()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        ember.set_num_threads(args.threads)
    ember.manual_seed(args.seed)

    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    model = build_model()
    optimizer = ember.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    scheduler = ember.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        total, batches = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        scheduler.step()
        print(f"epoch {epoch:3d}  loss {total / batches:.6f}")
    accuracy = evaluate(model, ember.from_numpy(x_test), ember.from_numpy(y_test))
    print(f"test accuracy {accuracy:.4f}  ({time.perf_counter() - start:.1f} s)")
    return accuracy


if __name__ == "__main__":
    main()
