"""Property tests of the composite ember.nn layers against torch.nn with the same weights: MultiheadAttention (masks,
batch_first, unbatched, need_weights), TransformerEncoderLayer (post/pre-norm, relu/gelu), and Sequential /
ModuleList state_dict round trips ember -> torch -> ember. Bad arguments and inputs raise naming the layer."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import ember
from ember import nn
from props_helpers import torch, assert_close, raises_naming

SEEDS = st.integers(0, 2 ** 31)
TOL = dict(rtol=1e-3, atol=1e-4)


def copy_weights(ember_module, torch_module):
    ember_module.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()})


def pair(rng, shape):
    arr = rng.standard_normal(shape).astype(np.float32)
    return ember.from_numpy(arr.copy()).requires_grad_(True), torch.from_numpy(arr).requires_grad_(True)


def compare_param_grads(ember_module, torch_module, tol=TOL):
    torch_params = dict(torch_module.named_parameters())
    for name, param in ember_module.named_parameters():
        assert_close(param.grad, torch_params[name].grad, **tol)


@given(heads=st.integers(1, 3), head_dim=st.integers(1, 3), batch=st.sampled_from([None, 1, 2]),
       tgt=st.integers(1, 4), src=st.integers(1, 4), batch_first=st.booleans(), need_weights=st.booleans(),
       average=st.booleans(), mask=st.sampled_from([None, "bool", "float", "padding"]), bias=st.booleans(),
       seed=SEEDS)
def test_multihead_attention_matches_torch(heads, head_dim, batch, tgt, src, batch_first, need_weights, average,
                                           mask, bias, seed):
    rng = np.random.default_rng(seed)
    embed = heads * head_dim
    tm = torch.nn.MultiheadAttention(embed, heads, bias=bias, batch_first=batch_first)
    em = nn.MultiheadAttention(embed, heads, bias=bias, batch_first=batch_first)
    if bias:
        with torch.no_grad():
            tm.in_proj_bias.uniform_(-0.5, 0.5)
            tm.out_proj.bias.uniform_(-0.5, 0.5)
    copy_weights(em, tm)

    def shaped(length):
        if batch is None:
            return (length, embed)
        return (batch, length, embed) if batch_first else (length, batch, embed)
    (eq, tq), (ek, tk), (ev, tv) = pair(rng, shaped(tgt)), pair(rng, shaped(src)), pair(rng, shaped(src))
    kwargs_e, kwargs_t = {}, {}
    if mask in ("bool", "float"):
        allowed = rng.random((tgt, src)) < 0.7
        allowed[:, 0] = True                     # every query attends to something (no all-masked rows)
        m = ~allowed if mask == "bool" else np.where(allowed, 0.0, -1e4).astype(np.float32)
        kwargs_e["attn_mask"], kwargs_t["attn_mask"] = ember.from_numpy(m.copy()), torch.from_numpy(m.copy())
    elif mask == "padding" and batch is not None:
        pad = rng.random((batch, src)) < 0.4
        pad[:, 0] = False
        kwargs_e["key_padding_mask"], kwargs_t["key_padding_mask"] = ember.from_numpy(pad.copy()), \
            torch.from_numpy(pad.copy())
    got, got_w = em(eq, ek, ev, need_weights=need_weights, average_attn_weights=average, **kwargs_e)
    expected, expected_w = tm(tq, tk, tv, need_weights=need_weights, average_attn_weights=average, **kwargs_t)
    assert_close(got, expected, **TOL)
    if need_weights:
        assert_close(got_w, expected_w, **TOL)
    else:
        assert got_w is None
    cotangent = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(torch.from_numpy(cotangent))
    got.backward(ember.from_numpy(cotangent.copy()))
    for e, t in ((eq, tq), (ek, tk), (ev, tv)):
        assert_close(e.grad, t.grad, **TOL)
    compare_param_grads(em, tm)


@given(heads=st.integers(1, 2), head_dim=st.integers(1, 3), ff=st.integers(1, 6), batch=st.integers(1, 2),
       length=st.integers(1, 4), norm_first=st.booleans(), activation=st.sampled_from(["relu", "gelu"]),
       batch_first=st.booleans(), causal=st.booleans(), seed=SEEDS)
def test_transformer_encoder_layer_matches_torch(heads, head_dim, ff, batch, length, norm_first, activation,
                                                  batch_first, causal, seed):
    rng = np.random.default_rng(seed)
    d_model = heads * head_dim
    kwargs = dict(dim_feedforward=ff, dropout=0.0, activation=activation, norm_first=norm_first,
                  batch_first=batch_first)
    tm, em = torch.nn.TransformerEncoderLayer(d_model, heads, **kwargs), nn.TransformerEncoderLayer(d_model, heads,
                                                                                                   **kwargs)
    with torch.no_grad():
        for p in tm.parameters():
            p.uniform_(-0.5, 0.5)
    copy_weights(em, tm)
    ex, tx = pair(rng, (batch, length, d_model) if batch_first else (length, batch, d_model))
    if causal:
        mask = np.triu(np.ones((length, length), dtype=bool), 1)
        got = em(ex, src_mask=ember.from_numpy(mask.copy()))
        expected = tm(tx, src_mask=torch.from_numpy(mask))
    else:
        got, expected = em(ex), tm(tx)
    assert_close(got, expected, **TOL)
    cotangent = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(torch.from_numpy(cotangent))
    got.backward(ember.from_numpy(cotangent.copy()))
    assert_close(ex.grad, tx.grad, **TOL)
    compare_param_grads(em, tm, tol=dict(rtol=2e-3, atol=2e-4))


LAYER_KINDS = ["linear", "relu", "tanh", "layernorm", "batchnorm", "dropout"]


def build_twins(kinds, widths):
    """An ember and a torch Sequential with the same layer kinds and widths (widths[i] -> widths[i+1])."""
    ember_layers, torch_layers, width = [], [], widths[0]
    for kind, out in zip(kinds, widths[1:]):
        if kind == "linear":
            ember_layers.append(nn.Linear(width, out)), torch_layers.append(torch.nn.Linear(width, out))
            width = out
        elif kind == "layernorm":
            ember_layers.append(nn.LayerNorm(width)), torch_layers.append(torch.nn.LayerNorm(width))
        elif kind == "batchnorm":
            ember_layers.append(nn.BatchNorm1d(width)), torch_layers.append(torch.nn.BatchNorm1d(width))
        elif kind == "dropout":
            ember_layers.append(nn.Dropout(0.3)), torch_layers.append(torch.nn.Dropout(0.3))
        else:
            ember_layers.append(getattr(nn, {"relu": "ReLU", "tanh": "Tanh"}[kind])())
            torch_layers.append(getattr(torch.nn, {"relu": "ReLU", "tanh": "Tanh"}[kind])())
    return ember_layers, torch_layers, width


def wrap(container, layers, ns):
    """layers in an ember or torch container: Sequential, ModuleList, or a Sequential holding both."""
    if container == "Sequential":
        return ns.Sequential(*layers)
    if container == "ModuleList":
        return ns.ModuleList(layers)
    return ns.Sequential(ns.Sequential(*layers[:1]), ns.ModuleList(layers[1:]))


@given(kinds=st.lists(st.sampled_from(LAYER_KINDS), min_size=1, max_size=5),
       widths=st.lists(st.integers(1, 5), min_size=6, max_size=6), batch=st.integers(0, 3),
       container=st.sampled_from(["Sequential", "ModuleList", "nested"]), seed=SEEDS)
def test_container_state_dict_round_trips_through_torch(kinds, widths, batch, container, seed):
    ember_layers, torch_layers, _ = build_twins(kinds, widths)
    em, tm = wrap(container, ember_layers, nn), wrap(container, torch_layers, torch.nn)
    ember.manual_seed(seed)
    with ember.no_grad():
        for p in em.parameters():
            p.copy_(ember.randn(*p.shape))
        for buf in em.buffers():
            if buf.dtype == ember.float32:
                buf.copy_(ember.rand(*buf.shape) + 0.5)
    ember_state = em.state_dict()
    assert list(ember_state) == list(tm.state_dict())
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ember_state.items()})
    back = wrap(container, build_twins(kinds, widths)[0], nn)
    back.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    assert list(back.state_dict()) == list(ember_state)
    for key, value in back.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), ember_state[key].numpy())
    if container == "Sequential":
        em.eval(), tm.eval(), back.eval()
        x = np.random.default_rng(seed).standard_normal((batch, widths[0])).astype(np.float32)
        assert_close(em(ember.from_numpy(x.copy())), tm(torch.from_numpy(x)), **TOL)
        assert_close(back(ember.from_numpy(x.copy())), tm(torch.from_numpy(x)), **TOL)


# ------------------------------------------------------------------------------------------------ invalid draws

@given(embed=st.integers(2, 8), heads=st.integers(2, 5), wrong_by=st.integers(1, 3), length=st.integers(1, 3))
def test_attention_bad_arguments_and_inputs_raise_naming_it(embed, heads, wrong_by, length):
    if embed % heads:
        with raises_naming("MultiheadAttention"):
            nn.MultiheadAttention(embed, heads)
    with raises_naming("MultiheadAttention"):
        nn.MultiheadAttention(embed, 0)
    with raises_naming("MultiheadAttention"):
        nn.MultiheadAttention(-embed, 1)
    with raises_naming("MultiheadAttention"):
        nn.MultiheadAttention(embed, 1, dropout=1.0 + wrong_by)
    layer = nn.MultiheadAttention(embed, 1)
    x = ember.zeros(length, 2, embed)
    with raises_naming("MultiheadAttention"):
        layer(ember.zeros(length, 2, embed + wrong_by), x, x)
    with raises_naming("MultiheadAttention"):
        layer(ember.zeros(embed), ember.zeros(embed), ember.zeros(embed))
    with raises_naming("MultiheadAttention"):
        layer(x, ember.zeros(length, 2 + wrong_by, embed), ember.zeros(length, 2 + wrong_by, embed))
    with raises_naming("multi_head_attention_forward"):
        layer(x, x, x, attn_mask=ember.zeros(length + wrong_by, length))
    with raises_naming("multi_head_attention_forward"):
        layer(x, x, x, key_padding_mask=ember.zeros(2, length + wrong_by, dtype=ember.bool))
    with raises_naming("TransformerEncoderLayer"):
        nn.TransformerEncoderLayer(embed, 1, activation="swishy")
    with raises_naming("TransformerEncoder"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(embed, 1, dim_feedforward=4), -wrong_by)


@given(width=st.integers(1, 4), wrong_by=st.integers(1, 3))
def test_container_bad_state_dicts_and_indices_raise(width, wrong_by):
    model = nn.Sequential(nn.Linear(width, width), nn.ReLU())
    state = model.state_dict()
    bad_shape = dict(state, **{"0.weight": np.zeros((width + wrong_by, width), np.float32)})
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        model.load_state_dict(bad_shape)
    with pytest.raises(RuntimeError, match="Missing key"):
        model.load_state_dict({"0.weight": state["0.weight"]})
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict(dict(state, extra=np.zeros(1)))
    with pytest.raises(IndexError):
        model[2 + wrong_by]
    with pytest.raises(IndexError):
        nn.ModuleList([nn.ReLU()])[-2 - wrong_by]
