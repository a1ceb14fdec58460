"""The one builder path: name or source -> model, cfg, weights, head.

`build_model_with_cfg` (timm's name) serves both `create_model` and
`load`: it resolves the name or source, builds the model, attaches the
`pretrained_cfg` derived from what was built, loads the weights and adapts
the head. Weights whose classifier differs from the requested one give the
backbone plus a fresh head; with no `num_classes`, the class count is read
from the weights.
"""

import json
import os
import pathlib
import re

import keras

from keras_cmod.hub.sources import HUB, is_source, resolve_source
from keras_cmod.models import AlexNet, ResNet
from keras_cmod.zoo.registry import get_cfg

FAMILIES = {"resnet": ResNet, "alexnet": AlexNet}
_CLASS_FAMILY = {"ResNet": "resnet", "AlexNet": "alexnet"}
#: Architecture arguments that must agree between a name and its weights.
_ARCH_KEYS = ("depth", "stem", "antialias")
_CONFIG = "config.json"
_WEIGHTS = "model.weights.h5"
_CFG_JSON = "pretrained_cfg.json"

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


class _Spec:
    """What to build: family, constructor kwargs, cfg base, weights."""

    def __init__(self, family, kwargs, cfg, weights=None, source=None,
                 file_cfg=None):
        self.family = family
        self.kwargs = kwargs          # architecture + head kwargs
        self.cfg = cfg                # pretrained_cfg base (dict)
        self.weights = weights        # path of a .weights.h5, or None
        self.source = source          # how to name the weights' origin
        self.file_cfg = file_cfg      # pretrained_cfg stored with weights
        self.model = None             # a loaded model (`.keras` files)

    @property
    def has_weights(self):
        return self.weights is not None or self.model is not None


# ------------------------------------------------------------ model dirs
def read_model_dir(directory):
    """(family, constructor kwargs, pretrained_cfg) of a model folder.

    A model folder holds the Keras `config.json` of a keras-cmod model
    (what `save_pretrained`, `model.save(d, zipped=False)` and training
    runs write) and `model.weights.h5`.

    Raises:
        FileNotFoundError: a missing folder, config or weights file.
        ValueError: `config.json` is not valid JSON or not the config of a
            keras-cmod `ResNet` / `AlexNet`.
    """
    directory = pathlib.Path(directory)
    config_path = directory / _CONFIG
    if not directory.is_dir():
        raise FileNotFoundError(f"No model folder at {str(directory)!r}.")
    for path in (config_path, directory / _WEIGHTS):
        if not path.is_file():
            raise FileNotFoundError(
                f"{str(directory)!r} is not a model folder: it has no "
                f"{path.name} (a model folder holds {_CONFIG} and {_WEIGHTS},"
                " as written by keras_cmod.hub.save_pretrained or a "
                "training run)."
            )
    config = _read_json(config_path)
    inner = config.get("config") if isinstance(config, dict) else None
    family = _CLASS_FAMILY.get(config.get("class_name")) if isinstance(
        config, dict) else None
    if family is None or not isinstance(inner, dict) or not str(
        config.get("registered_name", "")
    ).startswith("keras_cmod>"):
        raise ValueError(
            f"{config_path} is not the config of a keras-cmod model (a "
            "Keras config.json with class_name ResNet or AlexNet); load "
            "other Keras models with keras_cmod.hub.from_pretrained()."
        )
    kwargs = {k: v for k, v in inner.items() if k not in ("trainable",)}
    cfg = dict(kwargs.pop("pretrained_cfg", None) or {})
    extra = directory / _CFG_JSON
    if extra.is_file():
        stored = _read_json(extra)
        if isinstance(stored, dict):
            for key in ("format", "files", "keras_version",
                        "keras_cmod_version"):
                stored.pop(key, None)
            cfg = {**cfg, **stored}
    if isinstance(kwargs.get("input_shape"), list):
        kwargs["input_shape"] = tuple(kwargs["input_shape"])
    return family, kwargs, cfg


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 JSON file.") from None


# ---------------------------------------------------------- weights file
def _snake(name):
    # Keras' naming of saved objects (class name in snake case).
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _saved_paths(model):
    """{layer name: group path in a Keras 3 weights file}."""
    used, out = {}, {}
    for layer in model.layers:
        base = _snake(type(layer).__name__)
        if base in used:
            used[base] += 1
            base = f"{base}_{used[base]}"
        else:
            used[base] = 0
        out[layer.name] = f"layers/{base}"
    return out


