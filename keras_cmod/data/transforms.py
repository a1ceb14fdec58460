"""Per-image transforms of the paper, in TensorFlow (torchvision semantics).

Every function works on one image `(H, W, C)` inside a `tf.data` map (graph
mode) or eagerly. Images are float32 on the *pixel scale* `pixel_max`
(255 for images that came in as uint8, 1 for float images in [0, 1]).

Conventions copied from torchvision (the reference code builds on it):

- `Resize(size)` with an int resizes the shorter side to `size` and the
  longer side to `int(size * long / short)` (truncated); an image that
  already has the target size is returned unchanged.
- Resizing uses `tf.image.resize(..., antialias=True)`, which matches
  torchvision's `Resize(antialias=True)` (and PIL) when down-sampling. For
  uint8 inputs the result is rounded and clipped to the uint8 grid, as
  torchvision does for uint8 tensors (and PIL for PIL images).
- `CenterCrop` offsets are `round((H - h) / 2)`, `round((W - w) / 2)` with
  Python's round-half-to-even (`tf.round` rounds the same way): a difference
  of 1 gives offset 0, 3 gives 2, 5 gives 2, 7 gives 4. An image smaller
  than the crop is zero-padded first, as torchvision does.
- `RandomResizedCrop` samples its box with torchvision's algorithm: up to
  10 attempts of (area fraction ~ U(scale), log aspect ratio ~ U(log ratio)),
  width/height rounded half-to-even, the first box that fits wins; else a
  centre-crop fallback clamped to the ratio range.
"""

import math

import tensorflow as tf

from keras_cmod.data.config import INTERPOLATIONS

_METHODS = {name: name for name in INTERPOLATIONS}


def _hw(image):
    shape = tf.shape(image)
    return shape[0], shape[1]


def center_crop_offsets(height, width, crop_height, crop_width):
    """Top/left offsets of torchvision's `CenterCrop` (round half to even).

    Works on Python ints (returns ints) and on integer tensors (returns
    int32 tensors).

    Args:
        height: image height.
        width: image width.
        crop_height: crop height (not larger than `height`).
        crop_width: crop width (not larger than `width`).

    Returns:
        A tuple `(top, left)`.
    """
    sizes = (height, width, crop_height, crop_width)
    if all(isinstance(v, int) for v in sizes):
        # Python's round() rounds half to even, like torchvision's.
        return (
            round((height - crop_height) / 2),
            round((width - crop_width) / 2),
        )
    dh = tf.cast(height - crop_height, tf.float32) / 2.0
    dw = tf.cast(width - crop_width, tf.float32) / 2.0
    return (
        tf.cast(tf.round(dh), tf.int32),
        tf.cast(tf.round(dw), tf.int32),
    )


def resize(image, height, width, interpolation="bilinear", pixel_max=255.0):
    """Resizes to exactly `(height, width)` with antialiasing.

    Args:
        image: float32 tensor `(H, W, C)` on the scale `[0, pixel_max]`.
        height: int or scalar int tensor, output height.
        width: int or scalar int tensor, output width.
        interpolation: a name from `keras_cmod.data.config.INTERPOLATIONS`.
        pixel_max: 255 for images that were uint8 (the output is then
            rounded and clipped to the uint8 grid, as torchvision does for
            uint8 tensors); 1 for float images (clipped to [0, 1]).

    Returns:
        A float32 tensor `(height, width, C)`. An image that already has
        that size is returned unchanged.
    """
    method = _METHODS[interpolation]
    in_h, in_w = _hw(image)
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)

    def _do():
        out = tf.image.resize(
            image, tf.stack([height, width]), method=method, antialias=True
        )
        if pixel_max == 255.0:
            out = tf.round(out)
        return tf.clip_by_value(out, 0.0, pixel_max)

    same = tf.logical_and(tf.equal(in_h, height), tf.equal(in_w, width))
    return tf.cond(same, lambda: tf.identity(image), _do)


