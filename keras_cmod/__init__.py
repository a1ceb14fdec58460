"""keras-cmod: shift-invariant twin CNNs with CMod first layers, for Keras 3.

Importing `keras_cmod` is cheap: it loads neither Keras nor TensorFlow.
The sub-packages (`keras_cmod.layers`, `models`, `wavelets`, `zoo`, and the
TensorFlow-only `data`, `training`, the Hub client `hub`, the checkpoint
converter `convert`, the evaluation tools `evaluation`, `benchmarks`) are
imported on first access, so `keras_cmod.layers.CModConv2D` and
`from keras_cmod import layers` work as usual.
"""

import importlib
import sys as _sys

from keras_cmod import _import_hooks
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
        module = importlib.import_module(f"{__name__}.{name}")
        if "keras" in _sys.modules and not _keras_cmod_initialising():
            _register_serializables()  # see below
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBPACKAGES)


# `keras.saving.load_model` finds our layers and models by their registered
# names, which exist once `keras_cmod.layers` and `keras_cmod.models` are
# imported. So that `import keras_cmod` + `keras.saving.load_model(...)`
# keeps working without importing Keras here:
# - Keras already loaded: importing the two costs little, do it now;
# - otherwise: once Keras is imported later (by the user, or by a loader
#   such as `keras_cmod.hub.from_pretrained`), import them right after it,
#   unless a keras_cmod module is being imported at that moment (it is
#   then keras_cmod importing Keras for itself; importing more in the
#   middle could meet half-made modules): the first attribute access
#   (`keras_cmod.layers`, `from keras_cmod import zoo`) then does it.


def _register_serializables():
    importlib.import_module(f"{__name__}.layers")
    importlib.import_module(f"{__name__}.models")


def _keras_cmod_initialising():
    for name, module in list(_sys.modules.items()):
        if name == __name__ or not name.startswith(f"{__name__}."):
            continue
        spec = getattr(module, "__spec__", None)
        if spec is not None and getattr(spec, "_initializing", False):
            return True
    return False


def _after_keras(run):
    run()
    if not _keras_cmod_initialising():
        _register_serializables()


def _install():
    if "keras" in _sys.modules:
        _register_serializables()
    elif not _import_hooks.installed("keras"):
        _import_hooks.on_first_import("keras", _after_keras)


_install()
