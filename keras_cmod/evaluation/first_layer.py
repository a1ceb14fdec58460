"""Compare the RMax and CMod first-layer outputs of a twin model.

The functions are generic: they take two callables `rmax_fn` and `cmod_fn`
(or one `feature_fn`) mapping a float32 NHWC batch of images to feature maps
`(batch, height, width, channels)`, e.g. the Gabor channels of the RMax and
CMod twin layers. Nothing here knows about the layers themselves.

Size matching: two maps of different spatial sizes (e.g. 27 vs 28) are both
centre-cropped to the common (smallest) height and width, with
round-half-even offsets (`metrics.center_crop_offset`).

Shift stability (crop-based shifts, never circular): from each image take
the `crop_size` window at offset `(0, 0)` and the windows moved by `k`
pixels along the direction (`(k, 0)`, `(0, k)` or `(k, k)`). A shift of `k`
input pixels moves an output map of stride `r` by `k / r` output pixels.
The nearest whole output shift `q = floor(k / r + 1/2)` is compensated: map
`f_0` is compared on rows (and/or columns) `q..q+L-1` with map `f_k` on
`0..L-1`, `L = size - q` (the common region). The remaining sub-sample shift
`k / r - q` (at most half an output pixel) is what the measure sees; at
exactly half a stride both alignments are equally wrong, and the measure is
largest there. With `stride=None` nothing is compensated (`q = 0`).
"""

import numpy as np

from keras_cmod.evaluation import _image
from keras_cmod.evaluation import shifts as _shifts
from keras_cmod.evaluation._image import check_positive_int
from keras_cmod.evaluation._predict import (
    make_input_transform,
    predict_groups,
)


def _as_maps(maps, name):
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or min(arr.shape) < 1:
        raise ValueError(
            f"`{name}` must be a non-empty (batch, height, width, channels) "
            f"or (height, width, channels) array. Received: shape="
            f"{np.shape(maps)}"
        )
    return arr


def match_spatial_size(a, b):
    """Centre-crops two feature maps to their common spatial size.

    Args:
        a: `(batch, H1, W1, C)` or `(H1, W1, C)` array.
        b: `(batch, H2, W2, C)` or `(H2, W2, C)` array, same batch and
            channels.

    Returns:
        `(a_crop, b_crop)`, float64 arrays `(batch, min(H1, H2), min(W1,
        W2), C)`; each crop is centred with round-half-even offsets.

    Raises:
        ValueError: if the arrays are not 3-D/4-D or their batch or channel
            counts differ.
    """
    a = _as_maps(a, "a")
    b = _as_maps(b, "b")
    if a.shape[0] != b.shape[0] or a.shape[3] != b.shape[3]:
        raise ValueError(
            "The maps must have the same batch size and channel count. "
            f"Received: a.shape={a.shape}, b.shape={b.shape}"
        )
    h = min(a.shape[1], b.shape[1])
    w = min(a.shape[2], b.shape[2])

    def crop(x):
        top = _image.center_crop_offset(x.shape[1], h)
        left = _image.center_crop_offset(x.shape[2], w)
        return x[:, top : top + h, left : left + w]

    return crop(a), crop(b)


def _energy(x):
    return np.sum(x * x, axis=(0, 1, 2))


