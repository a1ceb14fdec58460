"""The training loop: one custom loop for every `tf.distribute` strategy.

`train(config, output_dir)` runs (or resumes) a run described by a
`TrainConfig`. The loop is written once, with public TensorFlow APIs
(`strategy.distribute_datasets_from_function`, `strategy.run`,
`tf.nn.compute_average_loss`, `strategy.reduce`) inside a `tf.function`,
and is the same for one device, `MirroredStrategy`,
`MultiWorkerMirroredStrategy` and `TPUStrategy`. Keras' `model.fit` is not
used because it is broken under `MultiWorkerMirroredStrategy` in Keras 3
(keras-team/keras#20585); one loop for all strategies means the
single-device tests also test the multi-worker code.

One optimizer step (`grad_accum_steps` passes of `batch_size` examples):

1. each replica computes `loss = sum(CE) / (batch_size * accum) +
   sum(model.losses) / (replicas * accum)` for each pass (the packet
   penalty of the AlexNet twins lives in `model.losses`), scaled by the
   loss scale under float16, and sums the gradients of the passes;
2. `optimizer.apply_gradients` all-reduces (sums) the gradients over the
   replicas, unscales them, and `TorchSGD` adds the coupled L2 term
   `weight_decay * w` and applies PyTorch's momentum update.

Outputs in `output_dir` (chief only; other workers write to a temporary
folder that is deleted): `train_config.json` (the `TrainConfig`),
`run.json` (resolved facts: strategy, replicas, batch split, steps,
versions), `checkpoints/` (atomic, every epoch and every
`checkpoint_every_steps`), `log.csv`, `logs/` (TensorBoard), and at the end
`model.keras`, `metrics.json` and the model folder files: `config.json`
(the model's Keras config: registry architecture, constructor arguments
and `pretrained_cfg`, with the class names of a folder dataset),
`model.weights.h5`, `metadata.json` and `pretrained_cfg.json`. A finished
run folder is therefore a model folder: `zoo.load("local-dir:RUN")`,
`zoo.load(name, weights=RUN)`, `hub.from_pretrained(RUN)` and
`keras-cmod push RUN org/repo` accept it. The step functions live in
`keras_cmod.training.steps`, the CSV/TensorBoard log in
`keras_cmod.training.runlog`.

One process writes a run folder at a time: the chief holds an exclusive
lock on `RUN/.lock` (`keras_cmod.training.runlock`) from the first check
of the folder to the last write, and removes the temporary files of dead
writers once it holds it. A batch that surely cannot fit in host memory is
refused once the model is built (`keras_cmod.training.memory`).

Running the same command again resumes from the latest checkpoint: model
and optimizer variables (momentum, iteration count, loss scale), dropout
seed states, epoch and step counters; the input pipeline of the
interrupted epoch is rebuilt with the same seed and skips the batches
already consumed. With `deterministic=True` a resumed run ends with
exactly the weights of an uninterrupted one.

Distributed notes:

- Batch-norm statistics are computed per replica over its slice of the
  global batch, as in the reference (PyTorch DDP without SyncBatchNorm).
  Models without batch norm give the same update on any number of
  replicas (tested to float32 round-off).
- Under float16 the replicas agree on skipping a step with non-finite
  gradients before `LossScaleOptimizer` decides (it looks at local
  gradients only), so they never diverge.
- Multi-worker: start the same command on every worker with its
  `TF_CONFIG` (scripts/launch_multi_worker.sh). `--output` must be on a
  filesystem shared by the workers, since every worker resumes from the
  chief's checkpoint. Prepare TFDS datasets beforehand (one process), not
  concurrently from several workers.
"""

import json
import logging
import math
import os
import platform
import shutil
import statistics
import tempfile
import time

import keras
import tensorflow as tf

from keras_cmod import zoo
from keras_cmod._atomic import naming_disk_errors
from keras_cmod.data import list_image_folder, resolve_data_config
from keras_cmod.training import checkpoint as ckpt
from keras_cmod.training import inputs, memory
from keras_cmod.training import strategy as strategy_lib
from keras_cmod.training.config import RESUMABLE_CHANGES, TrainConfig
from keras_cmod.training.optimizers import StepLR, TorchSGD
from keras_cmod.training.runlock import RunLock, remove_stale_temp_files
from keras_cmod.training.runlog import _RunLog
from keras_cmod.training.steps import _make_eval_step, _make_train_step

