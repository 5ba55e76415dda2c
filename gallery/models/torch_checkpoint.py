"""Read a PyTorch state_dict saved in the legacy (pre-1.6, non-zip) format into numpy arrays.

Hand-written because torch is a 700 MB+ dependency for reading 17 MB of arrays. The legacy format
is a sequence of pickles (magic number, protocol version, system info, the state_dict whose tensors
point at storages by key, the list of storage keys) followed by each storage's raw bytes, in that
key order, each preceded by its element count as an 8-byte little-endian integer.

Every pickle goes through an unpickler that resolves only the few globals a state_dict needs, so a
checkpoint cannot run code.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from gallery.errors import GalleryError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
ZIP_MAGIC = b"PK\x03\x04"

# torch's typed storages; torch always stores Long as int64, whatever the C `long` of the saver.
STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": None,  # numpy has no bfloat16; reported as unsupported
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _StorageRef:
    """A storage named in the pickle; its bytes come later in the file."""

    key: str
    offset: int  # in elements, non-zero only for legacy storage views


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage: _StorageRef, offset: int, size: tuple[int, ...],
                       stride: tuple[int, ...], *_: Any) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], path: Path):
        super().__init__(file)
        self.path = path
        self.dtypes: dict[str, Any] = {}  # storage key -> numpy dtype, for reading the raw bytes

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise GalleryError(f"{self.path}: checkpoint refers to {module}.{name}, which a state_dict never needs")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise GalleryError(f"{self.path}: unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, _numel, view = pid
        dtype = STORAGE_DTYPES[storage_type.name]
        if dtype is None:
            raise GalleryError(f"{self.path}: {storage_type.name} tensors are not supported")
        self.dtypes[key] = dtype
        return _StorageRef(key, 0 if view is None else int(view[1]))


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a legacy-format .pth state_dict, by name, as a numpy array (a copy)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            return _read(file, path)
    except GalleryError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, KeyError,
            struct.error) as exc:
        raise GalleryError(f"{path}: not a legacy PyTorch checkpoint ({exc})") from None


def _read(file: IO[bytes], path: Path) -> dict[str, np.ndarray]:
    if file.read(4) == ZIP_MAGIC:
        raise GalleryError(f"{path}: a zip-format PyTorch checkpoint; only the legacy format is supported")
    file.seek(0)
    unpickler = _Unpickler(file, path)
    if unpickler.load() != MAGIC_NUMBER:
        raise GalleryError(f"{path}: not a legacy PyTorch checkpoint (wrong magic number)")
    if unpickler.load() != PROTOCOL_VERSION:
        raise GalleryError(f"{path}: unsupported legacy checkpoint protocol")
    sys_info = unpickler.load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise GalleryError(f"{path}: big-endian checkpoints are not supported")
    state = unpickler.load()
    keys = unpickler.load()
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise GalleryError(f"{path}: not a state_dict (a mapping of names to tensors)")

    storages: dict[str, np.ndarray] = {}
    for key in keys:
        (count,) = struct.unpack("<q", file.read(8))
        dtype = np.dtype(unpickler.dtypes[key])
        data = file.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise GalleryError(f"{path}: truncated checkpoint (storage {key})")
        storages[key] = np.frombuffer(data, dtype=dtype)
    return {name: _materialize(name, ref, storages, path) for name, ref in state.items()}


def _materialize(name: str, ref: _TensorRef, storages: dict[str, np.ndarray], path: Path) -> np.ndarray:
    storage = storages.get(ref.storage.key)
    if storage is None:
        raise GalleryError(f"{path}: tensor {name} refers to a missing storage")
    start = ref.storage.offset + ref.offset
    last = start + sum((n - 1) * s for n, s in zip(ref.size, ref.stride) if n > 0)
    if start < 0 or any(s < 0 for s in ref.stride) or (0 not in ref.size and last >= storage.size):
        raise GalleryError(f"{path}: tensor {name} lies outside its storage")
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[start:], shape=ref.size, strides=[s * itemsize for s in ref.stride], writeable=False)
    return np.array(view)
