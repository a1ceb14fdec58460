import numpy as np
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


def _modulus_grad(re, im):
    import keras

    from keras_cmod.layers._utils import modulus

    if keras.backend.backend() == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(
            lambda a, b: modulus(a, b).sum(), argnums=(0, 1))(re, im)]
    import tensorflow as tf

    a, b = tf.Variable(re), tf.Variable(im)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(modulus(a, b))
    return [np.asarray(g) for g in tape.gradient(out, [a, b])]


def test_modulus_is_exact_near_zero_and_its_gradient_finite():
    from keras_cmod.layers._utils import modulus

    rng = np.random.default_rng(0)
    scale = 10.0 ** rng.uniform(-14, 2, 4000)
    re = (rng.standard_normal(4000) * scale).astype("float32")
    im = (rng.standard_normal(4000) * scale).astype("float32")
    re[:4], im[:4] = 0.0, 0.0  # exact zeros
    re[4], im[4] = 1e-6, 0.0
    exact = np.hypot(re.astype(np.float64), im.astype(np.float64))
    got = np.asarray(modulus(re, im)).astype(np.float64)
    big = exact >= 1e-15
    np.testing.assert_allclose(got[big], exact[big], rtol=3e-7)
    assert np.all(got[~big] <= 1.01e-15)
    assert got[4] == np.float32(1e-6)  # the old floor clamped it to 3.2e-4
    for g in _modulus_grad(re, im):
        assert np.isfinite(g).all() and np.abs(g).max() <= 1.0 + 1e-6
        assert np.all(g[:4] == 0)


def test_modulus_exact_under_mixed_float16():
    layer = layers.CModConv2D(1, 1, dtype="mixed_float16",
                              kernel_initializer="ones")
    x = np.full((1, 2, 2, 1), 1e-3, "float32")
    y = np.asarray(layer(x)).astype("float64")
    np.testing.assert_allclose(y, 1e-3 * np.sqrt(2), rtol=1e-3)
