"""Training-step workloads of `ember bench` (zero_grad + forward + cross-entropy + backward + optimizer step, one
fixed batch): mlp_adam_step (MLP 784-512-256-10, batch 128, Adam), lenet_sgd_step (LeNet-5, batch 64, SGD momentum
0.9) and char_gpt_adamw_step (4 layers, 4 heads, d 256, T 128, vocab 96, batch 16, AdamW). Both libraries start
from the same weights; validated by equal losses over 3 steps (without torch: finite, decreasing losses)."""
import numpy as np

from . import models
from ._core import Prepared, ValidationError, Workload

LOSS_TOLERANCE = 1e-3   # relative, per step


def make_step(lib, model, optimizer, x, y, flatten_logits=False):
    F = lib.nn.functional

    def step():
        logits = model(x)
        if flatten_logits:
            logits = logits.reshape(-1, logits.shape[-1])
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step


def validate_steps(runners, steps=3):
    losses = {who: [float(run().item()) for _ in range(steps)] for who, run in runners.items()}
    got = np.array(losses["ember"])
    if not np.all(np.isfinite(got)):
        raise ValidationError(f"non-finite ember losses {got.tolist()}")
    if "torch" in losses:
        want = np.array(losses["torch"])
        err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
        if not err <= LOSS_TOLERANCE:
            raise ValidationError(f"losses differ: ember {got.tolist()} vs torch {want.tolist()}")
        return {"status": "passed", "reference": f"torch losses over {steps} steps", "max_error": err}
    if not got[-1] < got[0]:
        raise ValidationError(f"ember's loss does not decrease on a fixed batch: {got.tolist()}")
    return {"status": "passed", "reference": f"finite, decreasing losses over {steps} steps", "max_error": None}


def prepare_training(build, optimizer, x, y, torch, seed=0, flatten_logits=False):
    """build(lib) -> model; optimizer(lib, params) -> optimizer; x, y NumPy batches. Returns a Prepared."""
    import ember
    ember.manual_seed(seed)
    libs = {"ember": ember} if torch is None else {"ember": ember, "torch": torch}
    runners = {}
    first = None
    for who, lib in libs.items():
        model = build(lib)
        if first is None:
            first = model
        else:
            models.copy_weights(first, model, torch)
        runners[who] = make_step(lib, model, optimizer(lib, model.parameters()), lib.from_numpy(x.copy()),
                                 lib.from_numpy(y.copy()), flatten_logits)
    return Prepared(runners, validate_steps(runners))


def _mlp(torch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    return prepare_training(models.mlp, lambda lib, p: lib.optim.Adam(p, lr=1e-3), x, y, torch)


def _lenet(torch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    return prepare_training(models.lenet, lambda lib, p: lib.optim.SGD(p, lr=0.01, momentum=0.9), x, y, torch)


def _gpt_config():
    return {k: models.GPT[k] for k in ("vocab", "block_size", "d_model", "layers", "heads")}


def _gpt(torch):
    rng = np.random.default_rng(3)
    g = models.GPT
    x = rng.integers(0, g["vocab"], (g["batch"], g["block_size"]))
    y = rng.integers(0, g["vocab"], (g["batch"] * g["block_size"],))
    return prepare_training(lambda lib: models.char_gpt(lib, **_gpt_config()),
                            lambda lib, p: lib.optim.AdamW(p, lr=1e-3, weight_decay=0.01), x, y, torch,
                            flatten_logits=True)


def _mlp_flops(sizes=(784, 512, 256, 10), batch=128):
    return 6.0 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _lenet_flops(batch=64):
    conv1 = 2.0 * batch * 6 * 28 * 28 * 1 * 25      # no input gradient: forward + dW
    conv2 = 2.0 * batch * 16 * 10 * 10 * 6 * 25     # forward + dW + dX
    fc = 6.0 * batch * (400 * 120 + 120 * 84 + 84 * 10)
    return 2 * conv1 + 3 * conv2 + fc


def _gpt_flops():
    g = models.GPT
    d, v, layers = g["d_model"], g["vocab"], g["layers"]
    per_layer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    params = v * d + layers * per_layer + 2 * d + d * v    # token table, blocks, final norm, head (no positions)
    return models.char_gpt_flops_per_step(params, layers, g["block_size"], d, g["batch"])


def workloads():
    return [
        Workload("mlp_adam_step", "train", {"model": "MLP 784-512-256-10", "batch": 128, "optimizer": "Adam"},
                 _mlp_flops(), _mlp),
        Workload("lenet_sgd_step", "train", {"model": "LeNet-5 1x28x28", "batch": 64,
                                             "optimizer": "SGD momentum 0.9"}, _lenet_flops(), _lenet),
        Workload("char_gpt_adamw_step", "train", dict(model="char-GPT", optimizer="AdamW", **models.GPT),
                 _gpt_flops(), _gpt),
    ]
