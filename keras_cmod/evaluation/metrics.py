"""Accuracy metrics and crop geometry of the paper (one- and ten-crop).

All rates are returned in **percent**, as the paper's tables print them:
top-k accuracy and error. The shift-invariance metrics (flip rates, mean
flip rates, the normalised "consistency" of Tables I/II, Zhang's
consistency and KL divergences, in nats) live in `shift_metrics` and follow
the conventions below.

Models are given as `predict_fn`: a `keras.Model` (called with
`training=False`) or any callable mapping a float32 NHWC batch to
`(batch, num_classes)` logits. Frames are predicted in batches of
`batch_size` (never one frame at a time).

Input scaling is the caller's choice, never hard-coded here: with
`normalize=True` (the default) frames are mapped to `(x - mean) / std` with
the `mean`/`std` of the model's preset; `normalize=False` feeds the frames
as they are (un-normalised [0, 1] images, as the reference code's shift
metrics did). `preprocess`, if given, is applied afterwards.

Crop geometry (torchvision conventions, numpy implementation):

- resize: the shorter side becomes `n` and the longer `int(n * long /
  short)`; antialiased bilinear (triangle) kernel with half-pixel centres,
  equal to PIL's bilinear resize used by the reference code (no 8-bit
  quantisation here);
- centre crop offsets: `round((H - h) / 2)`, rounded half to even
  (Python's `round`, as torchvision): `1.5 -> 2`, `2.5 -> 2`.
"""

import numpy as np

from keras_cmod.evaluation import _image
from keras_cmod.evaluation._image import check_positive_int
from keras_cmod.evaluation._predict import (
    make_input_transform,
    predict_groups,
)

#: Order of the crops returned by `ten_crop` (torchvision `TenCrop`): the
#: five crops of the image, then the five crops of its mirror image.
TEN_CROP_ORDER = (
    "top_left",
    "top_right",
    "bottom_left",
    "bottom_right",
    "center",
    "flipped_top_left",
    "flipped_top_right",
    "flipped_bottom_left",
    "flipped_bottom_right",
    "flipped_center",
)


# ---------------------------------------------------------------------------
# Scores and accuracy


def _as_scores(scores, name="logits"):
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"`{name}` must be a non-empty 2-D (batch, num_classes) array. "
            f"Received: {name}.shape={arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return arr


def log_softmax(logits, axis=-1):
    """Numerically stable log-softmax in float64.

    Args:
        logits: array-like of scores.
        axis: int, the class axis. Defaults to -1.

    Returns:
        A float64 array of log-probabilities, same shape as `logits`.

    Raises:
        ValueError: if `logits` cannot be read as a float array.
    """
    x = np.asarray(logits, dtype=np.float64)
    x = x - np.max(x, axis=axis, keepdims=True)
    return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))


def softmax(logits, axis=-1):
    """Numerically stable softmax in float64.

    Args:
        logits: array-like of scores.
        axis: int, the class axis. Defaults to -1.

    Returns:
        A float64 array of probabilities summing to 1 along `axis`.

    Raises:
        ValueError: if `logits` cannot be read as a float array.
    """
    return np.exp(log_softmax(logits, axis=axis))


def _check_labels(labels, n, num_classes):
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"`labels` must be a 1-D array with one label per row of the "
            f"scores ({n}). Received: labels.shape={arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"`labels` must be integer class indices. Received: "
            f"labels.dtype={arr.dtype}"
        )
    if np.any(arr < 0) or np.any(arr >= num_classes):
        raise ValueError(
            f"`labels` must lie in 0..{num_classes - 1}. Received values in "
            f"{arr.min()}..{arr.max()}"
        )
    return arr.astype(np.int64)


def _label_ranks(s, y):
    """0-based rank of each label; ties go to the lower class index."""
    target = s[np.arange(len(y)), y][:, None]
    index = np.arange(s.shape[1])[None, :]
    return np.sum(s > target, axis=1) + np.sum(
        (s == target) & (index < y[:, None]), axis=1
    )


