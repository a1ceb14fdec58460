"""The model zoo: registry names -> ready Keras models.

>>> model = keras_cmod.zoo.create_model("resnet18_cmod", num_classes=10,
...                                     input_shape=(64, 64, 3))
>>> model.get_layer("stem").output.shape
(None, 16, 16, 64)
>>> model.pretrained_cfg["num_classes"], model.pretrained_cfg["input_size"]
(10, [64, 64, 3])

`load(name)` returns a model with published weights (pinned Hub revision),
`create_model(name)` a freshly initialised one; both go through one builder
(`keras_cmod.zoo.builder.build_model_with_cfg`). Names are listed by
`list_models()`. Weights sources (`hf-hub:org/repo[@rev]`,
`hf://org/repo[@rev]`, `local-dir:PATH`, `local:PATH`, a path) and local
weights (`weights=` a `.weights.h5`, a `.keras` or a model folder such as a
training run) are accepted too.

Every model carries `model.pretrained_cfg`, derived from what was built:
`input_size`, `num_classes`, `label_names`, `mean`, `std`, `crop_pct`,
`interpolation`, `architecture`, `tag`, `model_kwargs` (the variant) and
`weights` (the source of its weights, or `None`). It is saved with the
model (`get_config`), so `model.save` / `keras.saving.load_model`,
`keras_cmod.hub.save_pretrained` / `push_to_hub` and training runs keep it.

Importing this module does not import Keras (the registry is plain data);
building a model does.
"""

from keras_cmod.errors import UnknownArgumentError
from keras_cmod.zoo import presets  # noqa: F401  (registers the table)
from keras_cmod.zoo.presets import read_published, reload_published
from keras_cmod.zoo.registry import (
    VARIANTS,
    PretrainedCfg,
    check_model_kwargs,
    get_cfg,
    is_model,
    list_models,
    register,
)

__all__ = [
    "PretrainedCfg",
    "UnknownArgumentError",
    "VARIANTS",
    "check_model_kwargs",
    "create_model",
    "get_pretrained_cfg",
    "is_model",
    "list_models",
    "load",
    "preprocess_input",
    "read_published",
    "register",
    "reload_published",
]

_HUB_ARGS = ("revision", "cache_dir", "local_files_only", "token",
             "endpoint", "progress")


def __getattr__(name):
    if name == "HUB_PREFIXES":  # every source prefix (one list, hub's)
        from keras_cmod.hub.sources import SOURCE_PREFIXES

        return SOURCE_PREFIXES
    if name in ("build_model_with_cfg", "features_model",
                "transfer_weights"):
        from keras_cmod.zoo import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'keras_cmod.zoo' has no attribute {name!r}")


def get_pretrained_cfg(name):
    """The `PretrainedCfg` of a registry name (`arch` or `arch.tag`).

    Raises:
        TypeError: `name` is not a str.
        ValueError: for an unknown name (with the closest matches).
    """
    return get_cfg(name)


def create_model(name, *, pretrained=False, num_classes=None,
                 include_top=None, pooling=None, input_shape=None,
                 classifier_activation=None, features_only=False,
                 out_indices=None, weights=None, **kwargs):
    """Builds a registry model (timm-style), random weights by default.

    Args:
        name: `arch` or `arch.tag` (see `list_models()`), or a weights
            source (then the weights are loaded, as `load` does).
        pretrained: bool, load the tag's published weights (see `load`).
        num_classes: int, classifier size. Defaults to the weights' class
            count when weights are loaded, else the tag's (1000 for
            `in1k`, 10 for `cifar10`). A count that differs from the
            weights' gives a fresh head named `predictions` on the loaded
            backbone.
        include_top: bool, keep the classifier (keras.applications).
            Defaults to `True`.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
        input_shape: `(height, width, 3)`; defaults to the tag's input size.
            Use `(None, None, 3)` for any size.
        classifier_activation: `None` (logits) or e.g. `"softmax"`.
        features_only: bool, return the multi-scale feature maps (stem and
            each stage) as a list of outputs.
        out_indices: which feature maps (negative indices allowed).
        weights: path to local weights (`.weights.h5`, `.keras`, or a model
            folder such as a training run); implies loading them.
        **kwargs: model arguments, e.g. `blur_size=5` or `packet_penalty`;
            unknown names are refused.

    Returns:
        A `keras.Model` (a `ResNet` / `AlexNet`) with its `pretrained_cfg`.

    Raises:
        TypeError: a misspelled model argument, `include_top` not a bool.
        ValueError: unknown name (closest matches listed), bad arguments,
            weights that do not fit (file, layer and shapes named).
        FileNotFoundError: `weights` does not exist.
    """
    from keras_cmod.zoo.builder import build_model_with_cfg

    return build_model_with_cfg(
        name, pretrained=pretrained, weights=weights,
        num_classes=num_classes, include_top=include_top, pooling=pooling,
        input_shape=input_shape, classifier_activation=classifier_activation,
        features_only=features_only, out_indices=out_indices,
        hub_kwargs=_hub_kwargs(kwargs), **kwargs,
    )


