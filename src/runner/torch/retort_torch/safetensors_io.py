"""Hugging Face safetensors, read and written by hand (no `safetensors` package on the worker).

File layout: 8-byte little-endian u64 header length N, then N bytes of JSON header, then the data.
The header maps tensor name -> {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
the first byte after the header) plus an optional "__metadata__": {str: str}. We pad the header with
spaces so the data starts on an 8-byte boundary, as the reference writer does.

A sharded checkpoint is a folder with `model.safetensors.index.json`
({"metadata": {...}, "weight_map": {tensor name: shard file name}}) next to the shards.

bf16 goes through int16 views: numpy has no bfloat16, and `Tensor.view(dtype)` between same-size
dtypes works on torch 1.13 as well as 2.x.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np
import torch

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit; guards against garbage lengths

# safetensors dtype -> (torch dtype, little-endian numpy dtype holding the same bytes)
_DTYPES: Dict[str, Tuple[torch.dtype, str]] = {
    "F32": (torch.float32, "<f4"),
    "F16": (torch.float16, "<f2"),
    "BF16": (torch.bfloat16, "<i2"),  # viewed as bfloat16 after loading
    "F64": (torch.float64, "<f8"),
    "I64": (torch.int64, "<i8"),
    "I32": (torch.int32, "<i4"),
    "I16": (torch.int16, "<i2"),
    "I8": (torch.int8, "<i1"),
    "U8": (torch.uint8, "<u1"),
    "BOOL": (torch.bool, "<u1"),
}
_BY_TORCH = {torch_dtype: name for name, (torch_dtype, _) in _DTYPES.items()}


class SafetensorsError(ValueError):
    """A malformed or unsupported safetensors file; the message names the file and the tensor."""


class TensorInfo:
    """One header entry: where a tensor's bytes lie and how to read them."""

    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name: str, dtype: str, shape: List[int], begin: int, end: int) -> None:
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end