def top_k_accuracy(scores, labels, k=1):
    """Top-k accuracy in percent.

    A sample is correct when its label is among the `k` highest scores.
    Ties are broken by class index (the lower index ranks first), so `k=1`
    agrees with `numpy.argmax`. Logits and probabilities give the same
    result.

    Args:
        scores: `(batch, num_classes)` logits or probabilities.
        labels: `(batch,)` integer labels.
        k: int in `1..num_classes`. Defaults to 1.

    Returns:
        A float in [0, 100].

    Raises:
        ValueError: for badly shaped scores or labels, labels out of range,
            or `k` outside `1..num_classes`.
    """
    s = _as_scores(scores, "scores")
    y = _check_labels(labels, s.shape[0], s.shape[1])
    k = check_positive_int(k, "k")
    if k > s.shape[1]:
        raise ValueError(
            f"`k` must be at most the number of classes ({s.shape[1]}). "
            f"Received: k={k}"
        )
    return float(100.0 * np.mean(_label_ranks(s, y) < k))


def top_k_error(scores, labels, k=1):
    """Top-k error in percent, `100 - top_k_accuracy(scores, labels, k)`.

    Args:
        scores: `(batch, num_classes)` logits or probabilities.
        labels: `(batch,)` integer labels.
        k: int in `1..num_classes`. Defaults to 1.

    Returns:
        A float in [0, 100].

    Raises:
        ValueError: as `top_k_accuracy`.
    """
    return 100.0 - top_k_accuracy(scores, labels, k)


def accuracy_metrics(scores, labels, top_k=(1, 5)):
    """Top-k accuracies and errors in percent.

    Args:
        scores: `(batch, num_classes)` logits or probabilities.
        labels: `(batch,)` integer labels.
        top_k: iterable of ints. Defaults to `(1, 5)`; values above the
            number of classes are skipped.

    Returns:
        A dict `{"top1_accuracy": ..., "top1_error": ..., "top5_...": ...,
        "num_images": batch}`.

    Raises:
        ValueError: as `top_k_accuracy`, or for an empty `top_k`.
    """
    s = _as_scores(scores, "scores")
    ks = [check_positive_int(k, "k") for k in top_k]
    if not ks:
        raise ValueError("`top_k` must name at least one k. Received: ()")
    out = {}
    for k in ks:
        if k > s.shape[1]:
            continue
        acc = top_k_accuracy(s, labels, k)
        out[f"top{k}_accuracy"] = acc
        out[f"top{k}_error"] = 100.0 - acc
    out["num_images"] = int(s.shape[0])
    return out


def average_crop_probabilities(logits, num_crops=None):
    """Multi-crop aggregation: mean of the softmax over the crops.

    Args:
        logits: `(batch, num_crops, num_classes)` logits, or
            `(batch * num_crops, num_classes)` ordered image by image (all
            crops of image 0 first), in which case `num_crops` is required.
        num_crops: int, crops per image (10 for ten-crop).

    Returns:
        Float64 probabilities `(batch, num_classes)`; average them, never
        the logits.

    Raises:
        ValueError: for a bad shape, or a row count that is not a multiple
            of `num_crops`.
    """
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim == 2:
        if num_crops is None:
            raise ValueError(
                "`num_crops` is required for 2-D logits "
                "(batch * num_crops, num_classes). Received: num_crops=None"
            )
        num_crops = check_positive_int(num_crops, "num_crops")
        if x.shape[0] == 0 or x.shape[0] % num_crops:
            raise ValueError(
                f"The number of rows ({x.shape[0]}) must be a positive "
                f"multiple of num_crops={num_crops}."
            )
        x = x.reshape(-1, num_crops, x.shape[1])
    elif x.ndim == 3:
        if num_crops is not None and num_crops != x.shape[1]:
            raise ValueError(
                f"`num_crops`={num_crops} disagrees with logits.shape[1]="
                f"{x.shape[1]}."
            )
    else:
        raise ValueError(
            "`logits` must be 2-D (batch * num_crops, classes) or 3-D "
            f"(batch, num_crops, classes). Received: shape={x.shape}"
        )
    if x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"`logits` must be non-empty. Received: {x.shape}")
    return softmax(x, axis=-1).mean(axis=1)


# ---------------------------------------------------------------------------
# Crop geometry


