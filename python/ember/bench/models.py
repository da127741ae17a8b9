"""The models `ember bench` trains, written once for both libraries (ember mirrors PyTorch's nn API): the MLP
784-512-256-10, LeNet-5 and the char-GPT of examples/char_gpt.py (pre-norm blocks, fused causal attention, GELU
MLP). The C++ benchmark (bench/cpp) builds the same shapes. `build(lib, ...)` returns an untrained model; ember's
is the one initialised (ember.manual_seed), and `copy_weights` gives torch the identical state."""
import numpy as np


def mlp(lib, sizes=(784, 512, 256, 10)):
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(lib.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(lib.nn.ReLU())
    return lib.nn.Sequential(*layers)


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


GPT = dict(vocab=96, block_size=128, d_model=256, layers=4, heads=4, batch=16)


def char_gpt(lib, vocab, block_size, d_model, layers, heads):
    nn, F = lib.nn, lib.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)

        def forward(self, x):
            B, T, C = x.shape
            qkv = self.qkv(x).reshape(B, T, 3, heads, C // heads)
            q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))     # (B, H, T, D) views
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(B, T, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.attn, self.ln2 = nn.LayerNorm(d_model), CausalSelfAttention(), nn.LayerNorm(d_model)
            # ember runs Linear + GELU in a Sequential as one GEMM with GELU in its epilogue
            self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class CharGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.token = nn.Embedding(vocab, d_model)
            self.position = nn.Embedding(block_size, d_model)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.ln = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab, bias=False)
            for name, p in self.named_parameters():
                if name.endswith("weight") and p.ndim == 2:
                    nn.init.normal_(p, 0.0, 0.02)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, idx):
            x = self.token(idx) + self.position(lib.arange(idx.shape[1]))
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln(x))

    return CharGPT()


def char_gpt_flops_per_step(n_params_without_positions, layers, block_size, d_model, batch):
    """6 x parameters x tokens, plus attention's 12 x layers x T x d per token (forward + backward)."""
    tokens = batch * block_size
    return 6.0 * n_params_without_positions * tokens + 12.0 * layers * block_size * d_model * tokens


def copy_weights(ember_model, torch_model, torch):
    torch_model.load_state_dict({k: torch.from_numpy(np.array(v.detach().numpy()))
                                 for k, v in ember_model.state_dict().items()})
