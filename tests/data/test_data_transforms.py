"""Per-image transforms against torchvision's definitions."""

import numpy as np
import pytest
import tensorflow as tf

from keras_cmod.data import transforms as T


@pytest.mark.parametrize(
    "diff, offset",
    # torchvision: int(round(diff / 2.0)), Python rounds half to even.
    [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 2), (7, 4), (9, 4), (32, 16)],
)
def test_center_crop_offsets_round_half_even(diff, offset):
    assert T.center_crop_offsets(10 + diff, 20 + diff, 10, 20) == (
        offset,
        offset,
    )
    top, left = T.center_crop_offsets(
        tf.constant(10 + diff), tf.constant(20 + diff), 10, 20
    )
    assert (int(top), int(left)) == (offset, offset)


def test_center_crop_values_on_odd_differences():
    img = np.arange(7 * 9 * 2, dtype=np.float32).reshape(7, 9, 2)
    out = T.center_crop(tf.constant(img), 4, 4)
    # dh = 3 -> round(1.5) = 2 ; dw = 5 -> round(2.5) = 2.
    np.testing.assert_array_equal(out.numpy(), img[2:6, 2:6])
    assert out.shape == (4, 4, 2)


def test_center_crop_pads_small_images_like_torchvision():
    img = np.ones((2, 3, 1), np.float32)
    out = T.center_crop(tf.constant(img), 5, 4).numpy()[..., 0]
    # pad top (5-2)//2 = 1, bottom 2; left (4-3)//2 = 0, right 1.
    expected = np.zeros((5, 4), np.float32)
    expected[1:3, 0:3] = 1
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "hw, size, expected",
    [
        ((375, 500), 224, (224, 298)),  # 224 * 500 / 375 = 298.67 -> 298
        ((500, 375), 224, (298, 224)),
        ((256, 256), 224, (224, 224)),
        ((37, 1000), 32, (32, 864)),  # 864.86 -> 864 (truncated)
        ((20, 10), 32, (64, 32)),  # up-sampling
    ],
)
def test_resize_shorter_side_size(hw, size, expected):
    h, w = T.resize_shorter_side_size(
        tf.constant(hw[0]), tf.constant(hw[1]), size
    )
    assert (int(h), int(w)) == expected
    img = tf.zeros(hw + (3,))
    assert tuple(T.resize_shorter_side(img, size).shape) == expected + (3,)


def test_resize_same_size_is_identity():
    img = tf.constant(
        np.random.RandomState(0).uniform(0, 255, (32, 40, 3)), tf.float32
    )
    out = T.resize_shorter_side(img, 32, "bicubic")
    np.testing.assert_array_equal(out.numpy(), img.numpy())


def test_bilinear_antialias_matches_pil_within_rounding():
    pil = pytest.importorskip("PIL.Image")
    skdata = pytest.importorskip("skimage.data")
    img = skdata.astronaut()[:, :480]  # 512 x 480
    out = T.resize_shorter_side(tf.constant(img, tf.float32), 100).numpy()
    assert out.shape == (106, 100, 3)  # int(100 * 512 / 480) = 106
    ref = np.asarray(
        pil.fromarray(img).resize((100, 106), pil.BILINEAR), np.float32
    )
    diff = np.abs(out - ref)
    assert diff.max() <= 1.0
    assert diff.mean() < 0.2
    np.testing.assert_array_equal(out, np.round(out))  # uint8 grid


@tf.function
def _boxes(seeds, height, width, scale, ratio):
    return tf.map_fn(
        lambda s: tf.stack(
            T.random_resized_crop_box(s, height, width, scale, ratio)
        ),
        seeds,
        fn_output_signature=tf.int32,
    )


@pytest.mark.parametrize("hw", [(100, 120), (37, 200), (240, 31)])
def test_random_resized_crop_boxes_inside_and_within_bounds(hw):
    height, width = hw
    seeds = tf.constant(
        np.random.RandomState(1).randint(0, 2**31, (300, 2)), tf.int64
    )
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    boxes = _boxes(seeds, height, width, scale, ratio).numpy()
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (h > 0).all() and (w > 0).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    # Rounding w and h to integers moves area and ratio by < 0.5 px a side.
    area = height * width
    assert ((w + 0.5) * (h + 0.5) >= scale[0] * area).all()
    assert ((w - 0.5) * (h - 0.5) <= scale[1] * area).all()
    assert ((w + 0.5) / (h - 0.5) >= ratio[0]).all()
    assert ((w - 0.5) / (h + 0.5) <= ratio[1]).all()
    # The boxes are random: many distinct ones.
    assert len({tuple(b) for b in boxes}) > 100


@pytest.mark.parametrize(
    "hw, expected",
    [
        # in_ratio 100 > 4/3: h = H, w = round(10 * 4/3) = 13, centred.
        ((10, 1000), (0, 493, 10, 13)),
        # in_ratio 0.01 < 3/4: w = W, h = round(10 / 0.75) = 13, centred.
        ((1000, 10), (493, 0, 13, 10)),
    ],
)
def test_random_resized_crop_fallback_is_torchvision_centre_crop(hw, expected):
    # With scale >= 0.5 no draw can fit such an elongated image.
    box = T.random_resized_crop_box(
        tf.constant([3, 4], tf.int64), hw[0], hw[1], (0.5, 1.0)
    )
    assert tuple(int(v) for v in box) == expected


def test_random_resized_crop_output_shape_and_seed():
    img = tf.constant(
        np.random.RandomState(0).randint(0, 256, (50, 70, 3)), tf.float32
    )
    a = T.random_resized_crop(img, tf.constant([1, 2]), 24, 32)
    b = T.random_resized_crop(img, tf.constant([1, 2]), 24, 32)
    c = T.random_resized_crop(img, tf.constant([5, 6]), 24, 32)
    assert a.shape == (24, 32, 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    assert a.numpy().min() >= 0 and a.numpy().max() <= 255


def test_five_and_ten_crop_order():
    img = np.arange(6 * 7 * 1, dtype=np.float32).reshape(6, 7, 1)
    crops = T.ten_crop(tf.constant(img), 4, 4).numpy()
    assert crops.shape == (10, 4, 4, 1)
    expected = [
        img[0:4, 0:4],  # top-left
        img[0:4, 3:7],  # top-right
        img[2:6, 0:4],  # bottom-left
        img[2:6, 3:7],  # bottom-right
        img[1:5, 2:6],  # centre: round(2/2)=1, round(3/2)=2
    ]
    for i in range(5):
        np.testing.assert_array_equal(crops[i], expected[i])
        np.testing.assert_array_equal(crops[5 + i], expected[i][:, ::-1])


def test_random_flip_probabilities():
    img = tf.constant(np.arange(12, dtype=np.float32).reshape(2, 6, 1))
    seed = tf.constant([0, 1])
    never = T.random_flip_left_right(img, seed, 0.0).numpy()
    always = T.random_flip_left_right(img, seed, 1.0).numpy()
    np.testing.assert_array_equal(never, img.numpy())
    np.testing.assert_array_equal(always, img.numpy()[:, ::-1])


def test_normalize():
    out = T.normalize(tf.fill([2, 2, 3], 0.5), (0.5, 0.25, 0.0), (1, 0.5, 2))
    np.testing.assert_allclose(out.numpy()[0, 0], [0.0, 0.5, 0.25])
