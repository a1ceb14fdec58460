"""Weight layout of every TwinStem variant.

`.weights.h5` files and the PyTorch name mapping rely on the stem's
variables keeping their names, shapes and order. The table below was
recorded from the block before it was driven by `STEM_SPECS`.
"""

import dataclasses

import keras
import numpy as np
import pytest

from keras_cmod import layers
from keras_cmod.layers.twin_stem import ANTIALIAS, MODES, STEM_SPECS

# (family, mode, antialias) -> [(path under "stem/", shape)] in the order
# of `model.weights`.
WEIGHTS = {
    ("alexnet", "rmax", "none"): [
        ("free_conv/kernel", (11, 11, 3, 32)),
        ("free_conv/bias", (32,)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 6)),
        ("gabor/mixing_1", (4, 18)),
        ("gabor/mixing_2", (16, 8)),
        ("gabor/bias", (32,)),
    ],
    ("alexnet", "rmax", "blurpool"): [
        ("free_conv/kernel", (11, 11, 3, 32)),
        ("free_conv/bias", (32,)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 6)),
        ("gabor/mixing_1", (4, 18)),
        ("gabor/mixing_2", (16, 8)),
        ("gabor/bias", (32,)),
    ],
    ("alexnet", "cmod", "none"): [
        ("free_conv/kernel", (11, 11, 3, 32)),
        ("free_conv/bias", (32,)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 6)),
        ("gabor/mixing_1", (4, 18)),
        ("gabor/mixing_2", (16, 8)),
        ("gabor_bias/bias", (32,)),
    ],
    ("alexnet", "cmod", "blurpool"): [
        ("free_conv/kernel", (11, 11, 3, 32)),
        ("free_conv/bias", (32,)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 6)),
        ("gabor/mixing_1", (4, 18)),
        ("gabor/mixing_2", (16, 8)),
        ("gabor_bias/bias", (32,)),
    ],
    ("resnet", "rmax", "none"): [
        ("free_conv/kernel", (7, 7, 3, 40)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 12)),
        ("gabor/mixing_1", (1, 4)),
        ("gabor/mixing_2", (1, 2)),
        ("gabor/mixing_3", (1, 4)),
        ("gabor/mixing_4", (1, 2)),
        ("bn/gamma", (64,)),
        ("bn/beta", (64,)),
        ("bn/moving_mean", (64,)),
        ("bn/moving_variance", (64,)),
    ],
    ("resnet", "rmax", "blurpool"): [
        ("free_conv/kernel", (7, 7, 3, 40)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 12)),
        ("gabor/mixing_1", (1, 4)),
        ("gabor/mixing_2", (1, 2)),
        ("gabor/mixing_3", (1, 4)),
        ("gabor/mixing_4", (1, 2)),
        ("bn/gamma", (64,)),
        ("bn/beta", (64,)),
        ("bn/moving_mean", (64,)),
        ("bn/moving_variance", (64,)),
    ],
    ("resnet", "rmax", "adaptive_blurpool"): [
        ("free_conv/kernel", (7, 7, 3, 40)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 12)),
        ("gabor/mixing_1", (1, 4)),
        ("gabor/mixing_2", (1, 2)),
        ("gabor/mixing_3", (1, 4)),
        ("gabor/mixing_4", (1, 2)),
        ("bn/gamma", (64,)),
        ("bn/beta", (64,)),
        ("bn/moving_mean", (64,)),
        ("bn/moving_variance", (64,)),
        ("adaptive_blur/conv/kernel", (3, 3, 64, 72)),
        ("adaptive_blur/bn/gamma", (72,)),
        ("adaptive_blur/bn/beta", (72,)),
        ("adaptive_blur/bn/moving_mean", (72,)),
        ("adaptive_blur/bn/moving_variance", (72,)),
    ],
    ("resnet", "cmod", "none"): [
        ("free_conv/kernel", (7, 7, 3, 40)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 12)),
        ("gabor/mixing_1", (1, 4)),
        ("gabor/mixing_2", (1, 2)),
        ("gabor/mixing_3", (1, 4)),
        ("gabor/mixing_4", (1, 2)),
        ("bn/gamma", (40,)),
        ("bn/beta", (40,)),
        ("bn/moving_mean", (40,)),
        ("bn/moving_variance", (40,)),
        ("gabor_bn/gamma", (24,)),
        ("gabor_bn/beta", (24,)),
        ("gabor_bn/moving_energy", (24,)),
    ],
    ("resnet", "cmod", "blurpool"): [
        ("free_conv/kernel", (7, 7, 3, 40)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 12)),
        ("gabor/mixing_1", (1, 4)),
        ("gabor/mixing_2", (1, 2)),
        ("gabor/mixing_3", (1, 4)),
        ("gabor/mixing_4", (1, 2)),
        ("bn/gamma", (40,)),
        ("bn/beta", (40,)),
        ("bn/moving_mean", (40,)),
        ("bn/moving_variance", (40,)),
        ("gabor_bn/gamma", (24,)),
        ("gabor_bn/beta", (24,)),
        ("gabor_bn/moving_energy", (24,)),
    ],
    ("resnet", "cmod", "adaptive_blurpool"): [
        ("free_conv/kernel", (7, 7, 3, 40)),
        ("gabor/colormix", (3,)),
        ("gabor/mixing_0", (1, 12)),
        ("gabor/mixing_1", (1, 4)),
        ("gabor/mixing_2", (1, 2)),
        ("gabor/mixing_3", (1, 4)),
        ("gabor/mixing_4", (1, 2)),
        ("bn/gamma", (40,)),
        ("bn/beta", (40,)),
        ("bn/moving_mean", (40,)),
        ("bn/moving_variance", (40,)),
        ("adaptive_blur/conv/kernel", (3, 3, 40, 45)),
        ("adaptive_blur/bn/gamma", (45,)),
        ("adaptive_blur/bn/beta", (45,)),
        ("adaptive_blur/bn/moving_mean", (45,)),
        ("adaptive_blur/bn/moving_variance", (45,)),
        ("gabor_bn/gamma", (24,)),
        ("gabor_bn/beta", (24,)),
        ("gabor_bn/moving_energy", (24,)),
    ],
}


