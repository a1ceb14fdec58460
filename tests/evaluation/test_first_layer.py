"""RMax vs CMod comparison helpers (keras_cmod.evaluation.first_layer)."""

import numpy as np
import pytest

from keras_cmod.evaluation import first_layer as fl


def test_match_spatial_size_centre_crops_half_to_even():
    a = np.arange(5 * 5).reshape(1, 5, 5, 1).astype(float)
    b = np.zeros((1, 3, 4, 1))
    ac, bc = fl.match_spatial_size(a, b)
    assert ac.shape == bc.shape == (1, 3, 4, 1)
    # rows: (5 - 3) / 2 = 1; columns: (5 - 4) / 2 = 0.5 -> 0 (half to even)
    np.testing.assert_array_equal(ac, a[:, 1:4, 0:4])
    np.testing.assert_array_equal(bc, b)


def test_match_spatial_size_bad_input():
    with pytest.raises(ValueError, match="channel count"):
        fl.match_spatial_size(np.zeros((1, 4, 4, 2)), np.zeros((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="height, width, channels"):
        fl.match_spatial_size(np.zeros((4, 4)), np.zeros((4, 4)))


def test_similarity_measures_hand_cases():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 6, 6, 3))
    np.testing.assert_allclose(fl.cosine_similarity(a, a), 1.0)
    np.testing.assert_allclose(fl.cosine_similarity(a, 2 * a), 1.0)
    np.testing.assert_allclose(fl.cosine_similarity(a, -a), -1.0)
    np.testing.assert_allclose(fl.relative_l2(a, 2 * a), 1.0)
    np.testing.assert_allclose(fl.relative_l2(a, a), 0.0)
    np.testing.assert_allclose(fl.normalized_l2(a, 3 * a), 0.0, atol=1e-7)
    np.testing.assert_allclose(fl.normalized_l2(a, -a), 2.0)
    # Orthogonal channels: cos = 0, scale-free distance sqrt(2).
    x = np.zeros((1, 2, 2, 1))
    y = np.zeros((1, 2, 2, 1))
    x[0, 0, 0, 0] = 1.0
    y[0, 1, 1, 0] = 5.0
    assert fl.cosine_similarity(x, y)[0] == 0.0
    assert fl.normalized_l2(x, y)[0] == pytest.approx(np.sqrt(2))
    assert np.isnan(fl.cosine_similarity(x, np.zeros_like(x))[0])


def test_compare_feature_maps_with_numpy_callables(chelsea):
    img = chelsea[:64, :64]

    def rmax_fn(x):  # 32 x 32
        return x[:, ::2, ::2]

    def cmod_fn(x):  # 30 x 30, same content, twice as large
        return 2 * x[:, 2:-2:2, 2:-2:2]

    out = fl.compare_feature_maps(rmax_fn, cmod_fn, [img, img[::-1]],
                                  batch_size=1)
    assert out["rmax_shape"] == [32, 32, 3]
    assert out["cmod_shape"] == [30, 30, 3]
    assert out["common_shape"] == [30, 30, 3]
    np.testing.assert_allclose(out["cosine"], 1.0)
    np.testing.assert_allclose(out["relative_l2"], 1.0)
    assert out["normalized_l2_mean"] == pytest.approx(0.0, abs=1e-6)
    assert out["num_images"] == 2


def test_shifted_crops_offsets():
    rows, cols = np.meshgrid(np.arange(12), np.arange(12), indexing="ij")
    img = np.stack([rows, cols, 0 * rows], -1).astype(np.float32)
    frames = fl.shifted_crops(img, shifts=[1, 3], direction="diagonal")
    assert frames.shape == (3, 9, 9, 3)  # 12 - max shift 3
    assert [tuple(f[0, 0, :2]) for f in frames] == [(0, 0), (1, 1), (3, 3)]
    frames = fl.shifted_crops(img, [2], "vertical", crop_size=5)
    assert [tuple(f[0, 0, :2]) for f in frames] == [(0, 0), (2, 0)]
    with pytest.raises(ValueError, match="does not fit"):
        fl.shifted_crops(img, [4], "horizontal", crop_size=9)


