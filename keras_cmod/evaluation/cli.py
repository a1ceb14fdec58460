"""`keras-cmod evaluate`: the paper's evaluation protocols on the command line.

    keras-cmod evaluate resnet18_cmod.cifar10 --dataset cifar10 \\
        --metrics accuracy,mfr,kl,consistency --output results.json

`keras_cmod.cli` imports this module and calls `register(subparsers)`.
`evaluate_model` (`keras_cmod.evaluation.evaluate`, re-exported here) is
the same evaluation as a function (used by `scripts/release.py`): it
streams a dataset through the metric functions of `keras_cmod.evaluation`
and returns a results dict written with `keras_cmod.evaluation.results`.

Every preprocessing constant comes from the model's `pretrained_cfg`
(`keras_cmod.data.resolve_data_config`): the crop is the preset's input
size, the ten-crop resize is `floor(crop / crop_pct)` (256 for 224, 36 for
32), and inputs are normalised with the preset's mean/std. Protocols
(the paper's, as its reference code hubert-leterme/wcnn runs them):

| metric | protocol |
|---|---|
| `accuracy` | one-crop `Resize(crop) -> CenterCrop(crop)` (the paper's) and ten-crop `Resize(crop / crop_pct) -> TenCrop(crop)`, softmax averaged |
| `mfr` | mean flip rate per direction, shifts 1..S px of a `crop + S` centre crop; S = 8 (ImageNet models), 4 (CIFAR-10 models) |
| `consistency` | `100 * mean_d mFR_d / mFR_d(reference)`, reference = a `PAPER_RAW_MFR` id (default AI / R18C) or a JSON file |
| `kl` | KL(p_0 || p_s) for half-pixel shifts s = 0, 0.5, ..., S px |
| `zhang` | Zhang's consistency, one seeded random crop pair per image |

Shift metrics normalise their frames like accuracy does, unless
`--unnormalized-shifts` (the reference code's raw [0, 1] frames: needed to
compare with the paper's raw flip rates).
"""  # noqa: E501

import os
import re
import sys

from keras_cmod import _atomic
from keras_cmod.evaluation import results as _results
from keras_cmod.evaluation.evaluate import (
    DATASET_SPLITS,
    DEFAULT_METRICS,
    METRICS,
    evaluate_model,
    parse_dataset,
    parse_metrics,
    resolve_reference,
)

__all__ = [
    "DATASET_SPLITS",
    "DEFAULT_METRICS",
    "METRICS",
    "evaluate_model",
    "parse_dataset",
    "parse_metrics",
    "register",
    "resolve_reference",
    "run_evaluate",
]

RANDOM_WEIGHTS_NOTE = (
    "RANDOM WEIGHTS (--random-weights): an untrained, randomly initialised "
    "model, for smoke tests only; these numbers say nothing about the "
    "architecture."
)


# ---------------------------------------------------------------------------
# Command line


def register(subparsers):
    """Add the `evaluate` sub-command."""
    p = subparsers.add_parser(
        "evaluate",
        help="accuracy and shift invariance of a model (the paper's "
        "protocols)",
        description=(
            "Evaluate MODEL (a registry name such as resnet34_cmod.in1k, or "
            "a Hub source hf-hub:org/name@sha / local-dir:/path) with the "
            "paper's protocols: one-/ten-crop accuracy, mean flip rates and "
            "the normalised consistency, KL divergence under half-pixel "
            "shifts, Zhang's consistency. Preprocessing constants come "
            "from the model's preset. Writes a results JSON (atomically)."
        ),
    )
    p.add_argument("model", metavar="MODEL")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument(
        "--weights", metavar="PATH",
        help="local weights (.weights.h5, .keras or a model directory)",
    )
    weights.add_argument(
        "--random-weights", action="store_true",
        help="evaluate an untrained, randomly initialised model (smoke "
        "tests only; labelled as such in the output)",
    )
    p.add_argument(
        "--num-classes", type=int, metavar="N",
        help="classifier size (default: the tag's, or read from the "
        "weights)",
    )
    p.add_argument("--revision", help="Hub branch, tag or commit sha")
    p.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT)")
    p.add_argument("--cache-dir", help="Hugging Face cache directory")
    p.add_argument("--local-files-only", action="store_true",
                   help="load Hub weights from the cache only")
    p.add_argument(
        "--dataset", required=True, metavar="DATASET",
        help="cifar10, imagenet2012 or folder:/path (class sub-folders)",
    )
    p.add_argument(
        "--split",
        help="TFDS split (default: test for cifar10, validation for "
        "imagenet2012, the paper's test sets)",
    )
    p.add_argument("--data-dir", help="TFDS data directory")
    p.add_argument("--manual-dir",
                   help="folder with the ILSVRC2012 tars (imagenet2012)")
    p.add_argument(
        "--metrics", default=",".join(DEFAULT_METRICS),
        help=f"comma-separated, among {','.join(METRICS)} or 'all' "
        "(default: %(default)s)",
    )
    p.add_argument("--output", required=True, metavar="RESULTS_JSON")
    p.add_argument("--plots", metavar="DIR",
                   help="write flip_rates.png / kl_divergence.png there")
    p.add_argument("--num-images", type=int, metavar="N",
                   help="evaluate only the first N images")
    p.add_argument("--batch-size", type=int, default=64, metavar="B")
    p.add_argument(
        "--unnormalized-shifts", action="store_true",
        help="shift metrics on raw [0, 1] frames, as the reference code "
        "(needed to compare with the paper's raw flip rates)",
    )
    p.add_argument(
        "--reference", metavar="ID_OR_JSON",
        help="reference of the consistency: a paper id (AI, R18C, ...) or "
        "a JSON of raw per-direction mFR (default: AI, or R18C for "
        "CIFAR-10 models)",
    )
    p.add_argument(
        "--max-shift", type=int, metavar="S",
        help="largest shift of mFR and KL (default: 4 for CIFAR-10 models, "
        "8 otherwise)",
    )
    p.add_argument(
        "--allow-small-images", action="store_true",
        help="accept folder images smaller than the model's input "
        "(up-sampled)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide the progress bars")
    p.set_defaults(func=run_evaluate)
    return subparsers


