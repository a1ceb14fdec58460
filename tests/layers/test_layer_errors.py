"""Bad input to the layers: a clear error naming the value or what is
allowed, raised before any heavy work; never a deep backend error, a hang or
a signal (the process-level cases run in a fresh interpreter: slow tier)."""

import numpy as np
import pytest
from sweep import child, rejects

from keras_cmod import layers as L

X4 = np.ones((1, 6, 6, 4), "float32")


def _x(*shape, dtype="float32"):
    return np.zeros(shape, dtype)


CONSTRUCTORS = [
    (lambda: L.DTCWPT2D(depth=10), ValueError, ["depth", "1..4", "10"]),
    (lambda: L.DTCWPT2D(depth=0), ValueError, ["depth", "1..4"]),
    (lambda: L.DTCWPT2D(depth="2"), TypeError, ["depth", "'2'"]),
    (lambda: L.DTCWPT2D(depth=2.0), TypeError, ["depth", "float"]),
    (lambda: L.DTCWPT2D(2, stride=3), ValueError, ["stride", "3", "[1, 2, 4]"]),
    (lambda: L.DTCWPT2D(2, stride=8), ValueError, ["stride", "8"]),
    (lambda: L.DTCWPT2D(2, output_mode="imag"), ValueError,
     ["output_mode", "imag", "complex"]),
    (lambda: L.DTCWPT2D(2, packets=[40]), ValueError, ["packets", "0..31"]),
    (lambda: L.DTCWPT2D(2, packets=[]), ValueError, ["packets", "non-empty"]),
    (lambda: L.DTCWPT2D(2, padding=-1), ValueError, ["padding", "-1"]),
    (lambda: L.DTCWPT2D(2, padding=1.5), ValueError, ["padding", "1.5"]),
    (lambda: L.DTCWPT2D(2, wavelet="qshift_z"), ValueError,
     ["qshift_z", "qshift_a"]),
    (lambda: L.DTCWPT2D(2, implementation="dense"), ValueError,
     ["implementation", "dense", "fused"]),
    (lambda: L.DTCWPTConv2D("vgg"), ValueError, ["selection", "vgg",
                                                 "resnet"]),
    (lambda: L.DTCWPTConv2D(strides=3), ValueError, ["stride", "3"]),
    (lambda: L.DTCWPTConv2D(output_mode="imag"), ValueError,
     ["output_mode", "imag"]),
    (lambda: L.DTCWPTConv2D(colormix_init=(1.0, 2.0)), ValueError,
     ["colormix_init", "3 floats"]),
    (lambda: L.DTCWPTConv2D(colormix_init=5), ValueError,
     ["colormix_init", "5"]),
    (lambda: L.DTCWPTConv2D(colormix_init=(1, "a", 2)), ValueError,
     ["colormix_init", "'a'"]),
    (lambda: L.DTCWPTConv2D(penalty=[0.1, 0.2, 0.3]), ValueError,
     ["penalty", "per section"]),
    (lambda: L.DTCWPTConv2D(penalty=[-1.0]), ValueError, ["penalty", ">= 0"]),
    (lambda: L.DTCWPTConv2D(padding=-1), ValueError, ["padding", "-1"]),
    (lambda: L.DTCWPTConv2D(implementation="x"), ValueError,
     ["implementation", "'x'"]),
    (lambda: L.TwinStem("vgg"), ValueError, ["family", "vgg", "resnet"]),
    (lambda: L.TwinStem("resnet", "max"), ValueError, ["mode", "max",
                                                       "cmod"]),
    (lambda: L.TwinStem("resnet", "cmod", "zhang"), ValueError,
     ["antialias", "zhang"]),
    (lambda: L.TwinStem("alexnet", "cmod", "adaptive_blurpool"), ValueError,
     ["adaptive", "alexnet"]),
    (lambda: L.TwinStem(blur_size="x"), TypeError, ["blur_size", "'x'"]),
    (lambda: L.TwinStem(blur_size=9), ValueError, ["blur_size", "9", "7"]),
    (lambda: L.TwinStem(blur_size=2.0), TypeError, ["blur_size", "2.0"]),
    (lambda: L.TwinStem(bn_momentum=1.5), ValueError, ["bn_momentum",
                                                       "1.5"]),
    (lambda: L.TwinStem(bn_momentum="0.9"), TypeError, ["bn_momentum",
                                                        "'0.9'"]),
    (lambda: L.TwinStem(bn_epsilon=0), ValueError, ["bn_epsilon", "0"]),
    (lambda: L.TwinStem(epsilon=-1), ValueError, ["epsilon", "-1"]),
    (lambda: L.TwinStem(packet_penalty=[1.0, 2.0, 3.0]), ValueError,
     ["packet_penalty", "5 floats"]),
    (lambda: L.TwinStem("alexnet", packet_penalty=[1.0, -1.0]), ValueError,
     ["packet_penalty", "-1"]),
    (lambda: L.CModConv2D(0, 3), ValueError, ["filters", "0"]),
    (lambda: L.CModConv2D(4, (3, 3, 3)), ValueError, ["kernel_size"]),
    (lambda: L.CModConv2D(4, 3, strides=0), ValueError, ["strides", "0"]),
    (lambda: L.CModConv2D(4, 3, padding=-1), ValueError, ["padding", "-1"]),
    (lambda: L.CModConv2D(4, 3, epsilon=-1), ValueError, ["epsilon", "-1"]),
    (lambda: L.CModConv2D(4, 3, epsilon=float("nan")), ValueError,
     ["epsilon", "nan"]),
    (lambda: L.CModConv2D(4, 3, epsilon="1e-7"), ValueError,
     ["epsilon", "'1e-7'"]),
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
    (lambda: L.ModulusBatchNorm(momentum=1.0), ValueError, ["momentum"]),
    (lambda: L.ModulusBatchNorm(epsilon=0.0), ValueError, ["epsilon"]),
]


