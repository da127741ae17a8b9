"""ember.save / ember.load: safetensors round trips (all dtypes, 0-d, empty, nested optimizer-like state),
compatibility with the safetensors package both ways, validation of malicious files, and atomic writes."""
import json
import os
import struct

import numpy as np
import pytest

import ember

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _state_dict():
    rng = np.random.default_rng(0)
    return {
        "linear.weight": ember.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)),
        "linear.bias": ember.from_numpy(rng.standard_normal(4)),
        "embedding.index": ember.from_numpy(np.arange(-3, 5, dtype=np.int64)),
        "mask": ember.from_numpy(np.array([True, False, True])),
        "scalar": ember.tensor(2.5),
        "empty": ember.zeros(0, 3),
        "numpy_array": np.arange(6, dtype=np.float32).reshape(2, 3),
    }


def _assert_same(a, b):
    a_np = a.numpy() if isinstance(a, ember.Tensor) else a
    assert isinstance(b, ember.Tensor)
    assert b.shape == a_np.shape and np.asarray(b).dtype == a_np.dtype
    np.testing.assert_array_equal(b.numpy(), a_np)


def _write_raw(path, header, data=b"", header_bytes=None):
    body = header_bytes if header_bytes is not None else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(body)) + body + data)


def test_state_dict_round_trip_all_dtypes(tmp_path):
    sd = _state_dict()
    path = tmp_path / "model.safetensors"
    ember.save(sd, path)
    loaded = ember.load(path)
    assert list(loaded) == list(sd)
    for name in sd:
        _assert_same(sd[name], loaded[name])
    assert loaded["scalar"].shape == () and loaded["empty"].shape == (0, 3)


def test_file_layout_follows_the_format(tmp_path):
    path = tmp_path / "m.safetensors"
    ember.save(_state_dict(), str(path))
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert raw[8:8 + n].decode().rstrip(" ").endswith("}")                # padded with spaces
    entries = sorted((v["data_offsets"], k, v["dtype"]) for k, v in header.items() if k != "__metadata__")
    itemsize = {"F64": 8, "I64": 8, "F32": 4, "BOOL": 1}
    sizes = [itemsize[dtype] for _, _, dtype in entries]
    assert sizes == sorted(sizes, reverse=True)                      # largest items first
    for (begin, _), _, dtype in entries:
        assert (8 + n + begin) % itemsize[dtype] == 0                # every tensor aligned to its item size
    assert entries[-1][0][1] == len(raw) - 8 - n


def test_files_are_read_by_safetensors(tmp_path):
    sd = _state_dict()
    path = tmp_path / "m.safetensors"
    ember.save(sd, path)
    theirs = safetensors_numpy.load_file(str(path))
    assert set(theirs) == set(sd)
    for name, value in sd.items():
        np.testing.assert_array_equal(theirs[name], np.asarray(value))
        assert theirs[name].dtype == np.asarray(value).dtype


def test_files_written_by_safetensors_are_read(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1.5, -2.0]),
              "c": np.array([[7]], dtype=np.int64), "d": np.array([True, False]), "e": np.zeros((0,), np.float32)}
    path = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file(arrays, str(path), metadata={"source": "test"})
    loaded = ember.load(path)
    assert set(loaded) == set(arrays)
    for name, value in arrays.items():
        _assert_same(value, loaded[name])


def test_files_written_by_safetensors_torch_are_read(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "torch.safetensors"
    safetensors_torch.save_file({"w": torch.arange(6.0).reshape(2, 3)}, str(path))
    np.testing.assert_array_equal(ember.load(path)["w"].numpy(), np.arange(6.0, dtype=np.float32).reshape(2, 3))


def test_nested_optimizer_state_round_trip(tmp_path):
    state = {
        "state": {0: {"step": ember.tensor(3.0), "exp_avg": ember.ones(2, 2), "exp_avg_sq": ember.zeros(2, 2)},
                  1: {"step": 3, "momentum_buffer": None}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False, "name": "body",
                          "params": [0, 1], "nan": float("nan"), "huge": 2 ** 70}],
        "epoch": 7,
    }
    path = tmp_path / "optim.safetensors"
    ember.save(state, path)
    loaded = ember.load(path)
    assert set(loaded["state"]) == {0, 1} and all(isinstance(k, int) for k in loaded["state"])
    _assert_same(state["state"][0]["exp_avg"], loaded["state"][0]["exp_avg"])
    _assert_same(state["state"][0]["step"], loaded["state"][0]["step"])
    assert loaded["state"][1] == {"step": 3, "momentum_buffer": None}
    group = loaded["param_groups"][0]
    assert np.isnan(group.pop("nan"))
    expected = dict(state["param_groups"][0])
    expected.pop("nan")
    assert group == expected and isinstance(group["betas"], tuple) and group["params"] == [0, 1]
    assert loaded["epoch"] == 7
    names = set(safetensors_numpy.load_file(str(path)))
    assert names == {"state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq"}


def test_single_tensor_and_tensor_lists(tmp_path):
    path = tmp_path / "t.safetensors"
    ember.save(ember.arange(5), path)
    _assert_same(np.arange(5), ember.load(path))
    ember.save([ember.ones(2), {"x": ember.zeros(1)}], path)
    loaded = ember.load(path)
    assert isinstance(loaded, list) and loaded[0].tolist() == [1.0, 1.0] and loaded[1]["x"].tolist() == [0.0]


