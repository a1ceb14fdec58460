import warnings

import numpy as np
import pytest

from keras_cmod import zoo
from keras_cmod.zoo import registry

VARIANTS = ["", "_twin", "_cmod", "_blurpool", "_blurpool_twin",
            "_blurpool_cmod"]
ZOU = ["_ablurpool", "_ablurpool_twin", "_ablurpool_cmod"]


def test_every_paper_name_is_registered():
    names = set(zoo.list_models())
    for v in VARIANTS:
        assert f"alexnet{v}" in names
        for d in (18, 34, 50, 101):
            assert f"resnet{d}{v}" in names
    for v in ZOU:
        assert f"alexnet{v}" not in names
        for d in (18, 34, 50, 101):
            assert f"resnet{d}{v}" in names
    assert len(names) == 6 + 4 * 9


def test_list_models_filters_and_natural_sort():
    assert zoo.list_models("resnet*_cmod") == [
        "resnet18_ablurpool_cmod", "resnet18_blurpool_cmod", "resnet18_cmod",
        "resnet34_ablurpool_cmod", "resnet34_blurpool_cmod", "resnet34_cmod",
        "resnet50_ablurpool_cmod", "resnet50_blurpool_cmod", "resnet50_cmod",
        "resnet101_ablurpool_cmod", "resnet101_blurpool_cmod",
        "resnet101_cmod"]
    assert "alexnet_cmod" not in zoo.list_models(
        "*cmod", exclude_filters="alexnet*")
    tagged = zoo.list_models("resnet18_cmod*", include_tags=True)
    assert tagged == ["resnet18_cmod.cifar10", "resnet18_cmod.in1k"]
    assert zoo.list_models(pretrained=True) == []  # nothing published yet


def test_is_model():
    assert zoo.is_model("resnet34_cmod")
    assert zoo.is_model("resnet34_cmod.in1k")
    assert not zoo.is_model("resnet34_cmod.in22k")
    assert not zoo.is_model("vgg16")
    assert not zoo.is_model("")


def test_pretrained_cfg_fields():
    cfg = zoo.get_pretrained_cfg("resnet34_cmod")
    assert cfg.name == "resnet34_cmod.in1k"
    d = cfg.to_dict()
    assert d["input_size"] == [224, 224, 3]
    assert d["mean"] == [0.485, 0.456, 0.406]
    assert d["num_classes"] == 1000 and d["crop_pct"] == 0.875
    assert d["hf_hub_id"] is None and d["revision"] is None
    c = zoo.get_pretrained_cfg("resnet18_cmod.cifar10")
    assert c.num_classes == 10 and c.input_size == (32, 32, 3)
    assert c.label_names[0] == "airplane"


def test_unknown_names_suggest_close_matches():
    with pytest.raises(ValueError, match="resnet34_cmod"):
        zoo.create_model("resnet34_cmd")
    with pytest.raises(ValueError, match="Registered tags"):
        zoo.create_model("resnet34_cmod.in22k")


def test_load_without_published_weights_explains():
    with pytest.raises(ValueError, match="No pretrained weights") as err:
        zoo.load("resnet18_cmod")
    msg = str(err.value)
    assert "keras-cmod train" in msg and "weights=" in msg
    assert "keras-cmod convert" in msg


def test_load_pretrained_false_builds_fresh():
    model = zoo.load("resnet18_cmod.cifar10", pretrained=False)
    assert model.output_shape == (None, 10)
    assert model.pretrained_cfg["name"] == "resnet18_cmod.cifar10"


@pytest.fixture(scope="module")
def trained_files(tmp_path_factory):
    """A cifar10-tagged model with non-default weights, saved two ways."""
    model = zoo.create_model("resnet18_cmod.cifar10")
    rng = np.random.default_rng(0)
    for w in model.trainable_weights:
        w.assign(np.asarray(w) + rng.normal(0, 0.01, w.shape).astype("f4"))
    d = tmp_path_factory.mktemp("weights")
    model.save_weights(str(d / "m.weights.h5"))
    model.save(str(d / "m.keras"))
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    return d, model, x


@pytest.mark.parametrize("fname", ["m.weights.h5", "m.keras"])
def test_load_local_weights(trained_files, fname):
    d, model, x = trained_files
    loaded = zoo.load("resnet18_cmod.cifar10", weights=str(d / fname))
    np.testing.assert_allclose(loaded(x, training=False),
                               model(x, training=False), rtol=1e-5,
                               atol=1e-5)


def test_new_head_keeps_backbone(trained_files):
    d, model, x = trained_files
    tuned = zoo.load("resnet18_cmod.cifar10", weights=str(d / "m.keras"),
                     num_classes=3)
    assert tuned.output_shape == (None, 3)
    assert tuned.get_layer("predictions").name == "predictions"
    for name in ("stem", "layer4_1_conv2"):
        for a, b in zip(tuned.get_layer(name).weights,
                        model.get_layer(name).weights):
            np.testing.assert_array_equal(a, b)
    headless = zoo.load("resnet18_cmod.cifar10", weights=str(d / "m.keras"),
                        include_top=False, pooling="avg")
    assert headless.output_shape == (None, 512)


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No weights"):
        zoo.load("resnet18", weights=str(tmp_path / "nope.weights.h5"))


def test_weights_of_another_architecture(trained_files):
    d, _, _ = trained_files
    with pytest.raises(ValueError):
        zoo.load("resnet18.cifar10", weights=str(d / "m.keras"))


def test_features_only():
    feat = zoo.create_model("resnet18_cmod", features_only=True,
                            input_shape=(64, 64, 3))
    shapes = [tuple(o.shape[1:]) for o in feat.outputs]
    assert shapes == [(16, 16, 64), (16, 16, 64), (8, 8, 128), (4, 4, 256),
                      (2, 2, 512)]
    last = zoo.create_model("resnet18", features_only=True,
                            out_indices=(-1, 1), input_shape=(64, 64, 3))
    assert feat.feature_names[0] == "stem"
    assert [tuple(o.shape[1:]) for o in last.outputs] == [(2, 2, 512),
                                                          (16, 16, 64)]
    with pytest.raises(ValueError, match="out_indices"):
        zoo.create_model("resnet18", features_only=True, out_indices=(5,),
                         input_shape=(64, 64, 3))
    alex = zoo.create_model("alexnet_cmod", features_only=True,
                            input_shape=(224, 224, 3))
    assert [o.shape[-1] for o in alex.outputs] == [64, 192, 256, 256]


def test_registering_twice_warns():
    cfg = zoo.get_pretrained_cfg("resnet18.in1k")
    with pytest.warns(UserWarning, match="Overwriting"):
        registry.register(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert zoo.get_pretrained_cfg("resnet18.in1k") is cfg


@pytest.mark.parametrize("kwargs,match", [
    ({"num_classes": 0}, "num_classes"),
    ({"pooling": "foo", "include_top": False}, "pooling"),
    ({"input_shape": (8, 8, 3)}, "at least"),
])
def test_bad_kwargs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.create_model("resnet18_cmod", **kwargs)
