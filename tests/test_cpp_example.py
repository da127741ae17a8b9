"""The C++ API end to end: builds examples/cpp (train_mlp) and tests/cpp_nn/nn_check.cpp against the installed ember
CMake package (ember.get_cmake_dir()), then checks that train_mlp prints the same per-epoch losses as
examples/mlp_classifier.py and that the C++ layers and optimizers give the same bits as the Python ones.
Skipped (with the reason) when cmake or a C++ compiler is missing, or when ember has no CMake package.
EMBER_TEST_CMAKE_DIR overrides the package folder (to test against a development build)."""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

import ember
from ember import nn
from ember.data import DataLoader
from ember.data import datasets

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DIGITS = pathlib.Path(datasets._DIGITS_FILE)


def _cmake_dir():
    override = os.environ.get("EMBER_TEST_CMAKE_DIR")
    if override:
        return override
    get_cmake_dir = getattr(ember, "get_cmake_dir", None)
    if get_cmake_dir is None:
        pytest.skip("ember.get_cmake_dir() does not exist: this ember ships no CMake package for C++ programs")
    return get_cmake_dir()


def _cmake_build(source, build, prefix):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    if not (os.environ.get("CXX") or any(shutil.which(c) for c in ("c++", "g++", "clang++"))):
        pytest.skip("no C++ compiler (c++, g++ or clang++) found")
    configure = ["cmake", "-S", str(source), "-B", str(build), f"-DCMAKE_PREFIX_PATH={prefix}",
                 "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    for command in (configure, ["cmake", "--build", str(build)]):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def train_mlp(tmp_path_factory):
    prefix = _cmake_dir()
    build = tmp_path_factory.mktemp("build-cpp")
    _cmake_build(EXAMPLES / "cpp", build, prefix)
    return build / "train_mlp"


@pytest.fixture(scope="module")
def nn_check(tmp_path_factory):
    prefix = _cmake_dir()
    source = tmp_path_factory.mktemp("nn-check-src")
    (source / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.15)\nproject(nn_check LANGUAGES CXX)\nset(CMAKE_CXX_STANDARD 17)\n"
        "find_package(ember CONFIG REQUIRED)\n"
        f"add_executable(nn_check \"{(REPO / 'tests' / 'cpp_nn' / 'nn_check.cpp').as_posix()}\")\n"
        "target_link_libraries(nn_check PRIVATE ember::ember)\n")
    build = tmp_path_factory.mktemp("nn-check-build")
    _cmake_build(source, build, prefix)
    return build / "nn_check"


def _run(command):
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _epoch_losses(output):
    return re.findall(r"^epoch +\d+  loss (\S+)$", output, flags=re.M)


def _accuracy(output):
    return re.search(r"^test accuracy (\S+)  \(", output, flags=re.M).group(1)


def _both(train_mlp, threads, epochs=3):
    args = ["--threads", threads, "--epochs", epochs, "--seed", 0]
    cpp = _run([train_mlp, "--data", DIGITS] + args)
    python = _run([sys.executable, EXAMPLES / "mlp_classifier.py"] + args)
    return cpp, python


def test_train_mlp_prints_the_python_losses_with_one_thread(train_mlp):
    cpp, python = _both(train_mlp, 1)
    assert len(_epoch_losses(python)) == 3
    assert _epoch_losses(cpp) == _epoch_losses(python)
    assert _accuracy(cpp) == _accuracy(python)


def test_train_mlp_matches_python_with_two_threads(train_mlp):
    cpp, python = _both(train_mlp, 2)
    cpp_losses, python_losses = (np.array(_epoch_losses(out), dtype=float) for out in (cpp, python))
    assert len(cpp_losses) == len(python_losses) == 3
    np.testing.assert_allclose(cpp_losses, python_losses, rtol=1e-6)


def test_train_mlp_reports_bad_data_and_arguments(train_mlp, tmp_path):
    with np.load(DIGITS) as f:
        arrays = {k: f[k] for k in f}
    compressed = tmp_path / "compressed.npz"
    np.savez_compressed(compressed, **arrays)
    for args, message in (([ "--data", compressed], "numpy.savez"),
                          (["--data", tmp_path / "missing.npz"], "cannot open"),
                          (["--data", DIGITS, "--epochs", "0"], "--epochs expects an integer >= 1"),
                          (["--data", DIGITS, "--bogus", "1"], "unknown argument --bogus")):
        done = subprocess.run([str(train_mlp)] + [str(a) for a in args], capture_output=True, text=True)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(DIGITS.read_bytes()[:-100])
    done = subprocess.run([str(train_mlp), "--data", str(truncated)], capture_output=True, text=True)
    assert done.returncode == 1 and "load_npz" in done.stderr


def test_digits_npz_is_stored_uncompressed():
    with zipfile.ZipFile(DIGITS) as archive:
        assert [i.compress_type for i in archive.infolist()] == [zipfile.ZIP_STORED] * 3
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.max() == 1.0 and sorted(set(y.tolist())) == list(range(10))
    assert len(datasets.load_digits("train")[1]) == 1438 and len(datasets.load_digits("test")[1]) == 359


# ---- the Python twin of tests/cpp_nn/nn_check.cpp: the same computations, printed the same way

def _line(where, what, tensor):
    values = tensor.detach().double().contiguous().numpy().reshape(-1)
    return " ".join([where, what, str(tuple(tensor.shape))] + [format(float(v), ".9g") for v in values])