def cosine_similarity(a, b):
    """Per-channel cosine similarity of two feature maps.

    The maps are size-matched (`match_spatial_size`), then each channel is
    flattened over batch and space: `<a_c, b_c> / (|a_c| |b_c|)`.

    Args:
        a: `(batch, H, W, C)` or `(H, W, C)` array.
        b: the same shape, up to the spatial size.

    Returns:
        Float64 array `(C,)` in [-1, 1]; NaN for a channel that is zero in
        either map.

    Raises:
        ValueError: as `match_spatial_size`.
    """
    a, b = match_spatial_size(a, b)
    den = np.sqrt(_energy(a) * _energy(b))
    num = np.sum(a * b, axis=(0, 1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def relative_l2(a, b):
    """Per-channel relative L2 distance `|a_c - b_c| / |a_c|`.

    Maps are size-matched first; `a` is the reference (e.g. RMax).

    Args:
        a: reference `(batch, H, W, C)` or `(H, W, C)` array.
        b: the same shape, up to the spatial size.

    Returns:
        Float64 array `(C,)`, >= 0; NaN where `a_c` is zero.

    Raises:
        ValueError: as `match_spatial_size`.
    """
    a, b = match_spatial_size(a, b)
    den = np.sqrt(_energy(a))
    num = np.sqrt(_energy(a - b))
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def normalized_l2(a, b):
    """Per-channel scale-free distance `| a_c/|a_c| - b_c/|b_c| |`.

    Equals `sqrt(2 - 2 * cosine)`; it ignores a gain between the two maps
    (CMod and RMax outputs differ in scale).

    Args:
        a: `(batch, H, W, C)` or `(H, W, C)` array.
        b: the same shape, up to the spatial size.

    Returns:
        Float64 array `(C,)` in [0, 2]; NaN for a zero channel.

    Raises:
        ValueError: as `match_spatial_size`.
    """
    cos = cosine_similarity(a, b)
    return np.sqrt(np.maximum(2.0 - 2.0 * cos, 0.0))


def _feature_maps(fn, frames_groups, batch_size, transform):
    return predict_groups(fn, frames_groups, batch_size, transform, ndim=4)


def _same_shape_chunks(images, batch_size):
    """Stacks of up to `batch_size` consecutive images of one shape."""
    chunk = []
    for im in images:
        if chunk and (len(chunk) == batch_size or im.shape != chunk[0].shape):
            yield np.stack(chunk)
            chunk = []
        chunk.append(im)
    if chunk:
        yield np.stack(chunk)


def compare_feature_maps(rmax_fn, cmod_fn, images, batch_size=32,
                         normalize=False, mean=None, std=None,
                         preprocess=None):
    """Similarity of the RMax and CMod first-layer outputs on images.

    Both callables see the same batches of images (float32 NHWC); their
    outputs are size-matched by centre cropping, then compared channel by
    channel, with sums over images and space accumulated as the images
    stream by (images may differ in size between batches).

    Args:
        rmax_fn: callable, images -> `(batch, H1, W1, C)` RMax maps.
        cmod_fn: callable, images -> `(batch, H2, W2, C)` CMod maps.
        images: iterable of float HWC images (streamed), or a 4-D array.
        batch_size: int, images per call. Defaults to 32.
        normalize: bool; normalise with `mean`/`std` first. Defaults to
            False (the callables get the images as given).
        mean: per-channel mean, needed when `normalize`.
        std: per-channel std, needed when `normalize`.
        preprocess: optional callable applied to each batch afterwards.

    Returns:
        A dict with per-channel lists `"cosine"`, `"relative_l2"`
        (`|rmax - cmod| / |rmax|`) and `"normalized_l2"`, their means over
        channels (`"cosine_mean"`, ...), `"rmax_shape"`, `"cmod_shape"` and
        `"common_shape"` (of the first image's maps) and `"num_images"`.

    Raises:
        ValueError: for bad images, maps with different channel counts or
            batch sizes, or missing normalisation constants.
    """
    transform = make_input_transform(normalize, mean, std, preprocess)
    batch_size = check_positive_int(batch_size, "batch_size")
    sums = None
    shapes = None
    count = 0
    for chunk in _same_shape_chunks(_image.iter_images(images), batch_size):
        (a,) = _feature_maps(rmax_fn, [chunk], len(chunk), transform)
        (b,) = _feature_maps(cmod_fn, [chunk], len(chunk), transform)
        ac, bc = match_spatial_size(a, b)
        part = np.stack([
            np.sum(ac * bc, axis=(0, 1, 2)), _energy(ac), _energy(bc),
            _energy(ac - bc),
        ])
        if sums is not None and part.shape != sums.shape:
            raise ValueError(
                "The number of channels changed between batches: "
                f"{sums.shape[1]} then {part.shape[1]}."
            )
        sums = part if sums is None else sums + part
        if shapes is None:
            shapes = (a.shape[1:], b.shape[1:], ac.shape[1:])
        count += len(chunk)
    ab, aa, bb, dd = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sqrt(aa * bb)
        cos = np.where(den > 0, ab / np.where(den > 0, den, 1), np.nan)
        rel = np.where(aa > 0, np.sqrt(dd / np.where(aa > 0, aa, 1)), np.nan)
    nl2 = np.sqrt(np.maximum(2.0 - 2.0 * cos, 0.0))
    return {
        "cosine": cos.tolist(),
        "relative_l2": rel.tolist(),
        "normalized_l2": nl2.tolist(),
        "cosine_mean": float(np.nanmean(cos)),
        "relative_l2_mean": float(np.nanmean(rel)),
        "normalized_l2_mean": float(np.nanmean(nl2)),
        "rmax_shape": list(shapes[0]),
        "cmod_shape": list(shapes[1]),
        "common_shape": list(shapes[2]),
        "num_images": count,
    }


def _check_shifts(shifts):
    try:
        if isinstance(shifts, str):
            raise TypeError
        values = [
            check_positive_int(s, f"shifts[{i}]")
            for i, s in enumerate(shifts)
        ]
    except TypeError:
        raise ValueError(
            f"`shifts` must be a sequence of positive ints. Received: "
            f"shifts={shifts!r}"
        ) from None
    if not values:
        raise ValueError("`shifts` must not be empty. Received: []")
    return values


def shifted_crops(image, shifts=tuple(range(1, 9)), direction="diagonal",
                  crop_size=None):
    """The unshifted crop and the crops moved by each integer shift.

    Args:
        image: float array `(height, width, channels)`.
        shifts: positive ints (pixels). Defaults to 1..8.
        direction: `"vertical"`, `"horizontal"` or `"diagonal"`.
        crop_size: int or None; None uses `min(height, width) -
            max(shifts)`, the largest crop that fits every shift.

    Returns:
        Array `(1 + len(shifts), crop_size, crop_size, channels)`: frame 0
        at offset `(0, 0)`, frame `i + 1` moved by `shifts[i]`.

    Raises:
        ValueError: for an unknown direction, bad shifts, or an image
            smaller than `crop_size + max(shifts)`.
    """
    image = _image.check_image(image)
    _shifts.check_direction(direction)
    values = _check_shifts(shifts)
    if crop_size is None:
        crop_size = min(image.shape[:2]) - max(values)
        if crop_size < 1:
            raise ValueError(
                f"The image ({image.shape[0]}x{image.shape[1]}) is too "
                f"small for shifts up to {max(values)} px."
            )
    crop_size = check_positive_int(crop_size, "crop_size")
    frames = []
    for k in [0] + values:
        top = k if direction in ("vertical", "diagonal") else 0
        left = k if direction in ("horizontal", "diagonal") else 0
        frames.append(_image.crop(image, top, left, crop_size, crop_size))
    return np.stack(frames)


def relative_shift_change(feature_fn, images, shifts=tuple(range(1, 9)),
                          direction="diagonal", stride=None, crop_size=None,
                          batch_size=32, normalize=False, mean=None,
                          std=None, preprocess=None, margin=0):
    """Relative change of feature maps under integer input shifts.

    For each shift `k`, channel `c`: `sqrt(sum |f_0 - f_k|^2 / sum |f_0|^2)`
    over images and the aligned common region (module docstring: the
    nearest whole output shift `floor(k / stride + 1/2)` is compensated).

    Args:
        feature_fn: callable, images -> `(batch, H, W, C)` feature maps.
        images: iterable of float HWC images (streamed), or a 4-D array.
        shifts: positive ints (pixels). Defaults to 1..8.
        direction: `"vertical"`, `"horizontal"` or `"diagonal"`.
            Defaults to `"diagonal"`.
        stride: int or None, total stride of the maps (e.g. 8 for the
            AlexNet first layer after pooling, 4 for ResNet).
        crop_size: int or None (see `shifted_crops`).
        batch_size: int, crops per call. Defaults to 32.
        normalize: bool. Defaults to False.
        mean: per-channel mean, needed when `normalize`.
        std: per-channel std, needed when `normalize`.
        preprocess: optional callable applied to each batch afterwards.
        margin: int >= 0, output samples left out at every border of the
            compared region, so that zero-padding effects at the crop's
            edges (which move with the crop) are not counted as shift
            instability. Defaults to 0.

    Returns:
        A dict: `"shifts"` (list), `"per_channel"` (list of lists,
        `(len(shifts), C)`, NaN for a channel that is zero), `"mean"` (mean
        over channels, one value per shift).

    Raises:
        ValueError: for bad images, direction, shifts or stride, or a shift
            whose compensation leaves no common region.
    """
    _shifts.check_direction(direction)
    values = _check_shifts(shifts)
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
        raise ValueError(f"margin must be an int >= 0. Received: {margin!r}")
    if stride is not None:
        stride = check_positive_int(stride, "stride")
    transform = make_input_transform(normalize, mean, std, preprocess)
    groups = (
        shifted_crops(im, values, direction, crop_size)
        for im in _image.iter_images(images)
    )
    maps = _feature_maps(feature_fn, groups, batch_size, transform)
    num = 0.0
    den = 0.0
    for m in maps:
        m = m.astype(np.float64)
        base = m[0]
        diffs, refs = [], []
        for i, k in enumerate(values):
            q = 0 if stride is None else (2 * k + stride) // (2 * stride)
            qy = q if direction in ("vertical", "diagonal") else 0
            qx = q if direction in ("horizontal", "diagonal") else 0
            h, w = base.shape[0] - qy, base.shape[1] - qx
            if h < 1 or w < 1:
                raise ValueError(
                    f"Shift {k} with stride={stride} leaves no common "
                    f"region in maps of size {base.shape[:2]}."
                )
            f0 = base[qy : qy + h, qx : qx + w]
            fk = m[i + 1, :h, :w]
            if margin:
                if min(h, w) <= 2 * margin:
                    raise ValueError(
                        f"margin={margin} leaves nothing of the {h}x{w} "
                        "common region."
                    )
                f0 = f0[margin:-margin, margin:-margin]
                fk = fk[margin:-margin, margin:-margin]
            diffs.append(np.sum((f0 - fk) ** 2, axis=(0, 1)))
            refs.append(np.sum(f0**2, axis=(0, 1)))
        num = num + np.stack(diffs)
        den = den + np.stack(refs)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(den > 0, np.sqrt(num / np.where(den > 0, den, 1)),
                       np.nan)
    all_nan = np.all(np.isnan(rel), axis=1)
    mean_rel = np.full(len(values), np.nan)
    mean_rel[~all_nan] = np.nanmean(rel[~all_nan], axis=1)
    return {
        "shifts": values,
        "per_channel": rel.tolist(),
        "mean": mean_rel.tolist(),
    }


def first_layer_stability(rmax_fn, cmod_fn, images,
                          shifts=tuple(range(1, 9)), direction="diagonal",
                          stride=None, crop_size=None, batch_size=32,
                          normalize=False, mean=None, std=None,
                          preprocess=None, margin=0):
    """Relative change under shifts of the RMax and of the CMod outputs.

    Runs `relative_shift_change` on both callables with the same crops;
    the result feeds `plots.plot_first_layer_stability`.

    Args:
        rmax_fn: callable, images -> RMax feature maps `(batch, H, W, C)`.
        cmod_fn: callable, images -> CMod feature maps.
        images: iterable of float HWC images (streamed), or a 4-D array.
        shifts: positive ints (pixels). Defaults to 1..8.
        direction: `"vertical"`, `"horizontal"` or `"diagonal"`.
        stride: int or None, the common total stride of both outputs.
        crop_size: int or None (see `shifted_crops`).
        batch_size: int. Defaults to 32.
        normalize: bool. Defaults to False.
        mean: per-channel mean, needed when `normalize`.
        std: per-channel std, needed when `normalize`.
        preprocess: optional callable applied to each batch afterwards.
        margin: int, border samples left out (see `relative_shift_change`).

    Returns:
        A dict: `"shifts"`, `"direction"`, `"stride"`, `"rmax"` and `"cmod"`
        (mean relative change per shift) and `"rmax_per_channel"`,
        `"cmod_per_channel"`.

    Raises:
        ValueError: as `relative_shift_change`.
    """
    kwargs = dict(
        shifts=shifts, direction=direction, stride=stride,
        crop_size=crop_size, batch_size=batch_size, normalize=normalize,
        mean=mean, std=std, preprocess=preprocess, margin=margin,
    )
    r = relative_shift_change(rmax_fn, images, **kwargs)
    c = relative_shift_change(cmod_fn, images, **kwargs)
    return {
        "shifts": r["shifts"],
        "direction": direction,
        "stride": stride,
        "rmax": r["mean"],
        "cmod": c["mean"],
        "rmax_per_channel": r["per_channel"],
        "cmod_per_channel": c["per_channel"],
    }
