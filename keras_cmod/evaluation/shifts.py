"""Deterministic shifted frames for the paper's shift-invariance protocols.

Each generator takes one image, a `(height, width, channels)` float numpy
array (values in [0, 1] or already normalised), and returns a stack of
frames `(n_frames, size, size, channels)`. Shifts are crop based (sliding
windows over real image content), never circular. Directions:

- `"vertical"`: the crop window moves down by `t` rows (offset `(t, 0)`);
- `"horizontal"`: it moves right by `t` columns (offset `(0, t)`);
- `"diagonal"`: it moves along both axes (offset `(t, t)`).

The other axis stays at offset 0. Resizing follows `Resize(n)` of
torchvision on the reference code's PIL images: the shorter side becomes
`n`, the longer `int(n * long / short)`, with an antialiased bilinear
(triangle) kernel; centre crops round their offsets half to even. See
`keras_cmod.evaluation.metrics.resize_shorter_side`.

Protocols (the paper's KL divergence and mean flip rate, and Zhang 2019):

| generator | ImageNet | CIFAR-10 |
| --- | --- | --- |
| `flip_rate_frames` | Resize(232), CenterCrop(232), 9 crops of 224 | Resize(36), CenterCrop(36), 5 crops of 32 |
| `half_pixel_shift_frames` | Resize(464), CenterCrop(464), 17 crops of 448 -> 224 | (not used) |
| `zhang_crop_pairs` | Resize(256), CenterCrop(256), 2 random crops of 224 | (not used) |
"""  # noqa: E501

import numpy as np

from keras_cmod.evaluation import _image
from keras_cmod.evaluation._image import check_positive_int

DIRECTIONS = ("vertical", "horizontal", "diagonal")

CIFAR10_FLIP_RATE = {"crop_size": 32, "max_shift": 4}


def check_direction(direction):
    """Returns `direction` if it is one of `DIRECTIONS`.

    Args:
        direction: str.

    Returns:
        The same string.

    Raises:
        ValueError: if `direction` is not `"vertical"`, `"horizontal"` or
            `"diagonal"`.
    """
    if direction not in DIRECTIONS:
        raise ValueError(
            f"`direction` must be one of {DIRECTIONS}. "
            f"Received: direction={direction!r}"
        )
    return direction


def shift_offsets(direction, max_shift):
    """Crop offsets `(top, left)` for shifts `0..max_shift` along a direction.

    Args:
        direction: `"vertical"`, `"horizontal"` or `"diagonal"`.
        max_shift: int >= 1, the largest offset in pixels.

    Returns:
        An int array of shape `(max_shift + 1, 2)`; row `t` is `(t, 0)`,
        `(0, t)` or `(t, t)`.

    Raises:
        ValueError: for an unknown direction or `max_shift < 1`.
    """
    check_direction(direction)
    max_shift = check_positive_int(max_shift, "max_shift")
    t = np.arange(max_shift + 1)
    zero = np.zeros_like(t)
    if direction == "vertical":
        return np.stack([t, zero], axis=1)
    if direction == "horizontal":
        return np.stack([zero, t], axis=1)
    return np.stack([t, t], axis=1)


def _window_frames(base, offsets, size):
    return np.stack(
        [
            _image.crop(base, int(top), int(left), size, size, "the frame")
            for top, left in offsets
        ]
    )


def flip_rate_frames(image, direction, crop_size=224, max_shift=8,
                     resize=True, antialias=True):
    """Frames of the mean-flip-rate protocol.

    `Resize(crop_size + max_shift) -> CenterCrop(crop_size + max_shift)`,
    then `max_shift + 1` crops of `crop_size` at offsets `0..max_shift`
    along `direction`. ImageNet: 224 / 8 (frames from a 232 crop); CIFAR-10:
    32 / 4 (frames from a 36 crop, i.e. an up-sampled image).

    Args:
        image: float array `(height, width, channels)`.
        direction: `"vertical"`, `"horizontal"` or `"diagonal"`.
        crop_size: int, side of each frame. Defaults to 224.
        max_shift: int >= 1, the largest shift in pixels. Defaults to 8.
        resize: bool; if False the image is only centre-cropped and must
            already be at least `crop_size + max_shift` on each side.
        antialias: bool, antialiased bilinear resize (default, as PIL).

    Returns:
        Array `(max_shift + 1, crop_size, crop_size, channels)`; frame `t`
        is shifted by `t` pixels.

    Raises:
        ValueError: for an unknown direction, bad sizes, or (with
            `resize=False`) an image smaller than `crop_size + max_shift`.
    """
    check_direction(direction)
    crop_size = check_positive_int(crop_size, "crop_size")
    max_shift = check_positive_int(max_shift, "max_shift")
    base_size = crop_size + max_shift
    base = _image.resize_center_crop(
        image, base_size, base_size, resize, antialias
    )
    return _window_frames(base, shift_offsets(direction, max_shift),
                          crop_size)


