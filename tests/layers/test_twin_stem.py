import numpy as np
import pytest
from np_reference import center_crop, conv2d_nhwc, dtcwpt_dense, max_pool
from testing import run_layer_test, run_model_saving_test

from keras_cmod import layers, wavelets


def _randomize(stem, seed=0):
    """Non-trivial weights and statistics, so that the test can fail."""
    rng = np.random.default_rng(seed)
    for w in stem.weights:
        if "moving_variance" in w.path or "moving_energy" in w.path:
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype("float32"))
        else:
            w.assign(rng.normal(0, 0.3, w.shape).astype("float32")
                     + np.asarray(w))


def _bn(x, layer):
    g, b, mean, var = (np.asarray(v) for v in layer.weights)
    return (x - mean) / np.sqrt(var + layer.epsilon) * g + b


def reference_stem(stem, x):
    """Dense equivalent-kernel computation of a TwinStem (inference)."""
    fam, mode = stem.family, stem.mode
    assert stem.antialias == "none"
    p, m = stem.free_padding, stem.conv_stride
    wk = [np.asarray(v) for v in stem.free_conv.weights]
    free = conv2d_nhwc(x, wk[0], m, p, wk[1] if len(wk) > 1 else None)
    g = stem.gabor
    sel = g.packet_selection
    lum = x @ np.asarray(g.colormix)
    kernels = wavelets.dtcwpt_kernels(sel.depth)[list(sel.packets)]
    P = stem.gabor_padding
    d = dtcwpt_dense(lum.astype(float), kernels, m, P)  # stride m
    z = d @ np.asarray(g.mixing_matrix())
    if g.use_bias:
        z = z + np.asarray(g.bias)
    t_h = min(free.shape[1], z.shape[1])
    t_w = min(free.shape[2], z.shape[2])
    free, z = center_crop(free, t_h, t_w), center_crop(z, t_h, t_w)
    if mode == "rmax":
        y = np.concatenate([free, z.real], -1)
        if fam == "resnet":
            y = _bn(y, stem.pool_layers[0])
        y = np.maximum(y, 0)
        return max_pool(y, 3, 2, pad=1 if fam == "resnet" else 0)
    if fam == "resnet":
        free = _bn(free, stem.pool_layers[0])
    free = max_pool(np.maximum(free, 0), 3, 2, pad=1 if fam == "resnet"
                    else 0)
    mod = np.abs(z[:, ::2, ::2])
    if fam == "resnet":
        gamma, beta, energy = (np.asarray(v) for v in stem.gabor_norm.weights)
        mod = mod / np.sqrt(energy / 2 + 1e-5) * np.abs(gamma) + beta
    else:
        mod = mod + np.asarray(stem.gabor_norm.bias)
    mod = np.maximum(mod, 0)
    h = min(free.shape[1], mod.shape[1])
    w = min(free.shape[2], mod.shape[2])
    return np.concatenate([center_crop(free, h, w), center_crop(mod, h, w)],
                          -1)


@pytest.mark.parametrize("family,mode,shape", [
    ("resnet", "rmax", (40, 40)),
    ("resnet", "cmod", (40, 40)),
    ("resnet", "cmod", (37, 45)),  # odd and non-square
    ("resnet", "rmax", (33, 48)),
    ("alexnet", "rmax", (80, 80)),
    ("alexnet", "cmod", (80, 80)),
    ("alexnet", "cmod", (75, 86)),
])
def test_stem_equals_dense_equivalent_kernels(family, mode, shape):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (2, *shape, 3)).astype("float32")
    stem = layers.TwinStem(family, mode)
    stem.build(x.shape)
    _randomize(stem)
    y = np.asarray(stem(x, training=False))
    ref = reference_stem(stem, x.astype(np.float64))
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-4,
                               atol=1e-4 * max(1, np.abs(ref).max()))


@pytest.mark.parametrize("family,mode,antialias,size,out", [
    ("alexnet", "rmax", "none", 224, 27),
    ("alexnet", "cmod", "none", 224, 27),
    ("alexnet", "rmax", "blurpool", 224, 27),
    ("alexnet", "cmod", "blurpool", 224, 27),
    ("resnet", "rmax", "none", 224, 56),
    ("resnet", "cmod", "none", 224, 56),
    ("resnet", "cmod", "blurpool", 224, 56),
    ("resnet", "cmod", "adaptive_blurpool", 224, 56),
    ("resnet", "rmax", "none", 32, 8),
    ("resnet", "cmod", "none", 32, 8),
])
def test_layer1_output_shapes(family, mode, antialias, size, out):
    import keras

    stem = layers.TwinStem(family, mode, antialias)
    y = stem(keras.KerasTensor((1, size, size, 3)))
    assert tuple(y.shape) == (1, out, out, 64)
    assert stem.compute_output_shape((1, size, size, 3)) == (1, out, out, 64)