#: Library parameters -> the flags that set them (for error messages).
PARAMETER_FLAGS = {
    "num_images": "--num-images",
    "batch_size": "--batch-size",
    "max_shift": "--max-shift",
    "reference": "--reference",
    "split": "--split",
    "data_dir": "--data-dir",
    "manual_dir": "--manual-dir",
    "plots_dir": "--plots",
    "allow_small_images": "--allow-small-images",
    "num_classes": "--num-classes",
    "weights": "--weights",
    "metrics": "--metrics",
    "dataset": "--dataset",
}


def flags_for_parameters(message, table=None):
    """Rewrites `` `name` `` and `name=` of library parameters as flags.

    `"`num_images` must be ... Received: num_images=0"` becomes
    `"--num-images must be ... Received: --num-images=0"`;
    `allow_small_images=True` becomes `--allow-small-images`.
    Python calls quoted in the message (`keras_cmod.zoo.load('x',
    weights='...')`) and command lines in backticks are left as they are:
    they are already in their own syntax.
    """
    table = PARAMETER_FLAGS if table is None else table
    parts = _CODE.split(message)
    for i in range(0, len(parts), 2):  # the text between code spans
        for name, flag in table.items():
            parts[i] = re.sub(rf"\b{name}=True\b", flag, parts[i])
            parts[i] = re.sub(rf"`{name}`|\b{name}(?==)", flag, parts[i])
    return "".join(parts)


#: A Python call of the library (one level of nested parentheses) or a
#: command line in backticks, in a message.
_CODE = re.compile(
    r"((?:keras_cmod\.[\w.]+|TrainConfig)\((?:[^()]|\([^()]*\))*\)"
    r"|`keras-cmod [^`]*`)"
)


def _weights_error(exc, path):
    """A failure to read `path`, as a `CommandError` naming it."""
    from keras_cmod.cli import CommandError, error_message

    text = error_message(exc) or f"{type(exc).__name__}: {exc}"
    if os.path.abspath(path) not in text and path not in text:
        text = f"Cannot read {path!r}: {text}"
    return CommandError(text)


def _check_num_classes(value):
    if value is not None and value < 1:
        raise ValueError(
            f"--num-classes must be a positive integer. Received: {value}"
        )


