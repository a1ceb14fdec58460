"""Atomic training checkpoints: weights, optimizer state, counters.

A checkpoint is one `.npz` file, `ckpt-<global step>.npz`, holding

- every variable of the model (`model.variables`: weights, batch-norm
  statistics and the random-seed states of dropout layers),
- every variable of the optimizer (`optimizer.variables`: iteration count,
  momentum buffers, loss scale),
- a JSON `state` (epoch, step within the epoch, global step, ...).

It is written to a temporary file in the same folder, flushed, fsynced and
renamed over its final name (`os.replace`), then `checkpoint.json` (which
names the latest checkpoint) is replaced the same way. A process killed at
any moment leaves either the previous or the new checkpoint, never a torn
one. Variables are matched by position and checked by shape and dtype, so
a checkpoint of another architecture is refused with a clear message.

Values are read with `tf.convert_to_tensor` in cross-replica context, which
works the same under every `tf.distribute` strategy (all workers call
`save_checkpoint` together, since reading some distributed variables is a
collective operation; non-chief workers write to a scratch folder).
"""

import glob
import json
import logging
import os
import re
import zipfile

import numpy as np
import tensorflow as tf

from keras_cmod._atomic import naming_disk_errors

__all__ = [
    "POINTER",
    "CorruptCheckpointError",
    "latest_checkpoint",
    "list_checkpoints",
    "restore_checkpoint",
    "restore_latest",
    "save_checkpoint",
]

logger = logging.getLogger("keras_cmod.training")


class CorruptCheckpointError(ValueError):
    """A checkpoint file that cannot be read (truncated, not a zip, ...)."""

POINTER = "checkpoint.json"
_NAME = re.compile(r"^ckpt-(\d+)\.npz$")
_FORMAT = 1


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path, data):
    """Writes `data` to `path` through a temp file + `os.replace`.

    A full disk raises an `OSError` naming `path` (the old file is kept).
    """
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with naming_disk_errors(path), open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def atomic_write_json(path, obj):
    atomic_write_bytes(
        path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
    )


def _to_numpy(variable):
    # `tf.convert_to_tensor` reads a distributed variable in cross-replica
    # context; `np.array()` of a MultiWorkerMirroredStrategy variable that
    # a tf.function updated fails ("__array__ method not producing an
    # array").
    return np.asarray(tf.convert_to_tensor(variable.value).numpy())


def _describe(variables):
    return [
        {"path": getattr(v, "path", v.name), "shape": list(v.shape),
         "dtype": str(v.dtype)}
        for v in variables
    ]


def save_checkpoint(directory, model, optimizer, state, keep=2):
    """Writes a checkpoint atomically and prunes old ones.

    Args:
        directory: folder of the checkpoints (created if needed).
        model: the Keras model.
        optimizer: its (built) optimizer.
        state: JSON-serialisable dict; must hold `global_step`.
        keep: number of checkpoints kept (the newest ones).

    Returns:
        The path written.
    """
    os.makedirs(directory, exist_ok=True)
    name = f"ckpt-{int(state['global_step']):09d}.npz"
    path = os.path.join(directory, name)
    arrays = {}
    for i, v in enumerate(model.variables):
        arrays[f"model_{i:05d}"] = _to_numpy(v)
    for i, v in enumerate(optimizer.variables):
        arrays[f"optimizer_{i:05d}"] = _to_numpy(v)
    meta = {
        "format": _FORMAT,
        "state": state,
        "model": _describe(model.variables),
        "optimizer": _describe(optimizer.variables),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with naming_disk_errors(path, "a checkpoint"), open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)  # a full disk, an interrupt: no torn file is left
        raise
    atomic_write_json(os.path.join(directory, POINTER),
                      {"latest": name, "state": state})
    _fsync_dir(directory)
    _prune(directory, keep, name)
    return path


