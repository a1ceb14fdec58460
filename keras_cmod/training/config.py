"""`TrainConfig`: every hyper-parameter of a training run, and recipes.

A `TrainConfig` is a flat dataclass of JSON values. It round-trips through
JSON (`to_json` / `from_json`, `save` / `load`), rejects unknown fields
before any work starts, and is written next to the checkpoints of a run
(`<output>/train_config.json`), so a run can be reproduced and resumed.

Recipes
-------
A recipe is a `TrainConfig` saved as JSON: the paper's exact settings for
one registry name (from the paper and its reference code). The released
recipes live in the repository's
`zoo/recipes/<architecture>.<tag>.json` (the reviewable record, next to
`zoo/results.csv`), and identical copies ship inside the package
(`keras_cmod/training/recipes/`), so `keras-cmod train --recipe
resnet18_cmod.cifar10` works from a source checkout *and* from a wheel.
`find_recipe` accepts:

1. a path to a JSON file (anything that exists, or ends with `.json`);
2. a recipe name, `resnet18_cmod.cifar10` or `resnet18_cmod_cifar10`,
   looked up first in the checkout's `zoo/recipes/` (if `keras_cmod` is
   imported from a source tree, so edits there take effect), then in the
   packaged copies. Both sets are written by `scripts/make_recipes.py`
   (the paper's table of settings) and a test keeps them byte-identical.
   The packaged copies need `keras_cmod.training = recipes/*.json` in
   `setup.cfg [options.package_data]`.

This module is pure Python: no TensorFlow, no Keras.
"""

import dataclasses
import difflib
import json
import math
import numbers
import os
import pathlib

__all__ = [
    "DATASET_NAMES",
    "FINETUNE_DEFAULTS",
    "FOLDER_DEFAULTS",
    "FOLDER_HELDOUT_FRACTION",
    "LR_SCHEDULES",
    "MIXED_PRECISION",
    "STRATEGIES",
    "TrainConfig",
    "find_recipe",
    "list_recipes",
    "load_recipe",
    "apply_overrides",
    "parse_overrides",
    "recipe_dirs",
]

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION = (None, "float16", "bfloat16")
LR_SCHEDULES = ("step", "constant")
DATASET_NAMES = ("cifar10", "imagenet2012", "synthetic")
FOLDER_PREFIX = "folder:"
#: Fraction of each class of a `folder:` dataset held out for validation
#: (`val_split="heldout"`, the default), when the folder has no `val/`.
FOLDER_HELDOUT_FRACTION = 0.1
#: Defaults of a run on a `folder:` dataset (`TrainConfig.create`): a
#: small set of images, often a fine-tune. The paper's ImageNet/CIFAR
#: settings (lr 0.1, batch 256, 300 epochs) diverge or cannot make one step
#: there.
FOLDER_DEFAULTS = {"learning_rate": 0.01, "batch_size": 32, "epochs": 30,
                   "lr_step_epochs": 10}
#: Defaults of a fine-tune (`weights` or `pretrained` given): a learning
#: rate that keeps what the weights learned (at 0.1, a ResNet-18 fine-tuned
#: on a 3-class folder reached a validation loss of 2e7 after one epoch).
FINETUNE_DEFAULTS = {"learning_rate": 0.001}

# Fields that may differ between the saved config of a run and the config
# of the command that resumes it (they do not change what is computed).
RESUMABLE_CHANGES = frozenset(
    {
        "epochs",
        "checkpoint_every_steps",
        "keep_checkpoints",
        "log_every_steps",
        "notes",
    }
)


