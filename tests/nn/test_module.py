"""nn.Module machinery against torch.nn: registration, traversal, state_dict keys and round-trips both ways,
load_state_dict strictness, train/eval, zero_grad, dtype conversion, hooks, repr, Parameter and containers."""
from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember import nn
from nn_helpers import torch, to_torch, assert_close

tnn = torch.nn


def build_pair():
    """The same composite model in both frameworks (nested containers, norms with buffers, embedding)."""
    def make(lib):
        class Block(lib.Module):
            def __init__(self):
                super().__init__()
                self.proj = lib.Linear(6, 6)
                self.norm = lib.LayerNorm(6)
                self.extra = lib.ModuleList([lib.Linear(6, 6, bias=False), lib.ReLU()])

            def forward(self, x):
                return self.extra[1](self.extra[0](self.norm(self.proj(x))))

        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.embed = lib.Embedding(10, 6, padding_idx=0)
                self.block = Block()
                self.bn = lib.BatchNorm1d(6)
                self.heads = lib.ModuleDict({"a": lib.Linear(6, 3), "b": lib.Sequential(lib.Linear(6, 4), lib.GELU())})
                self.register_buffer("unused", None)   # None buffers stay out of state_dict

            def forward(self, idx):
                h = self.block(self.embed(idx))
                h = self.bn(h)
                return self.heads["a"](h), self.heads["b"](h)
        return Net()
    return make(tnn), make(nn)


def test_state_dict_keys_match_torch():
    t_model, e_model = build_pair()
    assert list(e_model.state_dict().keys()) == list(t_model.state_dict().keys())
    for (ek, ev), (tk, tv) in zip(e_model.state_dict().items(), t_model.state_dict().items()):
        assert tuple(ev.shape) == tuple(tv.shape), ek
    assert [n for n, _ in e_model.named_parameters()] == [n for n, _ in t_model.named_parameters()]
    assert [n for n, _ in e_model.named_buffers()] == [n for n, _ in t_model.named_buffers()]
    assert [n for n, _ in e_model.named_modules()] == [n for n, _ in t_model.named_modules()]
    assert [n for n, _ in e_model.named_children()] == [n for n, _ in t_model.named_children()]


def test_weights_move_both_ways_and_outputs_match():
    t_model, e_model = build_pair()
    result = e_model.load_state_dict({k: v.numpy() for k, v in t_model.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    idx = np.array([[1, 2, 0], [4, 9, 3]], dtype=np.int64)
    e_out = e_model(ember.tensor(idx).reshape(6))
    t_out = t_model(torch.tensor(idx).reshape(6))
    for e, t in zip(e_out, t_out):
        assert_close(e, t, atol=1e-5)
    # ember -> torch, after changing the ember weights
    with ember.no_grad():
        for p in e_model.parameters():
            p.mul_(0.5)
    t_model.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in e_model.state_dict().items()})
    e_model.eval(), t_model.eval()
    for e, t in zip(e_model(ember.tensor(idx).reshape(6)), t_model(torch.tensor(idx).reshape(6))):
        assert_close(e, t, atol=1e-5)


def test_state_dict_shares_storage_and_is_detached():
    layer = nn.Linear(3, 2)
    sd = layer.state_dict()
    assert isinstance(sd, OrderedDict)
    assert not sd["weight"].requires_grad
    with ember.no_grad():
        sd["weight"].fill_(2.0)
    assert np.all(layer.weight.detach().numpy() == 2.0)
    assert layer.state_dict(keep_vars=True)["weight"] is layer.weight


def test_load_state_dict_keeps_parameter_identity_and_accepts_tensors():
    layer = nn.Linear(3, 2)
    weight = layer.weight
    layer.load_state_dict({"weight": ember.ones(2, 3), "bias": np.zeros(2)})
    assert layer.weight is weight
    assert np.all(layer.weight.detach().numpy() == 1.0) and np.all(layer.bias.detach().numpy() == 0.0)
    assert layer.weight.requires_grad


