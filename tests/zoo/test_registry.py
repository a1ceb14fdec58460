import warnings

import numpy as np
import pytest
from sweep import rejects

from keras_cmod import hub, zoo
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
                            input_shape=(64, 64, 3))
    assert [o.shape[-1] for o in alex.outputs] == [64, 192, 256, 256]


def test_registering_twice_warns():
    cfg = zoo.get_pretrained_cfg("resnet18.in1k")
    with pytest.warns(UserWarning, match="Overwriting"):
        registry.register(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert zoo.get_pretrained_cfg("resnet18.in1k") is cfg


# -- bad inputs to the zoo and the Hub: one clear error (the exception type,
# words of its message: the bad value or what is allowed), nothing left in
# the folder the call was pointed at.

NAME = "resnet18_cmod.cifar10"
# No request may be made: every bad input is refused before.
DEAD = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A 4-class 32x32 model folder, its weights, and broken copies."""
    root = tmp_path_factory.mktemp("assets")
    model = zoo.create_model(NAME, num_classes=4)
    good = hub.save_pretrained(model, root / "good")
    weights = good / "model.weights.h5"
    data = weights.read_bytes()
    (root / "truncated.weights.h5").write_bytes(data[: len(data) // 3])
    (root / "text.weights.h5").write_text("not hdf5")
    (root / "weights.npz").write_bytes(b"x")
    for name, text in (("corrupt", "{not json"), ("train", '{"epochs": 1}'),
                       ("other", '{"class_name": "Sequential", "config": {},'
                                 ' "registered_name": "Sequential"}')):
        d = root / name
        d.mkdir()
        (d / "config.json").write_text(text)
        (d / "model.weights.h5").write_bytes(data)
    (root / "noweights").mkdir()
    (root / "noweights" / "config.json").write_bytes(
        (good / "config.json").read_bytes())
    trunc = root / "truncated_folder"
    trunc.mkdir()
    for name in ("config.json", "metadata.json"):
        (trunc / name).write_bytes((good / name).read_bytes())
    (trunc / "model.weights.h5").write_bytes(data[: len(data) // 3])
    r34 = zoo.create_model("resnet34_cmod.cifar10")
    r34.save_weights(root / "r34.weights.h5")
    return {"root": root, "good": good, "weights": weights, "model": model}


def _img(dtype="uint8", shape=(1, 32, 32, 3), value=0):
    return np.full(shape, value, dtype)


CASES = [
    # list_models / get_pretrained_cfg / names
    ("list_filter_int", lambda a: zoo.list_models(123), TypeError,
     ["filter", "123"]),
    ("list_exclude_int", lambda a: zoo.list_models(exclude_filters=[1]),
     TypeError, ["exclude_filters"]),
    ("list_pretrained_str", lambda a: zoo.list_models(pretrained="yes"),
     TypeError, ["pretrained", "yes"]),
    ("cfg_int", lambda a: zoo.get_pretrained_cfg(5), TypeError, ["str"]),
    ("cfg_empty", lambda a: zoo.get_pretrained_cfg(""), ValueError,
     ["non-empty"]),
    ("cfg_typo", lambda a: zoo.get_pretrained_cfg("resnt34_cmod"),
     ValueError, ["resnt34_cmod", "did you mean", "resnet34_cmod"]),
    ("cfg_bad_tag", lambda a: zoo.get_pretrained_cfg("resnet18_cmod.mnist"),
     ValueError, ["mnist", "cifar10"]),
    ("kwargs_check", lambda a: zoo.check_model_kwargs(NAME, {"blur_sze": 5}),
     TypeError, ["blur_sze", "blur_size"]),
    ("kwargs_check_value_error", lambda a: zoo.check_model_kwargs(
        NAME, {"blur_sze": 5}), ValueError, ["blur_sze"]),
    ("kwargs_check_not_dict", lambda a: zoo.check_model_kwargs(NAME, [1]),
     TypeError, ["dict"]),
    ("create_typo_value_error", lambda a: zoo.create_model(NAME, blur_sze=5),
     ValueError, ["blur_sze"]),
    # create_model
    ("create_typo_kwarg", lambda a: zoo.create_model(NAME, blur_sze=5),
     TypeError, ["blur_sze", "blur_size"]),
    ("create_alexnet_kwarg", lambda a: zoo.create_model("alexnet",
                                                        depth=18),
     TypeError, ["depth", "dropout"]),
    ("create_include_top_str", lambda a: zoo.create_model(
        NAME, include_top="no"), TypeError, ["include_top", "no"]),
    ("create_num_classes_0", lambda a: zoo.create_model(NAME, num_classes=0),
     ValueError, ["num_classes", "0"]),
    ("create_num_classes_float", lambda a: zoo.create_model(
        NAME, num_classes=2.5), ValueError, ["num_classes", "2.5"]),
    ("create_num_classes_bool", lambda a: zoo.create_model(
        NAME, num_classes=True), ValueError, ["num_classes", "True"]),
    ("create_pooling", lambda a: zoo.create_model(
        NAME, include_top=False, pooling="mean"), ValueError,
     ["pooling", "mean"]),
    ("create_shape_2d", lambda a: zoo.create_model(NAME,
                                                   input_shape=(32, 32)),
     ValueError, ["input_shape", "(32, 32)"]),
    ("create_shape_gray", lambda a: zoo.create_model(
        NAME, input_shape=(32, 32, 1)), ValueError, ["input_shape", "3"]),
    ("create_shape_small", lambda a: zoo.create_model(
        NAME, input_shape=(16, 16, 3)), ValueError, ["at least 32"]),
    ("create_shape_str", lambda a: zoo.create_model(NAME,
                                                    input_shape="32x32"),
     ValueError, ["input_shape", "32x32"]),
    ("create_shape_float", lambda a: zoo.create_model(
        NAME, input_shape=(32.5, 32, 3)), ValueError, ["input_shape"]),
    ("create_stem", lambda a: zoo.create_model(NAME, stem="gabor"),
     ValueError, ["stem", "gabor"]),
    ("create_features_only", lambda a: zoo.create_model(
        NAME, features_only="yes"), TypeError, ["features_only"]),
    ("create_out_indices", lambda a: zoo.create_model(
        NAME, features_only=True, out_indices=(9,)), ValueError,
     ["out_indices", "9"]),
    ("create_pretrained_cfg", lambda a: zoo.create_model(
        NAME, pretrained_cfg="x"), TypeError, ["pretrained_cfg"]),
    ("create_no_weights", lambda a: zoo.create_model(NAME, pretrained=True),
     ValueError, ["no pretrained weights", "--model resnet18_cmod.cifar10",
                  "create_model('resnet18_cmod.cifar10')"]),
    # load with local weights
    ("load_missing", lambda a: zoo.load(NAME, weights=a["root"] / "nope.h5"),
     FileNotFoundError, ["No weights", "nope.h5"]),
    ("load_truncated", lambda a: zoo.load(
        NAME, weights=a["root"] / "truncated.weights.h5"), ValueError,
     ["truncated.weights.h5", "truncated"]),
    ("load_text_h5", lambda a: zoo.load(
        NAME, weights=a["root"] / "text.weights.h5"), ValueError,
     ["text.weights.h5"]),
    ("load_npz", lambda a: zoo.load(NAME, weights=a["root"] / "weights.npz"),
     ValueError, ["weights.npz", ".weights.h5"]),
    ("load_other_depth", lambda a: zoo.load(
        NAME, weights=a["root"] / "r34.weights.h5"), ValueError,
     ["r34.weights.h5", "layer", "shape"]),
    ("load_corrupt_config", lambda a: zoo.load(f"local-dir:{a['root']}"
                                               "/corrupt"), ValueError,
     ["corrupt", "config.json", "not valid json"]),
    ("load_train_config", lambda a: zoo.load(f"local-dir:{a['root']}/train"),
     ValueError, ["config.json", "not the config of a keras-cmod model"]),
    ("load_other_model", lambda a: zoo.load(f"local:{a['root']}/other"),
     ValueError, ["other", "from_pretrained"]),
    ("load_no_weights_dir", lambda a: zoo.load(
        f"local-dir:{a['root']}/noweights"), FileNotFoundError,
     ["noweights", "model.weights.h5"]),
    ("load_missing_dir", lambda a: zoo.load(f"local-dir:{a['root']}/absent"),
     FileNotFoundError, ["absent"]),
    ("load_source_and_weights", lambda a: zoo.load(
        f"local-dir:{a['good']}", weights=a["weights"]), ValueError,
     ["weights", "one of them"]),
    ("load_weights_dir_other_arch", lambda a: zoo.load(
        "resnet18_blurpool_cmod.cifar10", weights=a["good"]), ValueError,
     ["antialias"]),
    ("load_bad_repo", lambda a: zoo.load("hf-hub:bad repo/x"), ValueError,
     ["bad repo/x"]),
    ("load_scheme", lambda a: zoo.load("s3://bucket/model"), ValueError,
     ["s3://bucket/model"]),
    ("load_empty_rev", lambda a: zoo.load("hf-hub:org/name@"), ValueError,
     ["empty revision"]),
    # preprocess_input
    ("pre_int64", lambda a: zoo.preprocess_input(_img("int64"), NAME),
     TypeError, ["uint8", "int64"]),
    ("pre_float_255", lambda a: zoo.preprocess_input(
        _img("float32", value=255.0), NAME), ValueError, ["[0, 1]", "255"]),
    ("pre_nan", lambda a: zoo.preprocess_input(
        _img("float32", value=np.nan), NAME), ValueError, ["[0, 1]"]),
    ("pre_gray", lambda a: zoo.preprocess_input(
        _img(shape=(1, 32, 32, 1)), NAME), ValueError, ["3 channels"]),
    ("pre_model_type", lambda a: zoo.preprocess_input(_img(), 3),
     TypeError, ["model_or_name"]),
    ("pre_name", lambda a: zoo.preprocess_input(_img(), "resnet18_cmd"),
     ValueError, ["resnet18_cmd"]),
    # hub
    ("save_over_file", lambda a: hub.save_pretrained(
        a["model"], a["weights"]), FileExistsError, ["model.weights.h5"]),
    ("save_bad_repo_id", lambda a: hub.save_pretrained(
        a["model"], a["root"] / "x", repo_id="no"), ValueError, ["'no'"]),
    ("from_corrupt_config", lambda a: hub.from_pretrained(
        a["root"] / "corrupt"), ValueError, ["config.json", "json"]),
    ("from_train_config", lambda a: hub.from_pretrained(
        a["root"] / "train"), ValueError, ["config.json",
                                           "not a keras model config"]),
    ("from_missing", lambda a: hub.from_pretrained(
        f"local-dir:{a['root']}/absent"), FileNotFoundError, ["absent"]),
    ("from_bad_source", lambda a: hub.from_pretrained(42), ValueError,
     ["42"]),
    ("push_bad_repo", lambda a: hub.push_to_hub(
        a["model"], "org/na me", endpoint=DEAD), ValueError, ["org/na me"]),
    ("push_train_folder", lambda a: hub.push_to_hub(
        a["root"] / "train", "org/x", endpoint=DEAD, token="t"), ValueError,
     ["config.json", "not a keras model config"]),
    ("push_not_a_folder", lambda a: hub.push_to_hub(
        a["root"] / "absent", "org/x", endpoint=DEAD, token="t"),
     FileNotFoundError, ["absent"]),
    ("push_truncated", lambda a: hub.push_to_hub(
        a["root"] / "truncated_folder", "org/x", endpoint=DEAD, token="t"),
     ValueError, ["does not load", "refusing"]),
]


@pytest.mark.parametrize("fn,exc,needles", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input(fn, exc, needles, assets, no_real_hub):
    rejects(lambda: fn(assets), exc, *needles, directory=assets["root"])


def test_sweep_is_large_enough():
    assert len(CASES) >= 40
