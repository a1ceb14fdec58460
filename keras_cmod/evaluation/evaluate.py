"""The `keras-cmod evaluate` protocols as functions (`evaluate_model`).

`evaluate_model` streams a dataset through the metric functions of
`keras_cmod.evaluation` and returns a results dict written with
`keras_cmod.evaluation.results`; `keras_cmod.evaluation.cli` is its
command-line layer, and `scripts/release.py` calls it directly. The
protocols and their preprocessing are described in
`keras_cmod.evaluation.cli`.
"""

import importlib.util
import json
import os
import sys

import numpy as np

from keras_cmod.evaluation import metrics as _metrics
from keras_cmod.evaluation import plots as _plots
from keras_cmod.evaluation import results as _results
from keras_cmod.evaluation import shift_metrics as _shift_metrics
from keras_cmod.evaluation import shifts as _shifts
from keras_cmod.evaluation._predict import (
    make_input_transform,
    predict_groups,
)

__all__ = [
    "DATASET_SPLITS",
    "DEFAULT_METRICS",
    "METRICS",
    "evaluate_model",
    "parse_dataset",
    "parse_metrics",
    "resolve_reference",
]

#: Metric names accepted by `--metrics`.
METRICS = ("accuracy", "mfr", "kl", "consistency", "zhang")
DEFAULT_METRICS = ("accuracy", "mfr", "kl", "consistency")
#: Default evaluation split of each TFDS dataset: the paper's test sets
#: (ImageNet: the official 50K validation images).
DATASET_SPLITS = {"imagenet2012": "validation", "cifar10": "test"}
FOLDER_PREFIX = "folder:"
PIXEL_DIVIDE = 2  # half-pixel shifts for the paper's KL curves


# ---------------------------------------------------------------------------
# Argument parsing


def parse_metrics(text):
    """`"accuracy,mfr"` -> `("accuracy", "mfr")` (validated, de-duplicated).

    `"all"` names every metric. Raises ValueError for an unknown or empty
    list.
    """
    if isinstance(text, str):
        names = [t.strip().lower() for t in text.split(",") if t.strip()]
    else:
        names = [str(t).strip().lower() for t in text]
    if names == ["all"]:
        return METRICS
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(
            f"Unknown metric(s) {unknown or names!r}: choose a comma-separated "
            f"list of {', '.join(METRICS)} (or 'all')."
        )
    return tuple(dict.fromkeys(names))


def parse_dataset(spec):
    """`"cifar10"` / `"imagenet2012"` / `"folder:/path"` -> (kind, value).

    kind is `"tfds"` (value: the dataset name) or `"folder"` (the path).
    """
    if isinstance(spec, str) and spec.startswith(FOLDER_PREFIX):
        path = spec[len(FOLDER_PREFIX):]
        if not path:
            raise ValueError(
                "`folder:` needs a path, e.g. folder:/data/my_images."
            )
        return "folder", os.path.expanduser(path)
    if spec in DATASET_SPLITS:
        return "tfds", spec
    raise ValueError(
        f"Unknown dataset {spec!r}: expected cifar10, imagenet2012 or "
        "folder:/path/to/images (one sub-folder per class)."
    )


def _mfr_values(data, where):
    if isinstance(data, dict) and data.get("format") == _results.FORMAT:
        data = (data.get("metrics") or {}).get("mfr")
    elif isinstance(data, dict) and "mfr" in data:
        data = data["mfr"]
    if not isinstance(data, dict) or not all(
        d in data for d in _shifts.DIRECTIONS
    ):
        raise ValueError(
            f"{where} holds no raw mean flip rates: expected a JSON object "
            f"with {', '.join(_shifts.DIRECTIONS)} (in %), or a results "
            "file of `keras-cmod evaluate --metrics mfr`."
        )
    values = {}
    for d in _shifts.DIRECTIONS:
        v = data[d]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
            v > 0
        ):
            raise ValueError(
                f"{where}: the reference mean flip rate {d!r} must be a "
                f"positive number (percent). Received: {v!r}"
            )
        values[d] = float(v)
    return values