def read_weights_layout(path):
    """{group path: sorted shapes} of a `.weights.h5` file.

    Raises:
        ValueError: the file is truncated, corrupt or not HDF5 (named).
    """
    import h5py

    groups = {}
    try:
        with h5py.File(path, "r") as f:
            if "layers" not in f:
                raise ValueError(
                    f"{path} is not a Keras 3 weights file (no 'layers' "
                    "group)."
                )

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    top = "/".join(("layers",) + tuple(name.split("/")[:1]))
                    groups.setdefault(top, []).append(tuple(obj.shape))

            f["layers"].visititems(visit)
    except OSError as exc:
        raise ValueError(
            f"Cannot read the weights file {path}: it is truncated, corrupt "
            f"or not HDF5 ({str(exc).split('(')[0].strip()})."
        ) from None
    return {k: sorted(v) for k, v in groups.items()}


def check_weights_match(model, layout, path):
    """One-line error naming the file, the layer and both shapes."""
    for layer_name, group in _saved_paths(model).items():
        layer = model.get_layer(layer_name)
        if not layer.weights:
            continue
        expected = sorted(tuple(w.shape) for w in layer.weights)
        found = layout.get(group)
        if found is None:
            raise ValueError(
                f"The weights file {path} has no weights for layer "
                f"{layer_name!r} of {model.name}: it was saved from another "
                "architecture."
            )
        if found != expected:
            diff = [(a, b) for a, b in zip(found, expected) if a != b]
            shown = diff[0] if diff else (found, expected)
            raise ValueError(
                f"The weights file {path} does not fit {model.name}: layer "
                f"{layer_name!r} has shape {shown[0]} in the file and "
                f"{shown[1]} in the model."
            )


def _load_h5(model, path):
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except (OSError, KeyError) as exc:
        raise ValueError(
            f"Cannot read the weights file {path}: it is truncated or "
            f"corrupt ({type(exc).__name__})."
        ) from None


def transfer_weights(source, target, skip=("predictions",)):
    """Copies weights layer by layer (matched by name) from source."""
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
        got = [tuple(v.shape) for v in values]
        if got != expected:
            raise ValueError(
                f"Weight shapes of layer {layer.name!r} differ: {got} in the "
                f"weights, {expected} in the model."
            )
        layer.set_weights(values)


# ------------------------------------------------------------ resolving
def _registry_spec(name):
    cfg = get_cfg(name)
    kwargs = dict(cfg.model_kwargs)
    kwargs.update(num_classes=cfg.num_classes,
                  input_shape=tuple(cfg.input_size))
    return _Spec(cfg.family, kwargs, cfg.to_dict())


def _dir_spec(directory, source):
    family, kwargs, cfg = read_model_dir(directory)
    from keras_cmod.hub.loading import verify_files

    verify_files(directory, source=source)
    return _Spec(family, kwargs, cfg, weights=str(
        pathlib.Path(directory) / _WEIGHTS), source=source, file_cfg=cfg)


def _source_spec(name, hub_kwargs):
    kind, location, revision = resolve_source(name,
                                              hub_kwargs.pop("revision"))
    if kind == HUB:
        from keras_cmod.hub.loading import download

        directory = download(location, revision, **hub_kwargs)
        spec = _dir_spec(directory, f"hf-hub:{location}@{directory.name}")
        # The repo and the commit actually loaded.
        spec.cfg.update(hf_hub_id=location, revision=directory.name)
        return spec
    path = os.path.abspath(location)
    if os.path.isfile(path) and path.endswith(".keras"):
        return _keras_file_spec(path)
    return _dir_spec(path, f"local-dir:{path}")


def _keras_file_spec(path):
    import zipfile

    if not zipfile.is_zipfile(path):
        # Keras would answer "File not found" for a file that exists.
        raise ValueError(
            f"Cannot read the model file {path}: it is truncated, corrupt "
            "or not a .keras (zip) file."
        )
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    config = model.get_config()
    family = _CLASS_FAMILY.get(type(model).__name__)
    if family is None:
        raise ValueError(
            f"{path} holds a {type(model).__name__}, not a keras-cmod "
            "ResNet or AlexNet."
        )
    cfg = dict(config.pop("pretrained_cfg", None) or {})
    config.pop("trainable", None)
    spec = _Spec(family, config, cfg, source=f"local:{path}", file_cfg=cfg)
    spec.model = model
    return spec


def _check_same_arch(spec, other, where):
    for key in _ARCH_KEYS:
        if key in spec.kwargs and key in other.kwargs and (
            spec.kwargs[key] != other.kwargs[key]
        ):
            raise ValueError(
                f"The weights in {where} are for {key}="
                f"{other.kwargs[key]!r}, the model asked for has "
                f"{key}={spec.kwargs[key]!r}."
            )


