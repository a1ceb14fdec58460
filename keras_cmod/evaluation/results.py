"""Evaluation results as JSON, with the protocol written next to the numbers.

A results dict records what was measured and how:

```
{
  "format": "keras_cmod.evaluation.results/1",
  "keras_cmod_version": "0.1.0", "keras_version": "...", "backend": "...",
  "model": "resnet34_cmod.imagenet", "dataset": "imagenet", "split": "...",
  "created_utc": "2025-01-01T00:00:00Z",
  "preprocessing": {"mean": [...], "std": [...]},
  "protocols": {"flip_rate": {"name": "flip_rate", "normalize": false,
                              "num_images": 50000, "crop_size": 224,
                              "max_shift": 8, "resize_size": 232, ...}},
  "metrics": {"flip_rate": {"vertical": 16.0, ...}, ...},
  "extra": {...}
}
```

`protocol(name, ...)` fills the paper's defaults of each named protocol
(crop sizes, max shifts, ...), and `write_results` writes atomically (a
temporary file in the same folder, then `os.replace`), so a reader never
sees a half-written file. Non-finite floats become `null` (strict JSON).
"""

import datetime
import json
import math
import os

import numpy as np

from keras_cmod import _atomic
from keras_cmod.evaluation.metrics import TEN_CROP_ORDER
from keras_cmod.evaluation.shifts import DIRECTIONS

FORMAT = "keras_cmod.evaluation.results/1"

#: Paper defaults of each protocol (ImageNet sizes; override for CIFAR-10).
PROTOCOL_DEFAULTS = {
    "one_crop": {
        "resize_size": 224,
        "crop_size": 224,
        "interpolation": "bilinear, antialiased",
    },
    "ten_crop": {
        "resize_size": 256,
        "crop_size": 224,
        "crops": list(TEN_CROP_ORDER),
        "aggregation": "mean of softmax",
        "interpolation": "bilinear, antialiased",
    },
    "flip_rate": {
        "crop_size": 224,
        "max_shift": 8,
        "directions": list(DIRECTIONS),
        "reference": "AI",
        "interpolation": "bilinear, antialiased",
    },
    "kl_half_pixel": {
        "output_size": 224,
        "max_shift": 8,
        "pixel_divide": 2,
        "directions": list(DIRECTIONS),
        "interpolation": "bilinear, antialiased",
    },
    "zhang_consistency": {
        "crop_size": 224,
        "resize_size": 256,
        "n_pairs": 1,
        "seed": 0,
    },
    "first_layer_similarity": {},
    "first_layer_stability": {
        "shifts": list(range(1, 9)),
        "direction": "diagonal",
        "stride": None,
    },
    "cost": {},
}

PROTOCOLS = tuple(PROTOCOL_DEFAULTS)