def center_crop_offset(size, crop_size):
    """Offset of a centred crop: `round((size - crop_size) / 2)`, half to even.

    This is torchvision's `CenterCrop` (Python `round`), also used by the
    reference code to centre-crop its padded wavelet outputs.

    Args:
        size: int, length of the image side.
        crop_size: int, length of the crop side (at most `size`).

    Returns:
        int offset, e.g. `center_crop_offset(5, 2) == 2` (1.5 rounds to 2)
        and `center_crop_offset(7, 2) == 2` (2.5 rounds to 2).

    Raises:
        ValueError: if `crop_size > size` or a size is not a positive int.
    """
    return _image.center_crop_offset(size, crop_size)


def center_crop(image, crop_size):
    """Centre crop of an HWC image (torchvision `CenterCrop`, no padding).

    Args:
        image: float array `(height, width, channels)`.
        crop_size: int or `(height, width)`.

    Returns:
        The crop, a view into `image`.

    Raises:
        ValueError: if the image is smaller than the crop or not HWC float.
    """
    return _image.center_crop(image, crop_size)


def resize_shorter_side(image, size, antialias=True):
    """torchvision `Resize(size)` for an int `size`, in numpy.

    The shorter side becomes `size`, the longer `int(size * long / short)`.
    Interpolation: bilinear (triangle kernel, half-pixel centres); with
    `antialias=True` the kernel widens by the down-scaling factor, which is
    PIL's bilinear resize (the reference pipeline) and
    `keras.ops.image.resize(..., antialias=True)`.

    Args:
        image: float array `(height, width, channels)`.
        size: int, target length of the shorter side.
        antialias: bool. Defaults to True.

    Returns:
        The resized image (same dtype).

    Raises:
        ValueError: for a bad image or size.
    """
    return _image.resize_shorter_side(image, size, antialias)


def one_crop(image, crop_size=224, resize_size=None, antialias=True):
    """One-crop view: `Resize(resize_size) -> CenterCrop(crop_size)`.

    The paper uses `Resize(224) -> CenterCrop(224)` (the default,
    `resize_size=None` means `crop_size`); pass `resize_size=256` for the
    usual `Resize(256) -> CenterCrop(224)`. CIFAR-10: `crop_size=32`.

    Args:
        image: float array `(height, width, channels)`.
        crop_size: int. Defaults to 224.
        resize_size: int or None (= `crop_size`).
        antialias: bool, antialiased bilinear resize. Defaults to True.

    Returns:
        Array `(1, crop_size, crop_size, channels)`.

    Raises:
        ValueError: for bad sizes or images.
    """
    crop_size = check_positive_int(crop_size, "crop_size")
    resize_size = crop_size if resize_size is None else resize_size
    resize_size = check_positive_int(resize_size, "resize_size")
    view = _image.resize_center_crop(image, resize_size, crop_size,
                                     antialias=antialias)
    return view[None]


def five_crop(image, crop_size):
    """torchvision `FiveCrop`: corners then centre.

    Order: top-left, top-right, bottom-left, bottom-right, centre (the
    first five names of `TEN_CROP_ORDER`). The centre crop uses
    round-half-even offsets.

    Args:
        image: float array `(height, width, channels)`.
        crop_size: int.

    Returns:
        Array `(5, crop_size, crop_size, channels)`.

    Raises:
        ValueError: if the image is smaller than the crop.
    """
    image = _image.check_image(image)
    c = check_positive_int(crop_size, "crop_size")
    h, w = image.shape[:2]
    if c > h or c > w:
        raise ValueError(
            f"The image ({h}x{w}) is smaller than the crop. "
            f"Received: crop_size={crop_size}"
        )
    crops = [
        image[:c, :c],
        image[:c, w - c :],
        image[h - c :, :c],
        image[h - c :, w - c :],
        _image.center_crop(image, c),
    ]
    return np.stack(crops)


