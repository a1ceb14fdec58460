"""Accuracy and shift-invariance metrics of the paper (SPEC 5.1-5.3).

All rates are returned in **percent**, as the paper's tables print them:
top-k accuracy and error, flip rates `FR_d(s)`, mean flip rates `mFR_d`,
the normalised "consistency" of Tables I/II and Zhang's consistency. KL
divergences are in nats.

Models are given as `predict_fn`: a `keras.Model` (called with
`training=False`) or any callable mapping a float32 NHWC batch to
`(batch, num_classes)` logits. Frames are predicted in batches of
`batch_size` (never one frame at a time).

Input scaling is the caller's choice, never hard-coded here: with
`normalize=True` (the default) frames are mapped to `(x - mean) / std` with
the `mean`/`std` of the model's preset; `normalize=False` feeds the frames
as they are (un-normalised [0, 1] images, as the reference code's shift
metrics did, SPEC 8.2 #1). `preprocess`, if given, is applied afterwards.

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
from keras_cmod.evaluation import shifts as _shifts
from keras_cmod.evaluation._image import check_positive_int
from keras_cmod.evaluation._predict import (
    make_input_transform,
    predict_groups,
)

DIRECTIONS = _shifts.DIRECTIONS

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

#: Raw mean flip rates per direction (%, mean over step sizes 1..8, or 1..4
#: for CIFAR-10), test sets, recomputed from the reference `classifs`
#: pickles (SPEC 6.5). Ids are the reference repo's names (SPEC 3).
PAPER_RAW_MFR = {
    "AI": {"vertical": 20.42, "horizontal": 19.59, "diagonal": 24.46},
    "AwyI": {"vertical": 20.77, "horizontal": 19.97, "diagonal": 24.57},
    "AwyI_mod": {"vertical": 17.80, "horizontal": 16.69, "diagonal": 22.44},
    "Azh3I": {"vertical": 13.04, "horizontal": 11.75, "diagonal": 16.50},
    "Azh3wyI": {"vertical": 12.69, "horizontal": 11.93, "diagonal": 16.17},
    "Azh3wyI_mod": {
        "vertical": 13.95,
        "horizontal": 13.04,
        "diagonal": 17.93,
    },
    "RI": {"vertical": 16.01, "horizontal": 15.25, "diagonal": 19.11},
    "RwyI": {"vertical": 15.85, "horizontal": 14.95, "diagonal": 18.97},
    "RwyI_mod": {"vertical": 14.96, "horizontal": 13.93, "diagonal": 18.32},
    "Rzh3I": {"vertical": 12.53, "horizontal": 11.68, "diagonal": 15.31},
    "Rzh3wyI": {"vertical": 13.34, "horizontal": 12.53, "diagonal": 16.23},
    "Rzh3wyI_mod": {
        "vertical": 12.70,
        "horizontal": 11.87,
        "diagonal": 15.80,
    },
    "Rzo3I": {"vertical": 12.36, "horizontal": 11.67, "diagonal": 15.23},
    "Rzo3wyI": {"vertical": 12.73, "horizontal": 11.99, "diagonal": 15.34},
    "Rzo3wyI_mod": {
        "vertical": 12.73,
        "horizontal": 12.03,
        "diagonal": 16.05,
    },
    "R18C": {"vertical": 26.38, "horizontal": 23.50, "diagonal": 30.75},
    "R18wyC": {"vertical": 23.74, "horizontal": 21.85, "diagonal": 29.01},
    "R18wyC_mod": {
        "vertical": 23.05,
        "horizontal": 20.50,
        "diagonal": 28.22,
    },
}

#: The reference model of the normalised consistency: standard AlexNet for
#: both ImageNet tables (ResNet-34 rows too), standard ResNet-18 for CIFAR.
PAPER_MFR_REFERENCE = {"imagenet": "AI", "cifar10": "R18C"}

#: Default floor under probabilities before taking logs in KL divergences.
KL_EPSILON = 1e-12


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
    """Multi-crop aggregation: mean of the softmax over the crops (SPEC 5.1).

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
    softmax of the 10 views (SPEC 5.1).

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


# ---------------------------------------------------------------------------
# Mean flip rate ("consistency", SPEC 5.3)


def _flip_rates_from_predictions(top1):
    """top1: (num_images, S + 1) int -> FR(s), s = 1..S, in percent."""
    steps = top1.shape[1] - 1
    return np.array(
        [
            100.0 * np.mean(top1[:, s:] != top1[:, :-s])
            for s in range(1, steps + 1)
        ]
    )


