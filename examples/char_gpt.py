"""A small character-level GPT trained on text that ships with Python (ember.data.load_text()): token + position
embeddings, N pre-norm blocks with causal fused attention (F.scaled_dot_product_attention, is_causal=True) and a
GELU MLP, AdamW. Prints the loss every few steps next to the corpus' unigram entropy (what a model that ignores
context can reach) and ends with a generated sample.

    python examples/char_gpt.py --steps 300 --layers 2 --d-model 128
"""
import argparse
import math
import time

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F
from ember.nn.functional_attention import scaled_dot_product_attention


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x):
        B, T, C = x.shape
        H = self.n_heads
        qkv = self.qkv(x).reshape(B, T, 3, H, C // H)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))          # (B, H, T, D) views
        y = scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))                   # no copy: SDPA's output layout


class Block(nn.Module):
    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        # Linear + GELU in a Sequential run as one GEMM with GELU in its epilogue
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharGPT(nn.Module):
    def __init__(self, vocab_size, block_size, d_model=128, n_layers=2, n_heads=4, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_heads, dropout) for _ in range(n_layers)])
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.ndim == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.token(idx) + self.position(ember.arange(T))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def unigram_entropy(ids, vocab_size):
    """Entropy (nats per character) of the character frequencies: the loss of the best context-free model."""
    p = np.bincount(ids, minlength=vocab_size) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def generate(model, vocab, prompt, length, temperature=0.8, top_k=20):
    """Continues `prompt` by `length` characters, sampling each from the top_k most likely (as nanoGPT does)."""
    model.eval()
    ids = list(vocab.encode(prompt))
    with ember.no_grad():
        for _ in range(length):
            context = ember.tensor([ids[-model.block_size:]])
            logits = model(context)[0, -1] / temperature
            kth_best = ember.topk(logits, min(top_k, logits.shape[-1])).values[-1]
            logits = logits.masked_fill(logits < kth_best, float("-inf"))
            ids.append(ember.multinomial(F.softmax(logits, dim=-1), 1).item())
    model.train()
    return vocab.decode(ids)


def main(argv=None):
    """Trains, prints the loss and a sample; returns (final loss, unigram entropy, sample)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--sample-length", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    ember.manual_seed(args.seed)
    text = ember.data.load_text()
    dataset, vocab = ember.data.char_dataset(text, args.block_size)
    loader = ember.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    model = CharGPT(len(vocab), args.block_size, args.d_model, args.layers, args.heads, args.dropout)
    optimizer = ember.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    entropy = unigram_entropy(vocab.encode(text), len(vocab))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"corpus {len(text):,} chars, vocab {len(vocab)}, model {n_params:,} parameters; "
          f"unigram entropy {entropy:.3f} nats/char (uniform: {math.log(len(vocab)):.3f})")

    step, recent, start = 0, [], time.perf_counter()
    while step < args.steps:
        for x, y in loader:
            lr = args.lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            recent = (recent + [loss.item()])[-args.log_every:]
            step += 1
            if step % args.log_every == 0 or step == args.steps:
                rate = step / (time.perf_counter() - start)
                print(f"step {step:5d}  loss {np.mean(recent):.3f}  (unigram entropy {entropy:.3f})  "
                      f"{rate:.1f} steps/s")
            if step == args.steps:
                break
    final = float(np.mean(recent))
    verdict = "below" if final < entropy else "NOT below"
    print(f"final loss {final:.3f} nats/char is {verdict} the unigram entropy {entropy:.3f}")
    sample = generate(model, vocab, "The ", args.sample_length)
    print("sample:\n" + sample)
    return final, entropy, sample


if __name__ == "__main__":
    main()
