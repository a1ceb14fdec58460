"""PyTorch names and layouts of every model variant (no PyTorch needed)."""

import numpy as np
import pytest
from convert_helpers import build, images, randomize, weights_of

from keras_cmod.convert import (
    load_torch_state_dict,
    model_entries,
    to_torch_state_dict,
)
from keras_cmod.convert.torch_names import (
    KINDS,
    keras_to_torch,
    torch_shape,
    torch_to_keras,
)
from keras_cmod.wavelets import qshift_filters

QMF = {"wpt._hfilters": (2, 10), "wpt._gfilters": (2, 10)}


def _twin_resnet_stem(prefix="conv1"):
    keys = {
        f"{prefix}.freeconv.weight": (40, 3, 7, 7),
        f"{prefix}.wptblock.colormix.weight": (1, 3, 1, 1),
        f"{prefix}.wptblock.featmapmix.0.weight": (12, 1, 1, 1, 1),
        f"{prefix}.wptblock.featmapmix.1.weight": (4, 1, 1, 1, 1),
        f"{prefix}.wptblock.featmapmix.2.weight": (2, 1, 1, 1, 1),
        f"{prefix}.wptblock.featmapmix.3.weight": (4, 1, 1, 1, 1),
        f"{prefix}.wptblock.featmapmix.4.weight": (2, 1, 1, 1, 1),
    }
    keys.update({f"{prefix}.wptblock.{k}": v for k, v in QMF.items()})
    return keys


def _twin_alexnet_stem(bias):
    keys = {
        "features.0.freeconv.weight": (32, 3, 11, 11),
        "features.0.freeconv.bias": (32,),
        "features.0.wptblock.colormix.weight": (1, 3, 1, 1),
        "features.0.wptblock.featmapmix.0.weight": (6, 1, 1, 1, 1),
        "features.0.wptblock.featmapmix.1.weight": (18, 4, 1, 1, 1),
        "features.0.wptblock.featmapmix.2.weight": (8, 16, 1, 1, 1),
    }
    keys.update({f"features.0.wptblock.{k}": v for k, v in QMF.items()})
    if bias:
        keys.update({
            "features.0.wptblock.featmapmix.0.bias": (6,),
            "features.0.wptblock.featmapmix.1.bias": (18,),
            "features.0.wptblock.featmapmix.2.bias": (8,),
        })
    return keys


def _bn(prefix, n):
    return {f"{prefix}.{k}": (n,)
            for k in ("weight", "bias", "running_mean", "running_var")}


