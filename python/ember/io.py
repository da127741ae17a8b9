"""ember.save / ember.load: checkpoints in the safetensors format, written by ember itself. Never pickles: tensors
are raw little-endian bytes, everything else (nested dicts/lists, numbers, strings) is JSON in __metadata__, and the
reader validates the whole header before it reads any tensor data. Writes are atomic (temp file + fsync + rename)."""
import json
import math
import numbers
import os
import sys
import tempfile

import numpy as np

from . import _C

# safetensors dtype name <-> NumPy dtype, for the dtypes ember tensors have
_NUMPY_OF_NAME = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "BOOL": np.dtype("u1")}
_NAME_OF_NUMPY = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64",
                  np.dtype(np.bool_): "BOOL"}
# other dtypes of the safetensors format: a valid file, but ember has no tensor type for them
_OTHER_SAFETENSORS_DTYPES = {"F16", "BF16", "F8_E4M3", "F8_E5M2", "I8", "U8", "I16", "U16", "I32", "U32", "U64",
                             "C64", "F4", "F6_E2M3", "F6_E3M2", "F8_E8M0"}
_EMBER_DTYPE_OF_NAME = {"F32": _C.dtype.float32, "F64": _C.dtype.float64, "I64": _C.dtype.int64,
                        "BOOL": _C.dtype.bool}
MAX_HEADER_BYTES = 100 * 1024 * 1024
STRUCTURE_KEY = "ember.structure"     # the key in __metadata__ that holds the JSON of the saved object's structure
_ROOT_TENSOR_NAME = "tensor"          # the name of the one tensor when the saved object is a tensor itself


# ---------------------------------------------------------------------------------------------------- saving

def _tensor_bytes(value, name):
    """A C-contiguous little-endian NumPy array of an ember dtype for a tensor or array being saved."""
    arr = value.detach()._numpy_view() if isinstance(value, _C.Tensor) else value
    if arr.dtype.newbyteorder("=") not in _NAME_OF_NUMPY:
        raise TypeError(f"save: array {name!r} has dtype {arr.dtype}; ember saves float32, float64, int64 and bool "
                        f"(convert it with .astype first)")
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")     # (ascontiguousarray makes 0-d 1-d)


def _flatten(obj, path, tensors):
    """The JSON description of `obj`; its tensors go into `tensors` (dotted name -> array)."""
    if isinstance(obj, (_C.Tensor, np.ndarray)):
        name = ".".join(path) if path else _ROOT_TENSOR_NAME
        if name in tensors:
            raise ValueError(f"save: two tensors would be stored under the same name {name!r} (keys with dots "
                             f"that collide with nested keys)")
        if name == "__metadata__":
            raise ValueError("save: '__metadata__' is reserved by the safetensors format and can't name a tensor")
        tensors[name] = _tensor_bytes(obj, name)
        return {"tensor": name}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (numbers.Integral, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (numbers.Real, np.floating)):
        return float(obj)
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} at {'.'.join(path) or 'the top'}")
            key = key if isinstance(key, str) else int(key)
            items.append([key, _flatten(value, path + [str(key)], tensors)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_flatten(value, path + [str(i)], tensors) for i, value in enumerate(obj)]}
    raise TypeError(f"save: can't store an object of type {type(obj).__name__} at {'.'.join(path) or 'the top'}; "
                    f"checkpoints hold tensors, NumPy arrays, numbers, strings, bools, None, lists, tuples and dicts")