def resize_shorter_side_size(height, width, size):
    """Output size of torchvision's `Resize(size)` for an int `size`.

    Args:
        height: int32 scalar tensor, input height.
        width: int32 scalar tensor, input width.
        size: int, target length of the shorter side.

    Returns:
        `(new_height, new_width)` int32 tensors: the shorter side becomes
        `size`, the longer side `int(size * long / short)` computed in
        float64 and truncated, as in torchvision.
    """
    height = tf.cast(height, tf.int64)
    width = tf.cast(width, tf.int64)
    short = tf.minimum(height, width)
    long = tf.maximum(height, width)
    new_long = tf.cast(
        tf.math.floor(
            tf.cast(size * long, tf.float64) / tf.cast(short, tf.float64)
        ),
        tf.int32,
    )
    size = tf.constant(size, tf.int32)
    portrait = height <= width  # height is the shorter side
    new_h = tf.where(portrait, size, new_long)
    new_w = tf.where(portrait, new_long, size)
    return new_h, new_w


def resize_shorter_side(image, size, interpolation="bilinear", pixel_max=255.0):
    """torchvision `Resize(size)` with an int: shorter side to `size`.

    Args:
        image: float32 tensor `(H, W, C)`.
        size: int, target length of the shorter side.
        interpolation: resize kernel name.
        pixel_max: pixel scale (see `resize`).

    Returns:
        The resized float32 image.
    """
    h, w = _hw(image)
    new_h, new_w = resize_shorter_side_size(h, w, size)
    return resize(image, new_h, new_w, interpolation, pixel_max)


