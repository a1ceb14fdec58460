"""Input pipelines of the trainer: sources, sharding, resume, padding.

Every strategy gets its data through
`strategy.distribute_datasets_from_function`, with the same rule for all:
the stream of examples of an epoch is cut into consecutive *global*
batches of `batch_size` examples, and global batch `s` is split into
contiguous per-replica slices (replica `r` gets examples `r*b ...
(r+1)*b - 1` of it, `b` = per-replica batch). Each input pipeline (one per
worker) keeps only its replicas' slices, before decoding, so a 2-worker run
sees exactly the global batches of a 1-process run (only augmentation
randomness differs; the synthetic dataset has none).

Determinism and resume: the example order of epoch `e` depends only on
`(seed, e)` (file and buffer shuffling are reseeded per epoch and never
"reshuffled each iteration"), and the pipeline of a resumed epoch skips the
batches already consumed, so a deterministic run restarted from a
mid-epoch checkpoint sees the same batches as an uninterrupted one. The
skipped batches are still read and augmented (their augmentation seeds
come from the same per-epoch stream), but not fed to the model.

Validation: the split is padded to whole global batches by repeating
examples whose label is set to `-1` (ignored by the metrics), so every
replica of every worker runs the same number of steps.
"""

import collections
import math
import os

import numpy as np
import tensorflow as tf

from keras_cmod import data as kdata
from keras_cmod.data import datasets as kdatasets
from keras_cmod.training.config import FOLDER_HELDOUT_FRACTION

__all__ = [
    "DataSource",
    "FolderSplits",
    "folder_splits",
    "open_source",
    "make_train_dataset_fn",
    "make_eval_dataset_fn",
]

AUTOTUNE = tf.data.AUTOTUNE
NUM_CLASSES = {"cifar10": 10, "imagenet2012": 1000}


def epoch_seed(seed, epoch):
    """The seed of epoch `epoch` (shuffling and augmentation)."""
    return int(seed) * 100_003 + int(epoch) + 1


class DataSource:
    """One split: how to read it, how many examples, which classes.

    Attributes:
        kind: `"tfds"`, `"folder"` or `"synthetic"`.
        num_examples: exact number of examples.
        num_classes: classes implied by the data (`None` if unknown).
        element_fn: `None`, or a function applied to each element after
            sharding that returns a ready `(image, label)` model input
            (synthetic data: elements are indices). Without it, elements
            are `(encoded or uint8 image, label)` and go through
            `keras_cmod.data.preprocess`.
    """

    def __init__(self, kind, num_examples, num_classes, read_fn,
                 element_fn=None):
        self.kind = kind
        self.num_examples = int(num_examples)
        self.num_classes = num_classes
        self._read_fn = read_fn
        self.element_fn = element_fn

    def read(self, seed):
        """A dataset of the split for one epoch (file order from `seed`)."""
        return self._read_fn(seed)


# ------------------------------------------------------------------ sources
def _tfds_count(name, split, data_dir):
    """Exact size of a split (TFDS metadata; the held-out rules)."""
    import tensorflow_datasets as tfds  # lazy; `load` checked it works

    info = tfds.builder(name, data_dir=data_dir).info
    if split in kdatasets.HELDOUT_SPLITS:
        total = info.splits["train"].num_examples
        size = kdatasets.DEFAULT_HELDOUT_SIZE[name]
        held = min(total, size * (1000 if name == "imagenet2012" else 1))
        return held if split in ("heldout", "val") else total - held
    return info.splits[split].num_examples


def _count(ds):
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(tf.constant(0, tf.int64), lambda c, _: c + 1))


def _tfds_source(cfg, split, training):
    name = cfg.dataset
    kwargs = dict(data_dir=cfg.data_dir, manual_dir=cfg.manual_dir,
                  download=cfg.download, decode=False)
    if name != "imagenet2012":
        kwargs.pop("manual_dir")
    # Raises here (before any model is built) for a missing ImageNet tar,
    # an unprepared dataset with download=False, or an unknown split.
    probe = kdata.load(name, split, **kwargs)
    try:
        count = _tfds_count(name, split, cfg.data_dir)
    except (KeyError, ValueError, TypeError):
        count = None
    if not count:  # e.g. metadata without split sizes (mocked TFDS)
        count = _count(probe)

    def read(seed):
        if not training:
            return probe
        return kdata.load(name, split, shuffle_files=True, seed=seed,
                          **kwargs)

    return DataSource("tfds", count, NUM_CLASSES[name], read)


#: The images of a `folder:` dataset: `train` and `val` are
#: `(files, labels)` (`val` is `None` without validation), `classes` the
#: class names, `how` where the validation images come from (in words).
FolderSplits = collections.namedtuple(
    "FolderSplits", ["train", "val", "classes", "how"])

#: Sub-folder names of a folder laid out as `train/` + `val/`.
_TRAIN_DIRS = ("train",)
_VAL_DIRS = ("val", "validation")


