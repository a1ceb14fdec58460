"""The model registry: architectures, weight tags and their configs.

A registry name is `architecture[.tag]` (timm's convention): the
architecture names the code path (`resnet34_cmod`), the tag names the
weights (`in1k`: ImageNet-1k at 224x224; `cifar10`: CIFAR-10 at 32x32).
Each tag carries a `PretrainedCfg`: preprocessing, classes, licence, paper,
and, once weights are published, the Hub repository and the commit sha
that `keras_cmod.zoo.load` fetches.
"""

import dataclasses
import fnmatch
import re
import warnings

from keras_cmod.errors import UnknownArgumentError  # noqa: F401


@dataclasses.dataclass(frozen=True)
class PretrainedCfg:
    """What a registry tag promises: weights source and preprocessing.

    Field names follow timm's `PretrainedCfg` (with a channels-last
    `input_size`), so users recognise them.
    """

    architecture: str
    tag: str
    family: str
    model_kwargs: dict
    input_size: tuple = (224, 224, 3)
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    num_classes: int = 1000
    dataset: str = "imagenet2012"
    label_names: tuple = None
    hf_hub_id: str = None
    revision: str = None
    hf_hub_filename: str = "model.weights.h5"
    weights_sha256: str = None
    license: str = "apache-2.0"
    paper_ids: tuple = ("arXiv:2212.00394",)
    paper_name: str = (
        "Leterme, Polisano, Perrier, Alahari, From CNNs to Shift-Invariant "
        "Twin Models Based on Complex Wavelets, EUSIPCO 2024"
    )
    description: str = ""
    first_conv: str = "stem"
    classifier: str = "predictions"
    metrics: dict = None

    @property
    def name(self):
        return f"{self.architecture}.{self.tag}"

    @property
    def has_weights(self):
        return self.hf_hub_id is not None

    def to_dict(self):
        out = dataclasses.asdict(self)
        out["name"] = self.name
        for key in ("input_size", "mean", "std", "paper_ids", "label_names"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out


_REGISTRY = {}  # architecture -> {tag: PretrainedCfg} (insertion order)

#: The variant vocabulary, one mapping for names, models and layers:
#: registry-name suffix -> (model argument, canonical value). The models
#: also accept `stem="rmax"` (the operator `TwinStem` applies on the
#: Gabor channels of a twin) and `antialias="ablurpool"`.
VARIANTS = {
    "_blurpool": ("antialias", "blurpool"),
    "_ablurpool": ("antialias", "adaptive_blurpool"),
    "_twin": ("stem", "twin"),
    "_cmod": ("stem", "cmod"),
}
#: Other spellings of name suffixes, accepted by `get_cfg`.
NAME_ALIASES = {"_rmax": "_twin", "_adaptive_blurpool": "_ablurpool"}

#: The constructor arguments of each family (kept equal to the models'
#: `CONSTRUCTOR_ARGS`, by a test), checked without importing Keras.
FAMILY_ARGS = {
    "resnet": ("depth", "stem", "antialias", "blur_size", "num_classes",
               "include_top", "pooling", "input_shape",
               "classifier_activation", "packet_penalty", "pretrained_cfg",
               "name"),
    "alexnet": ("stem", "antialias", "blur_size", "num_classes",
                "include_top", "pooling", "input_shape",
                "classifier_activation", "dropout", "packet_penalty",
                "pretrained_cfg", "name"),
}


def check_model_kwargs(name, kwargs):
    """Refuses model kwargs the architecture does not take (no Keras).

    Args:
        name: a registry name (`arch` or `arch.tag`).
        kwargs: dict of model arguments (e.g. a training config's
            `model_kwargs`).

    Raises:
        UnknownArgumentError: (a `TypeError` and a `ValueError`) naming the
            unknown argument(s) and the allowed ones.
        ValueError: an unknown model name.
    """
    cfg = get_cfg(name)
    if not isinstance(kwargs, dict):
        raise TypeError(
            f"model kwargs must be a dict. Received: {kwargs!r}"
        )
    allowed = FAMILY_ARGS[cfg.family]
    unknown = sorted(k for k in kwargs if k not in allowed + ("trainable",
                                                              "dtype"))
    if unknown:
        raise UnknownArgumentError(
            f"{cfg.architecture} got unexpected model argument(s) "
            f"{', '.join(map(str, unknown))}. Allowed: "
            f"{', '.join(sorted(allowed))}."
        )


def canonical_name(name):
    """`name` with alias suffixes (`_rmax`) replaced by the canonical."""
    arch, dot, tag = name.partition(".")
    for alias, canonical in NAME_ALIASES.items():
        arch = re.sub(re.escape(alias) + r"(?=_|$)", canonical, arch)
    return arch + dot + tag


def register(cfg):
    """Adds a tag; registering an existing `arch.tag` again warns."""
    tags = _REGISTRY.setdefault(cfg.architecture, {})
    if cfg.tag in tags:
        warnings.warn(
            f"Overwriting registered model {cfg.name!r}.", stacklevel=2
        )
    tags[cfg.tag] = cfg
    return cfg


def _natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def split_name(name):
    """`"resnet34_cmod.in1k"` -> `("resnet34_cmod", "in1k")`."""
    if not isinstance(name, str):
        raise TypeError(
            f"A model name must be a str. Received: {name!r} of type "
            f"{type(name).__name__}"
        )
    if not name:
        raise ValueError("A model name must be a non-empty string.")
    arch, _, tag = canonical_name(name).partition(".")
    return arch, tag or None


def unknown_name_error(name):
    import difflib

    names = all_names() + all_names(include_tags=True)
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(
        f"Unknown model name {name!r}.{hint} See "
        "keras_cmod.zoo.list_models() for all names."
    )


def get_cfg(name):
    """The `PretrainedCfg` of `arch[.tag]` (default tag if none given).

    The default tag is the first registered tag that has weights, else the
    first registered tag.
    """
    arch, tag = split_name(name)
    if arch not in _REGISTRY:
        raise unknown_name_error(name)
    tags = _REGISTRY[arch]
    if tag is None:
        with_weights = [c for c in tags.values() if c.has_weights]
        return with_weights[0] if with_weights else next(iter(tags.values()))
    if tag not in tags:
        raise ValueError(
            f"Unknown tag {tag!r} for {arch!r}. Registered tags: "
            f"{', '.join(tags)}."
        )
    return tags[tag]


def no_weights_error(cfg):
    """The error for a tag without published weights (says what to do)."""
    name = cfg.name
    return ValueError(
        f"No pretrained weights are published for {name!r} yet. "
        "To get a model: (1) build it untrained with "
        f"keras_cmod.zoo.create_model({name!r}); (2) train it: `keras-cmod "
        f"train --model {name} ...`; (3) import a PyTorch checkpoint "
        "(torchvision or the paper's code) with `keras-cmod convert "
        f"CHECKPOINT {name} OUT`; or (4) start from local weights: "
        "`--weights path/to/model.weights.h5` on the command line "
        "(`keras-cmod evaluate`, `keras-cmod train`), "
        f"keras_cmod.zoo.load({name!r}, weights='path/to/model.weights.h5') "
        "in Python."
    )


def all_names(include_tags=False):
    out = []
    for arch, tags in _REGISTRY.items():
        if include_tags:
            out += [c.name for c in tags.values()]
        else:
            out.append(arch)
    return out


def _as_list(patterns, what):
    if not patterns:
        return []
    if isinstance(patterns, str):
        return [patterns]
    if isinstance(patterns, (list, tuple)) and all(
        isinstance(p, str) for p in patterns
    ):
        return list(patterns)
    raise TypeError(
        f"{what} must be a str or a list of str (fnmatch patterns). "
        f"Received: {what}={patterns!r}"
    )


def list_models(filter="", pretrained=False, exclude_filters="",
                include_tags=None):
    """Registered names matching fnmatch patterns, in natural sort order.

    Args:
        filter: str or list of str, fnmatch pattern(s) to keep (all if
            empty).
        pretrained: bool, keep only names whose weights are published (then
            names include their tag unless `include_tags=False`).
        exclude_filters: str or list of str, patterns to drop.
        include_tags: bool, list `arch.tag` names instead of architectures.
            Defaults to `pretrained`.

    Returns:
        A sorted list of names.
    """
    keep = _as_list(filter, "filter")
    drop = _as_list(exclude_filters, "exclude_filters")
    for arg, value in (("pretrained", pretrained),
                       ("include_tags", include_tags)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(
                f"{arg} must be True or False. Received: {arg}={value!r}"
            )
    if include_tags is None:
        include_tags = pretrained
    names = []
    for arch, tags in _REGISTRY.items():
        cfgs = [c for c in tags.values() if c.has_weights or not pretrained]
        if not cfgs:
            continue
        if include_tags:
            names += [c.name for c in cfgs]
        else:
            names.append(arch)
    if keep:
        names = [n for n in names
                 if any(fnmatch.fnmatch(n, p) for p in keep)]
    if drop:
        names = [n for n in names
                 if not any(fnmatch.fnmatch(n, p) for p in drop)]
    return sorted(set(names), key=_natural_key)


def is_model(name):
    """Whether `arch` or `arch.tag` is registered."""
    try:
        arch, tag = split_name(name)
    except (TypeError, ValueError):
        return False
    return arch in _REGISTRY and (tag is None or tag in _REGISTRY[arch])