@pytest.mark.parametrize("fn,exc,needles", CONSTRUCTORS)
def test_bad_constructor_argument(fn, exc, needles, tmp_path):
    rejects(fn, exc, *needles, directory=tmp_path)


# The modulus' epsilon, in both layers that take one.
@pytest.mark.parametrize("epsilon", [-1, -1e-30, float("nan"),
                                     float("inf"), "0.1", True])
def test_bad_modulus_epsilon_is_named(epsilon, tmp_path):
    rejects(lambda: L.CModConv2D(2, 3, epsilon=epsilon), ValueError,
            "epsilon", directory=tmp_path)
    rejects(lambda: L.TwinStem("resnet", "cmod", epsilon=epsilon),
            ValueError, "epsilon", directory=tmp_path)


INPUTS = [
    (lambda: L.DTCWPT2D(2)(_x(30, 30, 1)), ["DTCWPT2D", "rank-4",
                                            "(30, 30, 1)"]),
    (lambda: L.DTCWPT2D(2)(_x(1, 1, 30, 30, 1)), ["rank-4", "(1, 1, 30"]),
    (lambda: L.DTCWPT2D(3, 8, padding=0)(_x(1, 30, 30, 1)),
     ["at least 66", "(1, 30, 30, 1)"]),
    (lambda: L.DTCWPT2D(2, 4, padding=0)(_x(1, 40, 20, 1)),
     ["width", "at least 30"]),
    (lambda: L.DTCWPTConv2D()(_x(40, 40, 3)), ["DTCWPTConv2D", "rank-4"]),
    (lambda: L.DTCWPTConv2D()(_x(1, 40, 40, 4)), ["3 input channels",
                                                  "(1, 40, 40, 4)"]),
    (lambda: L.DTCWPTConv2D(padding=0)(_x(1, 20, 20, 3)),
     ["at least 30", "(1, 20, 20, 3)"]),
    (lambda: L.TwinStem()(_x(1, 1, 32, 32, 3)), ["TwinStem", "rank-4"]),
    (lambda: L.TwinStem()(_x(32, 32, 3)), ["TwinStem", "rank-4"]),
    (lambda: L.TwinStem()(_x(1, 32, 32, 1)), ["3 input channels"]),
    (lambda: L.TwinStem()(_x(1, 1, 1, 3)), ["at least 2", "(1, 1, 1, 3)"]),
    (lambda: L.TwinStem("alexnet", "rmax")(_x(1, 14, 64, 3)),
     ["height", "at least 15"]),
    (lambda: L.TwinStem("alexnet", "cmod", "blurpool")(_x(1, 64, 10, 3)),
     ["width", "at least 15"]),
    (lambda: L.CModConv2D(4, 3)(_x(8, 8, 3)), ["CModConv2D", "rank-4"]),
    (lambda: L.CModConv2D(4, 9)(_x(1, 4, 4, 1)), ["at least 9",
                                                  "(1, 4, 4, 1)"]),
]


