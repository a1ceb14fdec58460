import numpy as np
import pytest
from np_reference import correlate2d
from testing import run_layer_test

from keras_cmod import layers, wavelets


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
def test_blur_pool_matches_numpy(size):
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 9, 10, 3)).astype("float32")
    y = np.asarray(layers.BlurPool2D(size)(x))
    f = wavelets.binomial_filter_2d(size)
    before, after = (size - 1) // 2, size // 2
    ref = np.stack([
        np.stack([correlate2d(np.pad(x[b, :, :, c], ((before, after),
                                                     (before, after)),
                                     mode="reflect"), f, 2)
                  for c in range(3)], -1) for b in range(2)])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_blur_pool_contract():
    run_layer_test(
        layers.BlurPool2D, {"filter_size": 3},
        np.random.rand(2, 8, 8, 4).astype("float32"),
        expected_output_shape=(2, 4, 4, 4),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize("n", [1, 2, 3])
def test_blur_pool_small_maps_do_not_crash(n):
    y = layers.BlurPool2D(5)(np.ones((1, n, n, 2), "float32"))
    np.testing.assert_allclose(np.asarray(y), 1.0, rtol=1e-6)


def _pasa_reference(x, layer):
    """Direct numpy PASA: conv -> BN (inference) -> softmax -> filter."""
    k, g, s = layer.filter_size, layer.groups, layer.strides
    p = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
    w = np.asarray(layer.conv.kernel)
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))
    logits = np.einsum("bijcuv,uvco->bijo", win, w)
    gamma, beta, mean, var = (np.asarray(v) for v in layer.bn.weights)
    logits = (logits - mean) / np.sqrt(var + layer.epsilon) * gamma + beta
    b, h, wd, _ = logits.shape
    if layer.softmax == "joint":
        logits = np.exp(logits - logits.max(-1, keepdims=True))
        sig = (logits / logits.sum(-1, keepdims=True)).reshape(
            b, h, wd, g, k * k)
    else:
        sig = logits.reshape(b, h, wd, g, k * k)
        sig = np.exp(sig - sig.max(-1, keepdims=True))
        sig /= sig.sum(-1, keepdims=True)
    c = x.shape[-1]
    out = np.zeros_like(x)
    for ch in range(c):
        grp = ch // (c // g)
        for t in range(k * k):
            di, dj = divmod(t, k)
            out[..., ch] += sig[..., grp, t] * xp[:, di:di + h, dj:dj + wd, ch]
    return out[:, ::s, ::s]


@pytest.mark.parametrize("softmax", ["group", "joint"])
def test_adaptive_blur_pool_matches_numpy(softmax):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 8, 8)).astype("float32")
    layer = layers.AdaptiveBlurPool2D(groups=2, softmax=softmax)
    layer.build(x.shape)
    for v in layer.bn.weights:
        v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
    y = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(y, _pasa_reference(x, layer), rtol=1e-4,
                               atol=1e-5)


def test_adaptive_blur_pool_is_a_low_pass_average():
    # Constant input stays constant: the kernels are positive and sum to 1.
    y = layers.AdaptiveBlurPool2D(groups=4)(np.full((1, 6, 6, 8), 2.0, "f4"))
    np.testing.assert_allclose(np.asarray(y), 2.0, rtol=1e-5)


def test_adaptive_blur_pool_contract():
    run_layer_test(
        layers.AdaptiveBlurPool2D, {"groups": 2},
        np.random.rand(2, 8, 8, 4).astype("float32"),
        expected_output_shape=(2, 4, 4, 4),
        expected_num_trainable_weights=3,
        expected_num_non_trainable_weights=2,
    )


def test_zoo_zou_models_use_the_reference_joint_softmax():
    from keras_cmod import zoo

    model = zoo.create_model("resnet18_ablurpool_cmod",
                             input_shape=(64, 64, 3))
    pools = [layer for layer in model.layers
             if isinstance(layer, layers.AdaptiveBlurPool2D)]
    pools.append(model.get_layer("stem").pool_layers[-1])
    assert pools and all(p.softmax == "joint" for p in pools)


@pytest.mark.parametrize("n_in,n_out", [(6, 6), (13, 6), (1, 6), (4, 6),
                                        (7, 3)])
def test_adaptive_avg_pool_torch_bins(n_in, n_out):
    x = np.random.default_rng(0).standard_normal((1, n_in, n_in + 1, 2))
    y = np.asarray(layers.AdaptiveAvgPool2D(n_out)(x.astype("float32")))
    ref = np.zeros((1, n_out, n_out, 2))
    for i in range(n_out):
        r0, r1 = (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)
        for j in range(n_out):
            w = n_in + 1
            c0, c1 = (j * w) // n_out, -(-((j + 1) * w) // n_out)
            ref[0, i, j] = x[0, r0:r1, c0:c1].mean(axis=(0, 1))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