def read_header(path: str) -> Tuple[Dict[str, TensorInfo], Dict[str, str], int]:
    """Parse and validate a file's header. Returns (tensors by name, __metadata__, data start offset)."""
    size = _file_size(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{path}: truncated: {size} bytes, need at least 8 for the header length")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES:
            raise SafetensorsError(f"{path}: header length {n} exceeds {MAX_HEADER_BYTES} bytes (corrupt file?)")
        if 8 + n > size:
            raise SafetensorsError(f"{path}: truncated: header says {n} bytes but the file has {size - 8} after the length")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header must be a JSON object, got {type(header).__name__}")

    data_start, data_len = 8 + n, size - 8 - n
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise SafetensorsError(f"{path}: __metadata__ must be an object of strings")
    infos: Dict[str, TensorInfo] = {}
    for name, entry in header.items():
        infos[name] = _parse_entry(path, name, entry, data_len)
    return infos, {str(k): str(v) for k, v in metadata.items()}, data_start


def _parse_entry(path: str, name: str, entry: object, data_len: int) -> TensorInfo:
    where = f"{path}: tensor '{name}'"
    if not isinstance(entry, dict):
        raise SafetensorsError(f"{where}: header entry must be an object")
    for field in ("dtype", "shape", "data_offsets"):
        if field not in entry:
            raise SafetensorsError(f"{where}: header entry lacks '{field}'")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _DTYPES:
        raise SafetensorsError(f"{where}: unsupported dtype {dtype!r} (supported: {', '.join(_DTYPES)})")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise SafetensorsError(f"{where}: bad shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise SafetensorsError(f"{where}: bad data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise SafetensorsError(f"{where}: bad data_offsets [{begin}, {end}]")
    if end > data_len:
        raise SafetensorsError(f"{where}: data_offsets [{begin}, {end}] run past the data ({data_len} bytes; file truncated?)")
    itemsize = np.dtype(_DTYPES[dtype][1]).itemsize
    expected = itemsize * int(np.prod(shape, dtype=np.int64))
    if end - begin != expected:
        raise SafetensorsError(
            f"{where}: data_offsets [{begin}, {end}] hold {end - begin} bytes but {dtype}{shape} needs {expected}"
        )
    return TensorInfo(name, dtype, list(shape), begin, end)


def load_file(path: str, names: Optional[Iterable[str]] = None, device: str = "cpu") -> Dict[str, torch.Tensor]:
    """Load tensors from one .safetensors file (all of them, or `names`; a missing name is an error)."""
    infos, _, data_start = read_header(path)
    wanted = list(infos) if names is None else list(names)
    for name in wanted:
        if name not in infos:
            raise SafetensorsError(f"{path}: missing tensor '{name}'")
    out: Dict[str, torch.Tensor] = {}
    if not wanted:
        return out
    # memmap reads only the tensors asked for; the copy detaches them from the file.
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start) if os.path.getsize(path) > data_start else None
    for name in wanted:
        info = infos[name]
        raw = np.empty(0, np.uint8) if data is None else data[info.begin:info.end]
        out[name] = _to_tensor(raw, info).to(device)
    return out


def _to_tensor(raw: np.ndarray, info: TensorInfo) -> torch.Tensor:
    torch_dtype, np_dtype = _DTYPES[info.dtype]
    arr = np.frombuffer(raw.tobytes(), dtype=np_dtype).astype(np_dtype[1:], copy=True)  # to native byte order
    t = torch.from_numpy(arr)
    if info.dtype == "BF16":
        t = t.view(torch.bfloat16)
    elif info.dtype == "BOOL":
        t = t.to(torch.bool)
    return t.reshape(info.shape)


def read_metadata(path: str) -> Dict[str, str]:
    return read_header(path)[1]


def save_file(tensors: Mapping[str, torch.Tensor], path: str, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write tensors (contiguous copies on CPU) to `path`, written to a temporary name then renamed."""
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs: List[bytes] = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise SafetensorsError(f"{path}: tensor '{name}' is a {type(t).__name__}, not a torch.Tensor")
        if t.dtype not in _BY_TORCH:
            raise SafetensorsError(f"{path}: tensor '{name}': unsupported dtype {t.dtype}")
        blob = _to_bytes(t)
        header[name] = {"dtype": _BY_TORCH[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def _to_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    elif t.dtype == torch.bool:
        t = t.to(torch.uint8)
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


# ---- checkpoint folders: model.safetensors or a sharded index ----------------------------------

def checkpoint_files(folder: str) -> Dict[str, str]:
    """Tensor name -> file path for a model folder (single file or sharded index)."""
    index = os.path.join(folder, INDEX_FILE)
    single = os.path.join(folder, SINGLE_FILE)
    if os.path.exists(index):
        try:
            with open(index, "r", encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise SafetensorsError(f"{index}: not a safetensors index (need a 'weight_map' object): {e}") from None
        files = {}
        for name, shard in weight_map.items():
            shard_path = os.path.join(folder, shard)
            if not os.path.exists(shard_path):
                raise SafetensorsError(f"{index}: tensor '{name}' maps to missing shard {shard_path}")
            files[name] = shard_path
        return files
    if os.path.exists(single):
        return {name: single for name in read_header(single)[0]}
    raise SafetensorsError(f"{folder}: no {SINGLE_FILE} or {INDEX_FILE}")


def load_checkpoint(folder: str, names: Optional[Iterable[str]] = None, device: str = "cpu") -> Dict[str, torch.Tensor]:
    """Load a model folder's tensors (all, or `names`) whether single-file or sharded."""
    files = checkpoint_files(folder)
    wanted = list(files) if names is None else list(names)
    by_file: Dict[str, List[str]] = {}
    for name in wanted:
        if name not in files:
            raise SafetensorsError(f"{folder}: missing tensor '{name}'")
        by_file.setdefault(files[name], []).append(name)
    out: Dict[str, torch.Tensor] = {}
    for path, file_names in by_file.items():
        out.update(load_file(path, file_names, device))
    return out


def save_checkpoint(
    tensors: Mapping[str, torch.Tensor],
    folder: str,
    max_shard_bytes: Optional[int] = None,
    metadata: Optional[Mapping[str, str]] = None,
) -> List[str]:
    """Write model.safetensors, or shards `model-0000i-of-0000n.safetensors` + index when the tensors
    exceed `max_shard_bytes`. Returns the written file names."""
    os.makedirs(folder, exist_ok=True)
    meta = {"format": "pt", **(metadata or {})}
    nbytes = {name: t.numel() * t.element_size() for name, t in tensors.items()}
    if max_shard_bytes is None or sum(nbytes.values()) <= max_shard_bytes:
        save_file(tensors, os.path.join(folder, SINGLE_FILE), meta)
        return [SINGLE_FILE]
    shards: List[List[str]] = [[]]
    size = 0
    for name in sorted(tensors):
        if shards[-1] and size + nbytes[name] > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes[name]
    files, weight_map = [], {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: tensors[n] for n in shard}, os.path.join(folder, file), meta)
        files.append(file)
        weight_map.update({n: file for n in shard})
    with open(os.path.join(folder, INDEX_FILE), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": sum(nbytes.values())}, "weight_map": weight_map}, f, indent=2)
    return files


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError as e:
        raise SafetensorsError(f"{path}: cannot open: {e.strerror}") from None
