"""The no-weights message gives the command-line and the Python forms, each
in its own syntax."""

import pytest

from keras_cmod import cli
from keras_cmod.evaluation.cli import flags_for_parameters

NAME = "resnet18_cmod.cifar10"
PYTHON = f"keras_cmod.zoo.load('{NAME}', weights='path/to/model.weights.h5')"


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_evaluate_without_published_weights(tmp_path, capsys):
    (tmp_path / "data" / "a").mkdir(parents=True)
    rc = cli.main(["evaluate", NAME, "--dataset",
                   f"folder:{tmp_path / 'data'}", "--output",
                   str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 2
    (line,) = [x for x in err.splitlines() if "error:" in x]
    assert PYTHON in line
    assert "`--weights path/to/model.weights.h5` on the command line" in line
    assert "--weights=" not in line and "--weights='" not in line


def test_train_pretrained_without_published_weights(tmp_path, capsys):
    rc = cli.main(["train", "--model", NAME, "--pretrained", "--dataset",
                   "synthetic", "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "`--weights PATH` on the command line" in err
    assert "TrainConfig(weights=PATH) in Python" in err


def test_flags_are_rewritten_outside_code_only():
    text = ("Received: num_images=0 and `batch_size`; or "
            "keras_cmod.zoo.load('x', weights='p', num_classes=(3)); "
            "`keras-cmod evaluate x --weights w` and weights=1")
    assert flags_for_parameters(text) == (
        "Received: --num-images=0 and --batch-size; or "
        "keras_cmod.zoo.load('x', weights='p', num_classes=(3)); "
        "`keras-cmod evaluate x --weights w` and --weights=1")