def to_jsonable(obj):
    """Converts numpy values, tuples and NaNs to plain JSON values.

    Args:
        obj: nested dicts (str keys), lists, tuples, numpy arrays and
            scalars, Python numbers, strings, bools and None.

    Returns:
        The same structure with lists, Python numbers and `None` in place
        of NaN or infinite floats.

    Raises:
        ValueError: for a non-string dict key or an unsupported type.
    """
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ValueError(
                    f"Result keys must be strings. Received key {k!r}"
                )
            out[k] = to_jsonable(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    raise ValueError(
        f"Cannot store a {type(obj).__name__} in results JSON: {obj!r}"
    )


def protocol(name, num_images=None, normalize=None, **params):
    """Describes one evaluation protocol, with the paper's defaults filled in.

    Derived sizes are added: `flip_rate` gets `resize_size = crop_size +
    max_shift`; `kl_half_pixel` gets `resize_size = pixel_divide *
    (output_size + max_shift)` and `patch_size = pixel_divide *
    output_size`.

    Args:
        name: one of `PROTOCOLS`.
        num_images: int >= 1, images evaluated (optional for `"cost"`).
        normalize: bool, whether inputs were mean/std normalised (optional
            for `"cost"`).
        **params: overrides and extra settings (JSON-friendly).

    Returns:
        A dict with `"name"`, `"num_images"`, `"normalize"` and the settings.

    Raises:
        ValueError: for an unknown name, or a missing/bad `num_images` or
            `normalize` for an image protocol.
    """
    if name not in PROTOCOL_DEFAULTS:
        raise ValueError(
            f"Unknown protocol {name!r}; allowed: {PROTOCOLS}. "
            f"Received: name={name!r}"
        )
    if name != "cost" or num_images is not None:
        if (
            isinstance(num_images, bool)
            or not isinstance(num_images, (int, np.integer))
            or num_images < 1
        ):
            raise ValueError(
                "`num_images` must be an integer >= 1. Received: "
                f"num_images={num_images!r}"
            )
    if name != "cost" or normalize is not None:
        if not isinstance(normalize, (bool, np.bool_)):
            raise ValueError(
                "`normalize` must be True or False (were the frames "
                "mean/std normalised?). Received: "
                f"normalize={normalize!r}"
            )
    entry = {"name": name}
    if num_images is not None:
        entry["num_images"] = int(num_images)
    if normalize is not None:
        entry["normalize"] = bool(normalize)
    entry.update(PROTOCOL_DEFAULTS[name])
    entry.update(params)
    if name == "flip_rate":
        entry.setdefault("resize_size",
                         entry["crop_size"] + entry["max_shift"])
    if name == "kl_half_pixel":
        d = entry["pixel_divide"]
        entry.setdefault("resize_size",
                         d * (entry["output_size"] + entry["max_shift"]))
        entry.setdefault("patch_size", d * entry["output_size"])
    return to_jsonable(entry)


def build_results(model_name, metrics, protocols, dataset=None, split=None,
                  preprocessing=None, extra=None, created=True):
    """Assembles a JSON-serialisable results dict.

    Args:
        model_name: str, registry name of the model (e.g.
            `"resnet34_cmod.imagenet"`).
        metrics: dict of results (numbers, arrays, nested dicts).
        protocols: list of `protocol(...)` dicts, or a dict name -> dict.
        dataset: optional str, e.g. `"imagenet"`.
        split: optional str, e.g. `"validation"`.
        preprocessing: optional dict, e.g. `{"mean": ..., "std": ...}` of the
            preset used.
        extra: optional dict of anything else (JSON-friendly).
        created: bool, add a UTC `"created_utc"` timestamp. Defaults to
            True.

    Returns:
        The results dict (see the module docstring), with the keras-cmod
        version from `keras_cmod.__version__`.

    Raises:
        ValueError: for an empty model name, non-dict metrics, protocols
            without a known name, or values JSON cannot hold.
    """
    import keras

    import keras_cmod

    if not isinstance(model_name, str) or not model_name:
        raise ValueError(
            f"`model_name` must be a non-empty str. Received: "
            f"model_name={model_name!r}"
        )
    if not isinstance(metrics, dict):
        raise ValueError(
            f"`metrics` must be a dict. Received: {type(metrics).__name__}"
        )
    if isinstance(protocols, dict):
        protocols = list(protocols.values())
    table = {}
    for p in protocols:
        name = p.get("name") if isinstance(p, dict) else None
        if name not in PROTOCOL_DEFAULTS:
            raise ValueError(
                "Each protocol must be a dict from `protocol(...)` with a "
                f"name in {PROTOCOLS}. Received: {p!r}"
            )
        table[name] = p
    results = {
        "format": FORMAT,
        "keras_cmod_version": keras_cmod.__version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "model": model_name,
        "dataset": dataset,
        "split": split,
    }
    if created:
        now = datetime.datetime.now(datetime.timezone.utc)
        results["created_utc"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if preprocessing is not None:
        results["preprocessing"] = preprocessing
    results["protocols"] = table
    results["metrics"] = metrics
    if extra is not None:
        results["extra"] = extra
    return to_jsonable(results)


def write_results(results, path, indent=2):
    """Writes results as JSON, atomically.

    The JSON goes to a temporary file in the destination folder, is flushed
    and fsync'ed, then renamed over `path` with `os.replace`; on error the
    temporary file is removed and `path` is left as it was.

    Args:
        results: a dict (e.g. from `build_results`).
        path: str or path-like destination; missing folders are created.
        indent: int, JSON indentation. Defaults to 2.

    Returns:
        The path written, as a str.

    Raises:
        ValueError: if `results` is not a dict or holds values JSON cannot
            hold.
    """
    if not isinstance(results, dict):
        raise ValueError(
            f"`results` must be a dict. Received: {type(results).__name__}"
        )
    text = json.dumps(to_jsonable(results), indent=indent, allow_nan=False,
                      sort_keys=False)
    return write_text_atomic(path, text + "\n")


def write_text_atomic(path, text, newline=None):
    """Writes `text` to `path` through a temporary file and `os.replace`.

    Readers see the old file or the new one, never a partial one; the
    temporary file is removed if writing fails, and the file gets the
    permissions of a plain `open(path, "w")` (`0o666 & ~umask`). See
    `keras_cmod._atomic.write_text`.

    Args:
        path: destination (its folder is created if needed).
        text: str to write (UTF-8).
        newline: as `open`'s (`""` writes line endings unchanged).

    Returns:
        The path written, as a str.
    """
    return _atomic.write_text(path, text, newline=newline)


def read_results(path):
    """Reads a results JSON file written by `write_results`.

    Args:
        path: str or path-like.

    Returns:
        The results dict.

    Raises:
        ValueError: if the file is not a results dict of this format.
    """
    with open(os.fspath(path), encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(
            f"{os.fspath(path)!r} is not a keras-cmod results file "
            f"(expected format {FORMAT!r})."
        )
    return data