def flip_rates(predict_fn, images, direction, max_step=8, crop_size=224,
               normalize=True, mean=None, std=None, preprocess=None,
               batch_size=64, resize=True, antialias=True):
    """Flip rates `FR_d(s)`, `s = 1..max_step`, in percent (SPEC 5.3).

    `FR_d(s) = 100 * mean over images and frame pairs (t, t + s) of
    1[argmax_t != argmax_{t+s}]`, where frame `t` is the crop shifted by `t`
    pixels along `direction` (`shifts.flip_rate_frames`: Resize(crop +
    max_step) -> CenterCrop(crop + max_step) -> crops at offsets
    0..max_step). ImageNet: `crop_size=224, max_step=8`; CIFAR-10:
    `crop_size=32, max_step=4`.

    Args:
        predict_fn: `keras.Model` or callable, float32 NHWC batch -> logits.
        images: iterable of float HWC images (streamed), or a 4-D array.
        direction: `"vertical"`, `"horizontal"` or `"diagonal"`.
        max_step: int >= 1, largest step `S`. Defaults to 8.
        crop_size: int, frame side. Defaults to 224.
        normalize: bool; normalise frames with `mean`/`std` (default). Set
            False to reproduce the reference code (raw [0, 1] frames).
        mean: per-channel mean from the model's preset.
        std: per-channel std from the model's preset.
        preprocess: optional callable applied to each batch afterwards.
        batch_size: int, frames per model call. Defaults to 64.
        resize: bool; if False images are only centre-cropped.
        antialias: bool, antialiased bilinear resize. Defaults to True.

    Returns:
        Float64 array `(max_step,)`: `FR_d(1), ..., FR_d(S)` in percent.

    Raises:
        ValueError: for an unknown direction, empty or bad images, bad
            sizes, or missing normalisation constants.
    """
    return _flip_rates_many(
        predict_fn, images, (direction,), max_step, crop_size, normalize,
        mean, std, preprocess, batch_size, resize, antialias,
    )[direction]


def _flip_rates_many(predict_fn, images, directions, max_step, crop_size,
                     normalize, mean, std, preprocess, batch_size, resize,
                     antialias):
    directions = tuple(directions)
    if not directions:
        raise ValueError(
            f"`directions` must name at least one of {DIRECTIONS}. "
            "Received: ()"
        )
    for d in directions:
        _shifts.check_direction(d)
    max_step = check_positive_int(max_step, "max_step")
    crop_size = check_positive_int(crop_size, "crop_size")
    transform = make_input_transform(normalize, mean, std, preprocess)
    base_size = crop_size + max_step

    def groups():
        for im in _image.iter_images(images):
            base = _image.resize_center_crop(
                im, base_size, base_size, resize, antialias
            )
            for d in directions:
                yield _shifts.flip_rate_frames(
                    base, d, crop_size, max_step, resize=False
                )

    outs = predict_groups(predict_fn, groups(), batch_size, transform)
    top1 = np.array([np.argmax(o, axis=1) for o in outs])
    top1 = top1.reshape(-1, len(directions), max_step + 1)
    return {
        d: _flip_rates_from_predictions(top1[:, i])
        for i, d in enumerate(directions)
    }


def mean_flip_rate(rates):
    """`mFR_d = (1 / S) * sum_s FR_d(s)`: the mean of the flip rates.

    Args:
        rates: 1-D array-like `FR_d(1..S)` (as returned by `flip_rates`).

    Returns:
        A float, in the unit of `rates` (percent for `flip_rates`).

    Raises:
        ValueError: if `rates` is empty or not 1-D.
    """
    arr = np.asarray(rates, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            "`rates` must be a non-empty 1-D array of flip rates. "
            f"Received: shape={arr.shape}"
        )
    return float(arr.mean())


def mean_flip_rates(predict_fn, images, directions=DIRECTIONS, max_step=8,
                    crop_size=224, normalize=True, mean=None, std=None,
                    preprocess=None, batch_size=64, resize=True,
                    antialias=True):
    """`mFR_d` for several directions in one pass over the images.

    Each image is resized once; see `flip_rates` for the protocol and the
    arguments.

    Args:
        predict_fn: `keras.Model` or callable, float32 NHWC batch -> logits.
        images: iterable of float HWC images (streamed), or a 4-D array.
        directions: iterable of directions. Defaults to all three.
        max_step: int. Defaults to 8 (4 for CIFAR-10).
        crop_size: int. Defaults to 224 (32 for CIFAR-10).
        normalize: bool. Defaults to True.
        mean: per-channel mean from the model's preset.
        std: per-channel std from the model's preset.
        preprocess: optional callable applied to each batch afterwards.
        batch_size: int. Defaults to 64.
        resize: bool. Defaults to True.
        antialias: bool. Defaults to True.

    Returns:
        A dict `direction -> mFR_d` (percent), ready for `consistency`.

    Raises:
        ValueError: as `flip_rates`.
    """
    rates = _flip_rates_many(
        predict_fn, images, directions, max_step, crop_size, normalize,
        mean, std, preprocess, batch_size, resize, antialias,
    )
    return {d: mean_flip_rate(r) for d, r in rates.items()}