# name -> (build kwargs, expected keys -> torch shapes, keys that must be
# absent). AlexNet variants without classifier keys skip the 37M-weight
# classifier (include_top=False) to stay fast.
CASES = {
    "resnet18": ({}, {
        "conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64),
        "layer1.0.conv1.weight": (64, 64, 3, 3),
        "layer1.1.bn2.running_var": (64,),
        "layer2.0.conv1.weight": (128, 64, 3, 3),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        **_bn("layer2.0.downsample.1", 128),
        "layer4.1.conv2.weight": (512, 512, 3, 3),
        "fc.weight": (5, 512), "fc.bias": (5,),
    }, ["layer1.0.downsample.0.weight", "maxpool.1.filt"]),
    "resnet50": ({}, {
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.conv2.weight": (64, 64, 3, 3),
        "layer1.0.conv3.weight": (256, 64, 1, 1),
        **_bn("layer1.0.bn3", 256),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer4.2.conv3.weight": (2048, 512, 1, 1),
        "fc.weight": (5, 2048),
    }, ["layer1.1.downsample.0.weight"]),
    "resnet50_blurpool": ({}, {
        "maxpool.1.filt": (64, 1, 3, 3),
        "layer1.0.conv3.weight": (256, 64, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        **_bn("layer1.0.downsample.1", 256),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer2.0.conv3.0.filt": (128, 1, 3, 3),
        "layer2.0.conv3.1.weight": (512, 128, 1, 1),
        "layer2.0.downsample.0.filt": (256, 1, 3, 3),
        "layer2.0.downsample.1.weight": (512, 256, 1, 1),
        **_bn("layer2.0.downsample.2", 512),
        "layer4.0.conv3.0.filt": (512, 1, 3, 3),
    }, ["layer2.0.conv3.weight", "layer2.0.downsample.0.weight"]),
    "resnet18_blurpool": ({}, {
        "maxpool.1.filt": (64, 1, 3, 3),
        "layer2.0.conv1.weight": (128, 64, 3, 3),
        "layer2.0.conv2.0.filt": (128, 1, 3, 3),
        "layer2.0.conv2.1.weight": (128, 128, 3, 3),
        "layer2.0.downsample.0.filt": (64, 1, 3, 3),
        "layer2.0.downsample.1.weight": (128, 64, 1, 1),
        "layer2.0.downsample.2.running_var": (128,),
    }, ["layer2.0.conv2.weight"]),
    "resnet18_ablurpool": ({}, {
        "maxpool.1.conv.weight": (72, 64, 3, 3),
        **_bn("maxpool.1.bn", 72),
        "layer2.0.conv2.0.conv.weight": (72, 128, 3, 3),
        **_bn("layer2.0.conv2.0.bn", 72),
        "layer2.0.conv2.1.weight": (128, 128, 3, 3),
        "layer2.0.downsample.0.conv.weight": (72, 64, 3, 3),
        "layer2.0.downsample.1.weight": (128, 64, 1, 1),
        "layer3.0.conv2.0.conv.weight": (72, 256, 3, 3),
    }, []),
    "resnet18_twin": ({}, {
        **_twin_resnet_stem(), **_bn("maxpool.0", 64),
        "layer1.0.conv1.weight": (64, 64, 3, 3),
    }, ["conv1.weight", "bn1.weight", "maxpool.low.0.weight"]),
    "resnet18_cmod": ({}, {
        **_twin_resnet_stem(), **_bn("maxpool.low.0", 40),
        "maxpool.high.2.weight": (24,), "maxpool.high.2.bias": (24,),
        "maxpool.high.2.running_var": (24,),
    }, ["bn1.weight", "maxpool.0.weight"]),
    "resnet18_blurpool_cmod": ({}, {
        **_twin_resnet_stem(), **_bn("maxpool.low.0", 40),
        "maxpool.low.3.filt": (40, 1, 3, 3),
        "maxpool.high.2.running_var": (24,),
        "layer2.0.conv2.0.filt": (128, 1, 3, 3),
    }, []),
    "resnet18_blurpool_twin": ({}, {
        **_twin_resnet_stem(), **_bn("maxpool.0", 64),
        "maxpool.3.filt": (64, 1, 3, 3),
    }, []),
    "resnet18_ablurpool_twin": ({}, {
        **_twin_resnet_stem(), **_bn("maxpool.0", 64),
        "maxpool.3.conv.weight": (72, 64, 3, 3),
        **_bn("maxpool.3.bn", 72),
    }, []),
    "resnet18_ablurpool_cmod": ({}, {
        **_twin_resnet_stem(), **_bn("maxpool.low.0", 40),
        "maxpool.low.3.conv.weight": (45, 40, 3, 3),
        **_bn("maxpool.low.3.bn", 45),
        "maxpool.high.2.weight": (24,),
    }, []),
    "alexnet": ({}, {
        "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
        "features.3.weight": (192, 64, 5, 5),
        "features.6.weight": (384, 192, 3, 3),
        "features.8.weight": (256, 384, 3, 3),
        "features.10.weight": (256, 256, 3, 3),
        "classifier.1.weight": (4096, 9216),
        "classifier.4.weight": (4096, 4096),
        "classifier.6.weight": (5, 4096), "classifier.6.bias": (5,),
    }, []),
    "alexnet_blurpool": ({"include_top": False}, {
        "features.0.weight": (64, 3, 11, 11),
        "features.2.filt": (64, 1, 3, 3), "features.4.filt": (64, 1, 3, 3),
        "features.5.weight": (192, 64, 5, 5),
        "features.8.filt": (192, 1, 3, 3),
        "features.9.weight": (384, 192, 3, 3),
        "features.11.weight": (256, 384, 3, 3),
        "features.13.weight": (256, 256, 3, 3),
        "features.16.filt": (256, 1, 3, 3),
    }, ["classifier.1.weight"]),
    "alexnet_twin": ({"include_top": False}, {
        **_twin_alexnet_stem(bias=True),
        "features.2.weight": (192, 64, 5, 5),
        "features.5.weight": (384, 192, 3, 3),
        "features.7.weight": (256, 384, 3, 3),
        "features.9.weight": (256, 256, 3, 3),
    }, ["features.0.weight", "features.3.weight"]),
    "alexnet_cmod": ({"include_top": False}, {
        **_twin_alexnet_stem(bias=False),
        "features.1.high.2.weight": (32, 1, 1, 1),
        "features.1.high.2.bias": (32,),
        "features.9.weight": (256, 256, 3, 3),
    }, ["features.0.wptblock.featmapmix.0.bias"]),
    "alexnet_blurpool_twin": ({"include_top": False}, {
        **_twin_alexnet_stem(bias=True),
        "features.1.1.filt": (64, 1, 3, 3), "features.1.3.filt": (64, 1, 3, 3),
        "features.2.weight": (192, 64, 5, 5),
        "features.5.filt": (192, 1, 3, 3),
        "features.6.weight": (384, 192, 3, 3),
        "features.8.weight": (256, 384, 3, 3),
        "features.10.weight": (256, 256, 3, 3),
        "features.13.filt": (256, 1, 3, 3),
    }, []),
    "alexnet_blurpool_cmod": ({"include_top": False}, {
        **_twin_alexnet_stem(bias=False),
        "features.1.low.1.filt": (32, 1, 3, 3),
        "features.1.low.3.filt": (32, 1, 3, 3),
        "features.1.high.2.weight": (32, 1, 1, 1),
        "features.1.high.2.bias": (32,),
        "features.5.filt": (192, 1, 3, 3),
        "features.13.filt": (256, 1, 3, 3),
    }, []),
}


# Each block type, stem and anti-aliasing in the default tier; every
# variant's table in the slow tier.
FAST_CASES = ["resnet18", "resnet50", "resnet18_ablurpool_cmod",
              "resnet18_blurpool_twin", "alexnet", "alexnet_blurpool_cmod"]


@pytest.mark.parametrize("name", [
    n if n in FAST_CASES else pytest.param(n, marks=pytest.mark.slow)
    for n in CASES])
def test_torch_names_and_shapes(name):
    kwargs, expected, absent = CASES[name]
    model = build(name, **kwargs)
    sd = to_torch_state_dict(model)
    for key, shape in expected.items():
        assert key in sd, f"{key} missing from {name}"
        assert sd[key].shape == shape, (key, sd[key].shape, shape)
        assert sd[key].dtype == np.float32
    for key in absent:
        assert key not in sd, f"{key} should not be in {name}"
    assert not any("num_batches_tracked" in k for k in sd)
    # Every Keras weight has exactly one (or, for sliced biases, several)
    # PyTorch keys, and every tensor is accounted for.
    e = model_entries(model)
    n_weights = sum(int(np.prod(w.shape)) for w in model.weights)
    n_params = sum(int(np.prod(p.keras_shape)) for p in e.params)
    assert n_weights == n_params


def test_frozen_filters_have_reference_values():
    model = build("resnet18_blurpool_cmod")
    sd = to_torch_state_dict(model)
    f = qshift_filters("qshift_a")
    np.testing.assert_allclose(sd["conv1.wptblock.wpt._hfilters"],
                               np.stack([f["ha"], f["hb"]]), rtol=1e-6)
    np.testing.assert_allclose(sd["conv1.wptblock.wpt._gfilters"],
                               np.stack([f["ga"], f["gb"]]), rtol=1e-6)
    filt = sd["maxpool.low.3.filt"]
    np.testing.assert_allclose(
        filt[7, 0], np.outer([1, 2, 1], [1, 2, 1]) / 16.0)
    assert np.all(sd["maxpool.high.2.running_mean"] == 0)


def test_qmfs_match_the_reference_fixture(data_dir):
    # The taps as the reference code stored them (tests/data fixture).
    with np.load(f"{data_dir}/dtcwpt_j2_reference.npz") as d:
        hf = np.stack([d["ha"], d["hb"]])
        gf = np.stack([d["ga"], d["gb"]])
    model = build("resnet18_cmod")
    sd = to_torch_state_dict(model)
    sd["conv1.wptblock.wpt._hfilters"] = hf.astype("float32")
    sd["conv1.wptblock.wpt._gfilters"] = gf.astype("float32")
    report = load_torch_state_dict(model, sd)
    assert sorted(report.checked) == ["conv1.wptblock.wpt._gfilters",
                                      "conv1.wptblock.wpt._hfilters"]


# (name, build kwargs): the AlexNet classifier (flatten permutation) once.
# The default tier runs a ResNet and a headless AlexNet twin.
_SLOW = pytest.mark.slow
ROUND_TRIP = [pytest.param("resnet50_blurpool", {}, marks=_SLOW),
              pytest.param("resnet18_ablurpool_cmod", {}, marks=_SLOW),
              ("resnet18_blurpool_twin", {}),
              pytest.param("alexnet_blurpool_cmod", {}, marks=_SLOW),
              ("alexnet_twin", {"include_top": False})]


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP,
                         ids=["resnet50_blurpool", "resnet18_ablurpool_cmod",
                              "resnet18_blurpool_twin",
                              "alexnet_blurpool_cmod", "alexnet_twin"])
