"""Reading state dicts from .npz, .safetensors and PyTorch files."""

import json
import struct
import sys

import numpy as np
import pytest
from convert_helpers import build, images

from keras_cmod.convert import (
    load_torch_state_dict,
    read_safetensors,
    read_state_dict,
    to_torch_state_dict,
    write_safetensors,
)
from keras_cmod.convert.io import _parse_safetensors


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "a.weight": rng.standard_normal((3, 4, 2, 2)).astype("float32"),
        "b": rng.standard_normal(5),  # float64
        "c": rng.standard_normal((2, 3)).astype("float16"),
        "d.num_batches_tracked": np.array(17, dtype=np.int64),
        "e": np.array([True, False]),
        "f": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "empty": np.zeros((0, 3), "float32"),
    }


def test_safetensors_round_trip_without_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    path = tmp_path / "x.safetensors"
    tensors = _tensors()
    write_safetensors(path, tensors, metadata={"format": "pt"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"format": "pt"}
    assert header["a.weight"]["dtype"] == "F32"
    assert header["d.num_batches_tracked"]["dtype"] == "I64"
    assert (8 + n) % 8 == 0
    back = read_safetensors(path)
    assert set(back) == set(tensors)
    for key, value in tensors.items():
        assert back[key].dtype == value.dtype, key
        np.testing.assert_array_equal(back[key], value)


def test_safetensors_bfloat16_and_big_values():
    values = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"x": {"dtype": "BF16", "shape": [2, 2],
                               "data_offsets": [0, len(bf16)]}}).encode()
    raw = struct.pack("<Q", len(header)) + header + bf16
    out = _parse_safetensors(raw, "mem")
    np.testing.assert_array_equal(out["x"], values.reshape(2, 2))


def _st(entry, data):
    header = json.dumps({"x": entry}).encode()
    return struct.pack("<Q", len(header)) + header + data


@pytest.mark.parametrize("raw,match", [
    (b"\x01\x00", "too short"),
    (struct.pack("<Q", 1000) + b"{}", "bad header size"),
    (struct.pack("<Q", 2) + b"[]", "not a dict"),
    (struct.pack("<Q", 3) + b"{x}", "bad JSON"),
    (_st({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, b"\0" * 4),
     "outside the file"),
    (_st({"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}, b"\0" * 8),
     "bad size"),
    (_st({"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}, b"\0" * 8),
     "unsupported"),
    (_st({"dtype": 1}, b""), "malformed"),
])
def test_safetensors_malformed(raw, match):
    with pytest.raises(ValueError, match=match):
        _parse_safetensors(raw, "mem")


def test_safetensors_matches_the_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors = {k: v for k, v in _tensors().items() if v.size}
    path = tmp_path / "ours.safetensors"
    write_safetensors(path, tensors)
    theirs = st.load_file(str(path))
    for key, value in tensors.items():
        np.testing.assert_array_equal(theirs[key], value)
    st.save_file(tensors, str(tmp_path / "theirs.safetensors"))
    back = _parse_safetensors(
        (tmp_path / "theirs.safetensors").read_bytes(), "theirs")
    for key, value in tensors.items():
        np.testing.assert_array_equal(back[key], value)


def test_model_from_npz_and_safetensors_files(tmp_path):
    source = build("resnet18_ablurpool_twin")
    sd = to_torch_state_dict(source)
    sd = {k: v * 1.01 if "wpt." not in k else v for k, v in sd.items()}
    np.savez(tmp_path / "sd.npz", **sd)
    write_safetensors(tmp_path / "sd.safetensors",
                      {f"module.{k}": v for k, v in sd.items()})
    x = images(source)
    outputs = []
    for name in ("sd.npz", "sd.safetensors"):
        target = build("resnet18_ablurpool_twin")
        report = load_torch_state_dict(target, tmp_path / name)
        assert len(report.loaded) + len(report.checked) == len(sd)
        outputs.append(target.predict(x, verbose=0))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_read_state_dict_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / "nope.pth")
    (tmp_path / "w.h5").write_bytes(b"x")
    with pytest.raises(ValueError, match="Unknown checkpoint format"):
        read_state_dict(tmp_path / "w.h5")
    # Not a zip archive nor a pickle: named without needing PyTorch.
    (tmp_path / "w.pth").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ValueError, match="w.pth.*not a PyTorch checkpoint"):
        read_state_dict(str(tmp_path / "w.pth"))
    # A legacy pickle header: reading it needs PyTorch.
    (tmp_path / "w.pth").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ImportError, match="needs PyTorch"):
        read_state_dict(str(tmp_path / "w.pth"))


def test_read_torch_file(tmp_path):
    torch = pytest.importorskip("torch")
    sd = {"conv.weight": torch.randn(4, 3, 3, 3),
          "half": torch.randn(3).to(torch.bfloat16),
          "bn.num_batches_tracked": torch.tensor(5)}
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()},
                "epoch": 2}, tmp_path / "ckpt.pth")
    out = read_state_dict(tmp_path / "ckpt.pth")
    assert list(out) == list(sd)
    np.testing.assert_array_equal(out["conv.weight"], sd["conv.weight"])
    assert out["half"].dtype == np.float32
    assert out["bn.num_batches_tracked"] == 5
    # Pickled objects are refused (weights_only=True).
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": _Obj()},
               tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="weights_only"):
        read_state_dict(tmp_path / "bad.pth")
    # Tensors straight from a module's state_dict().
    out = read_state_dict(torch.nn.Linear(3, 2).state_dict())
    assert out["weight"].shape == (2, 3)


class _Obj:
    pass
