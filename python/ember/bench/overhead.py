"""Per-op overhead workloads of `ember bench`, where a call's fixed cost (argument parsing, allocation, autograd
bookkeeping) is all there is: add_1x1 (a + b on 1x1 tensors), linear_8x8_forward (nn.Linear(8, 8) on a batch of 1,
grad mode on) and tiny_sgd_step (that Linear trained one step with cross-entropy and SGD)."""
import numpy as np

from ._core import Prepared, check_close, to_numpy, Workload
from .train import prepare_training


def _add(torch):
    import ember
    libs = {"ember": ember} if torch is None else {"ember": ember, "torch": torch}
    runners = {}
    for who, lib in libs.items():
        a, b = lib.ones(1, 1), lib.ones(1, 1)
        runners[who] = (lambda a=a, b=b: a + b)
    return Prepared(runners, check_close([(to_numpy(runners["ember"]()), np.full((1, 1), 2.0))], 0.0, "exact 2.0"))


def _linear(torch):
    import ember
    ember.manual_seed(0)
    x = np.random.default_rng(4).standard_normal((1, 8)).astype(np.float32)
    layer = ember.nn.Linear(8, 8)
    ex = ember.from_numpy(x)
    runners = {"ember": lambda: layer(ex)}
    if torch is None:
        w, b = to_numpy(layer.weight), to_numpy(layer.bias)
        return Prepared(runners, check_close([(to_numpy(runners["ember"]()), x @ w.T + b)], 1e-5,
                                             "float64 numpy"))
    t_layer = torch.nn.Linear(8, 8)
    t_layer.load_state_dict({k: torch.from_numpy(np.array(v.detach().numpy())) for k, v in layer.state_dict().items()})
    tx = torch.from_numpy(x)
    runners["torch"] = lambda: t_layer(tx)
    return Prepared(runners, check_close([(to_numpy(runners["ember"]()), to_numpy(runners["torch"]()))], 1e-5,
                                         "torch"))


def _tiny_step(torch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 8)).astype(np.float32)
    y = rng.integers(0, 8, 1)
    return prepare_training(lambda lib: lib.nn.Linear(8, 8), lambda lib, p: lib.optim.SGD(p, lr=1e-2), x, y, torch)


def workloads():
    return [
        Workload("add_1x1", "overhead", {"op": "a + b", "shape": [1, 1]}, None, _add),
        Workload("linear_8x8_forward", "overhead", {"op": "nn.Linear(8, 8) forward", "batch": 1}, None, _linear),
        Workload("tiny_sgd_step", "overhead", {"model": "nn.Linear(8, 8)", "batch": 1, "optimizer": "SGD"}, None,
                 _tiny_step),
    ]