@dataclasses.dataclass
class TrainConfig:
    """Hyper-parameters of one training run (defaults: CIFAR-10 ResNet).

    Model:
        model: registry name, `architecture[.tag]` (e.g.
            `"resnet18_cmod.cifar10"`); the tag gives the preprocessing.
        model_kwargs: extra model arguments, e.g.
            `{"packet_penalty": [0.0, 0.0041, 0.00032]}` (AlexNet twins).
        num_classes: classifier size; `None` = the dataset's.
        input_size: `[height, width]` override of the tag's input size.
        pretrained: start from the tag's published weights.
        weights: start from local weights (`.weights.h5`, `.keras` or a
            model directory): fine-tuning. The head is re-initialised if
            `num_classes` differs.
        freeze_backbone: train only the classifier (`predictions`).

    Data:
        dataset: `"cifar10"`, `"imagenet2012"`, `"folder:/path"` (one
            sub-folder per class) or `"synthetic"` (random images of the
            model's input size: smoke tests and benchmarks).
        train_split / val_split: TFDS splits (or the paper's `"heldout"` /
            `"train_minus_heldout"`); `None` disables validation. For
            `folder:DIR`, `val_split` is `"heldout"` (the default: `DIR/val`
            when DIR holds `train/` and `val/` sub-folders, else
            `FOLDER_HELDOUT_FRACTION` of each class's images, picked by
            `seed` and left out of training), the path of a validation
            folder (the same class sub-folders), or `None`; `train_split`
            is not used (the training images are the rest of DIR, or
            `DIR/train`).
        data_dir / manual_dir: TFDS data directory; ImageNet tars folder.
        download: let TFDS prepare a missing dataset.
        synthetic_train_size / synthetic_val_size: examples of `synthetic`.
        shuffle_buffer_size: examples in the shuffle buffer.

    Optimisation (the paper's protocol):
        epochs: number of epochs.
        steps_per_epoch: cap on optimizer steps per epoch (`None`: the
            whole split, last partial global batch dropped).
        batch_size: GLOBAL batch of one forward/backward pass, split
            evenly over the replicas (must be divisible by them).
        grad_accum_steps: passes accumulated per optimizer step (the Zou
            models: 2 x 128); the loss is averaged over them.
        learning_rate, momentum, nesterov: SGD (PyTorch semantics).
        weight_decay: coupled L2 (PyTorch's `weight_decay`): `grad += wd *
            w` on all trainable parameters, before momentum.
        lr_schedule: `"step"` (StepLR, stepped per epoch) or `"constant"`.
        lr_step_epochs / lr_gamma: StepLR's `step_size` and `gamma`.
        mixed_precision: `None`, `"float16"` (dynamic loss scaling) or
            `"bfloat16"`.

    Run:
        strategy: `"auto"`, `"one_device"`, `"mirrored"`,
            `"multi_worker"` or `"tpu"`.
        tpu: TPU address for `strategy="tpu"` (`None`: auto-detect).
        seed: seeds weights, shuffling and augmentation.
        deterministic: deterministic ops and input pipeline (exact
            resume; slower).
        checkpoint_every_steps: also checkpoint every N optimizer steps
            (0: only at the end of each epoch).
        keep_checkpoints: number of checkpoints kept.
        log_every_steps: TensorBoard step-scalar interval.
        eval_every_epochs: validation interval.
        notes: free text (paper name, reference run id).
    """

    model: str = "resnet18_cmod.cifar10"
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    num_classes: int = None
    input_size: list = None
    pretrained: bool = False
    weights: str = None
    freeze_backbone: bool = False

    dataset: str = "cifar10"
    train_split: str = "train_minus_heldout"
    val_split: str = "heldout"
    data_dir: str = None
    manual_dir: str = None
    download: bool = True
    synthetic_train_size: int = 512
    synthetic_val_size: int = 128
    shuffle_buffer_size: int = 10_000

    epochs: int = 300
    steps_per_epoch: int = None
    batch_size: int = 256
    grad_accum_steps: int = 1
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    lr_schedule: str = "step"
    lr_step_epochs: int = 100
    lr_gamma: float = 0.1
    mixed_precision: str = None

    strategy: str = "auto"
    tpu: str = None
    seed: int = 0
    deterministic: bool = False
    checkpoint_every_steps: int = 0
    keep_checkpoints: int = 2
    log_every_steps: int = 50
    eval_every_epochs: int = 1
    notes: str = ""

    # ---------------------------------------------------------------- dicts
    @classmethod
    def field_names(cls):
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def create(cls, **fields):
        """A validated config from the fields given; the others take the
        defaults that suit the run.

        Those are the class defaults (the paper's CIFAR-10 protocol), with
        `FOLDER_DEFAULTS` for a `folder:` dataset and `FINETUNE_DEFAULTS`
        when `weights` or `pretrained` is given: fields given explicitly
        always win. `keras-cmod train` without `--recipe` builds its
        config this way.

        Example:

        >>> cfg = keras_cmod.training.TrainConfig.create(
        ...     dataset="folder:/data/flowers", weights="base.weights.h5")
        >>> cfg.learning_rate, cfg.batch_size
        (0.001, 32)
        """
        values = dict(cls.defaults_for(fields))
        values.update(fields)
        return cls.from_dict(values)

    @classmethod
    def defaults_for(cls, fields):
        """The defaults `create` applies for the given fields (a dict)."""
        out = {}
        dataset = fields.get("dataset")
        if isinstance(dataset, str) and dataset.startswith(FOLDER_PREFIX):
            out.update(FOLDER_DEFAULTS)
        if fields.get("weights") or fields.get("pretrained"):
            out.update(FINETUNE_DEFAULTS)
        return {k: v for k, v in out.items() if k not in fields}

    @classmethod
    def from_dict(cls, values, source=None):
        """Builds and validates a config; unknown keys raise `ValueError`.

        Args:
            values: a mapping of field names to JSON values.
            source: where the values come from (for error messages).
        """
        where = f" in {source}" if source else ""
        if not isinstance(values, dict):
            raise ValueError(
                f"A training config must be a JSON object{where}. "
                f"Received: {type(values).__name__}"
            )
        names = cls.field_names()
        unknown = [k for k in values if k not in names]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), names, n=1)
                hints.append(
                    f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close
                                  else "")
                )
            raise ValueError(
                f"Unknown training config field(s){where}: "
                f"{', '.join(hints)}. Valid fields: {', '.join(names)}."
            )
        cfg = cls(**{k: _coerce(k, v) for k, v in values.items()})
        cfg.validate()
        return cfg

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_json(cls, text, source=None):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            where = f" {source}" if source else ""
            raise ValueError(f"Invalid JSON in training config{where}: {err}")
        return cls.from_dict(values, source=source)

    def save(self, path):
        """Writes the config as JSON, atomically (temp file + replace)."""
        path = os.fspath(path)
        from keras_cmod._atomic import naming_disk_errors

        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with naming_disk_errors(path), open(tmp, "w") as f:
                f.write(self.to_json() + "\n")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return path

    @classmethod
    def load(cls, path):
        path = os.fspath(path)
        with open(path) as f:
            return cls.from_json(f.read(), source=path)

    def replace(self, **changes):
        """A validated copy with some fields changed."""
        values = self.to_dict()
        values.update(changes)
        return type(self).from_dict(values)

    def with_overrides(self, overrides):
        """Applies `["key=value", ...]` (see `parse_overrides`)."""
        values = apply_overrides(self.to_dict(), overrides)
        return type(self).from_dict(values, source="--set")

    def differences(self, other):
        """Names of the fields whose values differ from `other`."""
        a, b = self.to_dict(), other.to_dict()
        return [k for k in a if a[k] != b[k]]

    # ----------------------------------------------------------- validation
    def validate(self):
        """Checks values (types, ranges, choices); raises `ValueError`."""
        def fail(field, expected):
            raise ValueError(
                f"Invalid training config: `{field}` must be {expected}. "
                f"Received: {field}={getattr(self, field)!r}"
            )

        def check_int(field, minimum, optional=False):
            v = getattr(self, field)
            if v is None and optional:
                return
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                fail(field, f"an int >= {minimum}"
                     + (" or null" if optional else ""))

        def check_float(field, minimum=0.0, strict=False):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (
                not math.isfinite(v) or v < minimum
                or (strict and v == minimum)
            ):
                fail(field, f"a finite number {'>' if strict else '>='} "
                     f"{minimum}")

        def check_str(field, optional=False):
            v = getattr(self, field)
            if v is None and optional:
                return
            if not isinstance(v, str) or not v:
                fail(field, "a non-empty string"
                     + (" or null" if optional else ""))

        def check_bool(field):
            if not isinstance(getattr(self, field), bool):
                fail(field, "true or false")

        check_str("model")
        if not isinstance(self.model_kwargs, dict):
            fail("model_kwargs", "a JSON object")
        check_int("num_classes", 1, optional=True)
        if self.input_size is not None:
            size = self.input_size
            if isinstance(size, int) and not isinstance(size, bool):
                size = [size, size]
            if (not isinstance(size, (list, tuple)) or len(size) != 2
                    or not all(isinstance(s, int) and not isinstance(s, bool)
                               and s > 0 for s in size)):
                fail("input_size", "[height, width] (positive ints) or null")
            self.input_size = list(size)
        for field in ("pretrained", "freeze_backbone", "download",
                      "nesterov", "deterministic"):
            check_bool(field)
        check_str("weights", optional=True)
        if self.pretrained and self.weights:
            raise ValueError(
                "Invalid training config: give either `pretrained` or "
                "`weights`, not both."
            )
        check_str("dataset")
        if not (self.dataset in DATASET_NAMES
                or self.dataset.startswith(FOLDER_PREFIX)):
            close = difflib.get_close_matches(self.dataset, DATASET_NAMES, 1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown dataset {self.dataset!r}. Expected one of "
                f"{list(DATASET_NAMES)} or 'folder:/path/to/images' (one "
                f"sub-folder per class).{hint}"
            )
        if self.dataset == FOLDER_PREFIX:
            fail("dataset", "'folder:' followed by a path")
        check_str("train_split")
        check_str("val_split", optional=True)
        check_str("data_dir", optional=True)
        check_str("manual_dir", optional=True)
        check_int("synthetic_train_size", 1)
        check_int("synthetic_val_size", 1)
        check_int("shuffle_buffer_size", 1)
        check_int("epochs", 1)
        check_int("steps_per_epoch", 1, optional=True)
        check_int("batch_size", 1)
        check_int("grad_accum_steps", 1)
        check_float("learning_rate", strict=True)
        check_float("momentum")
        if self.momentum >= 1:
            fail("momentum", "in [0, 1)")
        if self.nesterov and self.momentum == 0:
            fail("nesterov", "false when momentum is 0 (as PyTorch)")
        check_float("weight_decay")
        if self.lr_schedule not in LR_SCHEDULES:
            fail("lr_schedule", f"one of {list(LR_SCHEDULES)}")
        check_int("lr_step_epochs", 1)
        check_float("lr_gamma", strict=True)
        if self.mixed_precision not in MIXED_PRECISION:
            fail("mixed_precision", "null, 'float16' or 'bfloat16'")
        if self.strategy not in STRATEGIES:
            fail("strategy", f"one of {list(STRATEGIES)}")
        check_str("tpu", optional=True)
        check_int("seed", 0)
        check_int("checkpoint_every_steps", 0)
        check_int("keep_checkpoints", 1)
        check_int("log_every_steps", 1)
        check_int("eval_every_epochs", 1)
        if not isinstance(self.notes, str):
            fail("notes", "a string")
        # Checked last: a field that is wrong on its own is named first.
        if self.folder is not None and self.val_split in (
            "val", "train_minus_heldout", "train"
        ):
            raise ValueError(
                "Invalid training config: for a 'folder:' dataset, "
                "`val_split` is 'heldout' (the default: DIR/val if it "
                "exists, else a held-out "
                f"{FOLDER_HELDOUT_FRACTION:.0%} of each class), the path of "
                "a validation folder (same class sub-folders) or null (no "
                f"validation). Received: val_split={self.val_split!r}"
            )
        return self

    # ------------------------------------------------------------- helpers
    @property
    def folder(self):
        """The image folder of `folder:/path` datasets (else `None`)."""
        if self.dataset.startswith(FOLDER_PREFIX):
            return self.dataset[len(FOLDER_PREFIX):]
        return None