logger = logging.getLogger(__name__)

__all__ = ["freeze_backbone", "train"]

#: The training config's file in a run folder (`config.json` there is the
#: model's, as in every model folder).
TRAIN_CONFIG_FILE = "train_config.json"


def _train_config_path(output_dir):
    """The run's training config; `config.json` in runs written before it
    had its own name (resumed and migrated: config.json then becomes the
    model's)."""
    path = os.path.join(output_dir, TRAIN_CONFIG_FILE)
    legacy = os.path.join(output_dir, "config.json")
    if not os.path.exists(path) and os.path.exists(legacy):
        try:
            with open(legacy, encoding="utf-8") as f:
                if "class_name" not in json.load(f):
                    return legacy
        except (OSError, ValueError):
            return legacy  # reported by the config check
    return path


def freeze_backbone(model, head=("predictions",)):
    """Freezes every layer except the classifier, for fine-tuning.

    Frozen Keras `BatchNormalization` layers also stop updating their
    statistics (they run in inference mode).

    Args:
        model: a Keras model (e.g. from `keras_cmod.zoo.load`).
        head: name or names of the layers kept trainable.

    Returns:
        The model (modified in place).

    Raises:
        ValueError: if the model has none of the `head` layers.

    Example:
    >>> model = keras_cmod.zoo.create_model(
    ...     "resnet18", num_classes=3, input_shape=(32, 32, 3))
    >>> model = keras_cmod.training.freeze_backbone(model)
    >>> [v.path for v in model.trainable_variables]
    ['predictions/kernel', 'predictions/bias']
    """
    heads = (head,) if isinstance(head, str) else tuple(head)
    names = [layer.name for layer in model.layers]
    if not any(h in names for h in heads):
        raise ValueError(
            f"The model has no layer named {list(heads)} to keep trainable "
            f"(its last layers: {names[-3:]}). Pass `head=`."
        )
    for layer in model.layers:
        layer.trainable = layer.name in heads
    return model


# ----------------------------------------------------------- pre-flight
def _check_writable(directory):
    """The output directory can be created or written; creates nothing.

    The folder itself is made only once the whole run is validated (model
    built, data opened), so a run that fails validation leaves no folder.
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(
            f"The output directory {directory!r} is not writable: it "
            "exists and is not a directory."
        )
    parent = directory
    while not os.path.exists(parent):
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    if not os.path.isdir(parent):
        raise ValueError(
            f"The output directory {directory!r} is not writable: "
            f"{parent!r} is not a directory."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(
            f"The output directory {directory!r} is not writable: "
            f"permission denied on {parent!r}."
        )


def _check_weights_file(path):
    """Opens a local weights file before anything is built or written."""
    if os.path.isdir(path):
        return
    lower = path.lower()
    try:
        if lower.endswith((".h5", ".hdf5")):
            import h5py

            with h5py.File(path, "r"):
                pass
        elif lower.endswith(".keras"):
            import zipfile

            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise OSError(f"member {bad!r} is corrupt")
        else:
            raise ValueError(
                f"Unknown weights file type: {path!r}. Expected a "
                ".weights.h5 file, a .keras file or a model directory."
            )
    except ValueError:
        raise
    except Exception as err:  # h5py / zipfile raise several types
        raise ValueError(
            f"Cannot read the weights file {path!r} (truncated or not a "
            f"{'HDF5' if lower.endswith(('.h5', '.hdf5')) else 'zip'} "
            f"file): {err}"
        ) from None


def _remove_temp_files(directory):
    """Removes this process's `.tmp-<pid>-*` files left by a failed save."""
    if not directory or not os.path.isdir(directory):
        return
    prefix = f".tmp-{os.getpid()}-"
    for root, _, files in os.walk(directory):
        for name in files:
            if name.startswith(prefix) or f".tmp-{os.getpid()}" in name:
                try:
                    os.remove(os.path.join(root, name))
                except OSError:
                    pass