def test_round_trip_into_a_fresh_model(name, kwargs):
    source = randomize(build(name, **kwargs))
    target = build(name, **kwargs)
    sd = to_torch_state_dict(source)
    report = load_torch_state_dict(target, sd)
    assert not report.missing and not report.unexpected
    assert len(report.loaded) + len(report.checked) + len(
        report.skipped) == len(sd)
    src, tgt = weights_of(source), weights_of(target)
    for path, value in src.items():
        np.testing.assert_array_equal(tgt[path], value, err_msg=path)
    x = images(source)
    np.testing.assert_array_equal(source.predict(x, verbose=0),
                                  target.predict(x, verbose=0))
    # And back again: the same state dict.
    again = to_torch_state_dict(target)
    assert list(again) == list(sd)
    for key in sd:
        np.testing.assert_array_equal(again[key], sd[key], err_msg=key)


@pytest.mark.parametrize("kind,keras_shape", [
    ("conv", (7, 5, 3, 4)), ("dense", (6, 4)), ("vector", (5,)),
    ("colormix", (3,)), ("mixing", (4, 18)),
])
def test_layouts_are_inverse(kind, keras_shape):
    rng = np.random.default_rng(0)
    v = rng.standard_normal(keras_shape)
    t = keras_to_torch(kind, v)
    assert t.shape == torch_shape(kind, keras_shape)
    np.testing.assert_array_equal(torch_to_keras(kind, t), v)


