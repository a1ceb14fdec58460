"""keras-cmod: shift-invariant twin CNNs with CMod first layers, for Keras 3.

Importing `keras_cmod` is cheap: it loads neither Keras nor TensorFlow.
The sub-packages (`keras_cmod.layers`, `models`, `wavelets`, `zoo`, and the
TensorFlow-only `data`, `training`, the Hub client `hub`, the checkpoint
converter `convert`, the evaluation tools `evaluation`, `benchmarks`) are
imported on first access, so `keras_cmod.layers.CModConv2D` and
`from keras_cmod import layers` work as usual.
"""

import importlib

from keras_cmod.version import __version__

__all__ = [
    "__version__",
    "benchmarks",
    "convert",
    "data",
    "evaluation",
    "hub",
    "layers",
    "models",
    "training",
    "wavelets",
    "zoo",
]

_SUBPACKAGES = frozenset(__all__) - {"__version__"}


def __getattr__(name):
    if name in _SUBPACKAGES:
        # import_module also binds the attribute on this package, so the
        # next access does not come back here.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBPACKAGES)
