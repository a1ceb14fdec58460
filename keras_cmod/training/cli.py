"""`keras-cmod train`: the command line of `keras_cmod.training.train`.

    keras-cmod train --recipe resnet18_cmod.cifar10 --output runs/r18c
    keras-cmod train --recipe alexnet_cmod.in1k --manual-dir /data/ilsvrc \\
        --data-dir /data/tfds --output runs/alexnet_cmod
    keras-cmod train --model resnet18_cmod.cifar10 --dataset synthetic \\
        --epochs 1 --steps-per-epoch 5 --batch-size 16 --output /tmp/smoke

The config is built as: `TrainConfig` defaults, then the recipe
(`--recipe NAME|PATH`), then the explicit flags, then `--set key=value`
(any `TrainConfig` field; values are JSON, e.g. `--set val_split=null`,
`--set model_kwargs.packet_penalty=[0,0.0041,0.00032]`). Running the same
command again resumes the run in `--output`. For multi-worker training,
start the same command on every worker with its `TF_CONFIG` (see
`scripts/launch_multi_worker.sh`).

Also runnable as `python -m keras_cmod.training.cli train ...` (the same
parser, without the top-level `keras-cmod` wrapper).
"""

import argparse
import json
import os
import shutil
import sys

from keras_cmod import _atomic
from keras_cmod.training.config import (
    MIXED_PRECISION,
    STRATEGIES,
    TrainConfig,
    apply_overrides,
    list_recipes,
    load_recipe,
)
from keras_cmod.training.runlock import RunInUseError

__all__ = ["add_train_arguments", "config_from_args", "main", "register",
           "run_train"]

# flag dest -> TrainConfig field
_FLAG_FIELDS = {
    "model": "model",
    "dataset": "dataset",
    "data_dir": "data_dir",
    "manual_dir": "manual_dir",
    "train_split": "train_split",
    "val_split": "val_split",
    "num_classes": "num_classes",
    "input_size": "input_size",
    "epochs": "epochs",
    "steps_per_epoch": "steps_per_epoch",
    "batch_size": "batch_size",
    "grad_accum": "grad_accum_steps",
    "lr": "learning_rate",
    "momentum": "momentum",
    "weight_decay": "weight_decay",
    "lr_step_epochs": "lr_step_epochs",
    "strategy": "strategy",
    "tpu": "tpu",
    "mixed_precision": "mixed_precision",
    "seed": "seed",
    "checkpoint_every": "checkpoint_every_steps",
    "weights": "weights",
}
_BOOL_FLAGS = {
    "deterministic": "deterministic",
    "pretrained": "pretrained",
    "freeze_backbone": "freeze_backbone",
}


def _none_or_str(value):
    return None if value.lower() in ("none", "null", "") else value


