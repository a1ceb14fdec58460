"""A model card says what its weights are, not what the tag was made for."""

import huggingface_hub
import pytest

from keras_cmod import zoo
from keras_cmod.hub.model_card import generate_model_card, weights_provenance

BASE = {"architecture": "resnet18_cmod", "tag": "cifar10",
        "num_classes": 10, "dataset": "cifar10"}


def _card(cfg, **kwargs):
    text = generate_model_card(cfg, **kwargs)
    return text, huggingface_hub.ModelCard(text).data


def test_an_untrained_model_claims_no_dataset():
    cfg = zoo.create_model("resnet18.cifar10").pretrained_cfg
    assert cfg["pretrained"] is False and cfg["dataset"] == "cifar10"
    text, data = _card(cfg)
    assert data.datasets is None
    assert "**Weights:** Random initialisation" in text
    assert "not been trained on any data set" in text
    # Evaluated anyway: the results are there, the training data is not.
    text, data = _card(cfg, metrics={"dataset": "cifar10", "top1": 10.0})
    assert data.datasets is None and data.eval_results


@pytest.mark.parametrize("cfg,sentence,datasets", [
    ({**BASE, "pretrained": True, "dataset": "cifar10",
      "trained_from": None},
     "Trained on CIFAR-10.", ["uoft-cs/cifar10"]),
    ({**BASE, "pretrained": True, "dataset": "folder:/home/me/secret",
      "num_classes": 2, "label_names": ["ants", "bees"],
      "trained_from": "/home/me/models/base.weights.h5"},
     "Fine-tuned from a local file (`base.weights.h5`) on a local image "
     "folder of 2 classes: ants, bees.", None),
    ({**BASE, "pretrained": True, "dataset": "folder:/data/x",
      "num_classes": 4, "trained_from": None},
     "Trained on a local image folder of 4 classes.", None),
    ({**BASE, "pretrained": True, "dataset": "cifar10",
      "trained_from": "published weights"},
     "Fine-tuned from the published weights of `resnet18_cmod.cifar10` "
     "on CIFAR-10.", ["uoft-cs/cifar10"]),
    ({**BASE, "pretrained": True, "dataset": "synthetic",
      "trained_from": None},
     "Trained on synthetic random images", None),
    ({**BASE, "pretrained": True, "weights": "hf-hub:org/r18c"},
     "Weights loaded from `hf-hub:org/r18c`, trained on CIFAR-10.",
     ["uoft-cs/cifar10"]),
])
def test_trained_weights_name_their_data(cfg, sentence, datasets):
    text, data = _card(cfg)
    assert f"**Weights:** {sentence}" in text
    assert data.datasets == datasets
    assert "/home/me" not in text and "secret" not in text


def test_a_hand_written_config_keeps_its_tag():
    # No `pretrained` key: the tag is taken at its word (and no sentence).
    assert weights_provenance({"tag": "imagenet"}) == (
        None, ["ILSVRC/imagenet-1k"])
    _, data = _card({"architecture": "x", "tag": "cifar10"})
    assert data.datasets == ["uoft-cs/cifar10"]


def test_a_folder_evaluation_does_not_leak_its_path():
    cfg = {**BASE, "pretrained": True, "dataset": "folder:/srv/private/x",
           "num_classes": 2, "trained_from": None}
    text, data = _card(cfg, metrics={"top1": 90.0})
    assert "/srv/private" not in text
    (row,) = data.eval_results
    assert row.dataset_name == "local image folder"
