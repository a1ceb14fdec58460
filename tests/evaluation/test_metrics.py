"""Accuracy, crop geometry and resizing (keras_cmod.evaluation.metrics)."""

import keras
import numpy as np
import pytest

from keras_cmod import evaluation as ev
from keras_cmod.evaluation import _image


def _index_image(h, w):
    """Channel 0 = row index, channel 1 = column index, channel 2 = 0."""
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([rows, cols, np.zeros_like(rows)], -1).astype(
        np.float32
    )


# --- top-k ------------------------------------------------------------------

SCORES = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [1.0, 0.0, 0.0]])
LABELS = np.array([2, 0, 0])


def test_top_k_hand_example():
    # top-1: only row 2 is right; top-2: row 0 (label 2 is 2nd), row 1
    # (label 0 ties with class 1 and wins on the lower index) and row 2.
    assert ev.top_k_accuracy(SCORES, LABELS, 1) == pytest.approx(100 / 3)
    assert ev.top_k_error(SCORES, LABELS, 1) == pytest.approx(200 / 3)
    assert ev.top_k_accuracy(SCORES, LABELS, 2) == 100.0
    assert ev.top_k_accuracy(SCORES, LABELS, 3) == 100.0


def test_top_k_ties_follow_argmax():
    scores = np.zeros((2, 4))
    assert ev.top_k_accuracy(scores, np.array([0, 1]), 1) == 50.0
    assert ev.top_k_accuracy(scores, np.array([1, 3]), 2) == 50.0


def test_top_k_logits_and_probabilities_agree():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 10))
    labels = rng.integers(0, 10, 50)
    for k in (1, 5):
        assert ev.top_k_accuracy(logits, labels, k) == ev.top_k_accuracy(
            ev.softmax(logits), labels, k
        )


def test_accuracy_metrics_keys_and_skip_large_k():
    out = ev.accuracy_metrics(SCORES, LABELS, top_k=(1, 5))
    assert out["top1_accuracy"] == pytest.approx(100 / 3)
    assert out["top1_error"] == pytest.approx(200 / 3)
    assert "top5_accuracy" not in out  # only 3 classes
    assert out["num_images"] == 3


@pytest.mark.parametrize(
    "scores, labels, k, match",
    [
        (SCORES, np.array([0, 1]), 1, "one label per row"),
        (SCORES, np.array([0, 1, 3]), 1, r"0\.\.2"),
        (SCORES, np.array([0.0, 1.0, 2.0]), 1, "integer"),
        (SCORES, LABELS, 4, "at most the number of classes"),
        (SCORES, LABELS, 0, "k"),
        (np.zeros((0, 3)), np.array([], int), 1, "non-empty"),
        (np.array([[np.nan, 1.0]]), np.array([0]), 1, "NaN"),
    ],
)
def test_top_k_bad_input(scores, labels, k, match):
    with pytest.raises(ValueError, match=match):
        ev.top_k_accuracy(scores, labels, k)


def test_softmax_rows_sum_to_one_and_are_stable():
    p = ev.softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(
        ev.log_softmax(np.array([[0.0, np.log(3.0)]])),
        np.log([[0.25, 0.75]]),
    )


# --- ten-crop aggregation ----------------------------------------------------


def test_average_crop_probabilities_hand_values():
    # Image 0: crops alternate p = (0.5, 0.5) and (0.75, 0.25) -> mean
    # (0.625, 0.375). Image 1: every crop p = (0.25, 0.75).
    a = [0.0, 0.0]
    b = [np.log(3.0), 0.0]
    c = [0.0, np.log(3.0)]
    logits = np.array([a, b] * 5 + [c] * 10)
    probs = ev.average_crop_probabilities(logits, num_crops=10)
    np.testing.assert_allclose(probs, [[0.625, 0.375], [0.25, 0.75]])
    again = ev.average_crop_probabilities(logits.reshape(2, 10, 2))
    np.testing.assert_allclose(again, probs)