def test_layout_element_mapping():
    t = np.arange(4 * 3 * 2 * 5).reshape(4, 3, 2, 5)  # (O, I, kh, kw)
    k = torch_to_keras("conv", t)
    assert k.shape == (2, 5, 3, 4) and k[1, 4, 2, 3] == t[3, 2, 1, 4]
    m = np.arange(18 * 4).reshape(18, 4, 1, 1, 1)  # (L, K/g, 1, 1, 1)
    km = torch_to_keras("mixing", m)
    assert km.shape == (4, 18) and km[3, 17] == m[17, 3, 0, 0, 0]
    assert sorted(KINDS) == sorted(
        ["conv", "dense", "dense_nhwc", "vector", "colormix", "mixing"])


def test_alexnet_classifier_permutation_matches_flatten_orders():
    # torch flattens (C, H, W); the Keras model flattens (H, W, C).
    rng = np.random.default_rng(0)
    c, h, w, out = 4, 3, 2, 5
    fmap = rng.standard_normal((c, h, w))
    weight = rng.standard_normal((out, c * h * w))
    ref = weight @ fmap.reshape(-1)
    kernel = torch_to_keras("dense_nhwc", weight, spatial=(h, w, c))
    got = fmap.transpose(1, 2, 0).reshape(-1) @ kernel
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    back = keras_to_torch("dense_nhwc", kernel, spatial=(h, w, c))
    np.testing.assert_array_equal(back, weight)


def test_unknown_kind_and_model_type():
    import keras

    with pytest.raises(ValueError, match="Unknown kind"):
        torch_to_keras("depthwise", np.zeros((1,)))
    with pytest.raises(ValueError, match="Unknown kind"):
        torch_shape("depthwise", (1,))
    inputs = keras.Input((4,))
    other = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="ResNet and AlexNet"):
        to_torch_state_dict(other)
