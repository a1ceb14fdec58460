"""Shift-invariance metrics of the paper (mean flip rates, KL divergence).

Flip rates `FR_d(s)`, mean flip rates `mFR_d`, the normalised
"consistency" of Tables I/II (with the paper's raw mean flip rates,
`PAPER_RAW_MFR`) and Zhang's consistency, all in **percent**; KL
divergences under half-pixel shifts (Fig. 2), in nats. Models, batching and
input scaling (`predict_fn`, `normalize`, `mean`/`std`, `preprocess`)
follow the conventions of `metrics`.
"""

import numpy as np

from keras_cmod.evaluation import _image
from keras_cmod.evaluation import shifts as _shifts
from keras_cmod.evaluation._image import check_positive_int
from keras_cmod.evaluation._predict import (
    make_input_transform,
    predict_groups,
)
from keras_cmod.evaluation.metrics import _as_scores, log_softmax

DIRECTIONS = _shifts.DIRECTIONS

#: Raw mean flip rates per direction (%, mean over step sizes 1..8, or 1..4
#: for CIFAR-10), test sets, recomputed from the reference `classifs`
#: pickles. Ids are the reference repo's model names.
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
# Mean flip rate (the paper's "consistency")


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
    """Flip rates `FR_d(s)`, `s = 1..max_step`, in percent.

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
# KL divergence under fractional shifts (the paper's Fig. 2)


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