def _direction_values(rates, name):
    try:
        keys = set(rates)
    except TypeError:
        raise ValueError(
            f"`{name}` must be a dict direction -> mFR. "
            f"Received: {name}={rates!r}"
        ) from None
    if keys != set(DIRECTIONS):
        raise ValueError(
            f"`{name}` must have exactly the directions {DIRECTIONS}. "
            f"Received keys: {sorted(keys, key=str)}"
        )
    values = {}
    for d in DIRECTIONS:
        v = np.asarray(rates[d], dtype=np.float64)
        values[d] = float(v) if v.ndim == 0 else mean_flip_rate(v)
    return values


def consistency(model_rates, reference_rates):
    """The paper's normalised mean flip rate (Tables I/II). Lower is better.

    `100 * mean over d in {vertical, horizontal, diagonal} of
    mFR_d(model) / mFR_d(reference)`: each direction is normalised by the
    reference model first, then the three ratios are averaged. The
    reference is standard AlexNet ("AI") for both ImageNet tables and
    standard ResNet-18 ("R18C") for CIFAR-10 (`PAPER_MFR_REFERENCE`). This
    is **not** Zhang's consistency (see `zhang_consistency`).

    Args:
        model_rates: dict direction -> `mFR_d` (a number) or the flip-rate
            curve `FR_d(1..S)` (an array, averaged here), for all three
            directions.
        reference_rates: the same for the reference model.

    Returns:
        A float; 100 means "as consistent as the reference".

    Raises:
        ValueError: if a direction is missing or extra, or a reference rate
            is not positive.

    Example:
    >>> from keras_cmod.evaluation import PAPER_RAW_MFR, consistency
    >>> round(consistency(PAPER_RAW_MFR["AwyI_mod"], PAPER_RAW_MFR["AI"]), 1)
    88.0
    """
    model = _direction_values(model_rates, "model_rates")
    ref = _direction_values(reference_rates, "reference_rates")
    for d, v in ref.items():
        if not v > 0:
            raise ValueError(
                "Reference mean flip rates must be positive. Received: "
                f"reference_rates[{d!r}]={v}"
            )
    return float(100.0 * np.mean([model[d] / ref[d] for d in DIRECTIONS]))


# ---------------------------------------------------------------------------
# KL divergence under fractional shifts (SPEC 5.2)


def kl_divergence(p_scores, q_scores, from_logits=True, eps=KL_EPSILON):
    """Row-wise `KL(p || q) = sum_c p_c (log p_c - log q_c)`, in nats.

    With `from_logits=True` the log-probabilities are computed by a float64
    log-softmax; otherwise the scores are probabilities. In both cases the
    log-probabilities are floored at `log(eps)` (i.e. `p` is read as
    `max(p, eps)` inside the logs), so a zero probability never gives an
    infinite or NaN divergence. The floor changes the result only when a
    probability is below `eps` (1e-12 by default).

    Args:
        p_scores: `(batch, num_classes)` logits or probabilities of p.
        q_scores: the same for q.
        from_logits: bool. Defaults to True.
        eps: float > 0, the probability floor. Defaults to 1e-12.

    Returns:
        Float64 array `(batch,)`, >= 0 (up to rounding).

    Raises:
        ValueError: for mismatched shapes, negative probabilities or a
            non-positive `eps`.
    """
    p = _as_scores(p_scores, "p_scores")
    q = _as_scores(q_scores, "q_scores")
    if p.shape != q.shape:
        raise ValueError(
            f"`p_scores` and `q_scores` must have the same shape. "
            f"Received: {p.shape} and {q.shape}"
        )
    if not eps > 0:
        raise ValueError(f"`eps` must be positive. Received: eps={eps!r}")
    floor = np.log(eps)
    if from_logits:
        log_p, log_q = log_softmax(p), log_softmax(q)
    else:
        if np.any(p < 0) or np.any(q < 0):
            raise ValueError(
                "Probabilities must be non-negative; pass from_logits=True "
                "for logits."
            )
        with np.errstate(divide="ignore"):
            log_p, log_q = np.log(p), np.log(q)
    prob_p = np.exp(log_p) if from_logits else p
    log_p = np.maximum(log_p, floor)
    log_q = np.maximum(log_q, floor)
    return np.sum(prob_p * (log_p - log_q), axis=-1)


