"""safetensors by hand: round trips per dtype, sharding, the byte layout, and every error path."""
import json
import os
import struct

import numpy as np
import pytest
import torch

from retort_torch.safetensors_io import (
    INDEX_FILE,
    SafetensorsError,
    load_checkpoint,
    load_file,
    read_header,
    read_metadata,
    save_checkpoint,
    save_file,
)


def _tensors():
    g = torch.Generator().manual_seed(0)
    return {
        "a.f32": torch.randn(3, 5, generator=g),
        "b.f16": torch.randn(7, generator=g).half(),
        "c.bf16": torch.randn(2, 3, 4, generator=g).bfloat16(),
        "d.i64": torch.arange(-3, 3, dtype=torch.int64),
        "e.i32": torch.tensor([[1, -2], [3, 4]], dtype=torch.int32),
        "f.scalar": torch.tensor(2.5),
        "g.empty": torch.zeros(0, 4),
    }


def test_round_trip_every_dtype(tmp_path):
    path = str(tmp_path / "x.safetensors")
    ts = _tensors()
    save_file(ts, path, metadata={"format": "pt", "note": "hi"})
    back = load_file(path)
    assert set(back) == set(ts)
    for name, t in ts.items():
        assert back[name].dtype == t.dtype, name
        assert back[name].shape == t.shape, name
        assert torch.equal(back[name], t), name
    assert read_metadata(path) == {"format": "pt", "note": "hi"}


def test_layout_matches_spec_written_independently(tmp_path):
    # Build a file byte by byte (as the spec describes) and read it; bf16 1.0 is 0x3F80, -2.0 is 0xC000.
    header = {
        "__metadata__": {"k": "v"},
        "w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
        "x": {"dtype": "F16", "shape": [1], "data_offsets": [4, 6]},
        "y": {"dtype": "F32", "shape": [1], "data_offsets": [6, 10]},
    }
    raw = json.dumps(header).encode()
    data = struct.pack("<HH", 0x3F80, 0xC000) + np.array([0.5], "<f2").tobytes() + struct.pack("<f", -3.25)
    path = tmp_path / "spec.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    got = load_file(str(path))
    assert got["w"].dtype == torch.bfloat16 and got["w"].float().tolist() == [1.0, -2.0]
    assert got["x"].item() == 0.5 and got["y"].item() == -3.25
    # and our writer produces the same bytes for the data, with an 8-aligned space-padded header
    out = tmp_path / "ours.safetensors"
    save_file({"w": got["w"], "x": got["x"], "y": got["y"]}, str(out))
    blob = out.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0 and blob[8:8 + n].decode().endswith(("}", " "))
    assert blob[8 + n:] == data


def test_bf16_bits_exact(tmp_path):
    # every bf16 bit pattern that is not NaN survives a round trip
    bits = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
    t = bits.view(torch.bfloat16)
    path = str(tmp_path / "bf.safetensors")
    save_file({"t": t}, path)
    back = load_file(path)["t"].view(torch.int16)
    assert torch.equal(back, bits)


def test_sharded_round_trip(tmp_path):
    ts = {f"layer.{i}.w": torch.full((64,), float(i)) for i in range(5)}
    files = save_checkpoint(ts, str(tmp_path), max_shard_bytes=600)
    assert len(files) > 1 and os.path.exists(tmp_path / INDEX_FILE)
    back = load_checkpoint(str(tmp_path))
    assert set(back) == set(ts) and all(torch.equal(back[k], ts[k]) for k in ts)
    assert torch.equal(load_checkpoint(str(tmp_path), ["layer.3.w"])["layer.3.w"], ts["layer.3.w"])


def _write_raw(path, header, data=b"", header_len=None):
    raw = json.dumps(header).encode() if isinstance(header, dict) else header
    n = len(raw) if header_len is None else header_len
    path.write_bytes(struct.pack("<Q", n) + raw + data)
    return str(path)


@pytest.mark.parametrize(
    "case, header, data, header_len, message",
    [
        ("short", None, b"", None, "truncated"),
        ("header-past-eof", {"a": 1}, b"", 4096, "truncated"),
        ("not-json", b"{nope", b"", None, "not valid JSON"),
        ("bad-dtype", {"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0", None, "tensor 'w': unsupported dtype 'F8_E4M3'"),
        ("offsets-past-data", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, None, "tensor 'w': data_offsets [0, 16] run past the data"),
        ("size-mismatch", {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, None, "tensor 'w': data_offsets [0, 8] hold 8 bytes but F32[3] needs 12"),
        ("reversed", {"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}, b"\0" * 8, None, "tensor 'w': bad data_offsets"),
        ("no-shape", {"w": {"dtype": "F32", "data_offsets": [0, 4]}}, b"\0" * 4, None, "tensor 'w': header entry lacks 'shape'"),
    ],
)
def test_errors_name_file_and_tensor(tmp_path, case, header, data, header_len, message):
    path = tmp_path / f"{case}.safetensors"
    if header is None:
        path.write_bytes(b"\x01\x02")
        p = str(path)
    else:
        p = _write_raw(path, header, data, header_len)
    with pytest.raises(SafetensorsError) as e:
        load_file(p)
    assert p in str(e.value) and message in str(e.value), str(e.value)


def test_missing_tensor_and_missing_shard(tmp_path):
    path = str(tmp_path / "m.safetensors")
    save_file({"a": torch.zeros(2)}, path)
    with pytest.raises(SafetensorsError, match=r"m\.safetensors: missing tensor 'b'"):
        load_file(path, ["a", "b"])
    folder = tmp_path / "sharded"
    folder.mkdir()
    (folder / INDEX_FILE).write_text(json.dumps({"weight_map": {"a": "gone.safetensors"}}))
    with pytest.raises(SafetensorsError, match=r"tensor 'a' maps to missing shard .*gone\.safetensors"):
        load_checkpoint(str(folder))
    with pytest.raises(SafetensorsError, match="no model.safetensors"):
        load_checkpoint(str(tmp_path / "nowhere"))


def test_unsupported_dtype_on_write(tmp_path):
    with pytest.raises(SafetensorsError, match="tensor 'z': unsupported dtype"):
        save_file({"z": torch.zeros(2, dtype=torch.complex64)}, str(tmp_path / "z.safetensors"))


def test_header_is_read_without_data(tmp_path):
    path = str(tmp_path / "h.safetensors")
    save_file({"big": torch.zeros(10, 10, dtype=torch.float16)}, path)
    infos, _, start = read_header(path)
    assert infos["big"].dtype == "F16" and infos["big"].shape == [10, 10] and start % 8 == 0