def _serialise(obj):
    """(header bytes including the 8-byte length, tensors in file order) for `obj`."""
    tensors = {}
    structure = _flatten(obj, [], tensors)
    # largest items first, then by name: with an 8-aligned header every tensor starts aligned to its item size
    order = sorted(tensors, key=lambda name: (-tensors[name].dtype.itemsize, name))
    header = {"__metadata__": {"format": "pt", STRUCTURE_KEY: json.dumps(structure, separators=(",", ":"))}}
    offset = 0
    for name in order:
        arr = tensors[name]
        header[name] = {"dtype": _NAME_OF_NUMPY[arr.dtype.newbyteorder("=")], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, [tensors[name] for name in order]


def save(obj, path):
    """Saves a state_dict (str -> tensor or NumPy array) or any nesting of dicts (str or int keys), lists and tuples
    holding tensors, arrays, numbers, strings, bools and None (e.g. an optimizer's state_dict) to `path` as a
    safetensors file. The write is atomic: a failure leaves any previous file at `path` untouched."""
    path = os.fspath(path)
    header, arrays = _serialise(obj)          # everything that can fail on bad input fails before any write
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp_path = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            for arr in arrays:
                f.write(memoryview(arr.reshape(-1).view(np.uint8)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------------- loading

def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 63


def _object_without_duplicates(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate key {duplicate!r}")
    return dict(pairs)


def _read_header(f, file_size, path):
    if file_size < 8:
        raise ValueError(f"load: not a safetensors file: {file_size} bytes, too short for a header")
    header_size = int.from_bytes(f.read(8), "little")
    if header_size > MAX_HEADER_BYTES:
        raise ValueError(f"load: header length {header_size} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if 8 + header_size > file_size:
        raise ValueError(f"load: header length {header_size} runs past the end of the file ({file_size} bytes)")
    raw = f.read(header_size)
    if len(raw) != header_size:
        raise ValueError(f"load: the file ended inside the {header_size}-byte header (truncated file)")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_object_without_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"load: the header is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError("load: the header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise ValueError(f"load: the header must be a JSON object, got {type(header).__name__}")
    return header, 8 + header_size


def _validate_entries(header, buffer_size):
    """The tensor entries of a parsed header, checked completely; sorted by data offset."""
    metadata = header.pop("__metadata__", None)
    if metadata is not None and (not isinstance(metadata, dict) or
                                 not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise ValueError("load: __metadata__ must be a JSON object of strings to strings")
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise ValueError(f"load: tensor {name!r}: entry must be an object with dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str):
            raise ValueError(f"load: tensor {name!r}: dtype must be a string, got {dtype!r}")
        if dtype in _OTHER_SAFETENSORS_DTYPES:
            raise ValueError(f"load: tensor {name!r}: dtype {dtype} has no ember equivalent "
                             f"(ember has F32, F64, I64, BOOL)")
        if dtype not in _NUMPY_OF_NAME:
            raise ValueError(f"load: tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
            raise ValueError(f"load: tensor {name!r}: shape must be a list of non-negative ints, got {shape!r}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets):
            raise ValueError(f"load: tensor {name!r}: data_offsets must be two non-negative ints, got {offsets!r}")
        begin, end = offsets
        if begin > end or end > buffer_size:
            raise ValueError(f"load: tensor {name!r}: data_offsets {offsets} are outside the data buffer "
                             f"({buffer_size} bytes)")
        expected = math.prod(shape) * _NUMPY_OF_NAME[dtype].itemsize
        if end - begin != expected:
            raise ValueError(f"load: tensor {name!r}: data_offsets span {end - begin} bytes but dtype {dtype} "
                             f"and shape {shape} need {expected}")
        entries.append((begin, end, name, dtype, shape))
    entries.sort(key=lambda e: (e[0], e[1]))
    position = 0
    for begin, end, name, _, _ in entries:
        if begin < position:
            raise ValueError(f"load: tensor {name!r}: data_offsets [{begin}, {end}] overlap the previous tensor")
        if begin > position:
            raise ValueError(f"load: tensor {name!r}: gap of {begin - position} unused bytes before its data")
        position = end
    if position != buffer_size:
        raise ValueError(f"load: {buffer_size - position} trailing bytes after the last tensor's data")
    return entries, metadata or {}


def _read_tensor(f, dtype, shape):
    """Reads one tensor's bytes straight into a new 64-byte-aligned ember tensor."""
    tensor = _C.empty(tuple(shape), dtype=_EMBER_DTYPE_OF_NAME[dtype])
    target = tensor._numpy_view()
    if target.size == 0:
        return tensor
    raw = target.view(np.uint8) if dtype == "BOOL" else target
    if f.readinto(memoryview(raw.reshape(-1)).cast("B")) != raw.nbytes:
        raise ValueError("load: the file ended inside tensor data (truncated file)")
    if dtype == "BOOL":
        np.not_equal(raw, 0, out=target)        # any non-zero byte is True, stored as a proper bool
    elif sys.byteorder != "little":
        target.byteswap(inplace=True)
    return tensor


def _rebuild(node, tensors, used):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        (kind, body), = node.items()
        if kind == "tensor" and isinstance(body, str):
            if body not in tensors:
                raise ValueError(f"load: the structure refers to a tensor {body!r} that is not in the file")
            used.add(body)
            return tensors[body]
        if kind in ("list", "tuple") and isinstance(body, list):
            values = [_rebuild(value, tensors, used) for value in body]
            return values if kind == "list" else tuple(values)
        if kind == "dict" and isinstance(body, list):
            out = {}
            for item in body:
                if (not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool)
                        or not isinstance(item[0], (str, int))):
                    raise ValueError("load: malformed dict entry in the saved structure")
                out[item[0]] = _rebuild(item[1], tensors, used)
            return out
    raise ValueError(f"load: malformed saved structure near {json.dumps(node)[:80]}")


def load(path, map_location=None):
    """Loads a file written by ember.save (the same nested structure, with ember tensors) or any safetensors file of
    F32/F64/I64/BOOL tensors (a dict name -> tensor). The header is validated completely before data is read."""
    if map_location is not None and str(map_location) != "cpu":
        raise ValueError(f"load: ember runs on the CPU only; got map_location={map_location!r}")
    path = os.fspath(path)
    try:
        return _load(path)
    except ValueError as exc:          # every problem with the file's contents names the file
        message = str(exc).removeprefix("load: ")
        raise ValueError(f"load: {path!r}: {message}") from None


def _load(path):
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        header, data_start = _read_header(f, file_size, path)
        entries, metadata = _validate_entries(header, file_size - data_start)
        tensors = {name: _read_tensor(f, dtype, shape) for _, _, name, dtype, shape in entries}
    if STRUCTURE_KEY not in metadata:
        return tensors
    try:
        structure = json.loads(metadata[STRUCTURE_KEY])
    except (ValueError, RecursionError):
        raise ValueError("load: the saved structure in __metadata__ is not valid JSON (or nested too deeply)") from None
    used = set()
    try:
        obj = _rebuild(structure, tensors, used)
    except RecursionError:
        raise ValueError("load: the saved structure in __metadata__ is nested too deeply") from None
    if used != tensors.keys():
        raise ValueError(f"load: tensors {sorted(tensors.keys() - used)} are not referenced by the saved structure")
    return obj