def test_load_state_dict_strictness_errors():
    layer = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        layer.load_state_dict({"weight": np.zeros((2, 3), np.float32)})
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "extra"'):
        layer.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(2), "extra": np.zeros(1)})
    with pytest.raises(RuntimeError, match="size mismatch for weight: .*\\[3, 2\\].*\\[2, 3\\]"):
        layer.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)})
    with pytest.raises(RuntimeError, match="size mismatch for weight"):   # even when not strict
        layer.load_state_dict({"weight": np.zeros((3, 2))}, strict=False)
    result = layer.load_state_dict({"weight": np.full((2, 3), 7.0), "junk": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["junk"]
    assert np.all(layer.weight.detach().numpy() == 7.0)
    with pytest.raises(TypeError):
        layer.load_state_dict([1, 2])


def test_parameter_is_a_tensor_subclass():
    data = ember.randn(2, 3)
    p = nn.Parameter(data)
    assert isinstance(p, ember.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert "requires_grad=True" in repr(p)
    with ember.no_grad():   # shares memory with data
        data.fill_(3.0)
    assert np.all(p.detach().numpy() == 3.0)
    out = ember.relu(p * 2).sum()   # C++ ops accept it
    out.backward()
    assert p.grad is not None and tuple(p.grad.shape) == (2, 3)
    assert not nn.Parameter(ember.zeros(1), requires_grad=False).requires_grad
    with pytest.raises(TypeError):
        nn.Parameter([1.0, 2.0])
    import copy
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.data_ptr() != p.data_ptr()


def test_setattr_routing_and_registration_errors():
    m = nn.Module()
    m.w = nn.Parameter(ember.zeros(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("buf", ember.zeros(3))
    m.register_buffer("tmp", ember.zeros(1), persistent=False)
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and list(m._buffers) == ["buf", "tmp"]
    assert list(m.state_dict()) == ["w", "buf", "sub.weight", "sub.bias"]
    assert [n for n, _ in m.named_buffers()] == ["buf", "tmp"]
    with pytest.raises(TypeError, match="cannot assign"):
        m.w = ember.zeros(2)   # a plain tensor is not a Parameter
    m.w = None
    assert m.w is None and "w" not in dict(m.named_parameters())
    with pytest.raises(TypeError):
        m.sub = 3
    m.buf = ember.ones(3)
    assert m._buffers["buf"].shape == (3,)
    with pytest.raises(TypeError):
        m.buf = "no"
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        m.nothing
    del m.sub
    assert "sub" not in m._modules

    class NoInit(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(ember.zeros(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        NoInit()


def test_parameters_recurse_prefix_and_dedup():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters(prefix="model")] == ["model.0.weight", "model.0.bias"]
    assert list(seq.named_parameters(recurse=False)) == []
    assert len(list(seq.modules())) == 3   # seq, shared, relu
    t_seq = tnn.Sequential(tnn.Linear(2, 2), tnn.ReLU())
    t_seq = tnn.Sequential(t_seq[0], t_seq[1], t_seq[0])
    assert list(seq.state_dict()) == list(t_seq.state_dict())


def test_train_eval_zero_grad_apply_requires_grad():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    assert model.training and model[1].training
    model.eval()
    assert not model.training and not model[1].training
    model.train()
    assert model[1].training
    with pytest.raises(ValueError):
        model.train("yes")
    model(ember.randn(4, 2)).sum().backward()
    assert model[0].weight.grad is not None
    model.zero_grad(set_to_none=False)
    assert np.all(model[0].weight.grad.numpy() == 0)
    model.zero_grad()
    assert model[0].weight.grad is None
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Dropout", "Sequential"]
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_to_double_float():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    model.double()
    assert all(p.dtype == ember.float64 for p in model.parameters())
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())
    assert model[1].running_mean.dtype == ember.float64
    assert model[1].num_batches_tracked.dtype == ember.int64
    out = model(ember.randn(4, 2, dtype=ember.float64))
    assert out.dtype == ember.float64
    model.to(ember.float32)
    assert model[0].weight.dtype == ember.float32
    model.float()
    with pytest.raises(ValueError):
        model.to("cuda")


def test_forward_pre_hook_and_forward_hook():
    layer = nn.Linear(2, 2)
    calls = []
    h1 = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0.0,))
    h2 = layer.register_forward_hook(lambda m, args, out: calls.append(tuple(out.shape)) or out + 1.0)
    out = layer(ember.ones(3, 2))
    assert calls == [(3, 2)]
    assert_close(out, to_torch(layer.bias).expand(3, 2) + 1.0)
    h1.remove()
    h2.remove()
    out = layer(ember.ones(3, 2))
    assert calls == [(3, 2)]
    expected = torch.ones(3, 2) @ to_torch(layer.weight).T + to_torch(layer.bias)
    assert_close(out, expected)


def test_full_backward_hook_matches_torch():
    t_layer = tnn.Linear(3, 2)
    e_layer = nn.Linear(3, 2)
    e_layer.load_state_dict({k: v.numpy() for k, v in t_layer.state_dict().items()})
    records = {"ember": [], "torch": []}

    def recorder(key):
        def hook(module, grad_input, grad_output):
            records[key].append((grad_input, grad_output))
        return hook
    e_layer.register_full_backward_hook(recorder("ember"))
    t_layer.register_full_backward_hook(recorder("torch"))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (e_layer(ex) * 3.0).sum().backward()
    (t_layer(tx) * 3.0).sum().backward()
    assert len(records["ember"]) == 1 and len(records["torch"]) == 1
    (e_in, e_out), (t_in, t_out) = records["ember"][0], records["torch"][0]
    assert len(e_in) == len(t_in) == 1 and len(e_out) == len(t_out) == 1
    assert_close(e_in[0], t_in[0])
    assert_close(e_out[0], t_out[0])
    assert_close(ex.grad, tx.grad)


def test_full_backward_hook_can_replace_grad_input_and_handles_no_grad_inputs():
    layer = nn.Linear(3, 2)
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0.0,))
    x = ember.randn(4, 3, requires_grad=True)
    layer(x).sum().backward()
    assert np.all(x.grad.numpy() == 0.0)
    assert layer.weight.grad is not None and np.any(layer.weight.grad.numpy() != 0)
    seen = []
    other = nn.Linear(3, 2)
    other.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    other(ember.randn(4, 3)).sum().backward()   # input needs no grad: grad_input is (None,)
    assert len(seen) == 1 and seen[0][0] == (None,) and tuple(seen[0][1][0].shape) == (4, 2)


def test_repr_matches_torch():
    t_model, e_model = build_pair()
    assert repr(e_model) == repr(t_model)
    for t, e in [(tnn.Linear(3, 4, bias=False), nn.Linear(3, 4, bias=False)), (tnn.Dropout(0.2), nn.Dropout(0.2)),
                 (tnn.LeakyReLU(0.2), nn.LeakyReLU(0.2)), (tnn.GELU("tanh"), nn.GELU("tanh")),
                 (tnn.Softmax(dim=1), nn.Softmax(dim=1)), (tnn.Flatten(), nn.Flatten()),
                 (tnn.Unflatten(1, (2, 3)), nn.Unflatten(1, (2, 3))), (tnn.BatchNorm2d(3), nn.BatchNorm2d(3)),
                 (tnn.LayerNorm((2, 3), elementwise_affine=False), nn.LayerNorm((2, 3), elementwise_affine=False)),
                 (tnn.Embedding(5, 2, padding_idx=1), nn.Embedding(5, 2, padding_idx=1)),
                 (tnn.ModuleList([tnn.Linear(2, 2) for _ in range(3)] + [tnn.ReLU()]),
                  nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU()])),
                 (tnn.Identity(), nn.Identity()), (tnn.CrossEntropyLoss(), nn.CrossEntropyLoss())]:
        assert repr(e) == repr(t)


