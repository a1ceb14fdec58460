"""`keras-cmod evaluate`, run in-process through `keras_cmod.cli.main`.

A randomly initialised `resnet18_cmod.cifar10` (32x32 inputs) is evaluated
on a few real photos (scikit-image) in class folders and on TFDS's mock
CIFAR-10, so each run takes seconds.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_cmod.cli
from keras_cmod import zoo
from keras_cmod.evaluation import PAPER_RAW_MFR, read_results

MODEL = "resnet18_cmod.cifar10"
PNG = b"\x89PNG\r\n\x1a\n"


def test_evaluate_is_a_keras_cmod_command():
    assert "keras_cmod.evaluation.cli" in keras_cmod.cli._COMMAND_MODULES


def _save_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.round(np.asarray(image) * 255).astype(np.uint8)
    path.write_bytes(tf.io.encode_png(data).numpy())


@pytest.fixture
def photos(tmp_path, chelsea, astronaut, coffee):
    """Three photos in folders named after CIFAR-10 classes."""
    root = tmp_path / "photos"
    _save_png(root / "cat" / "chelsea.png", chelsea)
    _save_png(root / "airplane" / "astronaut.png", astronaut)
    _save_png(root / "ship" / "coffee.png", coffee)
    return root


def _main(*argv):
    return keras_cmod.cli.main(["evaluate", *map(str, argv)])


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("keras-cmod evaluate: error: ")
    for needle in needles:
        assert needle in last
    return last


def test_folder_all_metrics_json_and_plots(photos, tmp_path, capsys):
    out = tmp_path / "res" / "results.json"
    plots = tmp_path / "plots"
    rc = _main(MODEL, "--random-weights", "--dataset", f"folder:{photos}",
               "--metrics", "accuracy,mfr,kl,consistency,zhang",
               "--output", out, "--plots", plots, "--batch-size", 16)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "accuracy (one-crop and ten-crop)" in captured.out  # progress
    assert "3/3" in captured.out
    # Not a terminal: the bar is one plain line, without ANSI codes.
    assert "\x1b[" not in captured.out and "\r" not in captured.out
    assert f"wrote {out}" in captured.out
    assert "RANDOM WEIGHTS" in captured.err

    res = read_results(out)
    assert res["model"] == MODEL and res["dataset"] == "folder"
    # Random weights are labelled as such.
    assert res["extra"]["random_weights"] is True
    assert res["extra"]["weights"]["kind"] == "random"
    assert "RANDOM WEIGHTS" in res["extra"]["weights"]["note"]
    # Folder names are matched to the CIFAR-10 label names.
    assert res["extra"]["data"]["label_map"] == {
        "airplane": 0, "cat": 3, "ship": 8}
    # Preprocessing constants come from the preset.
    cfg = zoo.get_pretrained_cfg(MODEL)
    assert res["preprocessing"]["mean"] == list(cfg.mean)
    assert res["preprocessing"]["std"] == list(cfg.std)
    assert res["preprocessing"]["input_size"] == [32, 32, 3]

    protocols = res["protocols"]
    assert set(protocols) == {"one_crop", "ten_crop", "flip_rate",
                              "kl_half_pixel", "zhang_consistency"}
    assert protocols["one_crop"]["resize_size"] == 32  # the paper's one-crop
    assert protocols["ten_crop"]["resize_size"] == 36  # 32 / crop_pct
    assert protocols["flip_rate"]["max_shift"] == 4  # CIFAR-10 model
    assert protocols["flip_rate"]["resize_size"] == 36
    assert protocols["flip_rate"]["reference"] == "R18C"
    assert protocols["flip_rate"]["normalize"] is True
    assert all(p["num_images"] == 3 for p in protocols.values())
    assert all(p["description"] for p in protocols.values())

    m = res["metrics"]
    for mode in ("one_crop", "ten_crop"):
        acc = m["accuracy"][mode]
        assert acc["num_images"] == 3
        assert acc["top1_accuracy"] in (0.0, 100 / 3, 200 / 3, 100.0)
        assert acc["top1_accuracy"] <= acc["top5_accuracy"]
    directions = ("vertical", "horizontal", "diagonal")
    assert all(0 <= m["mfr"][d] <= 100 for d in directions)
    ref = PAPER_RAW_MFR["R18C"]
    expected = 100 * np.mean([m["mfr"][d] / ref[d] for d in directions])
    assert m["consistency"]["value"] == pytest.approx(expected)
    assert m["kl"]["shifts"] == [i / 2 for i in range(9)]
    for d in directions:
        assert len(m["kl"][d]) == 9 and m["kl"][d][0] == pytest.approx(0)
        assert min(m["kl"][d]) >= -1e-9
    assert 0 <= m["zhang_consistency"] <= 100
    summary = m["summary"]
    assert summary["top1"] == m["accuracy"]["one_crop"]["top1_accuracy"]
    assert summary["consistency"] == m["consistency"]["value"]
    assert summary["mean_kl"] == pytest.approx(
        np.mean(m["kl"]["mean_curve"][1:]))

    for name in ("flip_rates.png", "kl_divergence.png"):
        assert (plots / name).read_bytes().startswith(PNG)
    assert sorted(res["extra"]["plots"]) == sorted(
        str(plots / n) for n in ("flip_rates.png", "kl_divergence.png"))
    assert not list(out.parent.glob(".*tmp"))  # atomic write, no leftovers


def test_mock_cifar10_local_weights_unnormalized(tmp_path, capsys):
    tfds = pytest.importorskip("tensorflow_datasets")
    model = zoo.create_model(MODEL)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(
        {"vertical": 10.0, "horizontal": 20.0, "diagonal": 40.0}))
    out = tmp_path / "cifar.json"
    with tfds.testing.mock_data(num_examples=5):
        rc = _main(MODEL, "--weights", weights, "--dataset", "cifar10",
                   "--metrics", "accuracy,consistency", "--num-images", 3,
                   "--unnormalized-shifts", "--reference", reference,
                   "--output", out, "--no-progress")
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "one-crop and ten-crop" not in captured.out  # --no-progress
    res = read_results(out)
    assert res["dataset"] == "cifar10" and res["split"] == "test"
    assert res["extra"]["random_weights"] is False
    assert res["extra"]["weights"] == {
        "kind": "local", "path": str(weights), "random_weights": False}
    assert set(res["protocols"]) == {"one_crop", "ten_crop", "flip_rate"}
    assert res["protocols"]["flip_rate"]["normalize"] is False
    assert res["protocols"]["one_crop"]["normalize"] is True
    assert res["protocols"]["flip_rate"]["num_images"] == 3
    assert "mfr" not in res["metrics"]  # only asked for consistency
    cons = res["metrics"]["consistency"]
    assert cons["reference"] == str(reference)
    model_mfr = cons["model_mfr"]
    expected = 100 * np.mean([model_mfr["vertical"] / 10,
                              model_mfr["horizontal"] / 20,
                              model_mfr["diagonal"] / 40])
    assert cons["value"] == pytest.approx(expected)
    assert res["metrics"]["accuracy"]["one_crop"]["num_images"] == 3


def test_empty_folder_fails_in_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = _main(MODEL, "--random-weights", "--dataset", f"folder:{empty}",
               "--output", tmp_path / "r.json")
    assert rc == 2
    _one_line_error(capsys, "No class sub-folders", str(empty))


def test_images_smaller_than_crop_fail_in_one_line(tmp_path, capsys,
                                                   chelsea):
    root = tmp_path / "small"
    _save_png(root / "cat" / "tiny.png", chelsea[:16, :16])
    rc = _main(MODEL, "--random-weights", "--dataset", f"folder:{root}",
               "--metrics", "accuracy", "--output", tmp_path / "r.json",
               "--no-progress")
    assert rc == 2
    _one_line_error(capsys, "cat/tiny.png is 16x16", "32-px input",
                    "--allow-small-images")


def test_no_published_weights_is_the_zoo_error(photos, tmp_path, capsys):
    rc = _main(MODEL, "--dataset", f"folder:{photos}",
               "--output", tmp_path / "r.json")
    assert rc == 2
    _one_line_error(capsys, "No pretrained weights are published",
                    "weights=")


@pytest.mark.parametrize(
    "weights, needle",
    [(["--weights", "model.weights.h5"], "--weights applies to registry"),
     (["--random-weights"], "--random-weights needs a registry name")],
    ids=["weights", "random-weights"],
)
@pytest.mark.parametrize("source", ["hf-hub", "org/repo", "folder",
                                    "keras-file"])
def test_weights_options_need_a_registry_name(photos, tmp_path, capsys,
                                               weights, needle, source):
    """A source names its weights: `--random-weights` with a Hub repo, a
    model folder or a `.keras` file is refused, never evaluated with the
    source's trained weights under a random-weights label."""
    folder = tmp_path / "run"
    folder.mkdir()
    model = {"hf-hub": "hf-hub:org/repo@" + "0" * 40, "org/repo": "org/repo",
             "folder": str(folder),
             "keras-file": str(tmp_path / "m.keras")}[source]
    rc = _main(model, *weights, "--dataset",
               f"folder:{photos}", "--output", tmp_path / "r.json")
    assert rc == 2
    _one_line_error(capsys, needle)


