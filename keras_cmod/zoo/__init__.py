"""The model zoo: registry names -> ready Keras models.

>>> model = keras_cmod.zoo.create_model("resnet18_cmod", num_classes=10,
...                                     input_shape=(64, 64, 3))
>>> model.get_layer("stem").output.shape
(None, 16, 16, 64)

`load(name)` returns a model with published weights (pinned Hub revision),
`create_model(name)` a freshly initialised one. Names are listed by
`list_models()`. Hub sources (`hf-hub:org/repo@sha`, `hf://org/repo`,
`local-dir:/path`) and local checkpoints (`weights=`) are accepted too.
"""

from keras_cmod.zoo import presets  # noqa: F401  (registers the table)
from keras_cmod.zoo.factory import (
    HUB_PREFIXES,
    adapt_model,
    build_model,
    features_model,
    load_local_weights,
)
from keras_cmod.zoo.presets import read_published, reload_published
from keras_cmod.zoo.registry import (
    PretrainedCfg,
    get_cfg,
    is_model,
    list_models,
    register,
)

__all__ = [
    "PretrainedCfg",
    "create_model",
    "get_pretrained_cfg",
    "is_model",
    "list_models",
    "load",
    "read_published",
    "register",
    "reload_published",
]


def get_pretrained_cfg(name):
    """The `PretrainedCfg` of a registry name (`arch` or `arch.tag`).

    Raises:
        ValueError: for an unknown name (with the closest matches).
    """
    return get_cfg(name)


def _finish(model, cfg, features_only, out_indices):
    model.pretrained_cfg = cfg.to_dict()
    if features_only:
        depth = cfg.model_kwargs.get("depth")
        feat = features_model(model, cfg.family, depth, out_indices)
        feat.pretrained_cfg = model.pretrained_cfg
        return feat
    return model


def create_model(name, *, pretrained=False, num_classes=None,
                 include_top=True, pooling=None, input_shape=None,
                 classifier_activation=None, features_only=False,
                 out_indices=None, weights=None, **kwargs):
    """Builds a registry model (timm-style), random weights by default.

    Args:
        name: `arch` or `arch.tag` (see `list_models()`), or a Hub source.
        pretrained: bool, load the tag's published weights (see `load`).
        num_classes: int, classifier size. Defaults to the tag's (1000 for
            `in1k`, 10 for `cifar10`); a different value with weights gives
            a fresh head named `predictions` and keeps the backbone.
        include_top: bool, keep the classifier (keras.applications).
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
        input_shape: `(height, width, 3)`; defaults to the tag's input size.
            Use `(None, None, 3)` for any size.
        classifier_activation: `None` (logits) or e.g. `"softmax"`.
        features_only: bool, return the multi-scale feature maps (stem and
            each stage) as a list of outputs.
        out_indices: which feature maps (negative indices allowed).
        weights: path to local weights (`.weights.h5`, `.keras`, or a model
            directory); implies loading them.
        **kwargs: model arguments, e.g. `blur_size=5` or `packet_penalty`.

    Returns:
        A `keras.Model` (a `ResNet` / `AlexNet`), with `pretrained_cfg`.

    Raises:
        ValueError: unknown name (closest matches listed), bad arguments.
    """
    if pretrained or weights is not None:
        return load(name, pretrained=True, weights=weights,
                    num_classes=num_classes, include_top=include_top,
                    pooling=pooling, input_shape=input_shape,
                    classifier_activation=classifier_activation,
                    features_only=features_only, out_indices=out_indices,
                    **kwargs)
    if isinstance(name, str) and name.startswith(HUB_PREFIXES):
        raise ValueError(
            f"{name!r} is a weights source: use keras_cmod.zoo.load() "
            "(pretrained=True) for it."
        )
    cfg = get_cfg(name)
    model = build_model(cfg, num_classes=num_classes,
                        include_top=include_top, pooling=pooling,
                        input_shape=input_shape,
                        classifier_activation=classifier_activation,
                        **kwargs)
    return _finish(model, cfg, features_only, out_indices)