def test_sequential_indexing_slicing_append():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    seq.append(nn.Sigmoid())
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert tuple(seq(ember.randn(5, 2)).shape) == (5, 1)
    with pytest.raises(IndexError):
        seq[10]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers += [nn.Sigmoid()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Sigmoid)
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    d = nn.ModuleDict({"x": nn.Linear(1, 1)})
    d["y"] = nn.ReLU()
    assert list(d.keys()) == ["x", "y"] and "x" in d and len(d) == 2
    assert list(d.state_dict()) == ["x.weight", "x.bias"]
    assert d.pop("y").__class__ is nn.ReLU and list(d) == ["x"]


def test_deepcopy_clones_parameters_and_buffers():
    import copy
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    twin = copy.deepcopy(model)
    assert list(twin.state_dict()) == list(model.state_dict())
    for (_, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.data_ptr() != b.data_ptr()
    assert isinstance(twin[0].weight, nn.Parameter) and twin[0].weight.requires_grad


def test_load_state_dict_accepts_torch_tensors_directly():
    t_layer, e_layer = tnn.Linear(3, 2), nn.Linear(3, 2)
    e_layer.load_state_dict(t_layer.state_dict())
    assert_close(e_layer.weight, t_layer.weight)


def _lenet_like():
    nn = ember.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 10), nn.ReLU(), nn.Linear(10, 3))