def _size(value):
    parts = [int(p) for p in value.lower().replace("x", ",").split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HEIGHTxWIDTH, got {value!r}")
    return parts


def add_train_arguments(parser):
    """Adds the `train` options to an argparse parser.

    Options that are not given are absent from the namespace
    (`argparse.SUPPRESS`), so that `config_from_args` applies only what the
    user typed on top of the recipe.
    """
    def group(title):
        g = parser.add_argument_group(title)
        add = g.add_argument

        def add_suppressed(*names, **kwargs):
            kwargs.setdefault("default", argparse.SUPPRESS)
            return add(*names, **kwargs)

        g.add_argument = add_suppressed
        return g

    g = group("run")
    g.add_argument("--recipe", metavar="NAME|PATH",
                   help="recipe name (e.g. resnet18_cmod.cifar10; see "
                   "--list-recipes) or path to a TrainConfig JSON file")
    g.add_argument("--output", "-o", metavar="DIR",
                   help="run folder: config, checkpoints, logs, model "
                   "(rerun the same command to resume)")
    g.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="override any TrainConfig field (JSON value); "
                   "repeatable")
    g.add_argument("--strategy", choices=STRATEGIES)
    g.add_argument("--tpu", metavar="ADDRESS")
    g.add_argument("--mixed-precision", type=_none_or_str,
                   choices=MIXED_PRECISION,
                   help="float16 (with loss scaling), bfloat16 or none")
    g.add_argument("--seed", type=int)
    g.add_argument("--deterministic", action="store_true",
                   help="deterministic ops and input pipeline")
    g.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="also checkpoint every STEPS optimizer steps")
    g.add_argument("--quiet", "-q", action="store_true", default=False,
                   help="no progress bar: one line per epoch (also the "
                   "default when stdout is not a terminal)")
    g.add_argument("--print-config", action="store_true", default=False,
                   help="print the resolved config as JSON and exit")
    g.add_argument("--list-recipes", action="store_true", default=False,
                   help="list the recipe names and exit")

    g = group("model")
    g.add_argument("--model", metavar="NAME",
                   help="registry name, e.g. resnet34_cmod.in1k")
    g.add_argument("--num-classes", type=int)
    g.add_argument("--input-size", type=_size, metavar="HxW")
    g.add_argument("--weights", metavar="PATH",
                   help="start from local weights (fine-tuning)")
    g.add_argument("--pretrained", action="store_true",
                   help="start from the tag's published weights")
    g.add_argument("--freeze-backbone", action="store_true",
                   help="train the classifier only")

    g = group("data")
    g.add_argument("--dataset", metavar="NAME",
                   help="cifar10, imagenet2012, folder:/path or synthetic")
    g.add_argument("--data-dir", metavar="DIR", help="TFDS data directory")
    g.add_argument("--manual-dir", metavar="DIR",
                   help="folder holding the ILSVRC2012 tars")
    g.add_argument("--train-split")
    g.add_argument("--val-split", type=_none_or_str,
                   help="validation split; for folder:DIR a validation "
                   "folder, or the default 'heldout' (DIR/val if DIR holds "
                   "train/ and val/, else 10%% of each class); 'none' "
                   "disables")

    g = group("optimisation")
    g.add_argument("--epochs", type=int)
    g.add_argument("--steps-per-epoch", type=int)
    g.add_argument("--batch-size", type=int,
                   help="GLOBAL batch size (split over the replicas)")
    g.add_argument("--grad-accum", type=int, metavar="N",
                   help="batches accumulated per optimizer step")
    g.add_argument("--lr", type=float, help="initial learning rate")
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float,
                   help="coupled L2 (PyTorch's weight_decay)")
    g.add_argument("--lr-step-epochs", type=int,
                   help="StepLR step size in epochs")
    return parser


def register(subparsers):
    """Adds the `train` sub-command to `keras-cmod`'s sub-parsers."""
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune a zoo model (resumable, distributed)",
        description=__doc__.split("\n\n")[0],
        epilog="Recipes: keras-cmod train --list-recipes",
    )
    add_train_arguments(parser)
    parser.set_defaults(func=run_train)
    return parser


def _load_recipe(recipe):
    """`load_recipe`, its failures naming the recipe file."""
    try:
        return load_recipe(recipe)
    except (ValueError, TypeError, OSError) as exc:
        from keras_cmod.cli import CommandError, error_message

        message = error_message(exc) or str(exc)
        if recipe in message or os.path.abspath(recipe) in message:
            raise
        raise CommandError(
            f"--recipe {recipe!r} cannot be read: {message}"
        ) from exc


def config_from_args(args):
    """The `TrainConfig` of parsed arguments (recipe < flags < --set)."""
    recipe = getattr(args, "recipe", None)
    values = _load_recipe(recipe).to_dict() if recipe else {}
    # Flags that were not given are absent (default=SUPPRESS), so an
    # explicit `--val-split none` can set a field to None.
    for dest, field in {**_FLAG_FIELDS, **_BOOL_FLAGS}.items():
        if hasattr(args, dest):
            values[field] = getattr(args, dest)
    overrides = getattr(args, "overrides", ())
    # Validated once, with `--set` applied: a field that only makes sense
    # with another (`val_split` with `dataset`) is judged on the result.
    values = apply_overrides(values, overrides)
    source = "--set" if overrides else recipe
    if recipe:
        return TrainConfig.from_dict(values, source=source)
    # No recipe: the defaults that suit the data and the start (a folder,
    # a fine-tune), under what was given.
    values.update(TrainConfig.defaults_for(values))
    return TrainConfig.from_dict(values, source=source)


