"""keras.layers against PyTorch on channels-last data: Dense, Conv2D ('valid'/'same', any stride), pooling (incl.
Keras' asymmetric 'same' padding), Flatten order, BatchNormalization (Keras momentum/epsilon), Embedding, shapes,
Keras-layout get_weights/set_weights, lazy building and input-shape errors."""
import numpy as np
import pytest

import ember
from ember import keras

torch = pytest.importorskip("torch")
tF = torch.nn.functional


def _run(layer, x):
    return layer(ember.from_numpy(np.ascontiguousarray(x))).detach().numpy()


def _torch_nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _to_nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def test_dense_matches_torch_and_keras_layout():
    x = np.random.randn(5, 7).astype(np.float32)
    layer = keras.layers.Dense(3, activation="relu")
    out = _run(layer, x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (7, 3) and bias.shape == (3,)
    np.testing.assert_allclose(bias, 0.0)
    expected = np.maximum(x @ kernel + bias, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert dict(layer.named_parameters())["weight"].shape == (3, 7)      # ember/PyTorch layout inside
    limit = np.sqrt(6.0 / (7 + 3))                                       # glorot_uniform
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > limit / 3


@pytest.mark.parametrize("activation", ["softmax", "sigmoid", "tanh", "gelu", None])
def test_dense_activations(activation):
    x = np.random.randn(4, 6).astype(np.float32)
    layer = keras.layers.Dense(5, activation=activation)
    out = _run(layer, x)
    kernel, bias = layer.get_weights()
    z = torch.from_numpy(x @ kernel + bias)
    expected = {"softmax": lambda t: torch.softmax(t, -1), "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                "gelu": tF.gelu, None: lambda t: t}[activation](z)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size, kernel, strides, padding", [
    (8, 3, 1, "same"), (8, 3, 1, "valid"), (7, 3, 2, "same"), (8, 3, 2, "same"), (8, 2, 1, "same"),
    (9, (3, 2), (2, 1), "valid")])
def test_conv2d_matches_torch_channels_last(size, kernel, strides, padding):
    x = np.random.randn(2, size, size, 3).astype(np.float32)
    layer = keras.layers.Conv2D(4, kernel, strides=strides, padding=padding, activation="relu")
    out = _run(layer, x)
    weight = torch.from_numpy(layer.weight.detach().numpy().copy())
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    xt = _torch_nchw(x)
    if padding == "same":         # TensorFlow's rule: ceil(size / stride) outputs, the odd pixel at the bottom/right
        def pads(n, k, s):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            return total // 2, total - total // 2
        top, bottom = pads(size, kh, sh)
        left, right = pads(size, kw, sw)
        xt = tF.pad(xt, (left, right, top, bottom))
    expected = torch.relu(tF.conv2d(xt, weight, torch.zeros(4), stride=(sh, sw)))
    np.testing.assert_allclose(out, _to_nhwc(expected), rtol=1e-4, atol=1e-5)
    if padding == "same":
        assert out.shape[1] == -(-size // layer.strides[0])
    kernel_keras = layer.get_weights()[0]
    assert kernel_keras.shape == (kh, kw, 3, 4)                       # Keras' (kh, kw, in, out)


def test_conv2d_set_weights_keras_layout_roundtrip():
    layer = keras.layers.Conv2D(2, 3, input_shape=(5, 5, 1))
    _run(layer, np.zeros((1, 5, 5, 1), np.float32))
    kernel = np.random.randn(3, 3, 1, 2).astype(np.float32)
    layer.set_weights([kernel, np.array([0.5, -0.5], np.float32)])
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    with pytest.raises(ValueError, match="expected 2 arrays"):
        layer.set_weights([kernel])


@pytest.mark.parametrize("size, pool, strides, padding", [(8, 2, None, "valid"), (5, 2, None, "same"),
                                                          (7, 3, 2, "same"), (6, 3, 1, "valid")])
def test_pooling_matches_torch(size, pool, strides, padding):
    x = np.random.randn(2, size, size, 3).astype(np.float32)
    stride = strides or pool
    max_layer = keras.layers.MaxPooling2D(pool, strides=strides, padding=padding)
    avg_layer = keras.layers.AveragePooling2D(pool, strides=strides, padding=padding)
    xt = _torch_nchw(x)
    if padding == "same":
        total = max((-(-size // stride) - 1) * stride + pool - size, 0)
        before, after = total // 2, total - total // 2
        padded_max = tF.pad(xt, (before, after, before, after), value=float("-inf"))
        expected_max = tF.max_pool2d(padded_max, pool, stride)
        summed = tF.avg_pool2d(tF.pad(xt, (before, after, before, after)), pool, stride) * pool * pool
        counts = tF.avg_pool2d(tF.pad(torch.ones(1, 1, size, size), (before, after, before, after)), pool,
                               stride) * pool * pool
        expected_avg = summed / counts                                # Keras averages real pixels only
    else:
        expected_max = tF.max_pool2d(xt, pool, stride)
        expected_avg = tF.avg_pool2d(xt, pool, stride)
    np.testing.assert_allclose(_run(max_layer, x), _to_nhwc(expected_max), rtol=1e-5)
    np.testing.assert_allclose(_run(avg_layer, x), _to_nhwc(expected_avg), rtol=1e-5, atol=1e-6)


def test_global_pooling_and_flatten_order_is_channels_last():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_allclose(_run(keras.layers.GlobalAveragePooling2D(), x), x.mean(axis=(1, 2)))
    np.testing.assert_allclose(_run(keras.layers.GlobalMaxPooling2D(), x), x.max(axis=(1, 2)))
    np.testing.assert_array_equal(_run(keras.layers.Flatten(), x), x.reshape(2, -1))
    # after a conv (whose result is a channels-last view of an NCHW tensor), Flatten still uses (h, w, c) order
    conv = keras.layers.Conv2D(2, 1, use_bias=False)
    conv_out = _run(conv, x)
    flat = _run(keras.Sequential([conv, keras.layers.Flatten()]), x)
    np.testing.assert_allclose(flat, conv_out.reshape(2, -1), rtol=1e-6)


def test_batch_normalization_keras_defaults():
    x = (np.random.randn(16, 3, 3, 4) * 3 + 1).astype(np.float32)
    layer = keras.layers.BatchNormalization()
    assert layer.momentum == 0.99 and layer.epsilon == 1e-3
    out = _run(layer, x)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)
    moving_mean = layer.running_mean.numpy()
    np.testing.assert_allclose(moving_mean, 0.01 * mean, rtol=1e-4, atol=1e-6)   # 0.99 * 0 + 0.01 * batch mean
    layer.eval()
    out_eval = _run(layer, x)
    expected = (x - moving_mean) / np.sqrt(layer.running_var.numpy() + 1e-3)
    np.testing.assert_allclose(out_eval, expected, rtol=1e-4, atol=1e-4)
    assert [w.shape for w in layer.get_weights()] == [(4,)] * 4     # gamma, beta, moving mean, moving variance


def test_embedding_dropout_activation_reshape():
    emb = keras.layers.Embedding(10, 3)
    ids = np.array([[1, 2], [9, 0]])
    out = _run(emb, ids)
    table = emb.get_weights()[0]
    assert np.abs(table).max() <= 0.05
    np.testing.assert_array_equal(out, table[ids])
    drop = keras.layers.Dropout(0.5)
    x = np.ones((200, 50), np.float32)
    dropped = _run(drop, x)
    assert set(np.unique(dropped)) <= {0.0, 2.0} and 0.4 < (dropped == 0).mean() < 0.6
    drop.eval()
    np.testing.assert_array_equal(_run(drop, x), x)
    np.testing.assert_allclose(_run(keras.layers.Activation("softmax"), x[:2, :4]), np.full((2, 4), 0.25))
    assert _run(keras.layers.Reshape((5, 10)), x).shape == (200, 5, 10)


def test_layer_names_are_unique_and_keras_like():
    a, b = keras.layers.Dense(2), keras.layers.Dense(2)
    assert a.name.startswith("dense") and b.name != a.name
    assert keras.layers.MaxPooling2D().name.startswith("max_pooling2d")
    assert keras.layers.BatchNormalization().name.startswith("batch_normalization")


def test_lazy_build_and_wrong_input_shape():
    layer = keras.layers.Dense(3)
    assert not layer.built
    _run(layer, np.zeros((2, 5), np.float32))
    assert layer.built and layer.count_params() == 18
    with pytest.raises(ValueError, match="expected axis -1 of the input to have value 5"):
        _run(layer, np.zeros((2, 6), np.float32))
    declared = keras.layers.Dense(3, input_shape=(4,))
    with pytest.raises(ValueError, match=r"expected shape \(None, 4\)"):
        _run(declared, np.zeros((2, 6), np.float32))
    conv = keras.layers.Conv2D(2, 3)
    with pytest.raises(ValueError, match="expects channels-last images"):
        _run(conv, np.zeros((2, 5, 5), np.float32))


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="unknown activation 'rellu'; valid names: .*relu"):
        keras.layers.Dense(3, activation="rellu")
    with pytest.raises(ValueError, match="units must be a positive int"):
        keras.layers.Dense(0)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        keras.layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="unknown initializer"):
        keras.layers.Dense(2, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="rate must be a number in"):
        keras.layers.Dropout(1.5)