def _hub_kwargs(kwargs):
    out = {k: kwargs.pop(k) for k in _HUB_ARGS if k in kwargs}
    out.setdefault("revision", None)
    return out


def load(name, *, pretrained=True, weights=None, num_classes=None,
         include_top=None, pooling=None, input_shape=None,
         classifier_activation=None, features_only=False, out_indices=None,
         revision=None, cache_dir=None, local_files_only=False, token=None,
         endpoint=None, progress=True, **kwargs):
    """Loads a zoo model with its weights.

    `name` is a registry name (`"resnet34_cmod"`, `"resnet18_cmod.cifar10"`)
    or a weights source: `"hf-hub:org/repo[@rev]"`, `"hf://org/repo[@rev]"`,
    `"local-dir:PATH"`, `"local:PATH"` or a path (a model folder written by
    `keras_cmod.hub.save_pretrained`, a training run, or a `.keras` file).
    A source is rebuilt exactly as it was saved (its config and
    `pretrained_cfg`); the arguments below change only what they name.
    Registry tags fetch exactly the commit recorded in the registry. With
    `pretrained=False` (and no `weights`) a fresh model is built. See
    `create_model` for the other arguments; `revision`, `cache_dir`,
    `local_files_only`, `token`, `endpoint` and `progress` are passed to
    the Hub client.

    Raises:
        ValueError: unknown name, no weights published for the tag (the
            message says how to get weights), weights that do not fit the
            model (file, layer and both shapes named), a corrupt file.
        FileNotFoundError: `weights` or a local source does not exist.
    """
    from keras_cmod.zoo.builder import build_model_with_cfg

    hub_kwargs = dict(revision=revision, cache_dir=cache_dir,
                      local_files_only=local_files_only, token=token,
                      endpoint=endpoint, progress=progress)
    return build_model_with_cfg(
        name, pretrained=pretrained, weights=weights,
        num_classes=num_classes, include_top=include_top, pooling=pooling,
        input_shape=input_shape, classifier_activation=classifier_activation,
        features_only=features_only, out_indices=out_indices,
        hub_kwargs=hub_kwargs, **kwargs,
    )


def preprocess_input(images, model_or_name):
    """Raw pixels -> the input a zoo model expects.

    Convention: `uint8` images are in `[0, 255]`; float images are in
    `[0, 1]`. Both are scaled to `[0, 1]`, then normalised with the
    model's `mean` and `std` (from its `pretrained_cfg`, or the registry
    tag's for a name): `(x / 255 - mean) / std` per channel. No resizing
    or cropping: give images of the model's input size (see
    `pretrained_cfg["input_size"]`).

    Args:
        images: array `(..., height, width, 3)`, `uint8` or float.
        model_or_name: a model with `pretrained_cfg`, a registry name, or a
            `pretrained_cfg` dict.

    Returns:
        A float32 numpy array of the same shape.

    Raises:
        TypeError: an unsupported dtype or `model_or_name`.
        ValueError: not 3 channels last, or float values outside [0, 1].

    Example:
    >>> x = keras_cmod.zoo.preprocess_input(
    ...     np.full((1, 32, 32, 3), 255, "uint8"), "resnet18_cmod.cifar10")
    >>> [round(float(v), 3) for v in x[0, 0, 0]]
    [2.249, 2.429, 2.64]
    """
    import numpy as np

    if isinstance(model_or_name, str):
        cfg = get_cfg(model_or_name).to_dict()
    elif isinstance(model_or_name, dict):
        cfg = model_or_name
    elif hasattr(model_or_name, "pretrained_cfg"):
        cfg = model_or_name.pretrained_cfg or {}
    else:
        raise TypeError(
            "model_or_name must be a model with a pretrained_cfg, a "
            f"registry name or a dict. Received: {model_or_name!r}"
        )
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean is None or std is None:
        raise ValueError(
            "The pretrained_cfg has no mean/std to normalise with."
        )
    try:
        x = np.asarray(images)
    except Exception as exc:  # ragged lists, objects
        raise TypeError(f"images must be an array: {exc}") from None
    if x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(
            "images must have 3 channels last, (..., height, width, 3). "
            f"Received: shape {x.shape}"
        )
    if x.dtype == np.uint8:
        x = x.astype("float32") / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype("float32")
        if x.size and not np.isfinite(x).all():
            raise ValueError(
                "float images must be finite values in [0, 1]; they hold "
                "NaN or infinity."
            )
        if x.size and not (x.min() >= 0 and x.max() <= 1):
            raise ValueError(
                "float images must be in [0, 1] (uint8 ones in [0, 255]). "
                f"Received values in [{float(x.min())}, {float(x.max())}]"
            )
    else:
        raise TypeError(
            "images must be uint8 in [0, 255] or float in [0, 1]. "
            f"Received: dtype {x.dtype}"
        )
    mean = np.asarray(mean, "float32")
    std = np.asarray(std, "float32")
    return (x - mean) / std