def center_crop(image, crop_height, crop_width):
    """torchvision `CenterCrop((crop_height, crop_width))`.

    Pads with zeros first when the image is smaller than the crop (left/top
    get `(crop - size) // 2`, as torchvision), then crops at
    `center_crop_offsets`.

    Args:
        image: tensor `(H, W, C)`.
        crop_height: int, crop height.
        crop_width: int, crop width.

    Returns:
        A tensor `(crop_height, crop_width, C)` with a static shape.
    """
    h, w = _hw(image)
    pad_h = tf.maximum(crop_height - h, 0)
    pad_w = tf.maximum(crop_width - w, 0)
    image = tf.pad(
        image,
        [
            [pad_h // 2, (pad_h + 1) // 2],
            [pad_w // 2, (pad_w + 1) // 2],
            [0, 0],
        ],
    )
    h, w = _hw(image)
    top, left = center_crop_offsets(h, w, crop_height, crop_width)
    out = image[top : top + crop_height, left : left + crop_width, :]
    out.set_shape([crop_height, crop_width, image.shape[-1]])
    return out


def five_crop(image, crop_height, crop_width):
    """torchvision `FiveCrop`: top-left, top-right, bottom-left,
    bottom-right, centre.

    Args:
        image: tensor `(H, W, C)` at least as large as the crop.
        crop_height: int, crop height.
        crop_width: int, crop width.

    Returns:
        A tensor `(5, crop_height, crop_width, C)`.
    """
    h, w = _hw(image)
    bottom, right = h - crop_height, w - crop_width

    def crop(top, left):
        return image[top : top + crop_height, left : left + crop_width, :]

    crops = tf.stack(
        [
            crop(0, 0),
            crop(0, right),
            crop(bottom, 0),
            crop(bottom, right),
            center_crop(image, crop_height, crop_width),
        ]
    )
    crops.set_shape([5, crop_height, crop_width, image.shape[-1]])
    return crops


def ten_crop(image, crop_height, crop_width):
    """Five crops then their horizontal mirrors.

    Output index `i` in 0..4 is the `five_crop` crop `i` (top-left,
    top-right, bottom-left, bottom-right, centre); index `5 + i` is crop `i`
    flipped left-right. (The reference code interleaves crop/flip pairs;
    the order does not change a softmax average over the ten.)

    Args:
        image: tensor `(H, W, C)` at least as large as the crop.
        crop_height: int, crop height.
        crop_width: int, crop width.

    Returns:
        A tensor `(10, crop_height, crop_width, C)`.
    """
    crops = five_crop(image, crop_height, crop_width)
    return tf.concat([crops, tf.reverse(crops, axis=[2])], axis=0)


def random_resized_crop_box(
    seed, height, width, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), attempts=10
):
    """Samples a torchvision `RandomResizedCrop` box, statelessly.

    Follows `torchvision.transforms.RandomResizedCrop.get_params`: up to
    `attempts` draws of an area `U(scale) * H * W` and an aspect ratio
    `exp(U(log ratio))`; `w = round(sqrt(area * r))`, `h = round(sqrt(area /
    r))` (half to even); the first draw with `0 < w <= W` and `0 < h <= H`
    is used, with a uniform top-left corner. If none fits, the fallback is
    the whole image, narrowed to the nearest allowed ratio and centred
    (`top = (H - h) // 2`).

    Args:
        seed: int32/int64 tensor of shape `(2,)`, a stateless seed.
        height: scalar int tensor, image height.
        width: scalar int tensor, image width.
        scale: `(min, max)` fraction of the image area.
        ratio: `(min, max)` aspect ratio (width / height).
        attempts: number of draws before the fallback.

    Returns:
        `(top, left, crop_height, crop_width)` as int32 scalar tensors.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    h = tf.cast(height, tf.float64)
    w = tf.cast(width, tf.float64)
    area = h * w
    target_area = area * tf.random.stateless_uniform(
        [attempts], seeds[0], scale[0], scale[1], dtype=tf.float64
    )
    log_ratio = tf.random.stateless_uniform(
        [attempts],
        seeds[1],
        math.log(ratio[0]),
        math.log(ratio[1]),
        dtype=tf.float64,
    )
    aspect = tf.exp(log_ratio)
    cw = tf.round(tf.sqrt(target_area * aspect))
    ch = tf.round(tf.sqrt(target_area / aspect))
    fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    found = tf.reduce_any(fits)

    # Fallback: centre crop with the ratio clamped to the allowed range.
    in_ratio = w / h
    lo, hi = min(ratio), max(ratio)
    fb_w = tf.where(
        in_ratio < lo, w, tf.where(in_ratio > hi, tf.round(h * hi), w)
    )
    fb_h = tf.where(
        in_ratio < lo, tf.round(w / lo), tf.where(in_ratio > hi, h, h)
    )

    crop_h = tf.cast(tf.where(found, tf.gather(ch, first), fb_h), tf.int32)
    crop_w = tf.cast(tf.where(found, tf.gather(cw, first), fb_w), tf.int32)
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    top_rand = tf.random.stateless_uniform(
        [], seeds[2], 0, height - crop_h + 1, dtype=tf.int32
    )
    left_rand = tf.random.stateless_uniform(
        [], seeds[3], 0, width - crop_w + 1, dtype=tf.int32
    )
    top = tf.where(found, top_rand, (height - crop_h) // 2)
    left = tf.where(found, left_rand, (width - crop_w) // 2)
    return top, left, crop_h, crop_w


def random_resized_crop(
    image,
    seed,
    height,
    width,
    scale=(0.08, 1.0),
    ratio=(3 / 4, 4 / 3),
    interpolation="bilinear",
    pixel_max=255.0,
):
    """torchvision `RandomResizedCrop((height, width))`, statelessly seeded.

    Args:
        image: float32 tensor `(H, W, C)`.
        seed: stateless seed, shape `(2,)`.
        height: int, output height.
        width: int, output width.
        scale: `(min, max)` area fraction.
        ratio: `(min, max)` aspect ratio.
        interpolation: resize kernel name.
        pixel_max: pixel scale (see `resize`).

    Returns:
        A float32 tensor `(height, width, C)`.
    """
    in_h, in_w = _hw(image)
    top, left, ch, cw = random_resized_crop_box(seed, in_h, in_w, scale, ratio)
    crop = image[top : top + ch, left : left + cw, :]
    out = resize(crop, height, width, interpolation, pixel_max)
    out.set_shape([height, width, image.shape[-1]])
    return out


def random_flip_left_right(image, seed, prob=0.5):
    """Flips left-right with probability `prob` (stateless).

    Args:
        image: tensor `(H, W, C)`.
        seed: stateless seed, shape `(2,)`.
        prob: flip probability.

    Returns:
        The image, flipped or not.
    """
    flip = tf.random.stateless_uniform([], seed, dtype=tf.float32) < prob
    return tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)


def normalize(image, mean, std):
    """`(image - mean) / std` per channel (image on the [0, 1] scale).

    Args:
        image: float32 tensor `(..., C)` in [0, 1].
        mean: sequence of `C` floats.
        std: sequence of `C` floats.

    Returns:
        The normalised float32 tensor.
    """
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)
    return (image - mean) / std