def test_sequential_fuses_relu_into_conv_and_linear_with_identical_results():
    """Sequential runs Conv2d + ReLU and Linear + ReLU as one op each; outputs and every gradient equal the
    module-by-module run bitwise, NaN propagates as in torch.relu, and a hook on either module turns fusion off."""
    ember.manual_seed(0)
    model = _lenet_like()
    x = ember.randn(5, 1, 8, 8)
    x_np = x.numpy().copy()
    x_np[0, 0, 2, 3] = np.nan

    def run(fused):
        for p in model.parameters():
            p.grad = None
        inp = ember.tensor(x_np, requires_grad=True)
        out = model(inp) if fused else _unfused(model, inp)
        ember.where(ember.tensor(np.isnan(out.detach().numpy())), ember.zeros_like(out), out).sum().backward()
        return [out.detach().numpy()] + [p.grad.numpy() for p in model.parameters()] + [inp.grad.numpy()]

    def _unfused(seq, inp):
        for module in seq:
            inp = module(inp)
        return inp

    fused, plain = run(True), run(False)
    assert np.isnan(fused[0][0]).all() and not np.isnan(fused[0][1:]).any()
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)
    negatives = []
    model[0].register_forward_hook(lambda m, i, o: negatives.append(bool((o.detach().numpy() < 0).any())))
    model(x)
    assert negatives == [True]   # the hooked conv ran alone: its output is not rectified
    seen = []
    model[5].register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    model(x)
    assert seen == [(5, 10)]   # the ReLU after the Linear ran as a module and saw its input


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_sequential_fuses_gelu_into_linear_and_matches_torch(approximate):
    """Linear + GELU in a Sequential runs as one op (GELU in the GEMM's epilogue, its slope saved for the
    backward); output and gradients match torch's Linear then GELU; GELU after a conv is not fused."""
    ember.manual_seed(1)
    model = nn.Sequential(nn.Linear(37, 70), nn.GELU(approximate), nn.Linear(70, 5), nn.GELU(approximate))
    t_model = tnn.Sequential(tnn.Linear(37, 70), tnn.GELU(approximate), tnn.Linear(70, 5), tnn.GELU(approximate))
    t_model.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((13, 37)).astype(np.float32) * 3
    e_in, t_in = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    e_out, t_out = model(e_in), t_model(t_in)
    assert e_out.grad_fn.name() == "LinearBackward0"
    assert_close(e_out, t_out, rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(1).standard_normal((13, 5)).astype(np.float32)
    e_out.backward(ember.tensor(g))
    t_out.backward(torch.tensor(g))
    assert_close(e_in.grad, t_in.grad, rtol=1e-4, atol=1e-5)
    for (name, p), tp in zip(model.named_parameters(), t_model.parameters()):
        assert_close(p.grad, tp.grad, rtol=1e-4, atol=1e-5)
    model[0].register_forward_hook(lambda m, i, o: None)
    assert model[:2](e_in).grad_fn.name() == "GeluBackward0"   # a hooked Linear runs alone
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU(approximate))
    assert conv(ember.randn(1, 1, 5, 5)).grad_fn.name() == "GeluBackward0"
