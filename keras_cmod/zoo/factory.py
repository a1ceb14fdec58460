"""Building models from registry names, with weights and head changes."""

import os

import keras

from keras_cmod.models import AlexNet, ResNet

HUB_PREFIXES = ("hf-hub:", "hf://", "local-dir:")

#: Layers whose outputs `features_only=True` returns, per family.
FEATURE_LAYERS = {
    "resnet": lambda depth: ["stem"] + [
        f"layer{i + 1}_{n - 1}_out"
        for i, n in enumerate(_resnet_stages(depth))
    ],
    "alexnet": lambda depth: ["stem", "pool2", "conv5", "pool5"],
}


def _resnet_stages(depth):
    from keras_cmod.models.resnet import DEPTHS

    return DEPTHS[depth][1]


def build_model(cfg, *, num_classes=None, include_top=True, pooling=None,
                input_shape=None, classifier_activation=None,
                **model_kwargs):
    """A fresh (randomly initialised) model for a registry config."""
    kwargs = dict(cfg.model_kwargs)
    kwargs.update(model_kwargs)
    if input_shape is None:
        input_shape = tuple(cfg.input_size)
    cls = ResNet if cfg.family == "resnet" else AlexNet
    return cls(
        num_classes=cfg.num_classes if num_classes is None else num_classes,
        include_top=include_top,
        pooling=pooling,
        input_shape=input_shape,
        classifier_activation=classifier_activation,
        name=cfg.architecture,
        **kwargs,
    )


def transfer_weights(source, target, skip=("predictions",)):
    """Copies weights layer by layer (matched by name) from source.

    Layers named in `skip` (the classifier) keep their fresh weights.
    Raises if a target layer with weights has no counterpart of the same
    shapes in `source`: a silent partial load would be worse.
    """
    copied = 0
    for layer in target.layers:
        if not layer.weights or layer.name in skip:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(
                f"The weights have no layer {layer.name!r}; they do not "
                f"belong to this architecture ({target.name})."
            ) from None
        values = src.get_weights()
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != expected:
            raise ValueError(
                f"Weight shapes of layer {layer.name!r} differ: "
                f"{[v.shape for v in values]} in the weights, {expected} in "
                f"the model."
            )
        layer.set_weights(values)
        copied += 1
    return copied


def load_local_weights(path, cfg, **build_kwargs):
    """Loads `.weights.h5`, `.keras` or a model directory into a model.

    The checkpoint is first loaded into a model with the checkpoint's own
    head (the registry config's classes, or the saved model's), then copied
    by layer name into the requested model, so a different `num_classes`,
    `include_top=False` or `input_shape` keeps the backbone weights.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No weights at {path!r}. Expected a .weights.h5 file, a .keras "
            "file or a model directory (config.json + model.weights.h5)."
        )
    if path.endswith(".weights.h5"):
        source = build_model(cfg, input_shape=tuple(cfg.input_size))
        source.load_weights(path)
    elif path.endswith(".keras") or os.path.isdir(path):
        source = keras.saving.load_model(path, compile=False, safe_mode=True)
    else:
        raise ValueError(
            f"Unsupported weights file {path!r}: use a .weights.h5 file, a "
            ".keras file or a model directory."
        )
    return adapt_model(source, cfg, **build_kwargs)


def adapt_model(source, cfg, *, num_classes=None, include_top=True,
                pooling=None, input_shape=None, classifier_activation=None,
                **model_kwargs):
    """Rebuilds `source` with the requested head / input, same backbone."""
    src_classes = getattr(source, "num_classes", cfg.num_classes)
    target = build_model(
        cfg, num_classes=src_classes if num_classes is None else num_classes,
        include_top=include_top, pooling=pooling, input_shape=input_shape,
        classifier_activation=classifier_activation, **model_kwargs,
    )
    keep_head = include_top and target.num_classes == src_classes and (
        getattr(source, "include_top", True)
    )
    transfer_weights(source, target, skip=() if keep_head else (
        "predictions",))
    return target


def features_model(model, family, depth=None, out_indices=None):
    """Multi-scale feature maps of a backbone, as a list of outputs."""
    names = FEATURE_LAYERS[family](depth)
    n = len(names)
    if out_indices is None:
        out_indices = tuple(range(n))
    idx = []
    for i in out_indices:
        if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
            raise ValueError(
                f"out_indices must be ints in [-{n}, {n - 1}] for {family} "
                f"(feature layers: {names}). Received: "
                f"out_indices={tuple(out_indices)!r}"
            )
        idx.append(i % n)
    outputs = [model.get_layer(names[i]).output for i in idx]
    feat = keras.Model(model.inputs, outputs, name=f"{model.name}_features")
    feat.feature_names = [names[i] for i in idx]
    return feat
