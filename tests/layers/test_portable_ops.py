"""Inputs whose support depends on the kernel library: empty batches and
pure half-precision policies, on every layer of the package.

oneDNN's convolutions return their input unchanged for an empty batch,
TensorFlow's `MirrorPad` refuses one, and Keras turns a residual sum on 1x1
maps into a bias-add that refuses it too; under a pure `float16`
or `bfloat16` policy the variables themselves are half precision. None of
it may reach the user as a kernel error.
"""

import keras
import numpy as np
import pytest

from keras_cmod import layers, zoo

LAYERS = {
    "DTCWPT2D": (lambda: layers.DTCWPT2D(depth=2, stride=2), (40, 40, 2)),
    "DTCWPTConv2D": (lambda: layers.DTCWPTConv2D("resnet"), (40, 40, 3)),
    "CModConv2D": (lambda: layers.CModConv2D(4, 7, strides=2, padding=3),
                   (8, 8, 3)),
    "TwinStem-resnet-cmod": (lambda: layers.TwinStem("resnet", "cmod"),
                             (40, 40, 3)),
    "TwinStem-resnet-rmax-ablur": (
        lambda: layers.TwinStem("resnet", "rmax",
                                antialias="adaptive_blurpool"), (40, 40, 3)),
    "TwinStem-alexnet-cmod-blur": (
        lambda: layers.TwinStem("alexnet", "cmod", antialias="blurpool"),
        (70, 70, 3)),
    "BlurPool2D": (lambda: layers.BlurPool2D(3), (9, 9, 4)),
    "AdaptiveBlurPool2D": (lambda: layers.AdaptiveBlurPool2D(groups=2),
                           (9, 9, 4)),
    "ModulusBatchNorm": (lambda: layers.ModulusBatchNorm(), (5, 5, 4)),
}


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("key", sorted(LAYERS))
def test_empty_batch(key, training):
    make, shape = LAYERS[key]
    layer = make()
    full = layer(np.ones((2,) + shape, "float32"))
    weights = [np.asarray(w) for w in layer.get_weights()]
    empty = layer(np.zeros((0,) + shape, "float32"), training=training)
    assert tuple(empty.shape) == (0,) + tuple(full.shape[1:])
    # No statistic moved (a batch norm would average nothing: NaN).
    for before, after in zip(weights, layer.get_weights()):
        np.testing.assert_array_equal(before, np.asarray(after))


@pytest.mark.parametrize("policy", ["float16", "bfloat16", "mixed_float16",
                                    "mixed_bfloat16"])
@pytest.mark.parametrize("key", ["TwinStem-resnet-cmod",
                                 "TwinStem-alexnet-cmod-blur",
                                 "AdaptiveBlurPool2D", "ModulusBatchNorm"])
def test_half_precision_policies(key, policy):
    keras.config.set_dtype_policy(policy)
    make, shape = LAYERS[key]
    layer = make()
    x = np.random.default_rng(0).uniform(0, 1, (2,) + shape).astype("f4")
    for training in (True, False):
        y = layer(x, training=training)
        assert keras.backend.standardize_dtype(y.dtype) == (
            layer.compute_dtype)
        assert np.isfinite(keras.ops.convert_to_numpy(
            keras.ops.cast(y, "float32"))).all()
    # Regularisation terms are float32, so they add to a float32 loss.
    for loss in layer.losses:
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"


@pytest.mark.parametrize("policy", ["float16", "bfloat16"])
def test_pure_half_model_trains(policy):
    """A whole twin model (packet penalty, modulus batch norm, blur
    pooling) takes a training step under a pure half policy."""
    keras.config.set_dtype_policy(policy)
    model = zoo.create_model("resnet18_ablurpool_cmod", num_classes=3,
                             input_shape=(32, 32, 3))
    model.compile(keras.optimizers.SGD(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3))
    loss = model.train_on_batch(x.astype("f4"), np.array([0, 2]))
    assert np.isfinite(loss)


def test_empty_batch_model():
    model = zoo.create_model("resnet18_blurpool_cmod", num_classes=3,
                             input_shape=(32, 32, 3))
    out = model(np.zeros((0, 32, 32, 3), "float32"), training=False)
    assert tuple(out.shape) == (0, 3)
    pooled = zoo.create_model("alexnet_cmod", include_top=False,
                              pooling="avg", input_shape=(None, None, 3))
    out = pooled(np.zeros((0, 70, 70, 3), "float32"))
    assert tuple(out.shape) == (0, 256)


@pytest.mark.parametrize("family,mode,size", [("resnet", "cmod", 64),
                                              ("alexnet", "rmax", 80)])
def test_gabor_response_on_keras_tensors(family, mode, size):
    """The transform's folded passes also run symbolically (an unknown
    batch), as when a stem's Gabor response starts a functional model."""
    stem = layers.TwinStem(family, mode)
    symbolic = stem.gabor_response(keras.KerasTensor((None, size, size, 3)))
    eager = stem.gabor_response(np.zeros((2, size, size, 3), "float32"))
    assert tuple(symbolic.shape) == (None,) + tuple(eager.shape[1:])
