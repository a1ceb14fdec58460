"""Private numpy image helpers shared by the evaluation modules.

Images are `(height, width, channels)` float arrays ("HWC"). Resizing is a
separable resampling with the triangle (bilinear) kernel and half-pixel
centres, written in numpy so that it gives the same frames on every Keras
backend:

- `antialias=True` widens the triangle by the down-scaling factor, like
  PIL's `Image.resize(..., BILINEAR)` (what torchvision's `Resize` ran on the
  PIL images of the reference code) and `tf.image.resize(...,
  antialias=True)`. Up-sampling is plain bilinear either way.
- Weights are renormalised at the image border (no padding), as PIL does.
- Unlike the reference pipeline, the frames are not quantised to 8 bits.
"""

import functools

import numpy as np


def check_image(image, name="image"):
    """Returns `image` as a float HWC numpy array, or raises ValueError."""
    array = np.asarray(image)
    if array.ndim != 3:
        raise ValueError(
            f"`{name}` must be a 3-D (height, width, channels) array. "
            f"Received: {name}.shape={array.shape}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"`{name}` must hold floats (values in [0, 1] or normalised); "
            f"convert 8-bit images with `image / 255.0`. "
            f"Received: {name}.dtype={array.dtype}"
        )
    if min(array.shape) < 1:
        raise ValueError(
            f"`{name}` must be non-empty. Received: {name}.shape={array.shape}"
        )
    return array


def iter_images(images, name="images"):
    """Yields validated HWC images one at a time (lazily).

    Accepts a sequence or any iterable of HWC arrays (sizes may differ; a
    generator streams a large dataset without holding it in memory) or a
    4-D NHWC array. Raises ValueError for a single 3-D array, for a
    non-iterable, for a bad image (when it is reached) and, at the end, if
    there was no image at all.
    """
    if isinstance(images, np.ndarray) and images.ndim != 4:
        raise ValueError(
            f"`{name}` must be a sequence of (height, width, channels) "
            f"arrays or a 4-D (batch, height, width, channels) array. "
            f"Received: {name}.shape={images.shape}"
        )
    try:
        iterator = iter(images)
    except TypeError:
        raise ValueError(
            f"`{name}` must be a sequence of (height, width, channels) "
            f"arrays. Received: {name}={type(images).__name__}"
        ) from None
    count = 0
    for image in iterator:
        yield check_image(image, f"{name}[{count}]")
        count += 1
    if count == 0:
        raise ValueError(
            f"`{name}` must contain at least one image. "
            f"Received: {name} with 0 images"
        )


def check_positive_int(value, name, minimum=1):
    """Returns `value` as an int >= `minimum`, or raises ValueError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
        )
    return int(value)


@functools.lru_cache(maxsize=64)
def resize_weights(in_size, out_size, antialias=True):
    """Returns the `(out_size, in_size)` float64 resampling matrix.

    Output sample `i` sits at input coordinate `c_i = (i + 0.5) * s` with
    `s = in_size / out_size`; input pixel `j` sits at `j + 0.5`. Its weight is
    the triangle `max(0, 1 - |j + 0.5 - c_i| / f)` with `f = max(s, 1)` when
    `antialias` (else `f = 1`), and each row is normalised to sum to 1.
    `in_size == out_size` gives the identity exactly.
    """
    scale = in_size / out_size
    width = max(scale, 1.0) if antialias else 1.0
    centres = (np.arange(out_size) + 0.5) * scale
    pixels = np.arange(in_size) + 0.5
    weights = np.maximum(
        0.0, 1.0 - np.abs(pixels[None, :] - centres[:, None]) / width
    )
    weights /= weights.sum(axis=1, keepdims=True)
    weights.setflags(write=False)
    return weights


def resize(image, size, antialias=True):
    """Resizes an HWC image to `size = (height, width)` (triangle kernel)."""
    image = check_image(image)
    out_h = check_positive_int(size[0], "height")
    out_w = check_positive_int(size[1], "width")
    h, w = image.shape[:2]
    if (h, w) == (out_h, out_w):
        return image.copy()
    wy = resize_weights(h, out_h, bool(antialias))
    wx = resize_weights(w, out_w, bool(antialias))
    c = image.shape[2]
    # Rows then columns, as two BLAS matrix products in float64.
    out = wy @ image.astype(np.float64).reshape(h, w * c)
    out = np.matmul(wx, out.reshape(out_h, w, c))  # (out_h, out_w, c)
    return out.astype(image.dtype)


def shorter_side_size(height, width, size):
    """Output `(height, width)` of torchvision's `Resize(size)` (an int).

    The shorter side becomes `size` and the longer side
    `int(size * long / short)` (truncated, as torchvision does).
    """
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def resize_shorter_side(image, size, antialias=True):
    """Resizes so that the shorter side equals `size` (keeps aspect)."""
    image = check_image(image)
    size = check_positive_int(size, "size")
    return resize(image, shorter_side_size(*image.shape[:2], size), antialias)


def center_crop_offset(size, crop_size):
    """Offset of a centred crop, torchvision style.

    `round((size - crop_size) / 2)` with Python's `round`, i.e. round half to
    even: `(5 - 2) / 2 = 1.5 -> 2` but `(7 - 2) / 2 = 2.5 -> 2`.
    """
    size = check_positive_int(size, "size")
    crop_size = check_positive_int(crop_size, "crop_size")
    if crop_size > size:
        raise ValueError(
            f"The crop must fit in the image: crop_size <= size. "
            f"Received: crop_size={crop_size}, size={size}"
        )
    return int(round((size - crop_size) / 2.0))


def crop(image, top, left, height, width, name="image"):
    """Returns `image[top:top + height, left:left + width]` (bounds checked)."""
    h, w = image.shape[:2]
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(
            f"The crop (top={top}, left={left}, height={height}, "
            f"width={width}) does not fit in {name} of size {h}x{w}; "
            f"use a larger image or a smaller crop/shift."
        )
    return image[top : top + height, left : left + width]


def center_crop(image, crop_size, name="image"):
    """Centred `crop_size` (int or (h, w)) crop with round-half-even offsets."""
    image = check_image(image, name)
    if isinstance(crop_size, (tuple, list)):
        ch, cw = crop_size
    else:
        ch = cw = crop_size
    ch = check_positive_int(ch, "crop_size")
    cw = check_positive_int(cw, "crop_size")
    h, w = image.shape[:2]
    if ch > h or cw > w:
        raise ValueError(
            f"`{name}` ({h}x{w}) is smaller than the crop ({ch}x{cw}). "
            f"Received: crop_size={crop_size!r}"
        )
    top = center_crop_offset(h, ch)
    left = center_crop_offset(w, cw)
    return image[top : top + ch, left : left + cw]


def resize_center_crop(image, resize_size, crop_size, resize_image=True,
                       antialias=True, name="image"):
    """torchvision's `Resize(resize_size) -> CenterCrop(crop_size)`.

    With `resize_image=False`, only the centre crop is taken and the image
    must already be at least `crop_size` on each side.
    """
    image = check_image(image, name)
    if resize_image:
        image = resize_shorter_side(image, resize_size, antialias)
    return center_crop(image, crop_size, name)
