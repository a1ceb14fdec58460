"""Training: recipes, strategies and one custom loop for all of them.

>>> cfg = keras_cmod.training.load_recipe("resnet18_cmod.cifar10")
>>> cfg = cfg.replace(dataset="synthetic", epochs=1, steps_per_epoch=2,
...                   batch_size=8, val_split=None)
>>> metrics = keras_cmod.training.train(cfg, "runs/smoke")  # doctest: +SKIP

Command line: `keras-cmod train --recipe resnet18_cmod.cifar10 --output
runs/r18c` (see `keras_cmod.training.cli`). This package imports
TensorFlow (`tf.distribute`, `tf.data`); `config` alone is pure Python.
"""

import importlib

from keras_cmod.training.config import (
    TrainConfig,
    find_recipe,
    list_recipes,
    load_recipe,
)

__all__ = [
    "StepLR",
    "TorchSGD",
    "TrainConfig",
    "find_recipe",
    "freeze_backbone",
    "get_strategy",
    "latest_checkpoint",
    "list_recipes",
    "load_recipe",
    "per_replica_batch_size",
    "restore_checkpoint",
    "save_checkpoint",
    "train",
]

_LAZY = {
    "StepLR": "optimizers",
    "TorchSGD": "optimizers",
    "freeze_backbone": "trainer",
    "train": "trainer",
    "get_strategy": "strategy",
    "per_replica_batch_size": "strategy",
    "latest_checkpoint": "checkpoint",
    "restore_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
}


def __getattr__(name):
    # TensorFlow-heavy parts load on first use, so that building the
    # command-line parser (which imports `keras_cmod.training.cli`) stays
    # cheap.
    if name in _LAZY:
        module = importlib.import_module(
            f"keras_cmod.training.{_LAZY[name]}"
        )
        return getattr(module, name)
    raise AttributeError(
        f"module 'keras_cmod.training' has no attribute {name!r}"
    )
