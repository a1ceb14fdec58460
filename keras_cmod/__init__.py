"""keras-cmod: shift-invariant twin CNNs with CMod first layers, for Keras 3.

Importing `keras_cmod` loads the filter bank, the layers, the models and the
model registry (and therefore Keras). The TensorFlow-only parts
(`keras_cmod.data`, `keras_cmod.training`), the Hub client, the checkpoint
converter and the evaluation tools are imported on first use.
"""

from keras_cmod import layers, models, wavelets, zoo
from keras_cmod.version import __version__

__all__ = ["__version__", "layers", "models", "wavelets", "zoo"]

_LAZY = {"hub", "convert", "data", "training", "evaluation", "benchmarks"}


def __getattr__(name):
    # Lazy sub-packages: importing keras_cmod must stay fast and must not
    # pull in tensorflow-datasets or huggingface_hub.
    import importlib

    if name in _LAZY:
        return importlib.import_module(f"keras_cmod.{name}")
    raise AttributeError(f"module 'keras_cmod' has no attribute {name!r}")
