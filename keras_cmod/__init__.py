"""keras-cmod: shift-invariant twin CNNs with CMod first layers, for Keras 3.

Importing `keras_cmod` loads the filter bank, the layers, the models and the
model registry (and therefore Keras). The TensorFlow-only parts (`keras_cmod.data`,
`keras_cmod.training`) and the Hub client are imported on demand.
"""

from keras_cmod.version import __version__

from keras_cmod import wavelets  # noqa: E402  (numpy only)
from keras_cmod import layers  # noqa: E402
from keras_cmod import models  # noqa: E402
from keras_cmod import zoo  # noqa: E402

__all__ = ["__version__", "layers", "models", "wavelets", "zoo"]


def __getattr__(name):
    # Lazy sub-packages: importing keras_cmod must stay fast and must not
    # pull in tensorflow-datasets or huggingface_hub.
    import importlib

    if name in {
        "hub",
        "convert",
        "data",
        "training",
        "evaluation",
    }:
        return importlib.import_module(f"keras_cmod.{name}")
    raise AttributeError(f"module 'keras_cmod' has no attribute {name!r}")