def _check_family(spec, other, where):
    if other.family != spec.family:
        raise ValueError(
            f"The weights in {where} are for the {other.family} family, "
            f"the model asked for is a {spec.family}."
        )


def _weights_spec(spec, weights):
    """The registry spec, with the weights (file or folder) attached."""
    path = os.path.abspath(os.path.expanduser(os.fspath(weights)))
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No weights at {weights!r}. Expected a .weights.h5 file, a "
            ".keras file or a model folder (config.json + model.weights.h5)."
        )
    if os.path.isdir(path):
        other = _dir_spec(path, f"local-dir:{path}")
    elif path.endswith(".keras"):
        other = _keras_file_spec(path)
    elif path.endswith(".h5"):
        other = None
        sibling = os.path.join(os.path.dirname(path), _CONFIG)
        if os.path.isfile(sibling) and os.path.basename(path) == _WEIGHTS:
            try:  # a run folder: its metadata (e.g. label names)
                family, kw, cfg = read_model_dir(os.path.dirname(path))
                other = _Spec(family, kw, cfg, file_cfg=cfg)
            except (ValueError, FileNotFoundError):
                other = None
        if other is not None:
            _check_family(spec, other, path)
            _check_same_arch(spec, other, path)
            # The run's input size and preprocessing, as for its folder.
            if other.kwargs.get("input_shape") is not None:
                spec.kwargs["input_shape"] = other.kwargs["input_shape"]
            for key in ("input_size", "mean", "std", "crop_pct",
                        "interpolation"):
                if other.cfg.get(key) is not None:
                    spec.cfg[key] = other.cfg[key]
        spec.weights, spec.source = path, f"local:{path}"
        spec.file_cfg = other.file_cfg if other is not None else None
        return spec
    else:
        raise ValueError(
            f"Unsupported weights file {weights!r}: use a .weights.h5 "
            "file, a .keras file or a model folder."
        )
    _check_family(spec, other, path)
    _check_same_arch(spec, other, path)
    merged = dict(other.kwargs)
    merged.pop("name", None)
    other.kwargs = {**spec.kwargs, **merged}
    other.cfg = {**spec.cfg, **{k: v for k, v in other.cfg.items()
                                if v is not None}}
    return other


# ------------------------------------------------------------- building
def _derive_cfg(spec, model, head_from_weights, pretrained):
    """The model's `pretrained_cfg`: what was actually built."""
    base = dict(spec.cfg)
    file_cfg = spec.file_cfg or {}
    include_top = model.include_top
    classes = model.num_classes if include_top else 0
    base_classes = base.get("num_classes")
    labels = None
    if head_from_weights and file_cfg.get("label_names") and len(
        file_cfg["label_names"]
    ) == classes:
        labels = list(file_cfg["label_names"])
    elif base.get("label_names") and len(base["label_names"]) == classes:
        labels = list(base["label_names"])
    dataset = base.get("dataset")
    if labels is None or (head_from_weights and file_cfg.get("dataset")):
        dataset = file_cfg.get("dataset") if head_from_weights else (
            dataset if classes == base_classes else None)
    shape = list(model.image_shape)
    default = list(base.get("input_size") or shape)
    static = all(s is not None for s in shape[:2])
    base.update(
        input_size=shape if static else default,
        fixed_input_size=static,
        num_classes=classes,
        label_names=labels,
        dataset=dataset,
        include_top=include_top,
        pooling=model.pooling,
        model_kwargs={k: getattr(model, k) for k in _ARCH_KEYS
                      if hasattr(model, k)},
        weights=spec.source if spec.has_weights else None,
        pretrained=bool(pretrained or spec.has_weights),
    )
    for key in ("family",):
        base.setdefault(key, spec.family)
    # `name` and `tag` keep the entry the model was built from (as timm's
    # pretrained_cfg does); the description must not claim that entry's
    # data when the head or the input size differ from it.
    entry = spec.cfg
    changed = classes != entry.get("num_classes") or (
        static and list(entry.get("input_size") or shape) != shape)
    text = base.get("description") or ""
    if changed and entry.get("name") and "Built from " not in text:
        size = "x".join(str(s) for s in shape[:2]) if static else "any"
        head = f"{classes} classes" if classes else "no classifier"
        base["description"] = (
            f"{text} Built from {entry['name']} with {head}, input size "
            f"{size}."
        ).strip()
    return base


