"""Frame generators of the shift protocols (keras_cmod.evaluation.shifts)."""

import numpy as np
import pytest

from keras_cmod.evaluation import shifts


def _index_image(h, w):
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([rows, cols, np.zeros_like(rows)], -1).astype(
        np.float64
    )


@pytest.mark.parametrize(
    "direction, expected",
    [
        ("vertical", [[0, 0], [1, 0], [2, 0]]),
        ("horizontal", [[0, 0], [0, 1], [0, 2]]),
        ("diagonal", [[0, 0], [1, 1], [2, 2]]),
    ],
)
def test_shift_offsets(direction, expected):
    np.testing.assert_array_equal(
        shifts.shift_offsets(direction, 2), expected
    )


@pytest.mark.parametrize("direction", ["vertical", "horizontal", "diagonal"])
def test_flip_rate_frames_are_sliding_crops(direction):
    # 12 x 12 image = crop 8 + max shift 4: no resize, no centre crop.
    img = _index_image(12, 12)
    frames = shifts.flip_rate_frames(img, direction, crop_size=8,
                                     max_shift=4)
    assert frames.shape == (5, 8, 8, 3)
    for t, (top, left) in enumerate(shifts.shift_offsets(direction, 4)):
        np.testing.assert_array_equal(frames[t], img[top:top + 8,
                                                     left:left + 8])


def test_flip_rate_frames_centre_crop_without_resize():
    img = _index_image(15, 20)  # base 12 x 12 at offsets (2, 4)
    frames = shifts.flip_rate_frames(img, "horizontal", 8, 4, resize=False)
    assert frames[0, 0, 0, 0] == 2  # round(1.5) = 2
    assert frames[0, 0, 0, 1] == 4
    assert frames[3, 0, 0, 1] == 7


def test_flip_rate_frames_imagenet_and_cifar_sizes(chelsea):
    frames = shifts.flip_rate_frames(chelsea, "diagonal")
    assert frames.shape == (9, 224, 224, 3)
    np.testing.assert_array_equal(frames[8][:-8, :-8], frames[0][8:, 8:])
    cifar = np.random.default_rng(0).random((32, 32, 3))
    frames = shifts.flip_rate_frames(cifar, "vertical",
                                     **shifts.CIFAR10_FLIP_RATE)
    assert frames.shape == (5, 32, 32, 3)  # from a 36 x 36 up-sampling


def test_half_pixel_frames_shift_by_half_pixels():
    # A column ramp v = j: patch k has values j + k, and the downsampling
    # rows sum to 1, so frame k = frame 0 + k, i.e. the ramp (slope 2 per
    # output pixel) moved by k / 2 output pixels.
    img = _index_image(12, 12)
    frames = shifts.half_pixel_shift_frames(
        img, "horizontal", output_size=4, max_shift=2, pixel_divide=2
    )
    assert frames.shape == (5, 4, 4, 3)
    for k in range(5):
        np.testing.assert_allclose(frames[k, ..., 1], frames[0, ..., 1] + k,
                                   atol=1e-12)
        np.testing.assert_allclose(frames[k, ..., 0], frames[0, ..., 0],
                                   atol=1e-12)
    # Interior samples of a downsampled ramp sit at 2 i + 0.5.
    np.testing.assert_allclose(frames[0, 0, 1:3, 1], [2.5, 4.5])
    np.testing.assert_array_equal(shifts.half_pixel_shifts(2, 2),
                                  [0, 0.5, 1, 1.5, 2])


def test_half_pixel_frames_imagenet_size(astronaut):
    frames = shifts.half_pixel_shift_frames(astronaut, "diagonal")
    assert frames.shape == (17, 224, 224, 3)
    assert len(shifts.half_pixel_shifts()) == 17
    # Two half-pixel steps = one whole pixel: frame 2 is frame 0 moved by
    # one pixel along both axes, away from the patch borders (where the
    # antialiasing kernel is truncated and renormalised).
    np.testing.assert_allclose(frames[2][1:-2, 1:-2], frames[0][2:-1, 2:-1],
                               atol=1e-5)


def test_zhang_crop_pairs_are_seeded_and_in_range(coffee):
    a, off_a = shifts.zhang_crop_pairs(coffee, n_pairs=20, seed=3)
    b, off_b = shifts.zhang_crop_pairs(coffee, n_pairs=20, seed=3)
    np.testing.assert_array_equal(off_a, off_b)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20, 2, 224, 224, 3)
    assert off_a.min() >= 0 and off_a.max() <= 32
    _, off_c = shifts.zhang_crop_pairs(coffee, n_pairs=20, seed=4)
    assert not np.array_equal(off_a, off_c)


def test_zhang_crop_pairs_content():
    img = _index_image(10, 10)
    frames, offsets = shifts.zhang_crop_pairs(
        img, n_pairs=5, seed=0, crop_size=6, resize_size=10
    )
    for pair, off in zip(frames, offsets):
        for frame, (top, left) in zip(pair, off):
            assert frame[0, 0, 0] == top and frame[0, 0, 1] == left


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda im: shifts.flip_rate_frames(im, "sideways"), "direction"),
        (lambda im: shifts.flip_rate_frames(im, "vertical", max_shift=0),
         "max_shift"),
        (lambda im: shifts.flip_rate_frames(im, "vertical", 8, 4,
                                            resize=False),
         "smaller than the crop"),
        (lambda im: shifts.flip_rate_frames(im[..., 0], "vertical"),
         "3-D"),
        (lambda im: shifts.half_pixel_shift_frames(im, "diagonal", 8,
                                                   pixel_divide=1.5),
         "pixel_divide"),
        (lambda im: shifts.zhang_crop_pairs(im, crop_size=9, resize_size=8),
         "must not exceed"),
        (lambda im: shifts.zhang_crop_pairs(im, seed="a"), "seed"),
    ],
)
def test_bad_input(call, match):
    img = np.zeros((10, 10, 3), np.float32)
    with pytest.raises(ValueError, match=match):
        call(img)