def ten_crop(image, crop_size=224, resize_size=None, antialias=True):
    """Ten-crop view: `Resize(resize_size) -> FiveCrop + horizontal flips`.

    torchvision `TenCrop` order (see `TEN_CROP_ORDER`): the five crops of
    the resized image (top-left, top-right, bottom-left, bottom-right,
    centre), then the same five crops of its left-right mirror image. The
    paper uses `Resize(256) -> TenCrop(224)` on ImageNet and
    `Resize(36) -> TenCrop(32)` on CIFAR-10; `resize_size=None` gives
    `crop_size + crop_size // 7`, i.e. exactly these (256, 36).

    Args:
        image: float array `(height, width, channels)`.
        crop_size: int. Defaults to 224.
        resize_size: int or None (see above).
        antialias: bool, antialiased bilinear resize. Defaults to True.

    Returns:
        Array `(10, crop_size, crop_size, channels)`.

    Raises:
        ValueError: for bad sizes or images.
    """
    crop_size = check_positive_int(crop_size, "crop_size")
    if resize_size is None:
        resize_size = crop_size + crop_size // 7
    resize_size = check_positive_int(resize_size, "resize_size")
    base = _image.resize_shorter_side(image, resize_size, antialias)
    return np.concatenate(
        [five_crop(base, crop_size), five_crop(base[:, ::-1], crop_size)]
    )


def evaluate_accuracy(predict_fn, images, labels, mode="one_crop",
                      crop_size=224, resize_size=None, top_k=(1, 5),
                      normalize=True, mean=None, std=None, preprocess=None,
                      batch_size=64, antialias=True):
    """Top-k accuracy/error of a model with the paper's one- or ten-crop views.

    One-crop scores the logits of the single view; ten-crop averages the
    softmax of the 10 views.

    Args:
        predict_fn: `keras.Model` or callable, float32 NHWC batch -> logits.
        images: iterable of float HWC images (streamed), or a 4-D array.
        labels: `(num_images,)` integer labels.
        mode: `"one_crop"` or `"ten_crop"`.
        crop_size: int. Defaults to 224 (32 for CIFAR-10).
        resize_size: int or None: `crop_size` for one-crop (the paper's
            Resize(224)), `crop_size + crop_size // 7` for ten-crop.
        top_k: ints. Defaults to `(1, 5)`.
        normalize: bool; normalise with `mean`/`std`. Defaults to True.
        mean: per-channel mean from the model's preset.
        std: per-channel std from the model's preset.
        preprocess: optional callable applied to each batch afterwards.
        batch_size: int, frames per model call. Defaults to 64.
        antialias: bool, antialiased bilinear resize. Defaults to True.

    Returns:
        The dict of `accuracy_metrics`, plus `"mode"`.

    Raises:
        ValueError: for an unknown mode, bad images or labels, or missing
            normalisation constants.
    """
    if mode not in ("one_crop", "ten_crop"):
        raise ValueError(
            "`mode` must be 'one_crop' or 'ten_crop'. "
            f"Received: mode={mode!r}"
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "`labels` must be a 1-D array of integer class indices. "
            f"Received: shape={labels.shape}, dtype={labels.dtype}"
        )
    ks = [check_positive_int(k, "k") for k in top_k]
    if not ks:
        raise ValueError("`top_k` must name at least one k. Received: ()")
    transform = make_input_transform(normalize, mean, std, preprocess)
    view = one_crop if mode == "one_crop" else ten_crop
    groups = (
        view(im, crop_size, resize_size, antialias)
        for im in _image.iter_images(images)
    )
    ranks = []
    num_classes = None
    for i, out in enumerate(
        predict_groups(predict_fn, groups, batch_size, transform)
    ):
        if i >= len(labels):
            raise ValueError(
                f"There are more images than labels ({len(labels)})."
            )
        scores = _as_scores(out, "model output")
        if mode == "ten_crop":
            scores = average_crop_probabilities(scores[None])
        num_classes = scores.shape[1]
        y = _check_labels(labels[i : i + 1], 1, num_classes)
        ranks.append(int(_label_ranks(scores, y)[0]))
    if len(ranks) != len(labels):
        raise ValueError(
            f"`labels` must have one label per image: {len(ranks)} images, "
            f"{len(labels)} labels."
        )
    ranks = np.asarray(ranks)
    result = {}
    for k in ks:
        if k > num_classes:
            continue
        acc = float(100.0 * np.mean(ranks < k))
        result[f"top{k}_accuracy"] = acc
        result[f"top{k}_error"] = 100.0 - acc
    result["num_images"] = len(ranks)
    result["mode"] = mode
    return result
