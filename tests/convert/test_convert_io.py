"""Reading state dicts from .npz, .safetensors and PyTorch files, and the
errors that name the bad tensor or file."""

import json
import struct
import sys

import numpy as np
import pytest
from convert_helpers import build, images
from sweep import rejects

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


@pytest.mark.slow
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
    with pytest.raises(FileNotFoundError, match="nope.pth"):
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


# -- bad tensors and files: an error naming the tensor or the file, never a
# zipfile/pickle traceback, never a silently altered value.

GOOD = {"conv1.weight": np.ones((2, 3, 3, 3), "float32"),
        "bn1.num_batches_tracked": np.array(3, "int64")}


def _bad(key, value):
    return dict(GOOD, **{key: value})


VALUES = [
    ("nan", _bad("fc.weight", np.array([1.0, np.nan], "float32")),
     ["'fc.weight'", "1 non-finite", "nan"]),
    ("inf", _bad("fc.bias", np.array([np.inf, 1.0, -np.inf], "float64")),
     ["'fc.bias'", "2 non-finite"]),
    ("half_nan", _bad("bn.running_var", np.array([np.nan], "float16")),
     ["'bn.running_var'", "non-finite"]),
    ("complex", _bad("wpt.filters", np.array([1 + 2j], "complex64")),
     ["'wpt.filters'", "complex", "imaginary"]),
    ("complex128", _bad("conv.weight", np.zeros((2, 2), "complex128")),
     ["'conv.weight'", "complex128"]),
    ("object", _bad("thing", object()),
     ["Could not find a state dict", "'thing'"]),
    ("wrapped_nan", {"state_dict": _bad("module.fc.weight",
                                        np.full(3, np.nan, "float32"))},
     ["'module.fc.weight'", "3 non-finite"]),
    ("no_state_dict", {"epoch": 3}, ["Could not find a state dict",
                                     "epoch"]),
    ("duplicate", {"module.a": np.zeros(1), "a": np.zeros(1)},
     ["Duplicate key", "'a'"]),
]


@pytest.mark.parametrize("name,sd,needles", VALUES,
                         ids=[v[0] for v in VALUES])
def test_bad_tensors_are_named(name, sd, needles, tmp_path):
    rejects(lambda: read_state_dict(sd), ValueError, *needles,
            directory=tmp_path)


def test_nan_in_an_npz_file_names_the_tensor(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **_bad("layer1.0.bn1.weight",
                          np.array([np.nan], "float32")))
    rejects(lambda: read_state_dict(path), ValueError,
            "'layer1.0.bn1.weight'", "non-finite", directory=tmp_path)


def _npz_bytes(tmp_path):
    path = tmp_path / "src.npz"
    np.savez(path, **GOOD)
    data = path.read_bytes()
    path.unlink()
    return data


def _st_bytes(tmp_path):
    path = tmp_path / "src.safetensors"
    write_safetensors(path, GOOD)
    data = path.read_bytes()
    path.unlink()
    return data


# name -> (file name, content from the good bytes, needles); the
# safetensors parser's own errors are in test_safetensors_malformed.
FILES = {
    "npz_truncated": ("w.npz", lambda t: _npz_bytes(t)[:200],
                      ["w.npz", "truncated"]),
    "npz_garbage": ("w.npz", lambda t: b"not a zip at all",
                    ["w.npz", ".npz"]),
    "npz_empty": ("w.npz", lambda t: b"", ["w.npz"]),
    "npz_single_array": ("w.npz",
                         lambda t: b"\x93NUMPY\x01\x00v\x00"
                         + b"{'descr': '<f4', 'fortran_order': False, "
                         b"'shape': (1,), }".ljust(117) + b"\n"
                         + b"\x00" * 4,
                         ["w.npz", "not an archive"]),
    "st_truncated": ("w.safetensors", lambda t: _st_bytes(t)[:-5],
                     ["w.safetensors", "outside the file"]),
    "pt_truncated_zip": ("w.pt", lambda t: _npz_bytes(t)[:150],
                         ["w.pt", "not a PyTorch checkpoint"]),
    "pt_garbage": ("w.pth", lambda t: b"hello", ["w.pth", "torch.save"]),
    "pt_empty": ("w.bin", lambda t: b"", ["w.bin", "truncated"]),
    "unknown_ext": ("w.onnx", lambda t: b"x", ["w.onnx", ".npz",
                                               ".safetensors"]),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_corrupt_files_are_named(name, tmp_path):
    fname, make, needles = FILES[name]
    (tmp_path / fname).write_bytes(make(tmp_path))
    rejects(lambda: read_state_dict(tmp_path / fname), ValueError, *needles,
            directory=tmp_path)


def test_not_a_mapping_or_path(tmp_path):
    rejects(lambda: read_state_dict(123), ValueError, "mapping",
            "int", directory=tmp_path)


def test_finite_real_tensors_pass_unchanged():
    sd = read_state_dict({"module.a": np.arange(3.0), "b": np.array(True)})
    np.testing.assert_array_equal(sd["a"], np.arange(3.0))
    assert sd["b"].dtype == bool
