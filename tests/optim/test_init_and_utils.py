"""ember.nn.init (statistics, bounds, fans and gains against torch, reproducibility) and ember.nn.utils
(clip_grad_norm_/clip_grad_value_ against torch, parameters_to_vector round trip)."""
import math

import numpy as np
import pytest

import ember
from ember.nn import init, utils

torch = pytest.importorskip("torch")


def stats(t):
    a = t.detach().numpy().astype(np.float64)
    return a.min(), a.max(), a.mean(), a.std()


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (8, 4, 3, 3), (2, 7, 1, 5, 2)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(ember.zeros(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(ember.zeros((5,)))


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                                ("tanh", None), ("relu", None), ("leaky_relu", None),
                                                ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param))


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


N = (400, 250)   # 100k samples: std within ~1%, so a 3% tolerance cannot fail by chance


def test_uniform_and_normal():
    lo, hi, mean, std = stats(init.uniform_(ember.empty(N), -2.0, 3.0))
    assert -2.0 <= lo < -1.99 and 2.99 < hi <= 3.0
    assert mean == pytest.approx(0.5, abs=0.02) and std == pytest.approx(5 / math.sqrt(12), rel=0.03)
    _, _, mean, std = stats(init.normal_(ember.empty(N, dtype=ember.float64), 1.5, 0.5))
    assert mean == pytest.approx(1.5, abs=0.01) and std == pytest.approx(0.5, rel=0.03)


def test_constant_ones_zeros_eye():
    t = ember.empty((3, 4))
    assert init.constant_(t, 0.25) is t and (t.numpy() == 0.25).all()
    assert (init.ones_(t).numpy() == 1).all() and (init.zeros_(t).numpy() == 0).all()
    np.testing.assert_array_equal(init.eye_(ember.empty((3, 4))).numpy(), np.eye(3, 4))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.eye_(ember.empty((2, 2, 2)))


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier(gain):
    t = ember.empty((300, 200, 2))
    fan_in, fan_out = 400, 600
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    lo, hi, _, std = stats(init.xavier_uniform_(t, gain=gain))
    assert -bound <= lo and hi <= bound and std == pytest.approx(bound / math.sqrt(3), rel=0.03)
    _, _, mean, std = stats(init.xavier_normal_(t, gain=gain))
    assert std == pytest.approx(gain * math.sqrt(2.0 / (fan_in + fan_out)), rel=0.03) and abs(mean) < 0.01 * gain


@pytest.mark.parametrize("a,mode,nonlinearity", [(0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
                                                 (0, "fan_out", "relu"), (0.1, "FAN_OUT", "tanh")])
def test_kaiming(a, mode, nonlinearity):
    shape = (500, 40, 5)
    fan = init._calculate_correct_fan(ember.empty(shape), mode)
    assert fan == torch.nn.init._calculate_correct_fan(torch.empty(shape), mode)
    std_expected = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    lo, hi, _, std = stats(init.kaiming_uniform_(ember.empty(shape), a=a, mode=mode, nonlinearity=nonlinearity))
    assert -math.sqrt(3) * std_expected <= lo and hi <= math.sqrt(3) * std_expected
    assert std == pytest.approx(std_expected, rel=0.03)
    _, _, _, std = stats(init.kaiming_normal_(ember.empty(shape), a=a, mode=mode, nonlinearity=nonlinearity))
    assert std == pytest.approx(std_expected, rel=0.03)


def test_kaiming_errors_and_empty():
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(ember.empty((3, 3)), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_normal_(ember.empty((0, 3)))


def truncated_moments(mean, std, a, b):
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)   # noqa: E731
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))          # noqa: E731
    z = cdf(beta) - cdf(alpha)
    m = (pdf(alpha) - pdf(beta)) / z
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 2.0, 0.0, 1.5),
                                          (0.0, 1.0, 3.0, 6.0), (0.0, 1.0, -7.0, -4.0)])
def test_trunc_normal(mean, std, a, b):
    t = init.trunc_normal_(ember.empty(N), mean, std, a, b)
    lo, hi, got_mean, got_std = stats(t)
    want_mean, want_std = truncated_moments(mean, std, a, b)
    assert a <= lo and hi <= b
    assert got_mean == pytest.approx(want_mean, abs=0.02 * want_std)
    assert got_std == pytest.approx(want_std, rel=0.03)


def test_trunc_normal_warns_when_mean_is_far_outside():
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(ember.empty((4,)), mean=10.0, std=1.0)