def _no_weights_error(cfg):
    return ValueError(
        f"No pretrained weights are published for {cfg.name!r} yet. "
        "To get a model: (1) build it untrained with "
        f"keras_cmod.zoo.create_model({cfg.architecture!r}) or "
        "load(..., pretrained=False); (2) train it: `keras-cmod train "
        f"--model {cfg.architecture} ...`; (3) import a PyTorch checkpoint "
        "(torchvision or the paper's code) with `keras-cmod convert "
        f"CHECKPOINT {cfg.architecture} OUT`; or (4) pass local weights with "
        "load(name, weights='path/to/model.weights.h5')."
    )


def load(name, *, pretrained=True, weights=None, num_classes=None,
         include_top=True, pooling=None, input_shape=None,
         classifier_activation=None, features_only=False, out_indices=None,
         revision=None, cache_dir=None, local_files_only=False, token=None,
         endpoint=None, progress=True, **kwargs):
    """Loads a zoo model with its weights.

    `name` is a registry name (`"resnet34_cmod"`, `"resnet34_cmod.in1k"`),
    a Hub source (`"hf-hub:org/repo@sha"`, `"hf://org/repo"`), or
    `"local-dir:/path"`. Registry tags fetch exactly the commit recorded in
    the registry. With `pretrained=False` a fresh model is built. See
    `create_model` for the other arguments; `revision`, `cache_dir`,
    `local_files_only`, `token`, `endpoint` and `progress` are passed to
    the Hub client.

    Raises:
        ValueError: unknown name, or no weights published for the tag (the
            message says how to get weights).
        FileNotFoundError: `weights` does not exist.
    """
    build_kwargs = dict(num_classes=num_classes, include_top=include_top,
                        pooling=pooling, input_shape=input_shape,
                        classifier_activation=classifier_activation,
                        **kwargs)
    if isinstance(name, str) and name.startswith(HUB_PREFIXES):
        from keras_cmod import hub

        source = hub.from_pretrained(
            name, revision=revision, cache_dir=cache_dir,
            local_files_only=local_files_only, token=token,
            endpoint=endpoint, progress=progress,
        )
        cfg = _cfg_of_loaded(source)
        model = adapt_model(source, cfg, **build_kwargs)
        return _finish(model, cfg, features_only, out_indices)
    cfg = get_cfg(name)
    if not pretrained:
        return create_model(name, features_only=features_only,
                            out_indices=out_indices, **build_kwargs)
    if weights is not None:
        model = load_local_weights(weights, cfg, **build_kwargs)
        return _finish(model, cfg, features_only, out_indices)
    if not cfg.has_weights:
        raise _no_weights_error(cfg)
    from keras_cmod import hub

    source = hub.from_pretrained(
        f"hf-hub:{cfg.hf_hub_id}", revision=revision or cfg.revision,
        cache_dir=cache_dir, local_files_only=local_files_only, token=token,
        endpoint=endpoint, progress=progress,
    )
    model = adapt_model(source, cfg, **build_kwargs)
    return _finish(model, cfg, features_only, out_indices)


def _cfg_of_loaded(model):
    """Registry config matching a model loaded from the Hub."""
    info = getattr(model, "pretrained_cfg", None) or {}
    name = info.get("name") or info.get("architecture") or model.name
    try:
        cfg = get_cfg(name)
    except ValueError:
        raise ValueError(
            f"The loaded model {model.name!r} is not a keras-cmod registry "
            "architecture; load it with keras_cmod.hub.from_pretrained()."
        ) from None
    import dataclasses

    updates = {k: tuple(v) if isinstance(v, list) else v
               for k, v in info.items()
               if k in {f.name for f in dataclasses.fields(cfg)}
               and k not in ("architecture", "tag", "family",
                             "model_kwargs")}
    return dataclasses.replace(cfg, **updates)