def _dataset_classes(cfg):
    if cfg.dataset == "cifar10":
        return 10
    if cfg.dataset == "imagenet2012":
        return 1000
    if cfg.folder is not None:
        classes = inputs.folder_splits(cfg, "header").classes
        return len(classes)
    return None


def _preflight(cfg, model_fn):
    """Checks that need no TensorFlow op; returns resolved facts."""
    registry_cfg = None
    if model_fn is None:
        registry_cfg = zoo.get_pretrained_cfg(cfg.model)  # unknown name
        zoo.check_model_kwargs(cfg.model, cfg.model_kwargs or {})
        if cfg.pretrained and not registry_cfg.has_weights:
            raise ValueError(
                f"pretrained=True but no weights are published for "
                f"{registry_cfg.name!r}; start from a local checkpoint "
                "instead: `--weights PATH` on the command line, "
                "TrainConfig(weights=PATH) in Python."
            )
    if model_fn is not None and (cfg.weights or cfg.pretrained):
        raise ValueError(
            "weights / pretrained start from a registry model; they cannot "
            "be combined with a custom model_fn (load the weights in it)."
        )
    if cfg.weights is not None and not os.path.exists(cfg.weights):
        raise FileNotFoundError(
            f"No weights at {cfg.weights!r}. Expected a .weights.h5 file, a "
            ".keras file or a model directory."
        )
    if cfg.weights is not None:
        _check_weights_file(cfg.weights)
    data_classes = _dataset_classes(cfg)
    num_classes = cfg.num_classes or data_classes
    if num_classes is None:
        num_classes = registry_cfg.num_classes if registry_cfg else 10
    if data_classes and num_classes < data_classes:
        raise ValueError(
            f"num_classes={num_classes} is smaller than the {data_classes} "
            f"classes of dataset {cfg.dataset!r}."
        )
    if cfg.input_size is not None:
        input_shape = (*cfg.input_size, 3)
    elif registry_cfg is not None:
        input_shape = tuple(registry_cfg.input_size)
    else:
        input_shape = None
    return registry_cfg, num_classes, input_shape


def _check_resume_config(cfg, path):
    if not os.path.exists(path):
        return
    try:
        saved = TrainConfig.load(path)
    except ValueError as err:
        raise ValueError(
            f"{path} exists but is not a training config ({err}). Use a new "
            "output directory."
        ) from None
    diffs = [d for d in saved.differences(cfg) if d not in RESUMABLE_CHANGES]
    if diffs:
        details = ", ".join(
            f"{d}: {getattr(saved, d)!r} -> {getattr(cfg, d)!r}"
            for d in diffs
        )
        raise ValueError(
            f"The output directory {os.path.dirname(path)!r} holds a run with "
            f"a different config ({details}). Resume it with the same "
            "settings, or use a new --output directory."
        )


# --------------------------------------------------------------- model
def _build_model(cfg, model_fn, num_classes, input_shape):
    kwargs = dict(cfg.model_kwargs)
    kwargs["num_classes"] = num_classes
    if input_shape is not None:
        kwargs["input_shape"] = input_shape
    if model_fn is not None:
        return model_fn(cfg.model, **kwargs)
    if cfg.weights or cfg.pretrained:
        return zoo.load(cfg.model, pretrained=True, weights=cfg.weights,
                        **kwargs)
    return zoo.create_model(cfg.model, **kwargs)