@pytest.mark.parametrize("fn,needles", INPUTS)
def test_bad_input_shape(fn, needles, tmp_path):
    rejects(fn, ValueError, *needles, directory=tmp_path)


def _called_twice(layer, first, second):
    layer(first)
    return layer(second)


def test_built_layer_rejects_other_channels():
    layer = L.CModConv2D(2, 3)
    rejects(lambda: _called_twice(layer, _x(1, 8, 8, 3), _x(1, 8, 8, 4)),
            ValueError, "3 input channels", "(1, 8, 8, 4)")


@pytest.mark.parametrize("make,shape", [
    (lambda: L.DTCWPT2D(2, 4), (1, 16, 16, 1)),
    (lambda: L.DTCWPTConv2D(), (1, 32, 32, 3)),
    (lambda: L.TwinStem("resnet", "cmod"), (1, 32, 32, 3)),
    (lambda: L.CModConv2D(2, 3, kernel_initializer="ones"), (1, 8, 8, 3)),
])
def test_complex_input_is_refused_by_dtype(make, shape):
    import keras

    x = keras.ops.convert_to_tensor(np.zeros(shape, "complex64"))
    rejects(lambda: make()(x), TypeError, "complex64", "float or integer")


@pytest.mark.parametrize("make,shape", [
    (lambda: L.DTCWPT2D(2, 4), (1, 16, 16, 1)),
    (lambda: L.DTCWPTConv2D(), (1, 32, 32, 3)),
    (lambda: L.TwinStem("resnet", "cmod"), (1, 32, 32, 3)),
    (lambda: L.CModConv2D(2, 3), (1, 8, 8, 3)),
])
def test_integer_images_are_cast_the_same_everywhere(make, shape):
    """uint8 and int32 images give the float result of the same values."""
    x = np.random.default_rng(0).integers(0, 256, shape).astype("uint8")
    layer = make()
    ref = np.asarray(layer(x.astype("float32")))
    for dtype in ("uint8", "int32"):
        np.testing.assert_allclose(np.asarray(layer(x.astype(dtype))), ref,
                                   rtol=1e-6, atol=1e-6)


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


@pytest.mark.slow
def test_one_pixel_image_through_a_dynamic_twin_stem_in_a_fresh_process():
    code = """
import numpy as np
import keras
from keras_cmod import layers
inp = keras.Input((None, None, 3))
model = keras.Model(inp, layers.TwinStem("resnet", "cmod")(inp))
try:
    model(np.zeros((1, 1, 1, 3), "float32"))
except ValueError as e:
    print("ValueError:", e)
"""
    proc = child(code, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ValueError:"), proc.stdout
    assert "TwinStem needs a height of at least 2 pixels" in proc.stdout


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


@pytest.mark.slow
def test_process_level_jax():
    pytest.importorskip("jax")
    proc = child(JAX_CHILD, timeout=180, env={"KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK" in proc.stdout


@pytest.mark.slow
def test_process_level():
    """All cases in one fresh interpreter (TensorFlow starts once)."""
    body = "\n".join(f"# {k}\n{v}" for k, v in PROCESS_CASES.items())
    proc = child(CHILD.format(body=body), timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK" in proc.stdout