def half_pixel_shifts(max_shift=8, pixel_divide=2):
    """Shift values of `half_pixel_shift_frames`, in output pixels.

    Args:
        max_shift: int >= 1, largest shift in output pixels. Defaults to 8.
        pixel_divide: int >= 1, sub-steps per pixel. Defaults to 2.

    Returns:
        Float array `[0, 1/pixel_divide, ..., max_shift]` of length
        `pixel_divide * max_shift + 1` (17 values for 8 and 2).

    Raises:
        ValueError: if an argument is not a positive integer.
    """
    max_shift = check_positive_int(max_shift, "max_shift")
    pixel_divide = check_positive_int(pixel_divide, "pixel_divide")
    return np.arange(pixel_divide * max_shift + 1) / pixel_divide


def half_pixel_shift_frames(image, direction, output_size=224, max_shift=8,
                            pixel_divide=2, resize=True, antialias=True):
    """Frames of the KL-divergence protocol with fractional shifts.

    With `d = pixel_divide`: `Resize(d * (output_size + max_shift))` of the
    shorter side and a centre crop of that size (464 for ImageNet), then
    `d * max_shift + 1` patches of `d * output_size` (448) at offsets
    `0..d * max_shift` (0..16) along `direction`, each downsampled to
    `output_size` (224) with an antialiased bilinear (triangle) resize.
    Frame `k` is therefore shifted by `k / d` output pixels (0, 0.5, ..., 8).

    Args:
        image: float array `(height, width, channels)`.
        direction: `"vertical"`, `"horizontal"` or `"diagonal"`.
        output_size: int, side of each frame. Defaults to 224.
        max_shift: int >= 1, largest shift in output pixels. Defaults to 8.
        pixel_divide: int >= 1, sub-steps per output pixel. Defaults to 2.
        resize: bool; if False the image is only centre-cropped and must be
            at least `d * (output_size + max_shift)` on each side.
        antialias: bool, antialiasing of both resizes. Defaults to True.

    Returns:
        Array `(d * max_shift + 1, output_size, output_size, channels)`;
        the matching shifts are `half_pixel_shifts(max_shift, d)`.

    Raises:
        ValueError: for an unknown direction, bad sizes, or (with
            `resize=False`) an image that is too small.
    """
    check_direction(direction)
    output_size = check_positive_int(output_size, "output_size")
    max_shift = check_positive_int(max_shift, "max_shift")
    d = check_positive_int(pixel_divide, "pixel_divide")
    base_size = d * (output_size + max_shift)
    base = _image.resize_center_crop(
        image, base_size, base_size, resize, antialias
    )
    patches = _window_frames(
        base, shift_offsets(direction, d * max_shift), d * output_size
    )
    return np.stack(
        [
            _image.resize(p, (output_size, output_size), antialias)
            for p in patches
        ]
    )


def _as_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            f"`seed` must be an int or a numpy Generator. "
            f"Received: seed={seed!r}"
        )
    return np.random.default_rng(int(seed))


def zhang_crop_pairs(image, n_pairs=1, seed=0, crop_size=224,
                     resize_size=256, resize=True, antialias=True):
    """Random crop pairs of Zhang's consistency (ICML 2019), seeded.

    `Resize(resize_size) -> CenterCrop(resize_size)`, then `n_pairs` pairs
    of `crop_size` crops; every offset (top and left of each crop) is drawn
    independently and uniformly from `0..resize_size - crop_size`
    (inclusive) with `numpy.random.default_rng(seed)`.

    Args:
        image: float array `(height, width, channels)`.
        n_pairs: int >= 1, number of crop pairs. Defaults to 1.
        seed: int or `numpy.random.Generator` (shared across images by
            `zhang_consistency` so every image gets new offsets).
        crop_size: int, side of the crops. Defaults to 224.
        resize_size: int, side of the centre crop. Defaults to 256.
        resize: bool; if False the image is only centre-cropped.
        antialias: bool, antialiased bilinear resize (default).

    Returns:
        `(frames, offsets)`: frames `(n_pairs, 2, crop_size, crop_size,
        channels)` and int offsets `(n_pairs, 2, 2)` as `(top, left)`.

    Raises:
        ValueError: for bad sizes (`crop_size > resize_size`), a bad seed, or
            (with `resize=False`) an image smaller than `resize_size`.
    """
    n_pairs = check_positive_int(n_pairs, "n_pairs")
    crop_size = check_positive_int(crop_size, "crop_size")
    resize_size = check_positive_int(resize_size, "resize_size")
    if crop_size > resize_size:
        raise ValueError(
            "`crop_size` must not exceed `resize_size`. Received: "
            f"crop_size={crop_size}, resize_size={resize_size}"
        )
    rng = _as_rng(seed)
    base = _image.resize_center_crop(
        image, resize_size, resize_size, resize, antialias
    )
    offsets = rng.integers(0, resize_size - crop_size + 1,
                           size=(n_pairs, 2, 2))
    frames = np.stack(
        [_window_frames(base, pair, crop_size) for pair in offsets]
    )
    return frames, offsets
