"""Errors that must stop a run before any work (model building, training)."""

import os

import pytest
from training_models import tiny_model_fn

from keras_cmod.training import TrainConfig, cli, train
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


def test_output_directory_not_writable(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not writable"):
        train(tiny(), blocker / "run", model_fn=must_not_build)


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
