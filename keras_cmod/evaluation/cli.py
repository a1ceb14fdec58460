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
(SPEC 5):

| metric | protocol |
|---|---|
| `accuracy` | one-crop `Resize(crop) -> CenterCrop(crop)` (the paper's) and ten-crop `Resize(crop / crop_pct) -> TenCrop(crop)`, softmax averaged |
| `mfr` | mean flip rate per direction, shifts 1..S px of a `crop + S` centre crop; S = 8 (ImageNet models), 4 (CIFAR-10 models) |
| `consistency` | `100 * mean_d mFR_d / mFR_d(reference)`, reference = a `PAPER_RAW_MFR` id (default AI / R18C) or a JSON file |
| `kl` | KL(p_0 || p_s) for half-pixel shifts s = 0, 0.5, ..., S px |
| `zhang` | Zhang's consistency, one seeded random crop pair per image |

Shift metrics normalise their frames like accuracy does, unless
`--unnormalized-shifts` (the reference code's raw [0, 1] frames, SPEC 8.2
#1: needed to compare with the paper's raw flip rates).
"""  # noqa: E501

import os
import sys

from keras_cmod.evaluation import results as _results
from keras_cmod.evaluation.evaluate import (
    DATASET_SPLITS,
    DEFAULT_METRICS,
    METRICS,
    _error,
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


def _load_model(args):
    from keras_cmod import zoo
    from keras_cmod.hub import errors

    if args.random_weights:
        if args.model.startswith(zoo.HUB_PREFIXES):
            raise ValueError(
                "--random-weights needs a registry name (e.g. "
                f"resnet18_cmod.cifar10), not a weights source: {args.model}"
            )
        model = zoo.load(args.model, pretrained=False)
        return model, {"kind": "random", "random_weights": True,
                       "note": RANDOM_WEIGHTS_NOTE}
    if args.weights is not None and args.model.startswith(zoo.HUB_PREFIXES):
        raise ValueError(
            f"--weights applies to registry names; {args.model} already "
            "names the weights."
        )
    try:
        model = zoo.load(
            args.model, weights=args.weights, revision=args.revision,
            cache_dir=args.cache_dir,
            local_files_only=args.local_files_only,
            endpoint=args.endpoint, progress=args.progress,
        )
    except errors.HubError as exc:
        if isinstance(exc, (ValueError, FileNotFoundError)):
            raise
        raise _error(str(exc)) from exc
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if args.weights is not None:
        info = {"kind": "local", "path": os.path.abspath(args.weights)}
    else:
        info = {"kind": "hub", "hf_hub_id": cfg.get("hf_hub_id"),
                "revision": cfg.get("revision")}
        if not args.model.startswith(zoo.HUB_PREFIXES):
            info["kind"] = "registry"
    info["random_weights"] = False
    return model, info


def _check_output(path, flag="--output", directory=False):
    """Refuse, before evaluating, a path that cannot be written: a folder
    given for a file, or a parent that is a file or is read-only."""
    path = os.path.expanduser(path)
    if not directory and os.path.isdir(path):
        raise ValueError(f"{flag} {path!r} is a directory; give a file.")
    if directory and os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path!r} is a file; give a directory.")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(
            f"{flag} {path!r} cannot be written: {parent!r} is a file, "
            "not a directory."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(
            f"{flag} {path!r} cannot be written: {parent!r} is not "
            "writable."
        )
    return path


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
    names = parse_metrics(args.metrics)
    parse_dataset(args.dataset)
    output = _check_output(args.output)
    if args.plots:
        _check_output(args.plots, "--plots", directory=True)
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
