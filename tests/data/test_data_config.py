"""resolve_data_config: timm-style resolution of the preprocessing constants."""

import dataclasses

import pytest

from keras_cmod.data import IMAGENET_DEFAULT_CFG, resolve_data_config

CIFAR_CFG = {
    "input_size": (32, 32, 3),
    "crop_pct": 0.875,
    "interpolation": "bilinear",
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "num_classes": 10,
}


def test_defaults_are_the_imagenet_cfg():
    cfg = resolve_data_config()
    assert cfg == dict(IMAGENET_DEFAULT_CFG)
    assert cfg["input_size"] == (224, 224, 3)
    assert cfg["num_classes"] == 1000


def test_preset_dict_is_used_and_copied():
    preset = dict(CIFAR_CFG, license="apache-2.0", hf_hub_id="x/y")
    cfg = resolve_data_config(preset)
    assert cfg == CIFAR_CFG  # extra keys dropped
    cfg["input_size"] = (1, 1, 1)
    assert preset["input_size"] == (32, 32, 3)


def test_partial_preset_falls_back_to_defaults():
    cfg = resolve_data_config({"input_size": (64, 48, 3), "mean": 0.5})
    assert cfg["input_size"] == (64, 48, 3)
    assert cfg["mean"] == (0.5, 0.5, 0.5)
    assert cfg["std"] == IMAGENET_DEFAULT_CFG["std"]
    assert cfg["crop_pct"] == 0.875
    # A preset that does not say how many classes leaves it unknown.
    assert cfg["num_classes"] is None


def test_to_dict_object_and_dataclass():
    class Cfg:
        def to_dict(self):
            return {"input_size": (32, 32, 3), "interpolation": "bicubic"}

    @dataclasses.dataclass(frozen=True)
    class Preset:
        input_size: tuple = (48, 48, 3)
        crop_pct: float = 0.9

    assert resolve_data_config(Cfg())["interpolation"] == "bicubic"
    cfg = resolve_data_config(Preset())
    assert cfg["input_size"] == (48, 48, 3)
    assert cfg["crop_pct"] == 0.9


def test_model_pretrained_cfg_and_input_shape():
    class WithCfg:
        pretrained_cfg = {"input_size": (32, 32, 3), "num_classes": 10}

    class WithShape:
        pretrained_cfg = None
        input_shape = (None, 40, 56, 3)

    assert resolve_data_config(model=WithCfg())["input_size"] == (32, 32, 3)
    assert resolve_data_config(model=WithShape())["input_size"] == (40, 56, 3)
    # pretrained_cfg wins over the model, overrides win over both.
    cfg = resolve_data_config(
        {"input_size": (64, 64, 3)}, model=WithCfg(), crop_pct=1.0
    )
    assert cfg["input_size"] == (64, 64, 3)
    assert cfg["crop_pct"] == 1.0
    assert cfg["num_classes"] == 10


def test_overrides_and_img_size():
    cfg = resolve_data_config(CIFAR_CFG, img_size=36, std=0.5)
    assert cfg["input_size"] == (36, 36, 3)
    assert cfg["std"] == (0.5, 0.5, 0.5)
    cfg = resolve_data_config(img_size=(20, 30))
    assert cfg["input_size"] == (20, 30, 3)
    cfg = resolve_data_config(input_size=(28, 28), mean=(0.5,), std=(0.5,))
    assert cfg["input_size"] == (28, 28, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"interpolation": "random"}, "interpolation='random'"),
        ({"input_size": (3, 224, 224)}, "channels-last"),
        ({"input_size": (224, 0, 3)}, "input_size"),
        ({"std": (0.2, 0.0, 0.2)}, "std"),
        ({"mean": (0.1, 0.2)}, "one value per channel"),
        ({"crop_pct": 0.0}, "crop_pct=0.0"),
        ({"crop_pct": 1.5}, "crop_pct=1.5"),
        ({"num_classes": 0}, "num_classes=0"),
        ({"img_size": (1, 2, 3)}, "img_size"),
    ],
)
def test_invalid_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resolve_data_config(**kwargs)


def test_unknown_override_and_bad_types():
    with pytest.raises(TypeError, match="crop_percent"):
        resolve_data_config(crop_percent=0.9)
    with pytest.raises(TypeError, match="pretrained_cfg"):
        resolve_data_config([("input_size", (32, 32, 3))])
