"""Training on your own folder of images, as a user starts it.

`keras-cmod train --dataset folder:DIR` works without `--val-split` (a
held-out part of DIR, or DIR/val), takes `--set val_split=null`, names a
bad flag, tag or path before anything else, and starts from settings that
converge (`FOLDER_DEFAULTS`, `FINETUNE_DEFAULTS`).
"""

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from keras_cmod.training import TrainConfig
from keras_cmod.training import cli as train_cli
from keras_cmod.training.config import (
    FINETUNE_DEFAULTS,
    FOLDER_DEFAULTS,
    FOLDER_HELDOUT_FRACTION,
)
from keras_cmod.training.inputs import folder_splits

CLASSES = ("cat", "dog", "fox")


def _write_folder(root, per_class=10, size=40, classes=CLASSES):
    """Images whose class is their dominant colour (learnable)."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.normal(128, 40, (size, size, 3))
            img[..., c % 3] += 60
            Image.fromarray(np.clip(img, 0, 255).astype("uint8")).save(
                root / name / f"{i}.png")
    return root


def _parse(argv):
    parser = argparse.ArgumentParser()
    train_cli.add_train_arguments(parser)
    return parser.parse_args(argv)


def _config(argv):
    return train_cli.config_from_args(_parse(argv))


# -- which images validate ---------------------------------------------------


def test_the_default_holds_out_a_tenth_of_each_class(tmp_path):
    root = _write_folder(tmp_path / "data", per_class=10)
    cfg = TrainConfig.create(dataset=f"folder:{root}")
    assert cfg.val_split == "heldout"
    splits = folder_splits(cfg)
    (train_files, _), (val_files, val_labels) = splits.train, \
        splits.val
    assert splits.classes == list(CLASSES)
    per_class = round(FOLDER_HELDOUT_FRACTION * 10)
    assert sorted(val_labels) == sorted(
        [c for c in range(3) for _ in range(per_class)])
    assert len(train_files) == 30 - len(val_files)
    assert not set(train_files) & set(val_files)
    # The same images on every call (resume), others with another seed.
    assert folder_splits(cfg).val == splits.val
    other = [folder_splits(cfg.replace(seed=s)).val[0] for s in range(1, 6)]
    assert any(set(v) != set(val_files) for v in other)


def test_a_train_and_val_layout_validates_on_val(tmp_path):
    _write_folder(tmp_path / "data" / "train", per_class=4)
    _write_folder(tmp_path / "data" / "val", per_class=2)
    splits = folder_splits(
        TrainConfig.create(dataset=f"folder:{tmp_path / 'data'}"))
    assert splits.classes == list(CLASSES)  # not ["train", "val"]
    assert len(splits.train[0]) == 12 and len(splits.val[0]) == 6
    assert all("/val/" in f for f in splits.val[0])


def test_no_validation_and_a_validation_folder(tmp_path):
    root = _write_folder(tmp_path / "data", per_class=3)
    none = folder_splits(TrainConfig.create(dataset=f"folder:{root}",
                                            val_split=None))
    assert none.val is None and len(none.train[0]) == 9
    val = _write_folder(tmp_path / "val", per_class=2)
    given = folder_splits(TrainConfig.create(dataset=f"folder:{root}",
                                             val_split=str(val)))
    assert len(given.train[0]) == 9 and len(given.val[0]) == 6


def test_one_image_per_class_says_what_to_do(tmp_path):
    root = _write_folder(tmp_path / "data", per_class=1)
    with pytest.raises(ValueError, match="--val-split none"):
        folder_splits(TrainConfig.create(dataset=f"folder:{root}"))


# -- the config a command line gives -----------------------------------------


def test_a_folder_gets_the_folder_defaults(tmp_path):
    cfg = _config(["--dataset", "folder:/data/x"])
    for key, value in FOLDER_DEFAULTS.items():
        assert getattr(cfg, key) == value
    assert cfg.val_split == "heldout"
    # What the user types wins.
    cfg = _config(["--dataset", "folder:/data/x", "--lr", "0.2",
                   "--set", "batch_size=8"])
    assert (cfg.learning_rate, cfg.batch_size) == (0.2, 8)
    assert cfg.epochs == FOLDER_DEFAULTS["epochs"]


def test_a_fine_tune_gets_a_lower_learning_rate():
    cfg = _config(["--weights", "w.weights.h5"])
    assert cfg.learning_rate == FINETUNE_DEFAULTS["learning_rate"] < 0.1
    assert _config(["--pretrained"]).learning_rate == (
        FINETUNE_DEFAULTS["learning_rate"])
    assert _config([]).learning_rate == TrainConfig().learning_rate == 0.1
    # A recipe is the paper's exact settings: kept as it is.
    cfg = _config(["--recipe", "resnet18_cmod.cifar10", "--dataset",
                   "folder:/data/x", "--val-split", "none"])
    assert (cfg.learning_rate, cfg.batch_size) == (0.1, 256)


def test_set_val_split_null_is_accepted():
    cfg = _config(["--dataset", "folder:/data/x", "--set", "val_split=null"])
    assert cfg.val_split is None
    cfg = _config(["--recipe", "resnet18_cmod.cifar10", "--dataset",
                   "folder:/data/x", "--set", "val_split=null"])
    assert cfg.val_split is None


@pytest.mark.parametrize("extra,needle", [
    (["--batch-size", "0"], "batch_size=0"),
    (["--batch-size", "0", "--val-split", "val"], "batch_size=0"),
    (["--model", "resnet18.cifr10"], "Unknown tag 'cifr10'"),
    (["--epochs", "0"], "epochs=0"),
])
def test_a_bad_flag_is_named_first(extra, needle, tmp_path, capsys):
    root = _write_folder(tmp_path / "data", per_class=2)
    argv = ["train", "--model", "resnet18.cifar10", "--dataset",
            f"folder:{root}", "--output", str(tmp_path / "run"), *extra]
    assert train_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "val_split" not in err, err
    assert not (tmp_path / "run").exists()


def test_a_missing_folder_is_named(tmp_path, capsys):
    argv = ["train", "--model", "resnet18.cifar10", "--dataset",
            f"folder:{tmp_path / 'nope'}", "--output", str(tmp_path / "run")]
    assert train_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nope") in err and "val_split" not in err


# -- a fine-tune that converges ----------------------------------------------


@pytest.mark.slow
def test_a_folder_fine_tune_reduces_the_loss(tmp_path, capsys):
    from keras_cmod import zoo
    from keras_cmod.hub.model_card import generate_model_card

    root = _write_folder(tmp_path / "data", per_class=16)
    zoo.create_model("resnet18.cifar10").save_weights(
        tmp_path / "base.weights.h5")
    run = tmp_path / "run"
    argv = ["train", "--model", "resnet18.cifar10", "--weights",
            str(tmp_path / "base.weights.h5"), "--dataset", f"folder:{root}",
            "--epochs", "4", "--batch-size", "8", "--output", str(run)]
    assert train_cli.main(argv) == 0, capsys.readouterr().err
    history = json.loads((run / "metrics.json").read_text())["history"]
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["learning_rate"] == FINETUNE_DEFAULTS["learning_rate"]
    info = json.loads((run / "run.json").read_text())
    assert info["val_examples"] == 6 and info["train_examples"] == 42
    losses = [row["loss"] for row in history]
    val_losses = [row["val_loss"] for row in history]
    assert all(np.isfinite(losses + val_losses)), history
    assert losses[-1] < 0.5 * losses[0], losses
    assert val_losses[-1] < 1.0 and val_losses[-1] < val_losses[0], \
        val_losses
    assert history[-1]["val_accuracy"] > 0.5

    # The run's model card says what the weights are.
    cfg = json.loads((run / "pretrained_cfg.json").read_text())
    card = generate_model_card(cfg)
    assert ("Fine-tuned from a local file (`base.weights.h5`) on a local "
            "image folder of 3 classes: cat, dog, fox.") in card
    assert "datasets:" not in card and str(root) not in card
