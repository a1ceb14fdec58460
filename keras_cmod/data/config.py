"""Preprocessing configuration ("data config") resolved from a model preset.

A data config is a plain dict with the timm-style keys

| key | meaning |
|---|---|
| `input_size` | `(height, width, channels)`, channels-last |
| `crop_pct` | centre-crop fraction of the evaluation resize (timm) |
| `interpolation` | resize kernel: `"bilinear"`, `"bicubic"`, ... |
| `mean`, `std` | per-channel normalisation of images scaled to [0, 1] |
| `num_classes` | number of classes (informative; `None` if unknown) |

The pipeline (`keras_cmod.data.preprocess`) reads every preprocessing
constant from such a dict and hard-codes none of them. The ImageNet values
appear only in `IMAGENET_DEFAULT_CFG`, the fallback used when neither a
preset nor a model is given.

This module is pure Python: it imports neither TensorFlow nor TFDS.
"""

import collections.abc
import dataclasses
import math
import numbers
import types

# The fallback used when the caller passes no preset and no model: the
# torchvision ImageNet constants, which the paper (and its CIFAR-10 runs)
# also use. timm's default `crop_pct` (224 / 256).
IMAGENET_DEFAULT_CFG = types.MappingProxyType(
    {
        "input_size": (224, 224, 3),
        "crop_pct": 0.875,
        "interpolation": "bilinear",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "num_classes": 1000,
    }
)

# Names accepted for `interpolation`, mapped to `tf.image.resize` methods.
# `"bicubic"` is TensorFlow's Keys kernel (a = -0.5); PyTorch uses
# a = -0.75, so bicubic outputs differ slightly from torchvision's.
INTERPOLATIONS = (
    "bilinear",
    "bicubic",
    "nearest",
    "area",
    "lanczos3",
    "lanczos5",
    "gaussian",
    "mitchellcubic",
)

DATA_CONFIG_KEYS = (
    "input_size",
    "crop_pct",
    "interpolation",
    "mean",
    "std",
    "num_classes",
)


def _as_dict(cfg, what):
    """Turns a dict, a dataclass or an object with `to_dict()` into a dict."""
    if cfg is None:
        return {}
    if isinstance(cfg, collections.abc.Mapping):
        return dict(cfg)
    if hasattr(cfg, "to_dict") and callable(cfg.to_dict):
        return dict(cfg.to_dict())
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    raise TypeError(
        f"`{what}` must be a dict, a dataclass or an object with a "
        f"`to_dict()` method. Received: {what}={cfg!r} "
        f"(type {type(cfg).__name__})"
    )


def _model_input_size(model):
    """`(H, W, C)` from a Keras model's input shape, or `None`."""
    try:
        shape = tuple(model.input_shape)
    except Exception:  # noqa: BLE001  (no input yet, several inputs, ...)
        return None
    if len(shape) == 4 and all(isinstance(d, int) for d in shape[1:]):
        return tuple(shape[1:])
    return None


def _per_channel(value, channels, key):
    if isinstance(value, numbers.Real):
        values = (float(value),) * channels
    else:
        values = tuple(float(v) for v in value)
        if len(values) == 1:
            values = values * channels
    if len(values) != channels:
        raise ValueError(
            f"`{key}` needs one value per channel ({channels}). "
            f"Received: {key}={value!r}"
        )
    return values


def _check_input_size(value, channels_hint):
    size = value
    if isinstance(size, numbers.Integral):
        size = (int(size), int(size))
    size = tuple(size)
    if len(size) == 2:
        size = size + (channels_hint,)
    ok = len(size) == 3 and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0
        for d in size
    )
    if not ok or size[2] not in (1, 3):
        raise ValueError(
            "`input_size` must be (height, width, channels), channels-last, "
            "with positive integer sizes and 1 or 3 channels (an int or "
            f"(height, width) is also accepted). Received: input_size={value!r}"
        )
    return tuple(int(d) for d in size)