def test_average_crop_probabilities_averages_softmax_not_logits():
    # Mean logits favour class 0 (3.33 vs 0.67); mean softmax favours 1.
    logits = np.array([[[10.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    probs = ev.average_crop_probabilities(logits)
    expected = ev.softmax(logits[0]).mean(0)
    np.testing.assert_allclose(probs[0], expected)
    assert probs[0, 0] > probs[0, 1]  # 0.51 vs 0.49 here


def test_average_crop_probabilities_bad_input():
    with pytest.raises(ValueError, match="multiple of num_crops=10"):
        ev.average_crop_probabilities(np.zeros((15, 3)), 10)
    with pytest.raises(ValueError, match="num_crops"):
        ev.average_crop_probabilities(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="2-D"):
        ev.average_crop_probabilities(np.zeros(10))


# --- crop geometry -----------------------------------------------------------


@pytest.mark.parametrize(
    "size, crop, offset",
    [
        (5, 2, 2),  # 1.5 -> 2 (half to even)
        (7, 2, 2),  # 2.5 -> 2
        (9, 2, 4),  # 3.5 -> 4
        (11, 2, 4),  # 4.5 -> 4
        (6, 2, 2),  # exact
        (4, 3, 0),  # 0.5 -> 0
        (256, 224, 16),
        (232, 224, 4),
        (336, 224, 56),
        (28, 27, 0),  # CMod branch 28 -> 27: 0.5 -> 0
    ],
)
def test_center_crop_offset_round_half_even(size, crop, offset):
    assert ev.center_crop_offset(size, crop) == offset


def test_center_crop_offset_rejects_large_crop():
    with pytest.raises(ValueError, match="crop_size=9, size=8"):
        ev.center_crop_offset(8, 9)


def test_center_crop_uses_the_offsets():
    img = _index_image(7, 5)
    crop = ev.center_crop(img, (2, 2))
    assert crop[0, 0, 0] == 2  # rows: (7 - 2) / 2 = 2.5 -> 2
    assert crop[0, 0, 1] == 2  # cols: (5 - 2) / 2 = 1.5 -> 2
    with pytest.raises(ValueError, match="smaller than the crop"):
        ev.center_crop(img, 6)


def test_five_crop_order():
    img = _index_image(10, 12)
    crops = ev.five_crop(img, 4)
    corners = [(c[0, 0, 0], c[0, 0, 1]) for c in crops]
    # top-left, top-right, bottom-left, bottom-right, centre (3, 4)
    assert corners == [(0, 0), (0, 8), (6, 0), (6, 8), (3, 4)]


def test_ten_crop_order_and_flips():
    img = _index_image(10, 12)
    crops = ev.ten_crop(img, crop_size=4, resize_size=10)
    assert crops.shape == (10, 4, 4, 3)
    np.testing.assert_array_equal(crops[:5], ev.five_crop(img, 4))
    mirror = img[:, ::-1]
    np.testing.assert_array_equal(crops[5:], ev.five_crop(mirror, 4))
    # The mirror's top-left crop is the original top-right crop, flipped.
    np.testing.assert_array_equal(crops[5], crops[1][:, ::-1])
    assert len(ev.TEN_CROP_ORDER) == 10
    assert ev.TEN_CROP_ORDER[:5] == (
        "top_left", "top_right", "bottom_left", "bottom_right", "center"
    )


def test_ten_crop_default_resize_sizes():
    img = np.zeros((300, 400, 3), np.float32)
    assert ev.ten_crop(img).shape == (10, 224, 224, 3)  # Resize(256)
    small = np.zeros((32, 32, 3), np.float32)
    out = ev.ten_crop(small, crop_size=32)  # Resize(36)
    assert out.shape == (10, 32, 32, 3)


def test_one_crop_matches_resize_then_center_crop(chelsea):
    # chelsea is 300 x 451: Resize(224) -> 224 x int(224 * 451 / 300) = 336.
    resized = ev.resize_shorter_side(chelsea, 224)
    assert resized.shape == (224, 336, 3)
    view = ev.one_crop(chelsea)
    assert view.shape == (1, 224, 224, 3)
    np.testing.assert_array_equal(view[0], resized[:, 56:280])
    view256 = ev.one_crop(chelsea, resize_size=256)
    assert view256.shape == (1, 224, 224, 3)


# --- resizing ----------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, size",
    [((448, 448), (224, 224)), ((37, 50), (16, 21)), ((32, 32), (36, 36))],
)
def test_resize_matches_keras_antialiased_bilinear(shape, size):
    rng = np.random.default_rng(0)
    img = rng.random(shape + (3,)).astype(np.float32)
    ours = _image.resize(img, size, antialias=True)
    ref = keras.ops.convert_to_numpy(
        keras.ops.image.resize(
            img, size, interpolation="bilinear", antialias=True
        )
    )
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_resize_matches_pil_bilinear():
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    img = rng.random((53, 41)).astype(np.float32)
    pil = np.asarray(
        Image.fromarray(img, mode="F").resize((17, 23), Image.BILINEAR)
    )
    ours = _image.resize(img[..., None], (23, 17))[..., 0]
    np.testing.assert_allclose(ours, pil, atol=1e-5)


def test_resize_identity_and_constant():
    rng = np.random.default_rng(0)
    img = rng.random((9, 7, 2)).astype(np.float32)
    np.testing.assert_array_equal(_image.resize(img, (9, 7)), img)
    const = np.full((30, 20, 3), 0.25, np.float32)
    np.testing.assert_allclose(
        ev.resize_shorter_side(const, 8), np.full((12, 8, 3), 0.25),
        atol=1e-7,
    )


# --- evaluate_accuracy -------------------------------------------------------


def _colour_classifier(batch):
    """Logits = mean colour: a red image is class 0, green 1, blue 2."""
    return batch.mean(axis=(1, 2))


def _colour_images():
    return [np.eye(3, dtype=np.float32)[c] * np.ones((40, 50, 1), np.float32)
            for c in range(3)]


@pytest.mark.parametrize("mode", ["one_crop", "ten_crop"])
def test_evaluate_accuracy_with_a_numpy_classifier(mode):
    images = _colour_images()
    out = ev.evaluate_accuracy(
        _colour_classifier, images, np.array([0, 1, 2]), mode=mode,
        crop_size=16, normalize=False, batch_size=4,
    )
    assert out["top1_accuracy"] == 100.0
    assert out["mode"] == mode
    wrong = ev.evaluate_accuracy(
        _colour_classifier, images, np.array([1, 2, 0]), mode=mode,
        crop_size=16, normalize=False, top_k=(1, 2),
    )
    assert wrong["top1_error"] == 100.0
    # The two other classes tie at 0 and the lower index ranks first:
    # labels 1 (red) and 0 (blue) come 2nd, label 2 (green) 3rd.
    assert wrong["top2_accuracy"] == pytest.approx(200 / 3)


def test_evaluate_accuracy_with_a_keras_model():
    inp = keras.Input((16, 16, 3))
    out = keras.layers.GlobalAveragePooling2D()(inp)
    model = keras.Model(inp, out)
    res = ev.evaluate_accuracy(
        model, _colour_images(), np.array([0, 1, 2]), mode="ten_crop",
        crop_size=16, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0],
    )
    assert res["top1_accuracy"] == 100.0


def test_evaluate_accuracy_bad_input():
    with pytest.raises(ValueError, match="one_crop"):
        ev.evaluate_accuracy(_colour_classifier, _colour_images(),
                             np.arange(3), mode="five_crop", normalize=False)
    with pytest.raises(ValueError, match="at least one image"):
        ev.evaluate_accuracy(_colour_classifier, [], np.arange(0),
                             normalize=False)
    with pytest.raises(ValueError, match="mean"):
        ev.evaluate_accuracy(_colour_classifier, _colour_images(),
                             np.arange(3), crop_size=16)
    with pytest.raises(ValueError, match="uint8"):
        ev.evaluate_accuracy(_colour_classifier,
                             [np.zeros((8, 8, 3), np.uint8)], np.arange(1),
                             crop_size=8, normalize=False)


def test_evaluate_accuracy_streams_and_checks_label_count():
    images = _colour_images()
    out = ev.evaluate_accuracy(
        _colour_classifier, (im for im in images), np.array([0, 1, 2]),
        crop_size=16, normalize=False, batch_size=2,
    )
    assert out["top1_accuracy"] == 100.0 and out["num_images"] == 3
    with pytest.raises(ValueError, match="more images than labels"):
        ev.evaluate_accuracy(_colour_classifier, images, np.array([0, 1]),
                             crop_size=16, normalize=False)
    with pytest.raises(ValueError, match="one label per image"):
        ev.evaluate_accuracy(_colour_classifier, images, np.arange(4) % 3,
                             crop_size=16, normalize=False)