def _subsample(x):
    return x[:, ::2, ::2]


def test_relative_shift_change_of_equivariant_maps(astronaut):
    img = astronaut[:40, :40]
    # The identity is shift-equivariant: with stride 1 the aligned maps
    # are equal, so every relative change is 0.
    res = fl.relative_shift_change(lambda x: x, [img], stride=1)
    assert res["shifts"] == list(range(1, 9))
    np.testing.assert_allclose(res["mean"], 0.0, atol=1e-7)
    # Subsampling by 2: even shifts are whole output pixels (compensated,
    # 0 change); odd shifts leave half an output pixel (aliasing, > 0).
    res = fl.relative_shift_change(_subsample, [img],
                                   direction="horizontal", stride=2)
    mean = np.asarray(res["mean"])
    np.testing.assert_allclose(mean[1::2], 0.0, atol=1e-7)
    assert np.all(mean[0::2] > 0.01)
    # Without compensation every shift changes the maps.
    res = fl.relative_shift_change(_subsample, [img],
                                   direction="horizontal")
    assert np.all(np.asarray(res["mean"]) > 0.01)


def test_relative_shift_change_hand_computed():
    # 1 channel, f = identity, horizontal shift 1 of the row [0, 1, 4, 9]:
    # crops of width 3: f0 = [0, 1, 4], f1 = [1, 4, 9];
    # sqrt(sum (f0 - f1)^2 / sum f0^2) = sqrt((1 + 9 + 25) / 17).
    img = np.array([0.0, 1.0, 4.0, 9.0]).reshape(1, 4, 1) * np.ones(
        (3, 1, 1)
    )
    res = fl.relative_shift_change(lambda x: x, [img], [1], "horizontal",
                                   crop_size=3)
    assert res["per_channel"][0][0] == pytest.approx(np.sqrt(35 / 17))


def test_first_layer_stability_result(chelsea):
    img = chelsea[:48, :48]

    def smooth(x):  # 2 x 2 average then subsample: less aliasing
        return (x[:, :-1:2, :-1:2] + x[:, 1::2, :-1:2] + x[:, :-1:2, 1::2]
                + x[:, 1::2, 1::2]) / 4

    out = fl.first_layer_stability(_subsample, smooth, [img], stride=2)
    assert set(out) >= {"shifts", "rmax", "cmod", "stride", "direction"}
    assert len(out["rmax"]) == len(out["cmod"]) == 8
    assert np.mean(out["cmod"]) < np.mean(out["rmax"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shifts=[]), "must not be empty"),
        (dict(shifts=[0, 1]), r"shifts\[0\]"),
        (dict(shifts="horizontal"), "sequence of positive ints"),
        (dict(direction="left"), "direction"),
        (dict(stride=0), "stride"),
        (dict(shifts=[8], stride=1, crop_size=4), "no common region"),
        (dict(normalize=True), "mean"),
    ],
)
def test_relative_shift_change_bad_input(kwargs, match):
    img = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(ValueError, match=match):
        fl.relative_shift_change(lambda x: x, [img], **kwargs)


def test_feature_fn_must_return_maps():
    img = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(ValueError, match="4-D"):
        fl.relative_shift_change(lambda x: x.mean(axis=(1, 2)), [img])


def test_compare_feature_maps_streams_images_of_different_sizes(chelsea):
    images = [chelsea[:32, :32], chelsea[:32, :32], chelsea[:40, :48]]

    def rmax_fn(x):
        return x[:, ::2, ::2]

    def cmod_fn(x):
        return -x[:, ::2, ::2]

    out = fl.compare_feature_maps(rmax_fn, cmod_fn, iter(images),
                                  batch_size=5)
    assert out["num_images"] == 3
    assert out["common_shape"] == [16, 16, 3]  # of the first image
    np.testing.assert_allclose(out["cosine"], -1.0)
    np.testing.assert_allclose(out["relative_l2"], 2.0)