def kl_divergence_curve(predict_fn, images, direction, max_shift=8,
                        output_size=224, pixel_divide=2, normalize=True,
                        mean=None, std=None, preprocess=None, batch_size=64,
                        from_logits=True, eps=KL_EPSILON, resize=True,
                        antialias=True):
    """KL divergence between predictions at shift 0 and at shift `s` (Fig. 2).

    Frames come from `shifts.half_pixel_shift_frames` (Resize(464) ->
    CenterCrop(464) -> 17 patches of 448 -> antialiased bilinear resize to
    224, i.e. shifts `0, 0.5, ..., 8` px). For each image, `KL(p_0 || p_s)`
    of the softmax outputs (see `kl_divergence` for the `eps` floor); the
    result is the mean over images.

    Args:
        predict_fn: `keras.Model` or callable, float32 NHWC batch -> logits.
        images: iterable of float HWC images (streamed), or a 4-D array.
        direction: `"vertical"`, `"horizontal"` or `"diagonal"`.
        max_shift: int, largest shift in output pixels. Defaults to 8.
        output_size: int, frame side. Defaults to 224.
        pixel_divide: int, sub-steps per pixel. Defaults to 2.
        normalize: bool; normalise frames with `mean`/`std` (default). Set
            False to reproduce the reference code (raw [0, 1] frames).
        mean: per-channel mean from the model's preset.
        std: per-channel std from the model's preset.
        preprocess: optional callable applied to each batch afterwards.
        batch_size: int, frames per model call. Defaults to 64.
        from_logits: bool, whether `predict_fn` returns logits (default) or
            probabilities.
        eps: float, probability floor inside the logs. Defaults to 1e-12.
        resize: bool; if False images are only centre-cropped.
        antialias: bool. Defaults to True.

    Returns:
        Float64 array `(pixel_divide * max_shift + 1,)` (17 values by
        default); entry 0 is 0. Shifts: `shifts.half_pixel_shifts(...)`.

    Raises:
        ValueError: for an unknown direction, bad images or sizes, or
            missing normalisation constants.
    """
    _shifts.check_direction(direction)
    transform = make_input_transform(normalize, mean, std, preprocess)
    groups = (
        _shifts.half_pixel_shift_frames(
            im, direction, output_size, max_shift, pixel_divide, resize,
            antialias,
        )
        for im in _image.iter_images(images)
    )
    total = 0.0
    count = 0
    for out in predict_groups(predict_fn, groups, batch_size, transform):
        ref = np.repeat(out[:1], len(out), axis=0)
        total = total + kl_divergence(ref, out, from_logits, eps)
        count += 1
    return total / count


# ---------------------------------------------------------------------------
# Zhang's consistency


def zhang_consistency(predict_fn, images, n_pairs=1, seed=0, crop_size=224,
                      resize_size=256, normalize=True, mean=None, std=None,
                      preprocess=None, batch_size=64, resize=True,
                      antialias=True):
    """Zhang's consistency: % of random crop pairs with the same top-1 class.

    For every image, `n_pairs` pairs of random `crop_size` crops of the
    `Resize(resize_size) -> CenterCrop(resize_size)` image (offsets drawn
    by `shifts.zhang_crop_pairs` from one `numpy.random.default_rng(seed)`
    shared by all images, so the result is reproducible). Higher is better;
    this is not the paper's normalised mean flip rate (`consistency`).

    Args:
        predict_fn: `keras.Model` or callable, float32 NHWC batch -> logits.
        images: iterable of float HWC images (streamed), or a 4-D array.
        n_pairs: int >= 1, pairs per image. Defaults to 1.
        seed: int or `numpy.random.Generator`. Defaults to 0.
        crop_size: int. Defaults to 224.
        resize_size: int. Defaults to 256.
        normalize: bool. Defaults to True.
        mean: per-channel mean from the model's preset.
        std: per-channel std from the model's preset.
        preprocess: optional callable applied to each batch afterwards.
        batch_size: int. Defaults to 64.
        resize: bool. Defaults to True.
        antialias: bool. Defaults to True.

    Returns:
        A float in [0, 100].

    Raises:
        ValueError: for bad images, sizes or seed, or missing normalisation
            constants.
    """
    transform = make_input_transform(normalize, mean, std, preprocess)
    rng = _shifts._as_rng(seed)
    n_pairs = check_positive_int(n_pairs, "n_pairs")

    def groups():
        for im in _image.iter_images(images):
            frames, _ = _shifts.zhang_crop_pairs(
                im, n_pairs, rng, crop_size, resize_size, resize, antialias
            )
            yield frames.reshape((-1,) + frames.shape[2:])

    same = 0
    pairs = 0
    for out in predict_groups(predict_fn, groups(), batch_size, transform):
        top1 = np.argmax(out, axis=1).reshape(-1, 2)
        same += int(np.sum(top1[:, 0] == top1[:, 1]))
        pairs += len(top1)
    return float(100.0 * same / pairs)
