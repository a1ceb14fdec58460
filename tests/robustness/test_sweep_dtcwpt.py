"""Bad input to the DT-CWPT layers (DTCWPT2D, DTCWPTConv2D, TwinStem,
CModConv2D): a clear error naming the value or what is allowed, raised
before any heavy work; never a deep backend error, a hang or a signal."""

import numpy as np
import pytest
from sweep import child, rejects

from keras_cmod import layers as L


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
]


@pytest.mark.parametrize("fn,exc,needles", CONSTRUCTORS)
def test_bad_constructor_argument(fn, exc, needles, tmp_path):
    rejects(fn, exc, *needles, directory=tmp_path)


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