#: Files in which a run folder may keep its training config.
_CONFIG_FILES = ("train_config.json", "training_config.json", "config.json")
#: Config fields that do not change what a finished run computed.
_COSMETIC_FIELDS = frozenset({"notes", "log_every_steps",
                              "checkpoint_every_steps", "keep_checkpoints"})


def _on_terminal():
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def verbosity(quiet):
    """`train`'s verbose: 1 (progress bar) only on a terminal and not
    `--quiet`; else 2 (one plain line per epoch, no ANSI codes)."""
    return 1 if (_on_terminal() and not quiet) else 2


def check_output_dir(output):
    """Checks, creating nothing, that the run folder can be made/written.

    Returns the absolute path. Raises `NotADirectoryError` (OUTPUT, or a
    folder above it, is a file) or `PermissionError`.
    """
    return _atomic.check_writable_path(output, "--output", folder=True)


def finished_run(cfg, output):
    """`metrics.json` of a completed run of `cfg` in `output`, or None.

    Complete means: `metrics.json` records `cfg.epochs` epochs and the
    folder's training config equals `cfg` (up to logging settings).
    """
    metrics_path = os.path.join(output, "metrics.json")
    try:
        with open(metrics_path, encoding="utf-8") as f:
            metrics = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or metrics.get("epochs") != cfg.epochs:
        return None
    for name in _CONFIG_FILES:
        try:
            saved = TrainConfig.load(os.path.join(output, name))
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if set(saved.differences(cfg)) <= _COSMETIC_FIELDS:
            return metrics
        return None
    return None


def _first_missing(path):
    """The topmost folder of `path` that does not exist yet (or None)."""
    missing = None
    while not os.path.exists(path):
        missing = path
        path = os.path.dirname(path)
    return missing


def _has_checkpoint(output):
    folder = os.path.join(output, "checkpoints")
    return any(files for _, _, files in os.walk(folder))


def run_train(args, **train_kwargs):
    """The `func` of the `train` sub-command; returns an exit code.

    Order: the config (recipe, flags, `--set`) and the output folder are
    checked before anything is created; a finished run is reported (exit
    0) without building anything; a run that fails before its first
    checkpoint leaves no folder it created behind.
    """
    if getattr(args, "list_recipes", False):
        print("\n".join(list_recipes()))
        return 0
    cfg = config_from_args(args)
    if getattr(args, "print_config", False):
        print(cfg.to_json())
        return 0
    output = getattr(args, "output", None)
    if not output:
        raise ValueError("--output DIR is required (the run folder).")
    cfg.validate()
    output = check_output_dir(output)
    if cfg.weights is not None:
        from keras_cmod.cli import check_weights_file

        check_weights_file(cfg.weights)
    done = finished_run(cfg, output)
    if done is not None:
        model = done.get("model") or os.path.join(output, "model.keras")
        print(f"keras-cmod train: the run in {output} is already complete "
              f"({cfg.epochs} epochs): model {model}, metrics "
              f"{os.path.join(output, 'metrics.json')}; nothing to do (use "
              "a new --output, or more --epochs to continue it).")
        return 0
    from keras_cmod.training.trainer import train

    created = _first_missing(output)
    try:
        train(cfg, output, verbose=verbosity(getattr(args, "quiet", False)),
              **train_kwargs)
    except FloatingPointError as err:  # diverged: say where to resume from
        print(f"keras-cmod train: error: {err}", file=sys.stderr)
        return 1
    except RunInUseError:
        raise  # the folder is another process's: leave it alone
    except BaseException:
        if created is not None and os.path.isdir(created) and (
            not _has_checkpoint(output)
        ):
            shutil.rmtree(created, ignore_errors=True)
        raise
    return 0


def main(argv=None, **train_kwargs):
    """Standalone entry point: `python -m keras_cmod.training.cli train`.

    `train_kwargs` are passed to `train` (e.g. `model_fn=` or `callbacks=`
    from a test driver).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="keras-cmod")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register(sub)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args, **train_kwargs) or 0)
    except Exception as exc:
        from keras_cmod.cli import handle_exception

        return handle_exception(exc, args.command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