def _load_model(args):
    import json
    import zipfile

    from keras_cmod import zoo
    from keras_cmod.cli import _is_h5py_error
    from keras_cmod.hub import errors
    from keras_cmod.hub.sources import is_source

    num_classes = getattr(args, "num_classes", None)
    if args.random_weights:
        if is_source(args.model):  # a Hub repo, a folder, a file
            raise ValueError(
                "--random-weights needs a registry name (e.g. "
                f"resnet18_cmod.cifar10), not a weights source: {args.model}"
            )
        model = zoo.load(args.model, pretrained=False,
                         num_classes=num_classes)
        return model, {"kind": "random", "random_weights": True,
                       "note": RANDOM_WEIGHTS_NOTE}
    if args.weights is not None and is_source(args.model):
        raise ValueError(
            f"--weights applies to registry names; {args.model} already "
            "names the weights."
        )
    if args.weights is not None:
        from keras_cmod.cli import check_weights_file

        check_weights_file(args.weights)
    try:
        model = zoo.load(
            args.model, weights=args.weights, revision=args.revision,
            cache_dir=args.cache_dir,
            local_files_only=args.local_files_only,
            endpoint=args.endpoint, progress=args.progress,
            num_classes=num_classes,
        )
    except errors.HubError as exc:
        if isinstance(exc, (ValueError, FileNotFoundError)):
            raise
        from keras_cmod.cli import CommandError

        raise CommandError(str(exc)) from exc
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        # A file that cannot be read: name the source or the weights.
        source = args.weights if args.weights is not None else args.model
        if isinstance(exc, ValueError) and not isinstance(
            exc, (UnicodeDecodeError, json.JSONDecodeError)
        ):
            raise
        raise _weights_error(exc, source) from exc
    except Exception as exc:
        if args.weights is None or not _is_h5py_error(exc):
            raise
        raise _weights_error(exc, args.weights) from exc
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if args.weights is not None:
        info = {"kind": "local", "path": os.path.abspath(args.weights)}
    else:
        info = {"kind": "hub", "hf_hub_id": cfg.get("hf_hub_id"),
                "revision": cfg.get("revision")}
        if not is_source(args.model):
            info["kind"] = "registry"
    info["random_weights"] = False
    return model, info


def _check_output(path):
    return _atomic.check_writable_path(path, "--output")


def _print_summary(results):
    summary = results["metrics"]["summary"]
    lines = {
        "top1": "top-1 accuracy (one-crop): {:.2f} %",
        "top5": "top-5 accuracy (one-crop): {:.2f} %",
        "top1_ten_crop": "top-1 accuracy (ten-crop): {:.2f} %",
        "mfr": "mean flip rate:            {:.2f} %",
        "consistency": "consistency (normalised):  {:.1f}",
        "mean_kl": "mean KL divergence:        {:.4g}",
        "zhang_consistency": "Zhang's consistency:       {:.2f} %",
    }
    for key, text in lines.items():
        if summary.get(key) is not None:
            print(text.format(summary[key]))


def run_evaluate(args):
    """`func` of the `evaluate` sub-command."""
    try:
        return _run_evaluate(args)
    except (ValueError, TypeError) as exc:
        message = flags_for_parameters(str(exc))
        if message == str(exc):
            raise
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(message) from exc
    except ModuleNotFoundError as exc:  # an optional dependency (--plots)
        from keras_cmod.cli import CommandError

        raise CommandError(flags_for_parameters(str(exc))) from exc


def _check_before_loading(args, names):
    """The checks `evaluate_model` makes too, done before the model is
    built so that a bad flag costs nothing."""
    for flag, value in (("--num-images", args.num_images),
                        ("--batch-size", args.batch_size),
                        ("--max-shift", args.max_shift)):
        if value is not None and value < 1:
            raise ValueError(
                f"{flag} must be a positive integer. Received: {value}"
            )
    kind, _ = parse_dataset(args.dataset)
    if kind == "folder":
        for flag, value in (("--split", args.split),
                            ("--data-dir", args.data_dir),
                            ("--manual-dir", args.manual_dir)):
            if value is not None:
                raise ValueError(
                    f"{flag} applies to TFDS datasets, not folder:. "
                    f"Received: {flag} {value!r}"
                )
    if args.reference is not None:
        if "consistency" not in names:
            raise ValueError(
                "--reference needs the consistency metric (--metrics "
                f"consistency). Received: --reference {args.reference!r}"
            )
        resolve_reference(args.reference, cifar=False)


def _run_evaluate(args):
    names = parse_metrics(args.metrics)
    _check_before_loading(args, names)
    _check_num_classes(getattr(args, "num_classes", None))
    output = _check_output(args.output)
    if args.plots is not None:
        _atomic.check_writable_path(args.plots, "--plots", folder=True)
    model, weights = _load_model(args)
    if weights["random_weights"]:
        print(f"warning: {RANDOM_WEIGHTS_NOTE}", file=sys.stderr)
    results = evaluate_model(
        model, args.dataset, split=args.split, data_dir=args.data_dir,
        manual_dir=args.manual_dir, metrics=names,
        num_images=args.num_images, batch_size=args.batch_size,
        normalize_shifts=not args.unnormalized_shifts,
        reference=args.reference, max_shift=args.max_shift,
        plots_dir=args.plots, allow_small_images=args.allow_small_images,
        progress=args.progress,
        extra={"weights": weights, "random_weights":
               weights["random_weights"]},
    )
    path = _results.write_results(results, output)
    _print_summary(results)
    print(f"wrote {path}")
    return 0