def resolve_reference(reference, cifar):
    """The reference mean flip rates of the normalised consistency.

    Args:
        reference: a `PAPER_RAW_MFR` id (`"AI"`, `"R18C"`, ...), a JSON file
            (`{"vertical": .., "horizontal": .., "diagonal": ..}` in %, or a
            results file of `keras-cmod evaluate`), or `None` for the
            paper's reference (`"R18C"` for CIFAR-10 models, else `"AI"`).
        cifar: bool, whether the model is a CIFAR-10 model.

    Returns:
        `(label, rates, from_paper)`.
    """
    if reference is None:
        reference = _shift_metrics.PAPER_MFR_REFERENCE[
            "cifar10" if cifar else "imagenet"
        ]
    if reference in _shift_metrics.PAPER_RAW_MFR:
        return (
            reference, dict(_shift_metrics.PAPER_RAW_MFR[reference]), True
        )
    path = os.path.expanduser(str(reference))
    if not os.path.isfile(path):
        raise ValueError(
            f"Unknown `reference`: neither a paper id (one of "
            f"{', '.join(_shift_metrics.PAPER_RAW_MFR)}) nor a JSON file. "
            f"Received: reference={reference!r}"
        )
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    return os.path.abspath(path), _mfr_values(data, path), False


# ---------------------------------------------------------------------------
# Data


class _Stream:
    """Re-iterable stream of `(float32 HWC image in [0, 1], label)`.

    Each iteration re-reads the tf.data dataset (deterministic order), so
    every metric streams the images in constant memory.
    """

    def __init__(self, ds, num_images, label_map=None, names=None,
                 min_size=None, model_name=None, root=None):
        if num_images is not None:
            ds = ds.take(num_images)
        self.ds = ds
        self.label_map = label_map
        self.names = names
        self.min_size = min_size
        self.model_name = model_name
        self.root = root
        card = int(ds.cardinality())
        self.target = card if card >= 0 else None

    def _where(self, i):
        if self.names and i < len(self.names):
            name = self.names[i]
            return os.path.join(self.root, name) if self.root else name
        return f"image {i}"

    def _read(self):
        """(index, image, label); a decode error names the image's file."""
        iterator = self.ds.as_numpy_iterator()
        i = 0
        while True:
            try:
                image, label = next(iterator)
            except StopIteration:
                return
            except Exception as exc:
                if not _is_op_error(exc):
                    raise
                text = " ".join(str(getattr(exc, "message", exc)).split())
                raise ValueError(
                    f"Cannot read the image {self._where(i)!r}: {text}"
                ) from None
            yield i, image, label
            i += 1

    def __iter__(self):
        for i, image, label in self._read():
            image = np.asarray(image)
            h, w = image.shape[:2]
            if self.min_size is not None and min(h, w) < self.min_size:
                where = self.names[i] if self.names else f"image {i}"
                raise ValueError(
                    f"{where} is {h}x{w}, smaller than the {self.min_size}-px "
                    f"input of {self.model_name}: the protocols would "
                    "up-sample it. Use images at least that large, or pass "
                    "allow_small_images=True."
                )
            label = int(label)
            if self.label_map is not None:
                label = self.label_map[label]
            yield image.astype(np.float32) / 255.0, label


def _is_op_error(exc):
    """Whether `exc` is a `tf.errors.OpError` (checked without TF)."""
    return any(c.__name__ == "OpError"
               and (c.__module__ or "").startswith("tensorflow")
               for c in type(exc).__mro__)


def _folder_labels(classes, label_names):
    """Folder class index -> model class index (by name when possible)."""
    if label_names and all(c in label_names for c in classes):
        index = {n: i for i, n in enumerate(label_names)}
        how = "class folder names matched to the model's label names"
        return [index[c] for c in classes], how
    return None, "class folders in sorted order (torchvision ImageFolder)"