@pytest.mark.parametrize("family,mode,antialias,trainable", [
    ("alexnet", "rmax", "none", 11889),
    ("alexnet", "cmod", "none", 11889),
    ("alexnet", "cmod", "blurpool", 11889),
    ("resnet", "rmax", "none", 5907 + 128),
    ("resnet", "cmod", "none", 5907 + 128),
    ("resnet", "rmax", "adaptive_blurpool", 5907 + 128 + 41616),
    ("resnet", "cmod", "adaptive_blurpool", 5907 + 128 + 16290),
])
def test_layer1_parameter_counts(family, mode, antialias, trainable):
    stem = layers.TwinStem(family, mode, antialias)
    stem.build((None, 224, 224, 3))
    n = sum(int(np.prod(w.shape)) for w in stem.trainable_weights)
    assert n == trainable


@pytest.mark.parametrize("selection", ["resnet", "alexnet"])
def test_cmod_more_stable_than_rmax_on_a_real_photo(selection):
    """Same complex kernels: |x * W| at stride 2m vs MaxPool(Re(x * W)).

    Each kept packet of the twin's DT-CWPT is used as a Gabor channel. On
    scikit-image's astronaut (luminance), the output of the image shifted
    by 1..4 px is compared with the output of the unshifted image, aligned
    on the nearest whole output sample; the relative L2 change is taken per
    channel. CMod changes less than RMax on average over the shifts, and at
    every shift except exactly half the total stride 2m (where no output
    alignment is right and both operators change about as much).
    """
    import keras

    skimage = pytest.importorskip("skimage")
    img = skimage.data.astronaut().astype("float32") / 255.0
    lum = img @ np.array([0.299, 0.587, 0.114], "float32")
    sel = wavelets.PACKET_SELECTIONS[selection]
    m = 2 ** (sel.depth - 1)
    total = 2 * m
    transform = layers.DTCWPT2D(sel.depth, m, packets=list(sel.packets),
                                padding=wavelets.dtcwpt_padding(sel.depth, m))
    size = 192
    mean_r, mean_c = [], []
    for shift in (1, 2, 3, 4):
        x = np.stack([lum[50:50 + size, 50:50 + size],
                      lum[50 + shift:50 + shift + size, 50:50 + size]])
        z = np.asarray(transform(x[..., None]))
        re, im = z[..., 0::2], z[..., 1::2]
        rmax = np.asarray(keras.ops.max_pool(
            np.pad(re, ((0, 0), (1, 1), (1, 1), (0, 0)),
                   constant_values=-np.inf), 3, 2))
        cmod = np.sqrt(re**2 + im**2)[:, ::2, ::2]
        k = int(np.floor(shift / total + 0.5))
        h = min(rmax.shape[1], cmod.shape[1]) - 4

        def change(y):
            a = y[0, 2 + k:2 + h, 2:2 + h]
            b = y[1, 2:2 + h - k, 2:2 + h]
            return np.median(np.linalg.norm(a - b, axis=(0, 1))
                             / np.linalg.norm(a, axis=(0, 1)))

        dr, dc = change(rmax), change(cmod)
        mean_r.append(dr)
        mean_c.append(dc)
        if 2 * shift != total:
            assert dc < dr, (shift, dc, dr)
    assert np.mean(mean_c) < 0.8 * np.mean(mean_r)


@pytest.mark.parametrize("family,mode,antialias", [
    ("resnet", "cmod", "none"),
    ("resnet", "rmax", "blurpool"),
    ("alexnet", "cmod", "none"),
    pytest.param("alexnet", "rmax", "none", marks=pytest.mark.slow),
])
def test_layer_contract(family, mode, antialias):
    size = 48 if family == "resnet" else 80
    run_layer_test(
        layers.TwinStem,
        {"family": family, "mode": mode, "antialias": antialias},
        np.random.rand(2, size, size, 3).astype("float32"),
    )


def test_saving_round_trip():
    import keras

    inp = keras.Input((48, 48, 3))
    model = keras.Model(inp, layers.TwinStem("resnet", "cmod",
                                             name="stem")(inp))
    run_model_saving_test(model, np.random.rand(2, 48, 48, 3).astype("f4"))


