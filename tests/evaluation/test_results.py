"""Results JSON (keras_cmod.evaluation.results)."""

import json
import os

import numpy as np
import pytest

import keras_cmod
from keras_cmod import evaluation as ev


def _results():
    protocols = [
        ev.protocol("flip_rate", num_images=2, normalize=False),
        ev.protocol("flip_rate", num_images=2, normalize=False)
        | {"name": "flip_rate"},
        ev.protocol("kl_half_pixel", num_images=2, normalize=True),
        ev.protocol("ten_crop", num_images=3, normalize=True),
        ev.protocol("cost"),
    ]
    metrics = {
        "flip_rate": {"vertical": np.float64(16.01), "curve": np.arange(3)},
        "kl_half_pixel": np.linspace(0, 1, 17, dtype=np.float32),
        "ten_crop": {"top1_error": 24.81, "num_images": np.int64(3)},
        "nan": float("nan"),
    }
    return ev.build_results(
        "resnet34_cmod.imagenet", metrics, protocols, dataset="imagenet",
        split="validation", preprocessing={"mean": (0.485, 0.456, 0.406)},
    )


def test_protocol_defaults_and_derived_sizes():
    p = ev.protocol("flip_rate", num_images=10, normalize=False)
    assert p["crop_size"] == 224 and p["max_shift"] == 8
    assert p["resize_size"] == 232
    assert p["directions"] == ["vertical", "horizontal", "diagonal"]
    cifar = ev.protocol("flip_rate", num_images=10, normalize=False,
                        crop_size=32, max_shift=4, reference="R18C")
    assert cifar["resize_size"] == 36 and cifar["reference"] == "R18C"
    kl = ev.protocol("kl_half_pixel", num_images=1, normalize=False)
    assert kl["resize_size"] == 464 and kl["patch_size"] == 448
    assert ev.protocol("ten_crop", num_images=1, normalize=True)[
        "resize_size"] == 256


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("eleven_crop",), dict(num_images=1, normalize=True), "Unknown"),
        (("one_crop",), dict(normalize=True), "num_images"),
        (("one_crop",), dict(num_images=0, normalize=True), "num_images"),
        (("one_crop",), dict(num_images=1), "normalize"),
    ],
)
def test_protocol_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ev.protocol(*args, **kwargs)


def test_build_results_records_the_protocol_and_version():
    res = _results()
    assert res["keras_cmod_version"] == keras_cmod.__version__
    assert res["model"] == "resnet34_cmod.imagenet"
    assert res["format"] == ev.results.FORMAT
    assert set(res["protocols"]) == {"flip_rate", "kl_half_pixel",
                                     "ten_crop", "cost"}
    assert res["protocols"]["flip_rate"]["normalize"] is False
    assert res["protocols"]["ten_crop"]["num_images"] == 3
    assert res["metrics"]["kl_half_pixel"][16] == 1.0
    assert res["metrics"]["nan"] is None  # strict JSON
    assert res["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    assert res["created_utc"].endswith("Z")
    json.dumps(res, allow_nan=False)


def test_build_results_bad_input():
    p = [ev.protocol("cost")]
    with pytest.raises(ValueError, match="model_name"):
        ev.build_results("", {}, p)
    with pytest.raises(ValueError, match="metrics"):
        ev.build_results("m", [1, 2], p)
    with pytest.raises(ValueError, match="protocol"):
        ev.build_results("m", {}, [{"name": "nope"}])
    with pytest.raises(ValueError, match="Cannot store"):
        ev.build_results("m", {"x": object()}, p)
    with pytest.raises(ValueError, match="keys must be strings"):
        ev.build_results("m", {1: 2.0}, p)


def test_json_round_trip(tmp_path):
    res = _results()
    path = ev.write_results(res, tmp_path / "sub" / "results.json")
    assert path == os.fspath(tmp_path / "sub" / "results.json")
    assert ev.read_results(path) == res
    assert os.listdir(tmp_path / "sub") == ["results.json"]  # no temp file


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    ev.write_results(_results(), path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    changed = dict(_results(), model="other")
    with pytest.raises(OSError, match="disk full"):
        ev.write_results(changed, path)
    # The old file is intact and the temporary file was removed.
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["results.json"]
    monkeypatch.undo()
    # A value JSON cannot hold fails before anything is written.
    with pytest.raises(ValueError, match="Cannot store"):
        ev.write_results({"x": {1, 2}}, path)
    assert path.read_bytes() == before


def test_read_results_rejects_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a keras-cmod results file"):
        ev.read_results(path)
