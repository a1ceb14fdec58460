"""Bad PyTorch state dicts and files: errors that name the tensor or the
file, never a zipfile/pickle traceback, never a silently altered value."""

import struct

import numpy as np
import pytest
from sweep import rejects

from keras_cmod.convert import io as cio
from keras_cmod.convert import read_state_dict

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
    cio.write_safetensors(path, GOOD)
    data = path.read_bytes()
    path.unlink()
    return data


# name -> (file name, content from the good bytes, needles)
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
    "st_short": ("w.safetensors", lambda t: b"\x01\x02",
                 ["w.safetensors", "too short"]),
    "st_header_size": ("w.safetensors",
                       lambda t: struct.pack("<Q", 10 ** 12) + b"{}",
                       ["w.safetensors", "header size"]),
    "st_bad_json": ("w.safetensors",
                    lambda t: struct.pack("<Q", 4) + b"{{{{",
                    ["w.safetensors", "JSON"]),
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


def test_missing_file(tmp_path):
    rejects(lambda: read_state_dict(tmp_path / "nope.npz"),
            FileNotFoundError, "nope.npz", directory=tmp_path)


def test_not_a_mapping_or_path(tmp_path):
    rejects(lambda: read_state_dict(123), ValueError, "mapping",
            "int", directory=tmp_path)


def test_finite_real_tensors_pass_unchanged():
    sd = read_state_dict({"module.a": np.arange(3.0), "b": np.array(True)})
    np.testing.assert_array_equal(sd["a"], np.arange(3.0))
    assert sd["b"].dtype == bool