def _model(family, mode, antialias):
    inp = keras.Input((None, None, 3))
    stem = layers.TwinStem(family, mode, antialias, name="stem")
    return keras.Model(inp, stem(inp))


@pytest.mark.parametrize("variant", sorted(WEIGHTS))
def test_weight_names_shapes_and_order(variant):
    model = _model(*variant)
    got = [(w.path, tuple(w.shape)) for w in model.weights]
    assert got == [("stem/" + n, s) for n, s in WEIGHTS[variant]]


def test_table_covers_every_variant():
    variants = {
        (f, m, a)
        for f, spec in STEM_SPECS.items()
        for m in MODES
        for a in ANTIALIAS
        if spec.adaptive_blurpool or a != "adaptive_blurpool"
    }
    assert variants == set(WEIGHTS)


@pytest.mark.parametrize("variant", [
    ("alexnet", "cmod", "blurpool"),
    ("resnet", "rmax", "adaptive_blurpool"),
])
def test_weights_file_round_trip(variant, tmp_path):
    """A `.weights.h5` file of one stem loads into a fresh one."""
    a, b = _model(*variant), _model(*variant)
    rng = np.random.default_rng(0)
    for w in a.weights:
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    path = str(tmp_path / "stem.weights.h5")
    a.save_weights(path)
    b.load_weights(path)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb))


def test_spec_rejects_an_unknown_cmod_norm():
    spec = STEM_SPECS["resnet"]
    with pytest.raises(ValueError, match="cmod_norm.*'layer_norm'"):
        dataclasses.replace(spec, cmod_norm="layer_norm")
