"""Checkpoint files: ember.load of random, truncated, bit-flipped and header-mutated safetensors files either
returns the data or raises ValueError/OSError naming the file (never crashes, never reads out of bounds); files
written by the `safetensors` package load in ember and vice versa; a process SIGKILLed in the middle of ember.save
leaves the previous file intact."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ember
from props_helpers import DTYPES

safetensors_numpy = pytest.importorskip("safetensors.numpy")
FUZZ_EXAMPLES = max(150, settings.default.max_examples)


def reference_state():
    rng = np.random.default_rng(0)
    return {"weight": rng.standard_normal((4, 3)).astype(np.float32), "bias": np.arange(3, dtype=np.float64),
            "steps": np.array([7, -2], np.int64), "mask": np.array([True, False, True]),
            "empty": np.zeros((0, 5), np.float32), "nested": {"lr": 0.1, "ids": [1, 2, {"k": "v"}]}}


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "valid.safetensors"
    ember.save(reference_state(), path)
    return path.read_bytes()


def assert_state_equal(loaded, expected):
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            got = loaded[key].numpy()
            assert got.dtype == value.dtype and got.shape == value.shape and np.array_equal(got, value)
        else:
            assert loaded[key] == value


def load_or_clear_error(path, original_bytes=None):
    """Loads `path`; a refusal must be ValueError naming the file (or an OSError). Returns the result or None."""
    try:
        return ember.load(path)
    except ValueError as exc:
        assert str(path) in str(exc), f"error does not name the file: {exc}"
        return None
    except OSError:
        return None


def test_the_valid_file_round_trips(valid_file, tmp_path):
    path = tmp_path / "copy.safetensors"
    path.write_bytes(valid_file)
    assert_state_equal(ember.load(path), reference_state())


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("rand") / "random.safetensors"
    path.write_bytes(data)
    assert load_or_clear_error(path) is None or len(data) >= 8


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.data())
def test_truncated_and_bit_flipped_files_load_or_raise(valid_file, tmp_path_factory, data):
    blob = bytearray(valid_file)
    kind = data.draw(st.sampled_from(["truncate", "flip", "flip_header", "append", "length"]))
    header_end = 8 + int.from_bytes(valid_file[:8], "little")
    if kind == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif kind in ("flip", "flip_header"):
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, (header_end if kind == "flip_header" else len(blob)) - 1))
            blob[at] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "append":
        blob += data.draw(st.binary(min_size=1, max_size=16))
    else:
        blob[:8] = data.draw(st.integers(0, 2 ** 64 - 1)).to_bytes(8, "little")
    path = tmp_path_factory.mktemp("mut") / "mutated.safetensors"
    path.write_bytes(bytes(blob))
    loaded = load_or_clear_error(path)
    if kind in ("truncate", "append"):
        assert loaded is None                       # the buffer must be exactly covered: never a silent load
    if loaded is not None and bytes(blob) == valid_file:
        assert_state_equal(loaded, reference_state())


def header_of(valid_file):
    n = int.from_bytes(valid_file[:8], "little")
    return json.loads(valid_file[8:8 + n]), valid_file[8 + n:]


def with_header(header, data):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


MUTATIONS = {
    "dtype": lambda e, v: e.__setitem__("dtype", v),
    "shape": lambda e, v: e.__setitem__("shape", v),
    "data_offsets": lambda e, v: e.__setitem__("data_offsets", v),
    "drop": lambda e, v: e.pop(v if v in ("dtype", "shape", "data_offsets") else "dtype"),
}
ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 65, 2 ** 65), st.floats(allow_nan=True),
                       st.text(max_size=6), st.sampled_from(["F32", "F64", "I64", "BOOL", "F16", "U8", "f32"]),
                       st.lists(st.integers(-3, 2 ** 64), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                       st.integers(), max_size=2))


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.data())
def test_targeted_header_mutations_load_or_raise(valid_file, tmp_path_factory, data):
    header, payload = header_of(valid_file)
    names = sorted(k for k in header if k != "__metadata__")
    target = data.draw(st.sampled_from(names + ["__metadata__", "new entry", "whole"]))
    value = data.draw(ODD_VALUES)
    if target == "whole":
        header = value
    elif target == "__metadata__":
        header["__metadata__"] = value if data.draw(st.booleans()) else {"ember.structure": value}
    elif target == "new entry":
        header[data.draw(st.text(max_size=4))] = value
    else:
        MUTATIONS[data.draw(st.sampled_from(sorted(MUTATIONS)))](header[target], value)
    path = tmp_path_factory.mktemp("hdr") / "mutated.safetensors"
    path.write_bytes(with_header(header, payload))
    load_or_clear_error(path)


@pytest.mark.parametrize("problem", ["overlap", "gap", "past_end", "size_mismatch", "deep_json", "deep_structure",
                                     "metadata_not_strings", "huge_shape", "negative_shape"])
def test_each_header_problem_has_a_clear_error(valid_file, tmp_path, problem):
    header, payload = header_of(valid_file)
    entries = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"])
    first, second = header[entries[0]], header[entries[1]]
    raw = None
    if problem == "overlap":
        second["data_offsets"] = [second["data_offsets"][0] - 4, second["data_offsets"][1] - 4]
    elif problem == "gap":
        payload = payload[:first["data_offsets"][1]] + b"\0" * 8 + payload[first["data_offsets"][1]:]
        for name in entries[1:]:
            header[name]["data_offsets"] = [o + 8 for o in header[name]["data_offsets"]]
    elif problem == "past_end":
        first["data_offsets"][1] = len(payload) + 8
    elif problem == "size_mismatch":
        first["shape"] = [9, 9]
    elif problem == "deep_json":
        text = b"[" * 100_000 + b"]" * 100_000
        raw = len(text).to_bytes(8, "little") + text
    elif problem == "deep_structure":
        header["__metadata__"]["ember.structure"] = "[" * 50_000 + "]" * 50_000
    elif problem == "metadata_not_strings":
        header["__metadata__"]["format"] = 3
    elif problem == "huge_shape":
        first["shape"] = [2 ** 62, 2 ** 62]
    else:
        first["shape"] = [-1]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw if raw is not None else with_header(header, payload))
    with pytest.raises(ValueError, match="load: .*bad.safetensors"):
        ember.load(path)


@st.composite
def array_dicts(draw):
    names = draw(st.lists(st.text("abcdefgh._", min_size=1, max_size=6), min_size=1, max_size=4, unique=True))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    out = {}
    for name in names:
        dtype = DTYPES[draw(st.sampled_from(list(DTYPES)))][0]
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        out[name] = np.asarray(rng.standard_normal(shape) * 5 if dtype != np.bool_ else rng.random(shape) < 0.5,
                               dtype)
    return out


@given(array_dicts())
def test_files_cross_load_between_ember_and_the_safetensors_package(tmp_path_factory, arrays):
    folder = tmp_path_factory.mktemp("cross")
    safetensors_numpy.save_file(arrays, str(folder / "theirs.safetensors"))
    ours = ember.load(folder / "theirs.safetensors")
    assert ours.keys() == arrays.keys()
    for name, value in arrays.items():
        assert ours[name].numpy().dtype == value.dtype and np.array_equal(ours[name].numpy(), value)
    ember.save({name: ember.from_numpy(value.copy()) for name, value in arrays.items()}, folder / "ours.safetensors")
    theirs = safetensors_numpy.load_file(str(folder / "ours.safetensors"))
    assert theirs.keys() == arrays.keys()
    for name, value in arrays.items():
        assert theirs[name].dtype == value.dtype and np.array_equal(theirs[name], value)


# ---------------------------------------------------------------------------------------------- killed writers

CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import ember, ember.io
    path, marker, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    state = {"w": np.full((1024, 1024), 2.0, np.float32), "b": np.full(8, 2.0, np.float64)}
    if mode == "stall":                      # stop inside the write: data in the temp file, not yet renamed
        real_fdopen = ember.io.os.fdopen
        class SlowFile:
            def __init__(self, f): self.f = f
            def __enter__(self): return self
            def __exit__(self, *a): return self.f.__exit__(*a)
            def write(self, b):
                n = self.f.write(b); self.f.flush()
                open(marker, "w").close(); time.sleep(60)
                return n
            def __getattr__(self, name): return getattr(self.f, name)
        ember.io.os.fdopen = lambda fd, m: SlowFile(real_fdopen(fd, m))
        ember.save(state, path)
    else:                                    # save again and again until killed
        open(marker, "w").close()
        while True:
            ember.save(state, path)
""")


