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

from keras_cmod.convert.io import (
    read_safetensors,
    read_state_dict,
    write_safetensors,
)
from keras_cmod.convert.state_dict import (
    ConversionReport,
    load_torch_state_dict,
    to_torch_state_dict,
)
from keras_cmod.convert.torch_names import model_entries

__all__ = [
    "ConversionReport",
    "load_torch_state_dict",
    "model_entries",
    "read_safetensors",
    "read_state_dict",
    "to_torch_state_dict",
    "write_safetensors",
]