def test_requires_grad_tensors_are_saved_detached(tmp_path):
    w = ember.ones(3, requires_grad=True)
    ember.save({"w": w}, tmp_path / "w.safetensors")
    loaded = ember.load(tmp_path / "w.safetensors")["w"]
    assert not loaded.requires_grad and loaded.tolist() == [1.0, 1.0, 1.0]


def test_save_rejects_unstorable_objects(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError, match="can't store an object of type object"):
        ember.save({"x": object()}, path)
    with pytest.raises(TypeError, match="dict keys"):
        ember.save({(1, 2): ember.ones(1)}, path)
    with pytest.raises(TypeError, match="uint8"):
        ember.save({"x": np.zeros(2, np.uint8)}, path)
    with pytest.raises(ValueError, match="same name"):
        ember.save({"a.b": ember.ones(1), "a": {"b": ember.ones(1)}}, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    ember.save({"w": ember.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        ember.save({"w": ember.zeros(3), "bad": object()}, path)
    assert path.read_bytes() == before

    def failing_fsync(fd):                   # fail after the data is written, before the rename
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        ember.save({"w": ember.zeros(3)}, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]       # no temp file left behind
    assert ember.load(path)["w"].tolist() == [1.0, 1.0, 1.0]


def _valid_entry(begin=0, shape=(2,), dtype="F32"):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, begin + 4 * int(np.prod(shape))]}


@pytest.mark.parametrize("header, data, message, names", [
    ({"a": _valid_entry()}, b"\0" * 4, "outside the data buffer", "a"),
    ({"a": _valid_entry(), "b": _valid_entry(begin=4)}, b"\0" * 12, "overlap", "b"),
    ({"a": _valid_entry(), "b": _valid_entry(begin=12)}, b"\0" * 20, "gap", "b"),
    ({"a": _valid_entry()}, b"\0" * 12, "4 trailing bytes", None),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "need 12", "a"),
    ({"a": _valid_entry(dtype="Q99")}, b"\0" * 8, "unknown dtype", "a"),
    ({"a": _valid_entry(dtype="F16")}, b"\0" * 8, "no ember equivalent", "a"),
    ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, "shape must be", "a"),
    ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, b"\0" * 8, "shape must be", "a"),
    ({"a": {"dtype": "F32", "shape": [2 ** 64], "data_offsets": [0, 8]}}, b"\0" * 8, "shape must be", "a"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8, "outside the data buffer", "a"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, b"\0" * 8, "data_offsets must be", "a"),
    ({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, "entry must be an object", "a"),
    ({"a": [1, 2]}, b"", "entry must be an object", "a"),
    ({"__metadata__": {"k": 1}}, b"", "__metadata__", None),
    ({"__metadata__": {"ember.structure": "{not json"}}, b"", "structure.*not valid JSON", None),
    ({"__metadata__": {"ember.structure": '{"tensor": "missing"}'}}, b"", "not in the file", "missing"),
    ({"__metadata__": {"ember.structure": '{"pickle": "os.system"}'}}, b"", "malformed saved structure", None),
    ({"__metadata__": {"ember.structure": "null"}, "a": _valid_entry()}, b"\0" * 8, "not referenced", "a"),
])
def test_malformed_headers_raise_value_error(tmp_path, header, data, message, names):
    path = tmp_path / "bad.safetensors"
    _write_raw(path, header, data)
    with pytest.raises(ValueError, match=message) as info:
        ember.load(path)
    if names is not None:
        assert f"'{names}'" in str(info.value)                          # the message names the tensor


def test_huge_truncated_and_non_json_headers(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 2 ** 63) + b"{}")
    with pytest.raises(ValueError, match="exceeds"):
        ember.load(path)
    path.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(ValueError, match="past the end"):
        ember.load(path)
    path.write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match="too short"):
        ember.load(path)
    _write_raw(path, None, header_bytes=b"{\"a\": ")
    with pytest.raises(ValueError, match="not valid JSON"):
        ember.load(path)
    _write_raw(path, None, header_bytes=b"\xff\xfe")
    with pytest.raises(ValueError, match="not valid JSON"):
        ember.load(path)
    _write_raw(path, None, header_bytes=b"[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        ember.load(path)
    _write_raw(path, None, header_bytes=b'{"a": {}, "a": {}}')
    with pytest.raises(ValueError, match="duplicate"):
        ember.load(path)


def test_truncated_real_file_is_rejected(tmp_path):
    path = tmp_path / "m.safetensors"
    ember.save(_state_dict(), path)
    raw = path.read_bytes()
    for cut in (len(raw) - 1, len(raw) - 40, 20):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError):
            ember.load(path)


def test_bool_bytes_other_than_zero_and_one_load_as_true(tmp_path):
    path = tmp_path / "b.safetensors"
    _write_raw(path, {"m": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}}, b"\x00\x07\x01")
    assert ember.load(path)["m"].tolist() == [False, True, True]


def test_load_argument_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        ember.load(tmp_path / "missing.safetensors")
    ember.save({"w": ember.ones(1)}, tmp_path / "w.safetensors")
    assert ember.load(tmp_path / "w.safetensors", map_location="cpu")["w"].tolist() == [1.0]
    with pytest.raises(ValueError, match="CPU only"):
        ember.load(tmp_path / "w.safetensors", map_location="cuda")
