"""Bad input to the baselines' layers: a clear error, never a hang or a
signal, never a silently wrong number."""

import numpy as np
import pytest
from sweep import child, rejects

from keras_cmod import layers

L = layers
X4 = np.ones((1, 6, 6, 4), "float32")

CONSTRUCTORS = [
    (lambda: L.BlurPool2D(filter_size=8), ValueError, ["filter_size", "8",
                                                       "1..7"]),
    (lambda: L.BlurPool2D(filter_size=0), ValueError, ["filter_size", "0"]),
    (lambda: L.BlurPool2D(filter_size="3"), TypeError, ["filter_size",
                                                        "'3'"]),
    (lambda: L.BlurPool2D(filter_size=2.5), TypeError, ["filter_size",
                                                        "2.5"]),
    (lambda: L.BlurPool2D(strides=0), ValueError, ["strides", ">= 1"]),
    (lambda: L.BlurPool2D(strides=True), TypeError, ["strides", "True"]),
    (lambda: L.AdaptiveBlurPool2D(groups=0), ValueError, ["groups", "0"]),
    (lambda: L.AdaptiveBlurPool2D(groups="8"), TypeError, ["groups"]),
    (lambda: L.AdaptiveBlurPool2D(filter_size=4), ValueError,
     ["filter_size", "odd"]),
    (lambda: L.AdaptiveBlurPool2D(strides=-1), ValueError, ["strides",
                                                            "-1"]),
    (lambda: L.AdaptiveBlurPool2D(momentum=1.0), ValueError,
     ["momentum", "[0.0, 1.0)"]),
    (lambda: L.AdaptiveBlurPool2D(momentum="0.9"), TypeError,
     ["momentum", "'0.9'"]),
    (lambda: L.AdaptiveBlurPool2D(epsilon=0), ValueError, ["epsilon",
                                                           "(0.0"]),
    (lambda: L.AdaptiveBlurPool2D(softmax="all"), ValueError,
     ["softmax", "'group' or 'joint'"]),
    (lambda: L.ModulusBatchNorm(momentum="0.9"), TypeError,
     ["momentum", "'0.9'"]),
    (lambda: L.ModulusBatchNorm(momentum=float("nan")), ValueError,
     ["momentum", "nan"]),
    (lambda: L.ModulusBatchNorm(momentum=-0.1), ValueError, ["momentum",
                                                             "-0.1"]),
    (lambda: L.ModulusBatchNorm(epsilon=-1e-5), ValueError,
     ["epsilon", "-1e-05"]),
    (lambda: L.ModulusBatchNorm(epsilon=float("inf")), ValueError,
     ["epsilon", "inf"]),
    (lambda: L.AdaptiveAvgPool2D(0), ValueError, ["output_size", "0"]),
    (lambda: L.AdaptiveAvgPool2D((6, 6, 6)), ValueError,
     ["output_size", "2 positive ints"]),
    (lambda: L.AdaptiveAvgPool2D("6"), TypeError, ["output_size"]),
    (lambda: L.PacketSelectionPenalty(-1.0), ValueError, ["strength",
                                                          "-1.0"]),
    (lambda: L.PacketSelectionPenalty("big"), TypeError, ["strength"]),
]


@pytest.mark.parametrize("make,exc,needles", CONSTRUCTORS)
def test_constructor_arguments_are_named(make, exc, needles, tmp_path):
    rejects(make, exc, *needles, directory=tmp_path)


LAYERS = {
    "blur": lambda: L.BlurPool2D(3),
    "blur1": lambda: L.BlurPool2D(1),
    "ablur": lambda: L.AdaptiveBlurPool2D(groups=2),
    "avg": lambda: L.AdaptiveAvgPool2D(6),
    "bn0": lambda: L.ModulusBatchNorm(),
}
RANK_NAMES = {"blur": "BlurPool2D", "blur1": "BlurPool2D",
              "ablur": "AdaptiveBlurPool2D", "avg": "AdaptiveAvgPool2D",
              "bn0": "ModulusBatchNorm"}


@pytest.mark.parametrize("key", sorted(LAYERS))
@pytest.mark.parametrize("shape", [(6, 6, 4), (1, 2, 6, 6, 4)])
def test_rank_3_and_5_inputs(key, shape, tmp_path):
    x = np.ones(shape, "float32")
    rejects(lambda: LAYERS[key]()(x), ValueError, RANK_NAMES[key],
            "rank-4", str(shape), directory=tmp_path)


@pytest.mark.parametrize("key", ["blur", "ablur", "avg"])
def test_empty_maps(key, tmp_path):
    x = np.ones((1, 0, 0, 4), "float32")
    rejects(lambda: LAYERS[key]()(x), ValueError, RANK_NAMES[key],
            "at least 1", directory=tmp_path)