def test_mixed_precision_matches_float32():
    x = np.random.default_rng(0).uniform(0, 1, (1, 48, 48, 3)).astype("f4")
    a = layers.TwinStem("resnet", "cmod")
    b = layers.TwinStem("resnet", "cmod", dtype="mixed_float16")
    a.build(x.shape)
    b.build(x.shape)
    for u, v in zip(a.weights, b.weights):
        v.assign(u)
    ya = np.asarray(a(x))
    yb = np.asarray(b(x)).astype("float32")
    np.testing.assert_allclose(yb, ya, atol=2e-2 * np.abs(ya).max())


@pytest.mark.parametrize("family", ["resnet", "alexnet"])
def test_gabor_response_matches_the_stem(family):
    """Pre-activation responses equal the stem's Gabor outputs' sources."""
    size = 48 if family == "resnet" else 80
    x = np.random.default_rng(2).uniform(0, 1, (2, size, size, 3)).astype(
        "float32")
    rmax = layers.TwinStem(family, "rmax")
    cmod = layers.TwinStem(family, "cmod")
    rmax.build(x.shape)
    cmod.build(x.shape)
    for a, b in zip(cmod.gabor.weights, rmax.gabor.weights):
        b.assign(a)
    r = np.asarray(rmax.gabor_response(x))
    c = np.asarray(cmod.gabor_response(x))
    assert r.shape == c.shape == (2, *cmod.compute_output_shape(
        x.shape)[1:3], cmod.gabor_filters)
    # CMod stem output (AlexNet: relu(|Z| + b)) is built on the response.
    if family == "alexnet":
        y = np.asarray(cmod(x))[..., 32:]
        b = np.asarray(cmod.gabor_norm.bias)
        np.testing.assert_allclose(y, np.maximum(c + b, 0), atol=1e-5)
    # Dense reference: Z at stride m, crops, then max pool / subsample.
    g = cmod.gabor
    sel = g.packet_selection
    lum = x.astype(float) @ np.asarray(g.colormix)
    kernels = wavelets.dtcwpt_kernels(sel.depth)[list(sel.packets)]
    z = dtcwpt_dense(lum, kernels, cmod.conv_stride, cmod.gabor_padding)
    z = z @ np.asarray(g.mixing_matrix())
    m, k, p = cmod.conv_stride, cmod.free_kernel, cmod.free_padding
    nf = (size + 2 * p - k) // m + 1
    t = min(nf, z.shape[1])
    z = center_crop(z, t, t)
    pad = 1 if family == "resnet" else 0
    ref_r = max_pool(z.real, 3, 2, pad=pad)
    ref_c = center_crop(np.abs(z[:, ::2, ::2]), r.shape[1], r.shape[2])
    np.testing.assert_allclose(r, ref_r, atol=1e-4 * np.abs(ref_r).max())
    np.testing.assert_allclose(c, ref_c, atol=1e-4 * np.abs(ref_c).max())
    with pytest.raises(ValueError, match="mode='rmax'"):
        cmod.gabor_response(x, mode="rmax")


def test_cmod_stem_with_bn0_is_exact_near_zero_responses():
    """The CMod stem (modulus, then ModulusBatchNorm) equals a float64
    computation of the same operator to 1e-5 of its range everywhere,
    including where the Gabor responses are near zero (a flat region: the
    band-pass packets vanish there)."""
    rng = np.random.default_rng(3)
    x = np.full((2, 64, 64, 3), 0.5)
    x[:, :, 32:] = rng.uniform(0, 1, (2, 64, 32, 3))
    x = x.astype("float32")
    stem = layers.TwinStem("resnet", "cmod")
    stem.build(x.shape)
    _randomize(stem)
    ref = reference_stem(stem, x.astype(np.float64))
    gabor = slice(stem.free_filters, None)
    near_zero = np.abs(ref[..., gabor]) < 1e-3 * np.abs(ref).max()
    assert near_zero.mean() > 0.2  # the flat half is really tested
    y = np.asarray(stem(x, training=False)).astype(np.float64)
    err = np.abs(y - ref) / np.abs(ref).max()
    assert err.max() <= 1e-5, err.max()
    # The old floor (1e-7 under |z|^2) is off by far more.
    old = layers.TwinStem("resnet", "cmod", epsilon=1e-7)
    old.build(x.shape)
    old.set_weights(stem.get_weights())
    y_old = np.asarray(old(x, training=False)).astype(np.float64)
    assert (np.abs(y_old - ref) / np.abs(ref).max()).max() > 1e-5
