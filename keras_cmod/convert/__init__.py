"""Importing PyTorch checkpoints (torchvision, the paper's code).

>>> model = keras_cmod.zoo.create_model("resnet18_cmod", num_classes=10,
...                                     input_shape=(64, 64, 3))
>>> sd = keras_cmod.convert.to_torch_state_dict(model)
>>> sd["conv1.wptblock.featmapmix.0.weight"].shape
(12, 1, 1, 1, 1)
>>> report = keras_cmod.convert.load_torch_state_dict(model, sd)

`load_torch_state_dict(model, state_dict_or_path)` maps the PyTorch names
of torchvision's ResNet-18/34/50/101 and AlexNet, of Zhang's and Zou's
anti-aliased bodies and of the reference code's twins (WCNN / CWCNN) onto
the layers of `keras_cmod.models`, PyTorch's NCHW/OIHW layouts turned into
Keras' channels-last ones;
`to_torch_state_dict(model)` is the inverse. Files: `.npz`,
`.safetensors` (no dependency) and `.pth` / `.pt` (needs PyTorch). The
`keras-cmod convert` command and `scripts/convert_wcnn_checkpoint.py` wrap
these functions.
"""

import importlib

# Name -> submodule. Imported on first access, so that the command line
# (`keras_cmod.convert.cli`) starts without Keras.
_EXPORTS = {
    "read_safetensors": "io",
    "read_state_dict": "io",
    "write_safetensors": "io",
    "ConversionReport": "state_dict",
    "load_torch_state_dict": "state_dict",
    "to_torch_state_dict": "state_dict",
    "model_entries": "torch_names",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