def _load_data(dataset, split, data_dir, manual_dir, num_images, cfg,
               allow_small_images, model_name):
    import keras_cmod.data as kdata

    kind, value = parse_dataset(dataset)
    info = {"dataset": dataset}
    if kind == "folder":
        if split is not None:
            raise ValueError(
                "`split` applies to TFDS datasets, not folder:. Received: "
                f"split={split!r}"
            )
        for arg, name in ((data_dir, "data_dir"),
                          (manual_dir, "manual_dir")):
            if arg is not None:
                raise ValueError(
                    f"`{name}` applies to TFDS datasets only. Received: "
                    f"{name}={arg!r}"
                )
        files, _, classes = kdata.list_image_folder(value)
        ds = kdata.image_folder(value, check_images="none")
        label_map, how = _folder_labels(classes, cfg.get("label_names"))
        num_classes = cfg.get("num_classes")
        if label_map is None and num_classes and len(classes) > num_classes:
            raise ValueError(
                f"{value} has {len(classes)} class folders but "
                f"{model_name} predicts {num_classes} classes: name the "
                "folders after the model's label names, or use one folder "
                "per model class in the model's class order."
            )
        names = [os.path.relpath(f, value) for f in files]
        info.update(path=os.path.abspath(value), classes=classes,
                    labels=how)
        if label_map is not None:
            info["label_map"] = dict(zip(classes, label_map))
        min_size = None if allow_small_images else cfg["input_size"][0]
        stream = _Stream(ds, num_images, label_map, names, min_size,
                         model_name, root=value)
        return stream, "folder", None, info
    split = split or DATASET_SPLITS[value]
    ds = kdata.load(value, split, data_dir=data_dir, manual_dir=manual_dir)
    info.update(split=split, data_dir=data_dir)
    return _Stream(ds, num_images), value, split, info


# ---------------------------------------------------------------------------
# Evaluation


def _progress(stream, title, enabled, labels=False):
    """Yields the stream's images (or `(image, label)`), with a Progbar."""
    import keras

    bar = None
    if enabled:
        print(title, flush=True)
        # A redrawn bar on a terminal; elsewhere (a log file, a pipe) one
        # plain line at the end, without the bar's ANSI codes.
        bar = keras.utils.Progbar(stream.target, unit_name="image",
                                  verbose=1 if _on_terminal() else 2)
    count = 0
    for image, label in stream:
        yield (image, label) if labels else image
        count += 1
        if bar is not None:
            bar.update(count)
    if bar is not None and stream.target is None:
        if bar.verbose == 1:
            bar.update(count, finalize=True)
        else:
            print(f"{count} images", flush=True)


def _on_terminal():
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class _Counter:
    def __init__(self, iterable):
        self.iterable = iterable
        self.count = 0

    def __iter__(self):
        for item in self.iterable:
            self.count += 1
            yield item


def _accuracy(model, stream, crop, ten_resize, mean, std, batch_size,
              progress):
    """One-crop and ten-crop top-k accuracy in one pass over the images."""
    transform = make_input_transform(True, mean, std)
    labels = []

    def groups():
        for image, label in _progress(stream, "accuracy (one-crop and "
                                      "ten-crop)", progress, labels=True):
            labels.append(label)
            yield np.concatenate([
                _metrics.one_crop(image, crop, crop),
                _metrics.ten_crop(image, crop, ten_resize),
            ])

    correct = {"one_crop": {}, "ten_crop": {}}
    num_classes = None
    n = 0
    for out in predict_groups(model, groups(), batch_size, transform):
        num_classes = out.shape[1]
        views = {
            "one_crop": out[:1],
            "ten_crop": _metrics.average_crop_probabilities(out[None, 1:]),
        }
        for k in (1, 5):
            if k > num_classes:
                continue
            for mode, scores in views.items():
                acc = _metrics.top_k_accuracy(scores, labels[n:n + 1], k)
                correct[mode][k] = correct[mode].get(k, 0) + acc / 100.0
        n += 1
    result = {}
    for mode, counts in correct.items():
        entry = {}
        for k, c in counts.items():
            entry[f"top{k}_accuracy"] = 100.0 * c / n
            entry[f"top{k}_error"] = 100.0 - 100.0 * c / n
        entry["num_images"] = n
        result[mode] = entry
    return result