def _check_same_everywhere(strategy, value, what):
    """Multi-worker: refuse to go on if workers disagree on `value`."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    @tf.function
    def total_fn(x):
        return strategy.reduce(tf.distribute.ReduceOp.SUM,
                               strategy.run(lambda: tf.identity(x)),
                               axis=None)

    total = total_fn(tf.constant(float(value)))
    if float(total) != float(value) * strategy.num_replicas_in_sync:
        raise RuntimeError(
            f"The workers disagree on the {what} ({value} here): they must "
            "all read the chief's checkpoints, so --output must be on a "
            "filesystem shared by every worker."
        )


def _learning_rate(cfg, epoch):
    if cfg.lr_schedule == "constant":
        return cfg.learning_rate
    return cfg.learning_rate * cfg.lr_gamma ** (epoch // cfg.lr_step_epochs)


def _run_pretrained_cfg(cfg, model):
    """The trained model's metadata: its classes and where they come from."""
    out = dict(getattr(model, "pretrained_cfg", None) or {})
    if cfg.folder is not None:
        classes = inputs.folder_splits(cfg, "none").classes
        n = getattr(model, "num_classes", None)
        out.update(dataset=cfg.dataset,
                   label_names=classes if len(classes) == n else None)
    else:  # what the weights were trained on, whatever the tag says
        out["dataset"] = cfg.dataset
    out.update(weights=None, pretrained=True, trained_from=(
        cfg.weights or ("published weights" if cfg.pretrained else None)))
    return out