def _split_layout(root):
    """`(train_dir, val_dir)` when `root` holds `train/` and `val/`
    (optionally `test/`) instead of class folders, else `None`."""
    try:
        names = {e.name for e in os.scandir(root)
                 if e.is_dir() and not e.name.startswith(".")}
    except OSError:
        return None
    val = [n for n in _VAL_DIRS if n in names]
    if "train" not in names or not val or not names <= {
        *_TRAIN_DIRS, *_VAL_DIRS, "test"
    }:
        return None
    return os.path.join(root, "train"), os.path.join(root, val[0])


def _hold_out(files, labels, num_classes, seed):
    """Splits each class: `FOLDER_HELDOUT_FRACTION` of it (at least one
    image of a class that has two) for validation, picked by `seed`."""
    files, labels = np.asarray(files, object), np.asarray(labels)
    rng = np.random.RandomState(seed)
    held = np.zeros(len(files), bool)
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        n = max(1, int(round(FOLDER_HELDOUT_FRACTION * len(members))))
        held[rng.permutation(members)[:n]] = True
    return ((files[~held].tolist(), labels[~held].tolist()),
            (files[held].tolist(), labels[held].tolist()))


def folder_splits(cfg, check_images="header"):
    """The training and validation images of a `folder:` dataset.

    `cfg.val_split` decides (see `TrainConfig`): `"heldout"` uses `DIR/val`
    when DIR is laid out as `train/` + `val/`, else holds out
    `FOLDER_HELDOUT_FRACTION` of each class (picked by `cfg.seed`, the same
    images on every run and resume); a path names a validation folder;
    `None` trains on everything.

    Raises:
        FileNotFoundError: a folder that does not exist.
        ValueError: fewer than 2 classes, a validation folder with other
            classes, nothing to hold out, or unreadable images (named).
    """
    root = cfg.folder
    layout = _split_layout(root)
    train_dir = layout[0] if layout else root
    files, labels, classes = kdata.list_image_folder(train_dir, check_images)
    if len(classes) < 2:
        raise ValueError(
            f"The image folder {train_dir!r} has {len(classes)} class "
            f"sub-folder(s) ({classes}): classification needs at least 2 "
            "(with one class the loss is always 0)."
        )
    val_split = cfg.val_split
    if val_split is None:
        return FolderSplits((files, labels), None, classes,
                            "no validation")
    if val_split == "heldout" and layout is None:
        train, val = _hold_out(files, labels, len(classes), cfg.seed)
        if not val[0]:
            raise ValueError(
                f"The image folder {root!r} has one image per class: "
                "nothing can be held out for validation. Add images, give "
                "a validation folder (--val-split DIR) or train without "
                "validation (--val-split none)."
            )
        return FolderSplits(train, val, classes,
                            f"{len(val[0])} images held out of {root} "
                            f"({FOLDER_HELDOUT_FRACTION:.0%} of each class, "
                            f"seed {cfg.seed})")
    val_dir = layout[1] if val_split == "heldout" else val_split
    val_files, val_labels, val_classes = kdata.list_image_folder(
        val_dir, check_images)
    if val_classes != classes:
        raise ValueError(
            f"The validation folder {val_dir!r} has classes "
            f"{val_classes[:5]}..., the training folder {train_dir!r} "
            f"{classes[:5]}...: they must be the same."
        )
    return FolderSplits((files, labels), (val_files, val_labels), classes,
                        f"the folder {val_dir}")


def _files_source(files, labels, num_classes):
    def read(seed):
        ds = tf.data.Dataset.from_tensor_slices(
            (tf.constant(files, tf.string), tf.constant(labels, tf.int64)))
        return ds.map(lambda f, label: (tf.io.read_file(f), label),
                      num_parallel_calls=AUTOTUNE)

    return DataSource("folder", len(files), num_classes, read)


def _synthetic_source(num_examples, input_size, num_classes, seed):
    height, width, channels = input_size

    def example(i):
        label = tf.random.stateless_uniform(
            [], seed=tf.stack([tf.constant(seed, tf.int64), i]),
            maxval=num_classes, dtype=tf.int64,
        )
        noise = tf.random.stateless_normal(
            [height, width, channels],
            seed=tf.stack([tf.constant(seed + 1, tf.int64), i]),
        )
        # A learnable signal: a class-dependent brightness offset.
        offset = tf.cast(label, tf.float32) / max(num_classes - 1, 1) - 0.5
        return noise * 0.5 + offset, label

    def read(seed_unused):
        return tf.data.Dataset.range(num_examples)

    return DataSource("synthetic", num_examples, num_classes, read,
                      element_fn=example)


def open_source(cfg, split, training, input_size=None, num_classes=None):
    """Opens the training or validation split of `cfg.dataset`.

    Checks run here: unknown splits, missing ImageNet tars (with where to
    put them), unprepared TFDS data with `download=False`, missing or empty
    image folders.

    Args:
        cfg: a `TrainConfig`.
        split: the split name (TFDS); for `folder:` and `synthetic` only
            `training` matters (see `folder_splits`).
        training: bool, the training split (reshuffled per epoch).
        input_size: `(H, W, C)` of synthetic images.
        num_classes: classes of synthetic labels.

    Returns:
        A `DataSource`.
    """
    if cfg.dataset == "synthetic":
        size = cfg.synthetic_train_size if training else cfg.synthetic_val_size
        seed = cfg.seed * 2 + (0 if training else 1_000_003)
        return _synthetic_source(size, input_size, num_classes or 10, seed)
    if cfg.folder is not None:
        splits = folder_splits(cfg, "none")  # checked by the trainer
        files, labels = splits.train if training else splits.val
        return _files_source(files, labels, len(splits.classes))
    return _tfds_source(cfg, split, training)


