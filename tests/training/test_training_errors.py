"""Errors that must stop a run before any work (model building, training),
failed runs that leave nothing half written, and unreadable checkpoints
skipped by name."""

import json
import logging
import os

import numpy as np
import pytest
from sweep import rejects
from training_models import tiny_model_fn

from keras_cmod.training import TrainConfig, checkpoint, cli, train
from keras_cmod.training.strategy import per_replica_batch_size


def must_not_build(name, **kwargs):
    raise AssertionError("the model was built before the error")


def tiny(**changes):
    values = dict(model="tiny_plain", dataset="synthetic", input_size=[8, 8],
                  num_classes=4, epochs=1, steps_per_epoch=1, batch_size=4,
                  val_split=None)
    values.update(changes)
    return TrainConfig.from_dict(values)


def test_unknown_model(tmp_path):
    cfg = TrainConfig.from_dict(dict(model="resnet18_cmd.cifar10",
                                     dataset="synthetic"))
    with pytest.raises(ValueError, match="Unknown model name.*resnet18_cmod"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_unknown_dataset_on_the_command_line(tmp_path, capsys):
    rc = cli.main(["train", "--model", "resnet18.cifar10", "--dataset",
                   "cifar-10", "--output", str(tmp_path / "run")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Unknown dataset 'cifar-10'" in err and "'cifar10'" in err
    assert not (tmp_path / "run").exists()


def test_missing_imagenet_tars_say_where_to_put_them(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    cfg = tiny(dataset="imagenet2012", train_split="train_minus_heldout",
               val_split="heldout", data_dir=str(tmp_path / "tfds"),
               manual_dir=str(manual), input_size=None, num_classes=None)
    with pytest.raises(FileNotFoundError) as info:
        train(cfg, tmp_path / "run", model_fn=must_not_build)
    message = str(info.value)
    assert "ILSVRC2012_img_train.tar" in message
    assert str(manual) in message
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_missing_image_folder(tmp_path):
    cfg = tiny(dataset=f"folder:{tmp_path / 'nope'}")
    with pytest.raises(FileNotFoundError, match="nope"):
        train(cfg, tmp_path / "run", model_fn=must_not_build)


def test_batch_not_divisible_by_replicas():
    assert per_replica_batch_size(256, 8) == 32
    with pytest.raises(ValueError, match="not divisible by the 3 replicas"):
        per_replica_batch_size(256, 3)


def test_pretrained_without_published_weights(tmp_path):
    cfg = TrainConfig.from_dict(dict(model="resnet18.cifar10",
                                     dataset="synthetic", pretrained=True))
    with pytest.raises(ValueError, match="no weights are published"):
        train(cfg, tmp_path / "run")


def test_missing_weights_file(tmp_path):
    cfg = TrainConfig.from_dict(dict(
        model="resnet18.cifar10", dataset="synthetic",
        weights=str(tmp_path / "missing.weights.h5")))
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resuming_with_another_config_is_refused(tmp_path):
    out = tmp_path / "run"
    train(tiny(), out, model_fn=tiny_model_fn, verbose=0)
    with pytest.raises(ValueError, match=r"learning_rate: 0.1 -> 0.5"):
        train(tiny(learning_rate=0.5), out, model_fn=must_not_build)
    # Changes that do not alter the computation are allowed (more epochs).
    metrics = train(tiny(epochs=2), out, model_fn=tiny_model_fn, verbose=0)
    assert metrics["global_step"] == 2
    assert [r["epoch"] for r in metrics["history"]] == [1, 2]
    assert os.path.exists(out / "model.keras")


def test_dataset_smaller_than_one_step(tmp_path):
    cfg = tiny(steps_per_epoch=None, synthetic_train_size=3)
    with pytest.raises(ValueError, match="fewer than one optimizer step"):
        train(cfg, tmp_path / "run", model_fn=must_not_build)


# -- runs that fail: no output folder, no temp file -------------------------

BASE = dict(model="tiny_plain", dataset="synthetic", input_size=[8, 8],
            num_classes=4, epochs=1, steps_per_epoch=1, batch_size=4,
            val_split=None, synthetic_train_size=8)


def _run(cfg, out, model_fn=tiny_model_fn):
    return lambda: train(TrainConfig.from_dict(cfg), out, model_fn=model_fn,
                         verbose=0)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _folder(root, classes, n=2):
    from PIL import Image

    for cls in classes:
        os.makedirs(root / cls, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(root / cls /
                                                          f"{i}.png")
    return str(root)


def _run_cases():
    return {
        # Strategy: the TPU cannot be found -> no output folder.
        "tpu": (dict(strategy="tpu"), None, ValueError, ["tpu"]),
        # Weights that cannot be read, checked before anything is built.
        "weights_h5": (dict(model="resnet18.cifar10"),
                       ("w.weights.h5", b"\x89HDF\r\n\x1a\n trunc"),
                       ValueError, ["w.weights.h5", "truncated"]),
        "weights_keras": (dict(model="resnet18.cifar10"),
                          ("m.keras", b"PK\x03\x04broken"),
                          ValueError, ["m.keras", "zip"]),
        "weights_ext": (dict(model="resnet18.cifar10"),
                        ("w.bin", b"\x00" * 16),
                        ValueError, ["w.bin", ".weights.h5"]),
        # The model refuses its input size: raised by the builder, before
        # the output folder exists.
        "input_size": (dict(model="resnet18_cmod.cifar10",
                            input_size=[8, 8]),
                       None, ValueError, ["8"]),
        # Unknown model arguments: the builder refuses them before the
        # output folder exists.
        "model_kwargs": (dict(model_kwargs={"blur_sze": 5}), None,
                         TypeError, ["blur_sze"]),
        # The same through a registry model: checked against the
        # architecture's arguments before anything is built.
        "model_kwargs_registry": (dict(model="resnet18.cifar10",
                                       model_kwargs={"blur_sze": 5}),
                                  None, TypeError, ["blur_sze", "blur_size"]),
    }


RUNS = _run_cases()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_runs_that_fail_validation_leave_no_folder(name, tmp_path):
    changes, weights, exc, needles = RUNS[name]
    cfg = dict(BASE, **changes)
    model_fn = tiny_model_fn
    if weights is not None:
        cfg["weights"] = _write(tmp_path / weights[0], weights[1])
    if cfg["model"].startswith("resnet"):
        model_fn = None
    if name == "input_size":
        cfg["num_classes"] = 10
    out = tmp_path / "run"
    before = set(os.listdir(tmp_path))
    rejects(_run(cfg, out, model_fn), exc, *needles)
    assert not out.exists()
    assert set(os.listdir(tmp_path)) == before


def test_one_class_folder_is_rejected(tmp_path):
    root = _folder(tmp_path / "data", ["only"])
    cfg = dict(BASE, dataset=f"folder:{root}", num_classes=None)
    out = tmp_path / "run"
    rejects(_run(cfg, out), ValueError, root, "1 class", "at least 2")
    assert not out.exists()


def test_output_under_a_regular_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rejects(_run(dict(BASE), blocker / "run"), ValueError, str(blocker),
            "not a directory", directory=tmp_path)


def test_failed_final_save_leaves_no_temp_file(tmp_path, monkeypatch):
    import keras

    def broken_save(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    out = tmp_path / "run"
    rejects(_run(dict(BASE), out), OSError, "disk full")
    left = [n for n in os.listdir(out) if n.startswith(".tmp-")]
    assert not left, left


def test_failed_checkpoint_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("no space left")

    monkeypatch.setattr(checkpoint.np, "savez", broken_savez)
    out = tmp_path / "run"
    rejects(_run(dict(BASE), out), OSError, "no space left")
    folder = out / "checkpoints"
    left = [n for n in os.listdir(folder)] if folder.exists() else []
    assert not [n for n in left if ".tmp-" in n], left


def test_truncated_newest_checkpoint_falls_back(tmp_path, caplog):
    out = tmp_path / "run"
    cfg = dict(BASE, epochs=2)
    train(TrainConfig.from_dict(cfg), out, model_fn=tiny_model_fn,
          verbose=0)
    folder = out / "checkpoints"
    paths = checkpoint.list_checkpoints(str(folder))
    assert len(paths) == 2
    newest, previous = paths
    with open(newest, "r+b") as f:
        f.truncate(100)
    # Resume one more epoch: the newest file is skipped, by name.
    with caplog.at_level(logging.WARNING, logger="keras_cmod.training"):
        metrics = train(TrainConfig.from_dict(dict(cfg, epochs=3)), out,
                        model_fn=tiny_model_fn, verbose=0)
    assert os.path.basename(newest) in caplog.text
    with open(out / "run.json") as f:
        assert json.load(f)["resumed_from"] == previous
    assert metrics["global_step"] == 3  # epoch 2 redone, then epoch 3


def test_unreadable_checkpoint_error_names_the_file(tmp_path):
    path = _write(tmp_path / "ckpt-000000001.npz", b"PK\x03\x04junk")
    rejects(lambda: checkpoint.read_state(path),
            checkpoint.CorruptCheckpointError, path, "truncated",
            directory=tmp_path)


def test_checkpoint_files_get_umask_permissions(tmp_path):
    out = tmp_path / "run"
    train(TrainConfig.from_dict(dict(BASE)), out, model_fn=tiny_model_fn,
          verbose=0)
    umask = os.umask(0)
    os.umask(umask)
    for path in checkpoint.list_checkpoints(str(out / "checkpoints")):
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert np.isfinite(checkpoint.read_state(path)["global_step"])


@pytest.mark.parametrize("checkpoint_every", [0, 1])
def test_divergence_names_a_checkpoint_that_exists(checkpoint_every,
                                                   tmp_path):
    cfg = dict(BASE, learning_rate=1e30, steps_per_epoch=6,
               synthetic_train_size=24,
               checkpoint_every_steps=checkpoint_every)
    err = rejects(_run(cfg, tmp_path / "run"), FloatingPointError,
                  "Non-finite loss")
    message = str(err)
    if checkpoint_every:
        path = message.split("The last checkpoint is ")[1].rstrip(".")
        assert os.path.isfile(path), message
    else:
        assert "No checkpoint was written yet" in message


def test_image_damaged_inside_is_named_mid_run(tmp_path):
    import io

    from PIL import Image

    root = _folder(tmp_path / "data", ["a", "b"], n=2)
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(
        buf, "JPEG")
    # Cut short, with an end marker appended: the header and end-marker
    # check passes, decoding fails.
    bad = os.path.join(root, "b", "bad.jpg")
    _write(bad, buf.getvalue()[:400] + b"\xff\xd9")
    cfg = dict(BASE, dataset=f"folder:{root}", num_classes=None,
               steps_per_epoch=None, batch_size=5)
    rejects(_run(cfg, tmp_path / "run"), ValueError, bad, "decode error")