def _shift_norm(normalize, mean, std):
    return (mean, std) if normalize else (None, None)


def _describe(name, params):
    texts = {
        "one_crop": "Resize(shorter side to {resize_size}) -> "
        "CenterCrop({crop_size}); top-k of the logits",
        "ten_crop": "Resize({resize_size}) -> FiveCrop({crop_size}) + "
        "horizontal flips; softmax averaged over the 10 crops",
        "flip_rate": "Resize({resize_size}) -> CenterCrop({resize_size}) -> "
        "crops of {crop_size} at offsets 0..{max_shift} px per direction; "
        "FR(s) = % of frame pairs s px apart with different top-1, "
        "mFR = mean over s = 1..{max_shift}; consistency = 100 * mean over "
        "directions of mFR / mFR(reference {reference})",
        "kl_half_pixel": "Resize({resize_size}) -> CenterCrop({resize_size})"
        " -> patches of {patch_size} at offsets 0..{n_offsets} -> resized to "
        "{output_size} (shifts 0, 0.5, ..., {max_shift} px); "
        "KL(p_0 || p_s) averaged over images",
        "zhang_consistency": "Resize({resize_size}) -> CenterCrop("
        "{resize_size}) -> {n_pairs} pair(s) of random {crop_size} crops "
        "(seed {seed}); % of pairs with the same top-1",
    }
    return texts[name].format(**params)


def _protocol(name, num_images, normalize, **params):
    entry = _results.protocol(name, num_images, normalize, **params)
    fmt = dict(entry)
    if name == "kl_half_pixel":
        fmt["n_offsets"] = entry["pixel_divide"] * entry["max_shift"]
    entry["description"] = _describe(name, fmt)
    return entry


def _is_cifar(cfg):
    dataset = str(cfg.get("dataset") or "").lower()
    if dataset:
        return dataset.startswith("cifar")
    return cfg["input_size"][0] <= 64