def _build(spec, head, model_kwargs):
    kwargs = dict(spec.kwargs)
    kwargs.update(model_kwargs)
    kwargs.update({k: v for k, v in head.items() if v is not None})
    if head.get("include_top") is False:
        kwargs["include_top"] = False
    arch = spec.cfg.get("architecture")
    if arch and "name" not in model_kwargs:
        kwargs["name"] = arch
    return FAMILIES[spec.family](**kwargs)


def build_model_with_cfg(name, *, pretrained=False, weights=None,
                         num_classes=None, include_top=None, pooling=None,
                         input_shape=None, classifier_activation=None,
                         features_only=False, out_indices=None,
                         hub_kwargs=None, **model_kwargs):
    """Resolves, builds, attaches the cfg, loads weights, adapts the head.

    See `keras_cmod.zoo.create_model` / `load` for the arguments.
    """
    from keras_cmod.zoo.registry import no_weights_error

    hub_kwargs = dict(hub_kwargs or {"revision": None})
    _check_build_args(include_top, features_only, out_indices)
    if is_source(name):
        if weights is not None:
            raise ValueError(
                f"weights={weights!r} given with the weights source "
                f"{name!r}: give one of them."
            )
        spec = _source_spec(name, hub_kwargs)
    else:
        spec = _registry_spec(name)
        if weights is not None:
            spec = _weights_spec(spec, weights)
        elif pretrained:
            cfg = get_cfg(name)
            if not cfg.has_weights:
                raise no_weights_error(cfg)
            hub_kwargs["revision"] = hub_kwargs.get("revision") or (
                cfg.revision)
            registry = spec
            spec = _source_spec(f"hf-hub:{cfg.hf_hub_id}", hub_kwargs)
            spec.cfg = {**registry.cfg, **{
                k: v for k, v in spec.cfg.items() if v is not None}}
    head = dict(num_classes=num_classes, include_top=include_top,
                pooling=pooling, input_shape=input_shape,
                classifier_activation=classifier_activation)
    model = _build(spec, head, model_kwargs)
    head_from_weights = False
    if spec.model is not None:
        source = spec.model
        head_from_weights = _same_head(source, model)
        if num_classes is None and not head_from_weights and (
            model.include_top and getattr(source, "include_top", False)
        ):
            head["num_classes"] = source.num_classes
            model = _build(spec, head, model_kwargs)
            head_from_weights = True
        transfer_weights(source, model,
                         skip=() if head_from_weights else ("predictions",))
    elif spec.weights is not None:
        layout = read_weights_layout(spec.weights)
        file_classes = _file_classes(spec, layout)
        if num_classes is None and model.include_top and file_classes and (
            file_classes != model.num_classes
        ):
            head["num_classes"] = file_classes
            model = _build(spec, head, model_kwargs)
        head_from_weights = bool(
            model.include_top and file_classes == model.num_classes)
        if head_from_weights:
            check_weights_match(model, layout, spec.weights)
            _load_h5(model, spec.weights)
        else:
            full = _build(spec, {**head, "include_top": True,
                                 "num_classes": file_classes or 1,
                                 "classifier_activation": None},
                          model_kwargs)
            check_weights_match(full, layout, spec.weights)
            _load_h5(full, spec.weights)
            transfer_weights(full, model)
    model.pretrained_cfg = _derive_cfg(spec, model, head_from_weights,
                                       pretrained or weights is not None)
    if features_only:
        return _features(model, spec, out_indices)
    return model


#: Group of the `predictions` layer in a family's weights file: Keras
#: names saved layers by class and order, and `predictions` is the only
#: Dense layer of a ResNet and the third of an AlexNet (after fc1, fc2).
_PREDICTIONS_GROUP = {"resnet": "layers/dense", "alexnet": "layers/dense_2"}


def _file_classes(spec, layout):
    """Class count of the classifier stored in a weights file, or None."""
    shapes = layout.get(_PREDICTIONS_GROUP[spec.family])
    if not shapes:
        return None
    return int(max(shapes, key=len)[-1])


def _same_head(source, model):
    return bool(
        model.include_top and getattr(source, "include_top", False)
        and getattr(source, "num_classes", None) == model.num_classes
    )


def _check_build_args(include_top, features_only, out_indices):
    if include_top is not None and not isinstance(include_top, bool):
        raise TypeError(
            "include_top must be True or False. Received: "
            f"include_top={include_top!r}"
        )
    if not isinstance(features_only, bool):
        raise TypeError(
            "features_only must be True or False. Received: "
            f"features_only={features_only!r}"
        )


def _features(model, spec, out_indices):
    feat = features_model(model, spec.family, model.get_config().get(
        "depth"), out_indices)
    feat.pretrained_cfg = model.pretrained_cfg
    return feat


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
