"""The model's pretrained_cfg is the truth about the model built."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_cmod import models, zoo
from keras_cmod.zoo import registry

NAME = "resnet18_cmod.cifar10"


@pytest.mark.parametrize("kwargs,classes,size,labels", [
    ({}, 10, [32, 32, 3], True),
    ({"num_classes": 4, "input_shape": (64, 64, 3)}, 4, [64, 64, 3], False),
    ({"include_top": False, "pooling": "avg"}, 0, [32, 32, 3], False),
])
def test_cfg_follows_the_build(kwargs, classes, size, labels):
    model = zoo.create_model(NAME, **kwargs)
    cfg = model.pretrained_cfg
    assert cfg["num_classes"] == classes
    assert cfg["input_size"] == size
    assert (cfg["label_names"] is not None) == labels
    assert cfg["dataset"] == ("cifar10" if labels else None)
    assert cfg["tag"] == "cifar10" and cfg["weights"] is None
    assert cfg["model_kwargs"] == {"depth": 18, "stem": "cmod",
                                   "antialias": "none"}


@pytest.mark.parametrize("kwargs,said", [
    ({}, None),
    ({"num_classes": 4, "input_shape": (64, 64, 3)},
     f"Built from {NAME} with 4 classes, input size 64x64."),
    ({"include_top": False, "pooling": "avg"},
     f"Built from {NAME} with no classifier, input size 32x32."),
])
def test_description_does_not_claim_the_entry_data(kwargs, said):
    text = zoo.create_model(NAME, **kwargs).pretrained_cfg["description"]
    if said is None:
        assert "Built from" not in text
    else:
        assert text.endswith(said) and text.count("Built from") == 1


def test_dynamic_size_keeps_the_tag_size():
    cfg = zoo.create_model(NAME, input_shape=(None, None, 3)).pretrained_cfg
    assert cfg["input_size"] == [32, 32, 3]
    assert cfg["fixed_input_size"] is False


def test_keras_round_trip_keeps_cfg(tmp_path):
    model = zoo.create_model(NAME, num_classes=3)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.pretrained_cfg == model.pretrained_cfg


@pytest.mark.slow
def test_other_head_loads_backbone(tmp_path):
    model = zoo.create_model(NAME, num_classes=4)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    same = zoo.load(NAME, weights=path)  # class count read from the file
    assert same.num_classes == 4
    x = np.random.default_rng(0).random((2, 32, 32, 3), "float32")
    np.testing.assert_allclose(same.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)
    other = zoo.load(NAME, weights=path, num_classes=7)
    assert other.output_shape == (None, 7)
    assert other.pretrained_cfg["num_classes"] == 7
    for a, b in zip(other.get_layer("stem").get_weights(),
                    model.get_layer("stem").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_family_args_table_matches_the_models():
    assert registry.FAMILY_ARGS["resnet"] == models.resnet.CONSTRUCTOR_ARGS
    assert registry.FAMILY_ARGS["alexnet"] == models.alexnet.CONSTRUCTOR_ARGS


def test_variant_aliases_map_to_one_vocabulary():
    model = models.ResNet(18, stem="rmax", antialias="ablurpool",
                          num_classes=2, input_shape=(32, 32, 3))
    assert (model.stem, model.antialias) == ("twin", "adaptive_blurpool")
    assert zoo.get_pretrained_cfg("resnet18_rmax").architecture == (
        "resnet18_twin")
    for suffix, (arg, value) in zoo.VARIANTS.items():
        arch = "resnet18" + suffix
        assert zoo.get_pretrained_cfg(arch).model_kwargs[arg] == value


def test_preprocess_input_uint8_and_float_agree():
    img = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), "uint8")
    a = zoo.preprocess_input(img, NAME)
    b = zoo.preprocess_input(img / 255.0, zoo.create_model(NAME))
    np.testing.assert_allclose(a, b, atol=1e-6)
    cfg = zoo.get_pretrained_cfg(NAME)
    np.testing.assert_allclose(
        a[0, 0, 0], (img[0, 0, 0] / 255.0 - cfg.mean) / cfg.std, atol=1e-6)


@pytest.mark.slow
def test_list_command_path_imports_no_tensorflow():
    # The package __init__ is bypassed so that this checks the zoo's own
    # modules: the registry, the presets and the `list` command.
    code = textwrap.dedent("""
        import argparse, importlib.util, pathlib, sys, types
        spec = importlib.util.find_spec("keras_cmod")
        pkg = types.ModuleType("keras_cmod")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["keras_cmod"] = pkg
        from keras_cmod.zoo import cli
        parser = argparse.ArgumentParser()
        cli.register(parser.add_subparsers())
        args = parser.parse_args(["list", "resnet18_cmod*", "--tags"])
        assert args.func(args) == 0
        heavy = [m for m in ("tensorflow", "keras") if m in sys.modules]
        assert not heavy, heavy
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "resnet18_cmod.cifar10" in proc.stdout.split()


def test_old_run_folders_keep_their_training_config(tmp_path):
    import json

    from keras_cmod.training.trainer import _train_config_path

    assert _train_config_path(tmp_path).endswith("train_config.json")
    (tmp_path / "config.json").write_text(json.dumps({"model": NAME}))
    assert _train_config_path(tmp_path).endswith("/config.json")  # legacy
    (tmp_path / "config.json").write_text(
        json.dumps({"class_name": "ResNet", "config": {}}))
    assert _train_config_path(tmp_path).endswith("train_config.json")


@pytest.mark.parametrize("name", ["alexnet_cmod", "resnet18_ablurpool_twin"])
def test_classifier_group_of_the_weights_file(name):
    from keras_cmod.zoo import builder

    model = zoo.create_model(name, num_classes=3)
    family = zoo.get_pretrained_cfg(name).family
    assert builder._saved_paths(model)["predictions"] == (
        builder._PREDICTIONS_GROUP[family])
