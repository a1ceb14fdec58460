"""Choosing the `tf.distribute` strategy, replicas and batch sizes.

- `one_device`: `OneDeviceStrategy` on the first GPU, else the CPU.
  `"auto"` picks it for one GPU or none.
- `mirrored`: `MirroredStrategy` over the local GPUs (without GPUs: over
  the logical CPU devices, if there are several). `"auto"` picks it for
  several local GPUs.
- `multi_worker`: `MultiWorkerMirroredStrategy`, configured by
  `TF_CONFIG`. `"auto"` picks it when `TF_CONFIG` lists several tasks.
- `tpu`: `TPUStrategy`; only when asked for.

`MultiWorkerMirroredStrategy` must be created before TensorFlow runs any
op, so `get_strategy` is the first TensorFlow call of a training run. The
global batch is split evenly over `strategy.num_replicas_in_sync` replicas;
`per_replica_batch_size` refuses a batch that does not divide.
"""

import json
import logging
import os

import tensorflow as tf

from keras_cmod.training.config import STRATEGIES

logger = logging.getLogger(__name__)

__all__ = [
    "get_strategy",
    "is_chief",
    "per_replica_batch_size",
    "resolve_strategy_name",
    "tf_config",
]


def tf_config():
    """The parsed `TF_CONFIG` environment variable, or `None`.

    Raises:
        ValueError: if `TF_CONFIG` is not valid JSON with a `cluster`.
    """
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}): {raw!r}")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("cluster"), dict):
        raise ValueError(
            "TF_CONFIG must be a JSON object with a 'cluster' entry, e.g. "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}. '
            f"Received: {raw!r}"
        )
    return cfg


def _num_tasks(cfg):
    cluster = cfg["cluster"]
    return sum(len(cluster.get(k, ())) for k in ("chief", "worker"))


def is_chief(cfg=None):
    """Whether this process is the chief of a `TF_CONFIG` cluster.

    Without `TF_CONFIG` the process is its own chief. With one, the chief is
    the `chief` task if the cluster has one, else worker 0 (as
    `MultiWorkerMirroredStrategy` decides).
    """
    cfg = tf_config() if cfg is None else cfg
    if not cfg:
        return True
    task = cfg.get("task") or {}
    task_type, index = task.get("type"), int(task.get("index", 0))
    if "chief" in cfg["cluster"]:
        return task_type == "chief"
    return task_type in (None, "worker") and index == 0


def resolve_strategy_name(name="auto"):
    """The concrete strategy name for `name` (`"auto"` resolved)."""
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy. Expected one of {list(STRATEGIES)}. "
            f"Received: strategy={name!r}"
        )
    if name != "auto":
        return name
    cfg = tf_config()
    if cfg and _num_tasks(cfg) > 1:
        return "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "one_device"


def _local_devices():
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def get_strategy(name="auto", tpu=None):
    """Creates the `tf.distribute` strategy named `name`.

    Args:
        name: `"auto"`, `"one_device"`, `"mirrored"`, `"multi_worker"` or
            `"tpu"` (see the module table).
        tpu: TPU name or address for `"tpu"` (`None`: auto-detect, e.g. on
            a Cloud TPU VM).

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: unknown name, or `"tpu"` without a reachable TPU.
    """
    resolved = resolve_strategy_name(name)
    if resolved == "multi_worker":
        # Needs to come before any other TensorFlow op of the process.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif resolved == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu=tpu or ""
            )
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as err:
            raise ValueError(
                f"strategy='tpu' but no TPU could be reached (tpu={tpu!r}): "
                f"{err}"
            ) from None
        strategy = tf.distribute.TPUStrategy(resolver)
    elif resolved == "mirrored":
        devices = _local_devices()
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        gpus = tf.config.list_logical_devices("GPU")
        device = gpus[0].name if gpus else "/cpu:0"
        strategy = tf.distribute.OneDeviceStrategy(device)
    logger.info(
        "Strategy %s (%s) with %d replica(s)",
        resolved,
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
    )
    return strategy


def per_replica_batch_size(global_batch_size, num_replicas):
    """`global_batch_size // num_replicas`, refusing a remainder.

    Raises:
        ValueError: if the global batch is not divisible by the replicas.
    """
    if global_batch_size % num_replicas:
        lower = global_batch_size - global_batch_size % num_replicas
        raise ValueError(
            f"The global batch size {global_batch_size} is not divisible by "
            f"the {num_replicas} replicas: each replica must get the same "
            f"number of examples. Use e.g. --batch-size {lower or num_replicas}"
            f" or {lower + num_replicas}."
        )
    return global_batch_size // num_replicas