def evaluate_model(model, dataset, *, split=None, data_dir=None,
                   manual_dir=None, metrics=DEFAULT_METRICS, num_images=None,
                   batch_size=64, normalize_shifts=True, reference=None,
                   max_shift=None, plots_dir=None, model_name=None,
                   allow_small_images=False, progress=True, extra=None):
    """Evaluates a model with the paper's protocols; returns results.

    Args:
        model: a `keras.Model` returning logits, with a `pretrained_cfg`
            (dict or object with `to_dict()`) giving `input_size`,
            `crop_pct`, `mean`, `std` (as `keras_cmod.zoo.load` sets).
        dataset: `"cifar10"`, `"imagenet2012"` or `"folder:/path"`.
        split: TFDS split (default: the paper's test set, `"test"` for
            CIFAR-10, `"validation"` for ImageNet).
        data_dir: TFDS data directory.
        manual_dir: folder holding the ImageNet tars.
        metrics: names among `METRICS` (or a comma-separated str).
        num_images: evaluate only the first N images.
        batch_size: frames per model call.
        normalize_shifts: normalise the shift-metric frames with the
            preset's mean/std (default); False feeds raw [0, 1] frames as
            the reference code did.
        reference: reference of the consistency (see `resolve_reference`).
        max_shift: largest shift of mFR and KL (default 4 for CIFAR-10
            models, else 8).
        plots_dir: write `flip_rates.png` / `kl_divergence.png` there.
        model_name: name recorded in the results (default: the preset's
            `name`, else `model.name`).
        allow_small_images: evaluate folder images smaller than the input
            size (up-sampled); by default they are an error.
        progress: show progress bars.
        extra: dict merged into the results' `extra`.

    Returns:
        The results dict (`keras_cmod.evaluation.results.build_results`),
        with `metrics["summary"]` holding `top1`, `top5` (one-crop, %),
        `top1_ten_crop`, `mfr` (mean over directions, %), `consistency`,
        `mean_kl` (mean over directions and shifts > 0) when measured.

    Raises:
        ValueError: bad metrics, dataset, reference or data (an image
            that cannot be decoded is named).
        ModuleNotFoundError: `plots_dir` without matplotlib.
    """
    from keras_cmod.data import eval_resize_size, resolve_data_config

    names = parse_metrics(metrics)
    if num_images is not None and (
        isinstance(num_images, bool) or not isinstance(num_images, int)
        or num_images < 1
    ):
        raise ValueError(
            "`num_images` must be a positive integer. Received: "
            f"num_images={num_images!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or (
        batch_size < 1
    ):
        raise ValueError(
            "`batch_size` must be a positive integer. Received: "
            f"batch_size={batch_size!r}"
        )
    raw_cfg = getattr(model, "pretrained_cfg", None) or {}
    if hasattr(raw_cfg, "to_dict"):
        raw_cfg = raw_cfg.to_dict()
    cfg = dict(raw_cfg)
    data_cfg = resolve_data_config(cfg, model=model)
    cfg.update(data_cfg)
    h, w, _ = data_cfg["input_size"]
    if h != w:
        raise ValueError(
            f"The protocols need a square input size. Received: "
            f"input_size={data_cfg['input_size']}"
        )
    crop = h
    ten_resize = eval_resize_size(data_cfg, "ten_crop")[0]
    mean, std = data_cfg["mean"], data_cfg["std"]
    cifar = _is_cifar(cfg)
    if max_shift is None:
        max_shift = 4 if cifar else 8
    elif isinstance(max_shift, bool) or not isinstance(max_shift, int) or (
        max_shift < 1
    ):
        raise ValueError(
            "`max_shift` must be a positive integer. Received: "
            f"max_shift={max_shift!r}"
        )
    want_mfr = "mfr" in names or "consistency" in names
    ref = None
    if "consistency" in names:
        ref = resolve_reference(reference, cifar)
    elif reference is not None:
        raise ValueError(
            "`reference` needs the consistency metric. Received: "
            f"reference={reference!r}, metrics={list(names)}"
        )
    if plots_dir is not None and importlib.util.find_spec(
        "matplotlib"
    ) is None:
        raise ModuleNotFoundError(
            "`plots_dir` needs matplotlib: pip install matplotlib",
            name="matplotlib",
        )
    model_name = model_name or cfg.get("name") or model.name

    stream, ds_name, split, data_info = _load_data(
        dataset, split, data_dir, manual_dir, num_images, cfg,
        allow_small_images, model_name,
    )
    shift_mean, shift_std = _shift_norm(normalize_shifts, mean, std)
    out, protocols, summary = {}, [], {}
    plots = []

    if "accuracy" in names:
        acc = _accuracy(model, stream, crop, ten_resize, mean, std,
                        batch_size, progress)
        n = acc["one_crop"]["num_images"]
        out["accuracy"] = acc
        protocols.append(_protocol("one_crop", n, True, resize_size=crop,
                                   crop_size=crop))
        protocols.append(_protocol("ten_crop", n, True,
                                   resize_size=ten_resize, crop_size=crop))
        summary["top1"] = acc["one_crop"]["top1_accuracy"]
        if "top5_accuracy" in acc["one_crop"]:
            summary["top5"] = acc["one_crop"]["top5_accuracy"]
        summary["top1_ten_crop"] = acc["ten_crop"]["top1_accuracy"]

    if want_mfr:
        images = _Counter(_progress(stream, "mean flip rates", progress))
        rates = _shift_metrics.mean_flip_rates(
            model, images, _shifts.DIRECTIONS, max_step=max_shift,
            crop_size=crop, normalize=normalize_shifts, mean=shift_mean,
            std=shift_std, batch_size=batch_size,
        )
        mfr = dict(rates)
        mfr["mean"] = float(np.mean([rates[d] for d in _shifts.DIRECTIONS]))
        summary["mfr"] = mfr["mean"]
        if "mfr" in names:
            out["mfr"] = mfr
        params = {"crop_size": crop, "max_shift": max_shift,
                  "reference": ref[0] if ref else None}
        if ref is not None:
            label, ref_rates, from_paper = ref
            value = _shift_metrics.consistency(rates, ref_rates)
            out["consistency"] = {
                "value": value,
                "reference": label,
                "reference_mfr": ref_rates,
                "model_mfr": dict(rates),
            }
            summary["consistency"] = value
            if from_paper:
                params["reference_normalize"] = False
                if normalize_shifts:
                    print(
                        "note: the paper's reference flip rates were "
                        "measured on un-normalised images; pass "
                        "--unnormalized-shifts to compare like with like.",
                        file=sys.stderr,
                    )
        protocols.append(_protocol("flip_rate", images.count,
                                   normalize_shifts, **params))
        if plots_dir is not None:
            bars = {model_name: dict(rates)}
            if ref is not None:
                bars[f"reference {os.path.basename(ref[0])}"] = ref[1]
            plots.append(_plots.plot_flip_rates(
                bars, os.path.join(plots_dir, "flip_rates.png"),
                title=f"Mean flip rate per direction (max shift "
                f"{max_shift} px)",
            ))

    if "kl" in names:
        shifts = _shifts.half_pixel_shifts(max_shift, PIXEL_DIVIDE)
        kl = {"shifts": shifts}
        count = 0
        for d in _shifts.DIRECTIONS:
            images = _Counter(_progress(stream, f"KL divergence ({d})",
                                        progress))
            kl[d] = _shift_metrics.kl_divergence_curve(
                model, images, d, max_shift=max_shift, output_size=crop,
                pixel_divide=PIXEL_DIVIDE, normalize=normalize_shifts,
                mean=shift_mean, std=shift_std, batch_size=batch_size,
            )
            count = images.count
        curve = np.mean([kl[d] for d in _shifts.DIRECTIONS], axis=0)
        kl["mean_curve"] = curve
        kl["mean"] = float(np.mean(curve[1:]))
        out["kl"] = kl
        summary["mean_kl"] = kl["mean"]
        protocols.append(_protocol("kl_half_pixel", count, normalize_shifts,
                                   output_size=crop, max_shift=max_shift,
                                   pixel_divide=PIXEL_DIVIDE))
        if plots_dir is not None:
            curves = {d: kl[d] for d in _shifts.DIRECTIONS}
            curves["mean"] = curve
            plots.append(_plots.plot_kl_curves(
                curves, os.path.join(plots_dir, "kl_divergence.png"),
                shifts=shifts, title=f"{model_name}: KL divergence vs shift",
            ))

    if "zhang" in names:
        images = _Counter(_progress(stream, "Zhang's consistency", progress))
        value = _shift_metrics.zhang_consistency(
            model, images, n_pairs=1, seed=0, crop_size=crop,
            resize_size=ten_resize, normalize=normalize_shifts,
            mean=shift_mean, std=shift_std, batch_size=batch_size,
        )
        out["zhang_consistency"] = value
        summary["zhang_consistency"] = value
        protocols.append(_protocol("zhang_consistency", images.count,
                                   normalize_shifts, crop_size=crop,
                                   resize_size=ten_resize))

    out["summary"] = summary
    preprocessing = {k: data_cfg[k] for k in ("input_size", "crop_pct",
                                               "interpolation", "mean",
                                               "std")}
    preprocessing["source"] = "model.pretrained_cfg"
    info = {"data": data_info, "metrics_requested": list(names),
            "normalize_shift_frames": bool(normalize_shifts)}
    if plots:
        info["plots"] = [os.path.abspath(p) for p in plots]
    info.update(extra or {})
    return _results.build_results(
        model_name, out, protocols, dataset=ds_name, split=split,
        preprocessing=preprocessing, extra=info,
    )