def _list(directory):
    found = []
    for path in glob.glob(os.path.join(directory, "ckpt-*.npz")):
        match = _NAME.match(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _prune(directory, keep, latest):
    for _, path in _list(directory)[:-keep]:
        if os.path.basename(path) != latest:
            try:
                os.remove(path)
            except OSError:
                pass
    for tmp in glob.glob(os.path.join(directory, "*.tmp-*")):
        # Left by a killed writer (never the file being written: ours was
        # renamed already).
        try:
            os.remove(tmp)
        except OSError:
            pass


def latest_checkpoint(directory):
    """Path of the newest complete checkpoint in `directory`, or `None`."""
    if not os.path.isdir(directory):
        return None
    pointer = os.path.join(directory, POINTER)
    try:
        with open(pointer) as f:
            name = json.load(f)["latest"]
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = _list(directory)
    return found[-1][1] if found else None


def list_checkpoints(directory):
    """Checkpoint paths of `directory`, newest first (the pointer's first)."""
    if not os.path.isdir(directory):
        return []
    paths = [p for _, p in reversed(_list(directory))]
    latest = latest_checkpoint(directory)
    if latest in paths:
        paths.remove(latest)
        paths.insert(0, latest)
    return paths


def _read(path):
    """`(meta, model values, optimizer values)`; `CorruptCheckpointError`
    names the file when it cannot be read whole."""
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("format") != _FORMAT:
                raise ValueError(
                    f"Unsupported checkpoint format {meta.get('format')} in "
                    f"{path}."
                )
            model_values = [z[f"model_{i:05d}"]
                            for i in range(len(meta["model"]))]
            opt_values = [z[f"optimizer_{i:05d}"]
                          for i in range(len(meta["optimizer"]))]
            meta["state"]  # noqa: B018 - must exist
    except ValueError as err:
        if "Unsupported checkpoint format" in str(err):
            raise
        raise CorruptCheckpointError(
            f"The checkpoint {path} cannot be read: {err}") from None
    except (OSError, EOFError, KeyError, TypeError, AttributeError,
            zipfile.BadZipFile) as err:
        raise CorruptCheckpointError(
            f"The checkpoint {path} cannot be read (truncated or corrupt): "
            f"{type(err).__name__}: {err}"
        ) from None
    return meta, model_values, opt_values


def read_state(path):
    """The `state` dict stored in a checkpoint."""
    return _read(path)[0]["state"]


def _assign(kind, variables, values, described, path):
    if len(values) != len(variables):
        raise ValueError(
            f"The checkpoint {path} holds {len(values)} {kind} variables, "
            f"this run has {len(variables)}: it was written for another "
            f"model or optimizer configuration."
        )
    for v, value, desc in zip(variables, values, described):
        if tuple(value.shape) != tuple(v.shape):
            raise ValueError(
                f"The checkpoint {path} does not match this {kind}: "
                f"variable {desc['path']!r} has shape {tuple(value.shape)} "
                f"in the checkpoint and {tuple(v.shape)} here "
                f"({getattr(v, 'path', v.name)!r})."
            )


def restore_checkpoint(path, model, optimizer):
    """Loads a checkpoint into `model` and the (built) `optimizer`.

    Call it in the strategy's scope (cross-replica context).

    Returns:
        The checkpoint's `state` dict.

    Raises:
        ValueError: the checkpoint belongs to another architecture or
            optimizer configuration.
    """
    meta, model_values, opt_values = _read(path)
    # Both are checked before anything is assigned.
    _assign("model", model.variables, model_values, meta["model"], path)
    _assign("optimizer", optimizer.variables, opt_values, meta["optimizer"],
            path)
    for v, value in zip(model.variables, model_values):
        v.assign(value)
    for v, value in zip(optimizer.variables, opt_values):
        v.assign(value)
    return meta["state"]


def restore_latest(directory, model, optimizer):
    """Restores the newest readable checkpoint of `directory`.

    A checkpoint that cannot be read (a truncated file, say) is skipped
    with a warning naming it, and the previous one is used; the skipped
    file is left in place. Returns `(path, state)`, or `(None, None)` when
    the folder holds no readable checkpoint (or none at all).
    """
    for path in list_checkpoints(directory):
        try:
            return path, restore_checkpoint(path, model, optimizer)
        except CorruptCheckpointError as err:
            logger.warning("Skipping an unreadable checkpoint: %s", err)
    return None, None