def test_num_classes_sets_the_classifier(tmp_path, capsys, chelsea,
                                         astronaut, coffee):
    root = tmp_path / "three"
    for name, image in (("a", chelsea), ("b", astronaut), ("c", coffee)):
        _save_png(root / name / f"{name}.png", image)
    out = tmp_path / "r.json"
    rc = _main(MODEL, "--random-weights", "--num-classes", 3, "--dataset",
               f"folder:{root}", "--metrics", "accuracy", "--output", out,
               "--no-progress")
    assert rc == 0, capsys.readouterr().err
    summary = read_results(out)["metrics"]["summary"]
    # Three outputs: top-5 is not defined, top-1 is one of 0, 1/3, 2/3, 1.
    assert "top5" not in summary
    assert summary["top1"] in (0.0, 100 / 3, 200 / 3, 100.0)


@pytest.mark.parametrize("flag,value,needles", [
    ("--num-classes", 0, ["--num-classes", "0"]),
    ("--num-images", 0, ["--num-images", "Received: 0"]),
    ("--max-shift", -1, ["--max-shift", "Received: -1"]),
    ("--batch-size", 0, ["--batch-size", "Received: 0"]),
])
def test_bad_flags_are_named_before_the_model_is_built(
        photos, tmp_path, capsys, monkeypatch, flag, value, needles):
    from keras_cmod import zoo as zoo_module

    def no_model(*args, **kwargs):
        raise AssertionError("the model was built before the check")

    monkeypatch.setattr(zoo_module, "load", no_model)
    rc = _main(MODEL, "--random-weights", "--dataset", f"folder:{photos}",
               flag, value, "--output", tmp_path / "r.json")
    assert rc == 2
    line = _one_line_error(capsys, *needles)
    assert "num_images" not in line and "max_shift" not in line
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("message,expected", [
    ("`num_images` must be a positive integer. Received: num_images=0",
     "--num-images must be a positive integer. Received: --num-images=0"),
    ("or pass allow_small_images=True.", "or pass --allow-small-images."),
    ("`plots_dir` needs matplotlib", "--plots needs matplotlib"),
    ("the reference mean flip rate", "the reference mean flip rate"),
])
def test_library_parameters_are_rewritten_as_flags(message, expected):
    from keras_cmod.evaluation.cli import flags_for_parameters

    assert flags_for_parameters(message) == expected


def test_output_checked_before_any_work(photos, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    rc = _main(MODEL, "--random-weights", "--dataset", f"folder:{photos}",
               "--output", tmp_path / "a_file" / "r.json")
    assert rc == 2
    _one_line_error(capsys, "a_file", "is a file")
    assert os.listdir(tmp_path) == ["a_file", "photos"]


def test_library_errors_name_parameters(photos):
    from keras_cmod.evaluation.evaluate import evaluate_model

    model = zoo.create_model(MODEL)
    with pytest.raises(ValueError, match="num_images=0"):
        evaluate_model(model, f"folder:{photos}", num_images=0)
    with pytest.raises(ValueError, match="split='train'"):
        evaluate_model(model, f"folder:{photos}", split="train")