def start_child(tmp_path, mode):
    path, marker = tmp_path / "model.safetensors", tmp_path / "marker"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, EMBER_NUM_THREADS="1", OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, str(script), str(path), str(marker), mode], env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None, "the child process died before writing"
        assert time.monotonic() < deadline, "the child never started writing"
        time.sleep(0.01)
    return child, path


def previous_state():
    return {"w": np.full((1024, 1024), 1.0, np.float32), "b": np.full(8, 1.0, np.float64)}


def test_kill_in_the_middle_of_save_leaves_the_previous_file_intact(tmp_path):
    ember.save(previous_state(), tmp_path / "model.safetensors")
    child, path = start_child(tmp_path, "stall")
    temps = [p for p in tmp_path.iterdir() if p.name.startswith(".model.safetensors.")]
    assert temps, "the writer should be writing a temp file next to the target"
    child.send_signal(signal.SIGKILL)
    child.wait()
    loaded = ember.load(path)
    for key, value in previous_state().items():
        assert np.array_equal(loaded[key].numpy(), value)


def test_kill_at_a_random_moment_of_repeated_saves_leaves_a_complete_file(tmp_path):
    ember.save(previous_state(), tmp_path / "model.safetensors")
    for delay in (0.05, 0.2, 0.45):
        child, path = start_child(tmp_path, "loop")
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        loaded = ember.load(path)                 # the old or the new file, never a partial one
        fill = float(loaded["b"].numpy()[0])
        assert fill in (1.0, 2.0)
        assert np.array_equal(loaded["w"].numpy(), np.full((1024, 1024), fill, np.float32))
        (tmp_path / "marker").unlink()