def _module_lines(where, module, grads=False):
    return [_line(where, name + (".grad" if grads else ""), p.grad if grads else p)
            for name, p in module.named_parameters()]


def _python_layer_lines():
    lines = []
    ember.manual_seed(1)
    linear = nn.Linear(5, 3)
    y = linear(ember.rand(4, 5))
    y.sum().backward()
    lines += _module_lines("linear", linear) + [_line("linear", "out", y)] + _module_lines("linear", linear, True)

    ember.manual_seed(2)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    features = conv(ember.rand(2, 3, 6, 6))
    flat = nn.Flatten()(nn.MaxPool2d(2)(features) + nn.AvgPool2d(2)(features))
    flat.sum().backward()
    lines += _module_lines("conv", conv) + [_line("conv", "out", flat)] + _module_lines("conv", conv, True)

    ember.manual_seed(3)
    norm = nn.LayerNorm(6)
    normed = norm(ember.randn(2, 6))
    (normed * normed).sum().backward()
    lines += _module_lines("layernorm", norm) + [_line("layernorm", "out", normed)]
    lines += _module_lines("layernorm", norm, True)

    ember.manual_seed(4)
    embedding = nn.Embedding(10, 4, padding_idx=1)
    looked_up = embedding(ember.tensor([[1, 2], [3, 9]]))
    looked_up.sum().backward()
    lines += _module_lines("embedding", embedding) + [_line("embedding", "out", looked_up)]
    lines += _module_lines("embedding", embedding, True)

    ember.manual_seed(5)
    attention = nn.MultiheadAttention(8, 2, batch_first=True)
    tokens = ember.rand(2, 3, 8)
    attended, _ = attention(tokens, tokens, tokens, need_weights=False)
    causal, _ = attention(tokens, tokens, tokens, need_weights=False, attn_mask=ember.zeros(3, 3), is_causal=True)
    (attended + causal).sum().backward()
    lines += _module_lines("mha", attention) + [_line("mha", "out", attended), _line("mha", "causal", causal)]
    lines += _module_lines("mha", attention, True)

    ember.manual_seed(6)
    seq_first = nn.MultiheadAttention(8, 2)
    sequence, memory = ember.rand(3, 2, 8), ember.rand(4, 2, 8)
    mask = ember.rand(3, 4) > 0.7
    lines.append(_line("mha_seq_first", "out", seq_first(sequence, memory, memory, need_weights=False,
                                                         attn_mask=mask)[0]))

    ember.manual_seed(7)
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Dropout(0.5), nn.Linear(8, 3), nn.Tanh(), nn.Sigmoid())
    outputs = model(ember.rand(5, 4))
    loss = nn.CrossEntropyLoss()(outputs, ember.tensor([0, 2, 1, 1, 0])) + nn.MSELoss()(outputs, ember.zeros(5, 3))
    loss.backward()
    lines += _module_lines("mlp", model) + [_line("mlp", "out", outputs), _line("mlp", "loss", loss)]
    lines += _module_lines("mlp", model, True)

    ember.manual_seed(8)
    fused = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(48, 5), nn.ReLU(),
                          nn.Linear(5, 2))
    fused_out = fused(ember.rand(2, 2, 4, 4) - 0.5)
    fused_out.sum().backward()
    lines += _module_lines("fused", fused) + [_line("fused", "out", fused_out)]
    return lines + _module_lines("fused", fused, True)


def _python_optimizer_lines():
    lines = []
    makers = (("sgd", 11, lambda p: ember.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
              ("adam", 12, lambda p: ember.optim.Adam(p, lr=0.01, weight_decay=0.1)),
              ("adamw", 13, lambda p: ember.optim.AdamW(p, lr=0.01)))
    for where, seed, make in makers:
        ember.manual_seed(seed)
        layer = nn.Linear(4, 3)
        optimizer = make(layer.parameters())
        scheduler = ember.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=2)
        x = ember.rand(6, 4)
        for _ in range(4):
            optimizer.zero_grad()
            nn.functional.mse_loss(layer(x), ember.zeros(6, 3)).backward()
            optimizer.step()
            scheduler.step()
        lines += _module_lines(where, layer)
    ember.manual_seed(0)
    sgd = ember.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.5)
    cosine = ember.optim.lr_scheduler.CosineAnnealingLR(sgd, T_max=3, eta_min=0.01)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # scheduler steps without optimizer steps, on purpose
        for _ in range(10):
            cosine.step()
            lrs.append(format(sgd.param_groups[0]["lr"], ".17g"))
    return lines + ["cosine lrs " + " ".join(lrs)]


def _python_loader_lines():
    loader = DataLoader(np.arange(10), batch_size=4, shuffle=True, seed=3)
    return [f"loader epoch{epoch} " + " ".join(str(int(v)) for batch in loader for v in batch.numpy())
            for epoch in range(2)]


def test_cpp_layers_and_optimizers_match_python_bit_for_bit(nn_check):
    threads = ember.get_num_threads()
    ember.set_num_threads(1)
    try:
        expected = _python_layer_lines() + _python_optimizer_lines() + _python_loader_lines()
    finally:
        ember.set_num_threads(threads)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([str(nn_check)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    got = done.stdout.splitlines()
    assert len(got) == len(expected)
    for cpp_line, python_line in zip(got, expected):
        assert cpp_line == python_line
