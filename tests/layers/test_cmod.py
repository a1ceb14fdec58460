import numpy as np
import pytest
from np_reference import conv2d_nhwc
from testing import run_layer_test

from keras_cmod import layers


def test_forward_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 15, 17, 3)).astype("float32")
    layer = layers.CModConv2D(5, (3, 4), strides=2, padding=((1, 2), (0, 1)),
                              use_bias=True)
    layer.build(x.shape)
    layer.bias.assign(rng.standard_normal(5).astype("float32"))
    y = np.asarray(layer(x))
    xp = np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0))).astype(float)
    re = conv2d_nhwc(xp, np.asarray(layer.real_kernel), 2, 0)
    im = conv2d_nhwc(xp, np.asarray(layer.imag_kernel), 2, 0)
    ref = np.sqrt(re**2 + im**2) + np.asarray(layer.bias)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    # The two kernels start different (one initializer instance would
    # give them equal values).
    assert not np.allclose(layer.real_kernel, layer.imag_kernel)


def test_layer_contract():
    run_layer_test(
        layers.CModConv2D,
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": 1},
        np.random.rand(2, 8, 8, 3).astype("float32"),
        expected_output_shape=(2, 4, 4, 4),
        expected_num_trainable_weights=2,
    )


def test_gradient_finite_at_zero_input():
    from testing import _gradients, input_gradient

    layer = layers.CModConv2D(4, 3)
    x = np.zeros((1, 6, 6, 2), "float32")
    gx = input_gradient(layer, x)
    gk = _gradients(layer, x)
    assert np.isfinite(gx).all() and all(np.isfinite(g).all() for g in gk)


def test_no_overflow_under_float16():
    layer = layers.CModConv2D(2, 1, dtype="mixed_float16",
                              kernel_initializer="ones")
    x = np.full((1, 2, 2, 1), 300.0, "float32")  # 300^2 > float16 max
    y = np.asarray(layer(x)).astype("float32")
    np.testing.assert_allclose(y, 300.0 * np.sqrt(2), rtol=1e-3)


@pytest.mark.parametrize("kwargs,match", [
    ({"filters": 0, "kernel_size": 3}, "filters"),
    ({"filters": 2, "kernel_size": (3, 3, 3)}, "kernel_size"),
    ({"filters": 2, "kernel_size": 3, "strides": 0}, "strides"),
    ({"filters": 2, "kernel_size": 3, "padding": -1}, "padding"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.CModConv2D(**kwargs)


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match="Kernel larger"):
        layers.CModConv2D(2, 9)(np.zeros((1, 4, 4, 1), "float32"))