def _atomic_save_model(model, directory, cfg):
    """`model.keras` and the model folder files, each renamed into place."""
    from keras_cmod.hub.saving import write_model_files

    if hasattr(type(model), "pretrained_cfg"):  # keras-cmod models
        model.pretrained_cfg = _run_pretrained_cfg(cfg, model)
    final = os.path.join(directory, "model.keras")
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-model.keras")
    try:
        with naming_disk_errors(final, "the trained model"):
            model.save(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    write_model_files(model, directory)
    return final, os.path.join(directory, "model.weights.h5")


# ------------------------------------------------------------------ train
def train(config, output_dir, *, model_fn=None, callbacks=(), verbose=1):
    """Trains (or resumes) the run described by `config` in `output_dir`.

    Order of work: every check that needs no TensorFlow op (config, model
    name, dataset name, image folders, output directory, config of an
    existing run), then the strategy (first TensorFlow op: required by
    `MultiWorkerMirroredStrategy`) and the replica split of the batch, then
    the data (missing ImageNet tars are reported here), and only then the
    model, the optimizer and the training.

    `deterministic=True` calls `tf.config.experimental.enable_op_determinism`
    (process-wide, not undone at the end).

    Args:
        config: a `TrainConfig` (or a dict of its fields).
        output_dir: the run folder. If it holds checkpoints of the same
            config, training resumes from the latest one.
        model_fn: optional `fn(name, num_classes=..., input_shape=...,
            **model_kwargs) -> keras.Model` used instead of the zoo (tests,
            custom models). The model must output logits.
        callbacks: callables `fn(event, info)` called on the chief and the
            workers after each optimizer step (`event="step_end"`, after
            any checkpoint of that step), each epoch (`"epoch_end"`) and
            at the end (`"train_end"`); `info` holds `epoch`,
            `step_in_epoch`, `global_step`, `loss` and `model`. (The test
            suite uses them to kill a run mid-epoch and to read the final
            weights of every worker.)
        verbose: 0 (silent), 1 (progress bar and epoch summaries) or 2
            (one plain line per epoch: no bar, no ANSI codes).

    Returns:
        The metrics dict also written to `metrics.json`.

    Raises:
        ValueError / FileNotFoundError: before any work, for an invalid
            config, an unknown model or dataset, missing ImageNet tars, a
            global batch not divisible by the replicas, an unwritable
            output directory, or a run folder holding another config.
        FloatingPointError: the loss became NaN/inf (float32 runs).
        RunInUseError: (an `OSError`) another process is writing
            `output_dir`; nothing is touched.
        BatchMemoryError: (a `ValueError`) the batch does not fit in
            memory (refused before any batch is made, or TensorFlow ran
            out of memory in a step).
        OSError: a full disk, quota or file-size limit, naming the file
            being written (the previous one is intact).
    """
    cfg = (config if isinstance(config, TrainConfig)
           else TrainConfig.from_dict(dict(config)))
    cfg.validate()
    run = _Run(cfg, os.path.abspath(os.fspath(output_dir)), model_fn,
               list(callbacks), verbose)
    previous_policy = keras.config.dtype_policy()
    created = not os.path.exists(run.output_dir)
    try:
        try:
            run.setup()
        except BaseException:
            # Nothing of a run that never started is left on disk (never
            # the folder of another writer: only with the lock held).
            run.close()
            if created and run.chief and run.lock is not None:
                shutil.rmtree(run.output_dir, ignore_errors=True)
            raise
        for epoch in range(run.state["epoch"], cfg.epochs):
            try:
                run.train_epoch(epoch)
            except (tf.errors.OpError, MemoryError) as err:
                # Out of memory outside a step (the input pipeline, the
                # validation pass): the same message as in a step.
                if isinstance(err, memory.BatchMemoryError) or (
                        not memory.is_out_of_memory(err)):
                    raise
                raise run._out_of_memory(err) from err
        return run.finish()
    except BaseException:
        _remove_temp_files(run.work_dir)
        raise
    finally:
        keras.config.set_dtype_policy(previous_policy)
        run.close()
        run.release()


class _Run:
    """The state of one `train` call (see `train`)."""

    def __init__(self, cfg, output_dir, model_fn, callbacks, verbose):
        self.cfg = cfg
        self.output_dir = output_dir
        self.model_fn = model_fn
        self.callbacks = callbacks
        self.verbose = verbose
        self.chief = strategy_lib.is_chief()
        self.work_dir = None
        self.log = None
        self.lock = None
        self.state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0,
                      "epoch_ce_sum": 0.0, "epoch_correct": 0.0,
                      "epoch_examples": 0, "train_seconds": 0.0}
        self.step_rates = []
        self.first_step = True

    # ------------------------------------------------------------ setup
    def setup(self):
        cfg = self.cfg
        _, self.num_classes, self.input_shape = _preflight(cfg,
                                                           self.model_fn)
        if self.chief:
            _check_writable(self.output_dir)
            # One writer per run folder; then every temporary file in it is
            # a dead writer's.
            self.lock = RunLock(self.output_dir).acquire()
            remove_stale_temp_files(self.output_dir)
            _check_resume_config(cfg, _train_config_path(self.output_dir))

        self.strategy = strategy_lib.get_strategy(cfg.strategy, cfg.tpu)
        self.replicas = self.strategy.num_replicas_in_sync
        self.per_replica = strategy_lib.per_replica_batch_size(
            cfg.batch_size, self.replicas)
        self.chief = self.chief and bool(
            self.strategy.extended.should_checkpoint)
        if not self.chief:
            self.release()
        self.work_dir = self.output_dir if self.chief else tempfile.mkdtemp(
            prefix="keras_cmod_worker_")

        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(cfg.seed)
        # Synthetic images take the model's input size: if only the model
        # knows it (custom `model_fn`), open the data after building it.
        defer = cfg.dataset == "synthetic" and self.input_shape is None
        if not defer:
            self._open_data(self.input_shape)
        policy = {None: "float32", "float16": "mixed_float16",
                  "bfloat16": "mixed_bfloat16"}[cfg.mixed_precision]
        keras.config.set_dtype_policy(policy)
        self.loss_scaling = cfg.mixed_precision == "float16"
        with self.strategy.scope():
            self.model = _build_model(cfg, self.model_fn, self.num_classes,
                                      self.input_shape)
            if cfg.freeze_backbone:
                freeze_backbone(self.model)
        if defer:
            self._open_data(tuple(self.model.input_shape[1:]))
        self._check_memory()
        with self.strategy.scope():
            self.optimizer = _make_optimizer(cfg, self.steps_per_epoch,
                                             self.loss_scaling)
            self.optimizer.build(self.model.trainable_variables)
        if self.chief:
            os.makedirs(self.output_dir, exist_ok=True)
            cfg.save(self._path(TRAIN_CONFIG_FILE))
        pretrained_cfg = getattr(self.model, "pretrained_cfg", None)
        self.data_config = resolve_data_config(
            pretrained_cfg or None, model=self.model,
            **({"img_size": tuple(cfg.input_size)} if cfg.input_size
               else {}),
        )
        self._resume()
        if self.chief:
            ckpt.atomic_write_json(self._path("run.json"), self._run_info())
        self.train_step = _make_train_step(
            self.model, self.optimizer, self.strategy, cfg.batch_size,
            cfg.grad_accum_steps, self.loss_scaling)
        self.eval_step = _make_eval_step(self.model, self.strategy)
        self.log = _RunLog(self.work_dir, self.chief, self.verbose,
                           self.state["epoch"])

    def _check_memory(self):
        """Refuses, before any batch is made, a batch that cannot fit."""
        devices = list(getattr(self.strategy.extended, "worker_devices",
                               ()) or ())
        self.activation_bytes = (2 if self.cfg.mixed_precision else 4)
        memory.check_batch_fits(
            self.model, self.cfg.batch_size, self.per_replica,
            max(len(devices), 1),
            on_accelerator=any(("GPU" in d.upper() or "TPU" in d.upper())
                               for d in devices),
            dtype_bytes=self.activation_bytes)

    def _out_of_memory(self, err):
        return memory.out_of_memory_error(
            err, self.model, self.cfg.batch_size, self.per_replica,
            getattr(self, "activation_bytes", 4))

    def _path(self, *parts):
        return os.path.join(self.output_dir, *parts)

    def _open_data(self, shape):
        cfg = self.cfg
        self.train_src = inputs.open_source(cfg, cfg.train_split, True,
                                            shape, self.num_classes)
        self.val_src = None
        if cfg.val_split:
            self.val_src = inputs.open_source(cfg, cfg.val_split, False,
                                              shape, self.num_classes)
        self.images_per_step = cfg.batch_size * cfg.grad_accum_steps
        self.steps_per_epoch = cfg.steps_per_epoch or (
            self.train_src.num_examples // self.images_per_step)
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"The training split has {self.train_src.num_examples} "
                f"examples, fewer than one optimizer step ({cfg.batch_size}"
                f" x {cfg.grad_accum_steps}). Lower --batch-size."
            )

    def _resume(self):
        with self.strategy.scope():
            latest, restored = ckpt.restore_latest(
                self._path("checkpoints"), self.model, self.optimizer)
        self.resumed_from = latest
        if latest:
            for key, expected in (
                ("steps_per_epoch", self.steps_per_epoch),
                ("global_batch_size", self.cfg.batch_size),
            ):
                if restored.get(key) != expected:
                    raise ValueError(
                        f"The checkpoint {latest} was written with "
                        f"{key}={restored.get(key)}, this run has "
                        f"{expected}. Use a new --output directory."
                    )
            self.state.update(restored)
            logger.info("Resumed from %s (epoch %d, step %d)", latest,
                        self.state["epoch"] + 1,
                        self.state["step_in_epoch"])
        _check_same_everywhere(self.strategy, self.state["global_step"],
                               "checkpoint step to resume from")
        self.state.update(steps_per_epoch=self.steps_per_epoch,
                          global_batch_size=self.cfg.batch_size)

    def _run_info(self):
        cfg, model = self.cfg, self.model
        return {
            "strategy": strategy_lib.resolve_strategy_name(cfg.strategy),
            "strategy_class": type(self.strategy).__name__,
            "num_replicas": self.replicas,
            "per_replica_batch_size": self.per_replica,
            "global_batch_size": cfg.batch_size,
            "grad_accum_steps": cfg.grad_accum_steps,
            "effective_batch_size": self.images_per_step,
            "steps_per_epoch": self.steps_per_epoch,
            "train_examples": self.train_src.num_examples,
            "val_examples": (self.val_src.num_examples if self.val_src
                             else None),
            "validation": (inputs.folder_splits(cfg, "none").how
                           if cfg.folder is not None else cfg.val_split),
            "num_classes": self.num_classes,
            "data_config": {k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in self.data_config.items()},
            "model_name": model.name,
            "params": int(model.count_params()),
            "trainable_params": int(sum(
                math.prod(v.shape) for v in model.trainable_variables)),
            "resumed_from": self.resumed_from,
            "versions": {"tensorflow": tf.__version__,
                         "keras": keras.__version__,
                         "python": platform.python_version()},
        }

    # --------------------------------------------------------- training
    def _save(self, epoch, step_in_epoch):
        self.state.update(epoch=epoch, step_in_epoch=step_in_epoch)
        with self.strategy.scope():
            ckpt.save_checkpoint(os.path.join(self.work_dir, "checkpoints"),
                                 self.model, self.optimizer,
                                 dict(self.state),
                                 keep=self.cfg.keep_checkpoints)

    def _notify(self, event, **info):
        info["model"] = self.model
        for fn in self.callbacks:
            fn(event, info)

    def train_epoch(self, epoch):
        cfg, state = self.cfg, self.state
        skip = state["step_in_epoch"] if epoch == state["epoch"] else 0
        if skip == 0:
            state.update(epoch_ce_sum=0.0, epoch_correct=0.0,
                         epoch_examples=0)
        dataset_fn = inputs.make_train_dataset_fn(
            self.train_src, self.data_config,
            per_replica_batch_size=self.per_replica,
            steps_per_epoch=self.steps_per_epoch,
            grad_accum_steps=cfg.grad_accum_steps, seed=cfg.seed,
            epoch=epoch, skip_steps=skip,
            shuffle_buffer_size=cfg.shuffle_buffer_size,
            deterministic=cfg.deterministic,
        )
        self._iterator = iter(
            self.strategy.distribute_datasets_from_function(dataset_fn))
        lr = _learning_rate(cfg, epoch)
        if self.chief and self.verbose == 1:
            print(f"Epoch {epoch + 1}/{cfg.epochs} (lr {lr:g})", flush=True)
        bar = self.log.progbar(self.steps_per_epoch)
        if skip:
            bar.update(skip)
        rates = self._epoch_rates = []
        t_epoch = time.perf_counter()
        for step_in_epoch in range(skip, self.steps_per_epoch):
            try:
                loss = self._train_step(epoch, step_in_epoch, lr, bar)
            except (tf.errors.OpError, MemoryError) as err:
                if memory.is_out_of_memory(err):
                    raise self._out_of_memory(err) from err
                if isinstance(err, (tf.errors.InvalidArgumentError,
                                    tf.errors.DataLossError)):
                    self._name_bad_images(err, self.cfg.folder)
                raise
            g = state["global_step"]
            if (cfg.checkpoint_every_steps
                    and g % cfg.checkpoint_every_steps == 0
                    and step_in_epoch + 1 < self.steps_per_epoch):
                self._save(epoch, step_in_epoch + 1)
            self._notify("step_end", epoch=epoch,
                         step_in_epoch=step_in_epoch + 1, global_step=g,
                         loss=loss)
        self.step_rates.extend(rates)
        epoch_seconds = time.perf_counter() - t_epoch

        val_loss = val_acc = ""
        if self.val_src is not None and (
            (epoch + 1) % cfg.eval_every_epochs == 0
            or epoch + 1 == cfg.epochs
        ):
            val_loss, val_acc = self._evaluate()
        n = max(state["epoch_examples"], 1)
        row = {
            "epoch": epoch + 1,
            "global_step": state["global_step"],
            "learning_rate": lr,
            "loss": state["epoch_ce_sum"] / n,
            "accuracy": state["epoch_correct"] / n,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "images_per_sec": statistics.median(rates) if rates else "",
            "epoch_seconds": epoch_seconds,
        }
        self.log.epoch(row)
        if self.chief and self.verbose:
            print(", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in row.items() if v != ""), flush=True)
        self._save(epoch + 1, 0)
        self._notify("epoch_end", epoch=epoch, step_in_epoch=0,
                     global_step=state["global_step"], loss=row["loss"])

    def _name_bad_images(self, err, folder):
        """A decode error of a folder dataset names no file: find it.

        The up-front check reads headers and end markers only; an image
        damaged inside fails while training. Every image of the folder is
        then decoded once, and the `ValueError` names the bad file(s).
        """
        if folder is None or "decode" not in str(err).lower() and not any(
            word in str(err) for word in ("JPEG", "PNG", "BMP", "GIF")
        ):
            return
        logger.error("An image failed to decode; checking %s", folder)
        list_image_folder(folder, "full")  # raises, naming the files

    def _train_step(self, epoch, step_in_epoch, lr, bar):
        """One optimizer step (with logging); returns its loss."""
        state, n_img = self.state, self.images_per_step
        t0 = time.perf_counter()
        ce_sum, correct, reg = self.train_step(self._iterator)
        ce_sum, correct, reg = float(ce_sum), float(correct), float(reg)
        dt = time.perf_counter() - t0
        if self.first_step:
            self.first_step = False  # includes tracing: not a rate
        else:
            self._epoch_rates.append(n_img / dt)
        state["global_step"] += 1
        state["epoch_ce_sum"] += ce_sum
        state["epoch_correct"] += correct
        state["epoch_examples"] += n_img
        state["train_seconds"] += dt
        loss = ce_sum / n_img + reg
        if not math.isfinite(loss) and not self.loss_scaling:
            folder = os.path.join(self.work_dir, "checkpoints")
            last = ckpt.latest_checkpoint(folder)
            raise FloatingPointError(
                f"Non-finite loss ({loss}) at epoch {epoch + 1}, step "
                f"{step_in_epoch + 1}. "
                + (f"The last checkpoint is {last}." if last else
                   "No checkpoint was written yet (--set "
                   "checkpoint_every_steps=N writes them within an epoch).")
            )
        n = state["epoch_examples"]
        bar.update(step_in_epoch + 1, values=[
            ("loss", state["epoch_ce_sum"] / n + reg),
            ("accuracy", state["epoch_correct"] / n),
            ("img/s", statistics.median(self._epoch_rates[-20:])
             if self._epoch_rates else n_img / dt),
            ("lr", lr),
        ])
        g = state["global_step"]
        if g % self.cfg.log_every_steps == 0:
            self.log.scalars("train", g, {
                "loss": loss, "accuracy": correct / n_img, "penalty": reg,
                "learning_rate": lr, "images_per_sec": n_img / dt,
            })
        return loss

    def _evaluate(self):
        source, batch = self.val_src, self.cfg.batch_size
        dataset_fn = inputs.make_eval_dataset_fn(
            source, self.data_config,
            per_replica_batch_size=self.per_replica, global_batch_size=batch)
        iterator = iter(
            self.strategy.distribute_datasets_from_function(dataset_fn))
        ce = correct = count = 0.0
        for _ in range(inputs.eval_steps(source.num_examples, batch)):
            a, b, c = self.eval_step(iterator)
            ce += float(a)
            correct += float(b)
            count += float(c)
        count = max(count, 1.0)
        return ce / count, correct / count

    # ----------------------------------------------------------- outputs
    def finish(self):
        with self.strategy.scope():
            model_path, weights_path = _atomic_save_model(
                self.model, self.work_dir, self.cfg)
        history = list(self.log.rows) if self.chief else []
        metrics = {
            "epochs": self.cfg.epochs,
            "global_step": self.state["global_step"],
            "final": history[-1] if history else {},
            "history": history,
            "median_images_per_sec": (statistics.median(self.step_rates)
                                      if self.step_rates else None),
            "train_seconds": self.state["train_seconds"],
            "num_replicas": self.replicas,
            "model": model_path if self.chief else None,
            "weights": weights_path if self.chief else None,
        }
        if self.chief:
            ckpt.atomic_write_json(self._path("metrics.json"),
                                   json.loads(json.dumps(metrics,
                                                         default=str)))
        self._notify("train_end", epoch=self.cfg.epochs, step_in_epoch=0,
                     global_step=self.state["global_step"], loss=None)
        return metrics

    def close(self):
        if self.log is not None:
            self.log.close()
        if self.work_dir and self.work_dir != self.output_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def release(self):
        """Releases the run folder's lock (last: after every write)."""
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()


def _make_optimizer(cfg, steps_per_epoch, loss_scaling):
    """`TorchSGD` with the run's schedule (+ loss scaling for float16)."""
    if cfg.lr_schedule == "step":
        lr = StepLR(cfg.learning_rate, steps_per_epoch, cfg.lr_step_epochs,
                    cfg.lr_gamma)
    else:
        lr = cfg.learning_rate
    optimizer = TorchSGD(lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                         weight_decay=cfg.weight_decay)
    if loss_scaling:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