def _coerce(key, value):
    """Light JSON-to-field coercion (ints for floats, tuples to lists)."""
    field = {f.name: f for f in dataclasses.fields(TrainConfig)}[key]
    if field.type is float and isinstance(value, numbers.Integral) and (
        not isinstance(value, bool)
    ):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def apply_overrides(values, overrides):
    """`values` (a dict of fields) with `["key=value", ...]` applied.

    Nothing is validated here: the caller builds the config from the
    result, so that fields checked together (e.g. `dataset` and
    `val_split`) are checked once all of them are set.
    """
    values = dict(values)
    for key, value in parse_overrides(overrides):
        if "." in key:
            field, _, sub = key.partition(".")
            if field != "model_kwargs":
                raise ValueError(
                    "Dotted keys are only allowed in model_kwargs "
                    f"(e.g. model_kwargs.packet_penalty). Received: {key}"
                )
            values["model_kwargs"] = dict(values.get("model_kwargs") or {})
            values["model_kwargs"][sub] = value
        else:
            values[key] = value
    return values


def parse_overrides(overrides):
    """`["lr_gamma=0.5", "val_split=null"]` -> `[("lr_gamma", 0.5), ...]`.

    Values are parsed as JSON when they are valid JSON (numbers, `true`,
    `null`, lists, objects), else kept as strings (`dataset=cifar10`).
    """
    out = []
    for item in overrides or ():
        key, sep, raw = str(item).partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(
                f"Overrides must look like key=value. Received: {item!r}"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.append((key, value))
    return out


# ---------------------------------------------------------------- recipes
_PACKAGED = pathlib.Path(__file__).resolve().parent / "recipes"


def recipe_dirs():
    """Folders searched for recipe names, in order.

    The source checkout's `zoo/recipes` (when `keras_cmod` is imported from
    a source tree), then the copies shipped in the package.
    """
    dirs = []
    checkout = pathlib.Path(__file__).resolve().parents[2] / "zoo" / "recipes"
    if checkout.is_dir():
        dirs.append(checkout)
    if _PACKAGED.is_dir():
        dirs.append(_PACKAGED)
    return dirs


def list_recipes():
    """Sorted names of the available recipes (`architecture.tag`)."""
    names = set()
    for d in recipe_dirs():
        names.update(p.name[:-len(".json")] for p in d.glob("*.json"))
    return sorted(names)


def _name_variants(name):
    yield name
    # `resnet18_cmod_cifar10` -> `resnet18_cmod.cifar10`
    head, sep, tail = name.rpartition("_")
    if sep and head:
        yield f"{head}.{tail}"


def find_recipe(name_or_path):
    """The path of a recipe, given as a JSON path or a recipe name.

    Raises:
        FileNotFoundError: a `.json` path that does not exist, or an
            unknown name (the message lists close names and the folders
            searched).
    """
    text = os.fspath(name_or_path)
    if os.path.isfile(text):
        return text
    if text.endswith(".json") or os.sep in text:
        raise FileNotFoundError(f"Recipe file not found: {text!r}")
    for candidate in _name_variants(text):
        for d in recipe_dirs():
            path = d / f"{candidate}.json"
            if path.is_file():
                return str(path)
    names = list_recipes()
    close = difflib.get_close_matches(text, names, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise FileNotFoundError(
        f"Unknown recipe {text!r}.{hint} Pass a JSON file path or one of "
        f"the {len(names)} recipe names (keras_cmod.training.list_recipes(); "
        f"searched {[str(d) for d in recipe_dirs()]})."
    )


def load_recipe(name_or_path):
    """The `TrainConfig` of a recipe (path or name; see `find_recipe`)."""
    return TrainConfig.load(find_recipe(name_or_path))