@pytest.mark.parametrize("key", sorted(LAYERS))
def test_integer_inputs_are_cast(key):
    ints = np.ones((1, 6, 6, 4), "uint8")
    layer = LAYERS[key]()
    y = np.asarray(layer(ints))
    np.testing.assert_allclose(y, np.asarray(layer(ints.astype("float32"))))
    assert y.dtype == np.float32


@pytest.mark.parametrize("key", ["blur", "ablur", "avg", "bn0"])
def test_complex_inputs_rejected(key, tmp_path):
    z = np.ones((1, 6, 6, 4), "complex64")
    rejects(lambda: LAYERS[key]()(z), TypeError, RANK_NAMES[key],
            "complex64", directory=tmp_path)


def test_groups_must_divide_channels(tmp_path):
    rejects(lambda: L.AdaptiveBlurPool2D(groups=3)(X4), ValueError,
            "groups=3", "(1, 6, 6, 4)", directory=tmp_path)


def test_channels_must_be_known(tmp_path):
    rejects(lambda: L.BlurPool2D().build((None, 6, 6, None)), ValueError,
            "channel dimension", directory=tmp_path)


# -- process level: no hang, no signal ---------------------------------------

CHILD = """
import numpy as np, tensorflow as tf
from keras_cmod import layers
{body}
print("OK")
"""

PROCESS_CASES = {
    # The padding loop made no progress on empty maps.
    "blur_0x0": """
try:
    layers.BlurPool2D(3)(np.zeros((1, 0, 0, 2), "float32"))
except ValueError as e:
    assert "at least 1" in str(e), e
""",
    # Maps of every small size, sizes known only at run time.
    "blur_dynamic_small": """
layer = layers.BlurPool2D(5)
f = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2))])
for n in (5, 1, 2, 3, 1):
    y = f(np.ones((1, n, n, 2), "float32")).numpy()
    assert np.allclose(y, 1.0), (n, y)
""",
    "ablur_dynamic_small": """
layer = layers.AdaptiveBlurPool2D(groups=2)
f = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 4))])
for n in (4, 1, 2, 1):
    y = f(np.ones((1, n, n, 4), "float32")).numpy()
    assert np.allclose(y, 1.0, atol=1e-5), (n, y)
""",
    "avg_dynamic_small": """
layer = layers.AdaptiveAvgPool2D(6)
f = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2))])
for n in (7, 1, 2):
    y = f(np.ones((1, n, n, 2), "float32")).numpy()
    assert y.shape == (1, 6, 6, 2) and np.allclose(y, 1.0), (n, y)
""",
    # A dynamic empty map must fail with an exception, not a signal.
    # Blur-pool ResNets with a dynamic size on a 1x1 image: the small-map
    # padding is exact (no signal, the right output shape).
    "resnet_1x1": """
from keras_cmod.zoo import create_model
m = create_model("resnet18_ablurpool", input_shape=(None, None, 3),
                 num_classes=3)
y = np.asarray(m(np.zeros((1, 1, 1, 3), "float32")))
assert y.shape == (1, 3) and np.isfinite(y).all(), y
""",
    "blur_dynamic_empty": """
layer = layers.BlurPool2D(3)
f = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2))])
try:
    y = f(np.zeros((1, 0, 0, 2), "float32")).numpy()
except tf.errors.InvalidArgumentError:
    pass
else:
    assert y.size == 0, y.shape
""",
}


JAX_CHILD = """
import numpy as np
from keras_cmod import layers
for n in (1, 2, 3):
    x = np.ones((1, n, n, 4), "float32")
    for layer in (layers.BlurPool2D(5), layers.AdaptiveBlurPool2D(groups=2),
                  layers.AdaptiveAvgPool2D(6)):
        y = np.asarray(layer(x))
        assert np.allclose(y, 1.0, atol=1e-5), (layer.name, n, y)
try:
    layers.BlurPool2D(3)(np.zeros((1, 0, 3, 2), "float32"))
except ValueError as e:
    assert "height of at least 1" in str(e), e
else:
    raise AssertionError("an empty map was accepted")
print("OK")
"""


def test_process_level_jax():
    pytest.importorskip("jax")
    proc = child(JAX_CHILD, timeout=180, env={"KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK" in proc.stdout


def test_process_level():
    """All cases in one fresh interpreter (TensorFlow starts once)."""
    body = "\n".join(f"# {k}\n{v}" for k, v in PROCESS_CASES.items())
    proc = child(CHILD.format(body=body), timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK" in proc.stdout