# --------------------------------------------------------------- pipelines
def _worker_slice(ds, input_context, per_replica):
    """Keeps this pipeline's slices of each global batch.

    `ds` yields `(index, element)`; the index (position in the epoch)
    decides which pipeline keeps the element.
    """
    pipelines = input_context.num_input_pipelines
    if pipelines == 1:
        return ds
    replicas = input_context.num_replicas_in_sync
    global_batch = replicas * per_replica
    block = (replicas // pipelines) * per_replica
    worker = input_context.input_pipeline_id
    return ds.filter(
        lambda i, element: tf.equal((i % global_batch) // block, worker)
    )


def _to_model_inputs(ds, source, data_config, training, per_replica, seed,
                     deterministic):
    """Decodes/augments (or generates) and batches per replica."""
    if source.element_fn is not None:
        ds = ds.map(source.element_fn, num_parallel_calls=AUTOTUNE,
                    deterministic=True)
        ds = ds.batch(per_replica, drop_remainder=True)
        return ds.map(lambda x, y: (x, tf.cast(y, tf.int32)))
    return kdata.preprocess(
        ds, data_config, training=training, batch_size=per_replica,
        shuffle=False, seed=seed, deterministic=deterministic,
        drop_remainder=True, prefetch=False,
    )


def make_train_dataset_fn(source, data_config, *, per_replica_batch_size,
                          steps_per_epoch, grad_accum_steps, seed, epoch,
                          skip_steps=0, shuffle_buffer_size=10_000,
                          deterministic=False):
    """The `dataset_fn(input_context)` of one training epoch.

    Args:
        source: the training `DataSource`.
        data_config: resolved data config (`keras_cmod.data`).
        per_replica_batch_size: examples per replica per pass.
        steps_per_epoch: optimizer steps of the epoch.
        grad_accum_steps: passes per optimizer step.
        seed, epoch: give the epoch's shuffling/augmentation seed.
        skip_steps: optimizer steps of this epoch already done (resume).
        shuffle_buffer_size: shuffle buffer (examples).
        deterministic: deterministic tf.data maps.
    """
    e_seed = epoch_seed(seed, epoch)
    pr = per_replica_batch_size

    def dataset_fn(input_context):
        replicas = input_context.num_replicas_in_sync
        local = replicas // input_context.num_input_pipelines
        passes = steps_per_epoch * grad_accum_steps
        ds = source.read(e_seed)
        ds = ds.shuffle(min(shuffle_buffer_size, source.num_examples),
                        seed=e_seed, reshuffle_each_iteration=False)
        # `repeat` only guards against a short split; `take` cuts the
        # epoch to whole global batches.
        ds = ds.repeat().take(passes * replicas * pr).enumerate()
        ds = _worker_slice(ds, input_context, pr)
        ds = ds.map(lambda i, element: element)
        ds = _to_model_inputs(ds, source, data_config, True, pr, e_seed,
                              deterministic)
        if skip_steps:
            ds = ds.skip(skip_steps * grad_accum_steps * local)
        return ds.prefetch(AUTOTUNE)

    return dataset_fn


def eval_steps(num_examples, global_batch_size):
    """Validation steps covering every example once (last one padded)."""
    return max(1, math.ceil(num_examples / global_batch_size))


def make_eval_dataset_fn(source, data_config, *, per_replica_batch_size,
                         global_batch_size):
    """The `dataset_fn(input_context)` of the validation split.

    Examples beyond the split size (padding of the last global batch) get
    the label `-1`.
    """
    pr = per_replica_batch_size
    n = source.num_examples
    total = eval_steps(n, global_batch_size) * global_batch_size

    def mask(i, element):
        if source.element_fn is not None:
            element = source.element_fn(element)
        image, label = element
        label = tf.where(i < n, tf.cast(label, tf.int64),
                         tf.constant(-1, tf.int64))
        return image, label

    def dataset_fn(input_context):
        ds = source.read(0).repeat().take(total).enumerate()
        ds = _worker_slice(ds, input_context, pr)
        ds = ds.map(mask, num_parallel_calls=AUTOTUNE, deterministic=True)
        if source.element_fn is not None:
            ds = ds.batch(pr, drop_remainder=True)
            ds = ds.map(lambda x, y: (x, tf.cast(y, tf.int32)))
        else:
            ds = kdata.preprocess(
                ds, data_config, training=False, batch_size=pr,
                shuffle=False, deterministic=True, drop_remainder=True,
                prefetch=False,
            )
        return ds.prefetch(AUTOTUNE)

    return dataset_fn