def test_init_uses_embers_seed_and_does_not_track_gradients():
    w = ember.zeros((20, 10), requires_grad=True)
    ember.manual_seed(3)
    first = init.kaiming_uniform_(w).detach().numpy().copy()
    ember.manual_seed(3)
    second = init.kaiming_uniform_(w).detach().numpy().copy()
    np.testing.assert_array_equal(first, second)
    assert w.is_leaf and w.grad_fn is None and w.requires_grad
    with pytest.raises(TypeError, match="float32 or float64"):
        init.normal_(ember.zeros((2,), dtype=ember.int64))


def grad_pairs(seed=0, scale=1.0, special=None):
    rng = np.random.default_rng(seed)
    shapes = [(4, 5), (7,), (2, 3, 3)]
    pairs = []
    for i, shape in enumerate(shapes):
        g = (rng.standard_normal(shape) * scale).astype(np.float32)
        if special is not None and i == 1:
            g[2] = special
        e, t = ember.zeros(shape, requires_grad=True), torch.zeros(shape, requires_grad=True)
        e.grad, t.grad = ember.tensor(g.copy()), torch.tensor(g.copy())
        pairs.append((e, t))
    no_grad = (ember.zeros((3,), requires_grad=True), torch.zeros((3,), requires_grad=True))
    return [e for e, _ in pairs] + [no_grad[0]], [t for _, t in pairs] + [no_grad[1]]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ember_params, torch_params = grad_pairs()
    got = utils.clip_grad_norm_(ember_params, max_norm, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(torch_params, max_norm, norm_type=float(norm_type))
    assert float(got.item()) == pytest.approx(float(want), rel=1e-5)
    assert got.dtype == ember.float32 and got.ndim == 0
    for e, t in zip(ember_params[:3], torch_params[:3]):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_single_tensor_and_no_grads():
    w = ember.zeros((3,), requires_grad=True)
    w.grad = ember.tensor([3.0, 4.0, 0.0])
    assert float(utils.clip_grad_norm_(w, 1.0).item()) == pytest.approx(5.0)
    np.testing.assert_allclose(w.grad.numpy(), [0.6, 0.8, 0.0], rtol=1e-5)
    assert float(utils.clip_grad_norm_([ember.zeros((2,), requires_grad=True)], 1.0).item()) == 0.0


@pytest.mark.parametrize("special", [math.nan, math.inf])
def test_clip_grad_norm_nonfinite(special):
    ember_params, torch_params = grad_pairs(special=special)
    with pytest.raises(RuntimeError, match="is non-finite"):
        utils.clip_grad_norm_(ember_params, 1.0, error_if_nonfinite=True)
    got = utils.clip_grad_norm_(ember_params, 1.0)
    want = torch.nn.utils.clip_grad_norm_(torch_params, 1.0)
    assert math.isnan(float(got.item())) == math.isnan(float(want)) and \
        math.isinf(float(got.item())) == math.isinf(float(want))
    for e, t in zip(ember_params[:3], torch_params[:3]):
        np.testing.assert_array_equal(np.isnan(e.grad.numpy()), np.isnan(t.grad.numpy()))


def test_clip_grad_value_matches_torch():
    ember_params, torch_params = grad_pairs(scale=3.0)
    utils.clip_grad_value_(ember_params, 1.5)
    torch.nn.utils.clip_grad_value_(torch_params, 1.5)
    for e, t in zip(ember_params[:3], torch_params[:3]):
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())


def test_parameters_to_vector_round_trip():
    rng = np.random.default_rng(1)
    params = [ember.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
              for s in [(2, 3), (4,), (1, 2, 2)]]
    vec = utils.parameters_to_vector(params)
    expected = np.concatenate([p.detach().numpy().ravel() for p in params])
    np.testing.assert_array_equal(vec.detach().numpy(), expected)
    np.testing.assert_array_equal(
        vec.detach().numpy(),
        torch.nn.utils.parameters_to_vector([torch.tensor(p.detach().numpy()) for p in params]).numpy())
    utils.vector_to_parameters(ember.tensor(np.arange(14, dtype=np.float32)), params)
    np.testing.assert_array_equal(utils.parameters_to_vector(params).detach().numpy(), np.arange(14))
    assert params[2].detach().numpy().tolist() == [[[10.0, 11.0], [12.0, 13.0]]]
    assert all(p.is_leaf and p.requires_grad for p in params)


def test_vector_to_parameters_errors():
    params = [ember.zeros((2, 2), requires_grad=True)]
    with pytest.raises(TypeError, match="expected ember.Tensor"):
        utils.vector_to_parameters([1.0] * 4, params)
    with pytest.raises(ValueError, match="hold 4 values but the vector has 5"):
        utils.vector_to_parameters(ember.zeros((5,)), params)