def resolve_data_config(pretrained_cfg=None, model=None, **overrides):
    """Resolves the preprocessing constants for a model (timm semantics).

    Each key is taken from the first source that defines it (not `None`):

    1. `overrides` (keyword arguments),
    2. `pretrained_cfg`,
    3. `model.pretrained_cfg` (and, for `input_size` only, the model's
       static input shape),
    4. `IMAGENET_DEFAULT_CFG`.

    Args:
        pretrained_cfg: the preset's preprocessing: a dict, a dataclass, or
            an object with a `to_dict()` method, holding some of the keys
            `input_size` (`(H, W, C)`), `crop_pct`, `interpolation`, `mean`,
            `std` and `num_classes`. Other keys are ignored. An already
            resolved data config is accepted too.
        model: optional Keras model. Its `pretrained_cfg` attribute, if any,
            is used after `pretrained_cfg`; a fully defined
            `model.input_shape` gives `input_size` when nothing else does.
        **overrides: values that win over everything else: any key above,
            plus `img_size` (int or `(H, W)`), a shorthand for
            `input_size` that keeps the resolved channel count.

    Returns:
        A new dict with exactly the keys `input_size` (tuple of 3 ints),
        `crop_pct` (float), `interpolation` (str), `mean` and `std` (tuples
        of floats, one per channel) and `num_classes` (int or `None`).

    Raises:
        TypeError: if `pretrained_cfg` (or `model.pretrained_cfg`) has an
            unsupported type, or an override key is unknown.
        ValueError: if a value is invalid (the message names the key, the
            received value and what is allowed).

    Example:
    >>> cfg = keras_cmod.data.resolve_data_config({"input_size": (32, 32, 3)})
    >>> cfg["input_size"], cfg["crop_pct"]
    ((32, 32, 3), 0.875)
    """
    allowed = set(DATA_CONFIG_KEYS) | {"img_size"}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise TypeError(
            f"Unknown data config override(s) {unknown}. Expected some of "
            f"{sorted(allowed)}."
        )
    sources = [{k: v for k, v in overrides.items() if k != "img_size"}]
    sources.append(_as_dict(pretrained_cfg, "pretrained_cfg"))
    model_input_size = None
    if model is not None:
        sources.append(
            _as_dict(
                getattr(model, "pretrained_cfg", None), "model.pretrained_cfg"
            )
        )
        model_input_size = _model_input_size(model)
    sources.append(dict(IMAGENET_DEFAULT_CFG))

    def pick(key):
        for src in sources[:-1]:
            if src.get(key) is not None:
                return src[key]
        if key == "input_size" and model_input_size is not None:
            return model_input_size
        return sources[-1][key]

    # Channels: from an explicit 3-tuple `input_size`; for an int or an
    # (H, W) size, from the length of `mean` (1 or 3), else 3.
    raw_size = pick("input_size")
    mean, std = pick("mean"), pick("std")
    hint = 3
    if not isinstance(mean, numbers.Real) and len(tuple(mean)) == 1:
        hint = 1
    input_size = _check_input_size(raw_size, hint)
    img = overrides.get("img_size")
    if img is not None:
        hw = (img, img) if isinstance(img, numbers.Integral) else tuple(img)
        if len(hw) != 2:
            raise ValueError(
                f"`img_size` must be an int or (height, width). "
                f"Received: img_size={img!r}"
            )
        input_size = _check_input_size(hw + (input_size[2],), 3)
    channels = input_size[2]

    mean = _per_channel(mean, channels, "mean")
    std = _per_channel(std, channels, "std")
    if any(not math.isfinite(s) or s <= 0 for s in std):
        raise ValueError(f"`std` must be positive. Received: std={std!r}")
    if any(not math.isfinite(m) for m in mean):
        raise ValueError(f"`mean` must be finite. Received: mean={mean!r}")

    crop_pct = pick("crop_pct")
    if (
        not isinstance(crop_pct, numbers.Real)
        or isinstance(crop_pct, bool)
        or not 0 < crop_pct <= 1
    ):
        raise ValueError(
            f"`crop_pct` must be a number in (0, 1]. "
            f"Received: crop_pct={crop_pct!r}"
        )

    interpolation = pick("interpolation")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"Unknown `interpolation`. Expected one of {list(INTERPOLATIONS)}. "
            f"Received: interpolation={interpolation!r}"
        )

    # `num_classes` falls back to the ImageNet default only when no preset
    # at all was given: a preset without it stays `None` (unknown).
    if any(src.get("num_classes") is not None for src in sources[:-1]):
        num_classes = pick("num_classes")
    elif pretrained_cfg is None and model is None:
        num_classes = IMAGENET_DEFAULT_CFG["num_classes"]
    else:
        num_classes = None
    if num_classes is not None and (
        not isinstance(num_classes, numbers.Integral) or num_classes <= 0
    ):
        raise ValueError(
            f"`num_classes` must be a positive int or None. "
            f"Received: num_classes={num_classes!r}"
        )
    return {
        "input_size": input_size,
        "crop_pct": float(crop_pct),
        "interpolation": str(interpolation),
        "mean": mean,
        "std": std,
        "num_classes": None if num_classes is None else int(num_classes),
    }
