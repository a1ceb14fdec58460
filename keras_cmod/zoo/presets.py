"""THE table of registered architectures and weight tags.

AlexNet and ResNet-18/34/50/101, in every variant of the paper:

| paper name | AlexNet | ResNet-D |
|---|---|---|
| CNN | `alexnet` | `resnetD` |
| WCNN (twin, RMax) | `alexnet_twin` | `resnetD_twin` |
| CWCNN (twin, CMod) | `alexnet_cmod` | `resnetD_cmod` |
| BlurCNN (Zhang) | `alexnet_blurpool` | `resnetD_blurpool` |
| BlurWCNN | `alexnet_blurpool_twin` | `resnetD_blurpool_twin` |
| CBlurWCNN | `alexnet_blurpool_cmod` | `resnetD_blurpool_cmod` |
| ABlurCNN (Zou) | - | `resnetD_ablurpool` |
| ABlurWCNN | - | `resnetD_ablurpool_twin` |
| CABlurWCNN | - | `resnetD_ablurpool_cmod` |

Tags: `in1k` (ImageNet-1k, 224x224, every name) and `cifar10` (the same
ImageNet-style nets with 10 classes on 32x32 inputs, ResNet-18/34 as in the
paper).

Published weights are data, not code: `keras_cmod/zoo/published.json`
(package data) maps `"arch.tag"` to the Hub repository, the pinned commit
and what the release measured::

    {"resnet18_cmod.cifar10": {"hf_hub_id": "org/repo",
                               "revision": "<40-hex commit sha>",
                               "weights_sha256": "<64-hex>",
                               "metrics": {"top1": 91.2, ...}}}

`scripts/release.py` edits that file; this module applies it when it
registers the table, and `reload_published(path)` applies it again (or
another table) at run time. A missing or empty file means that no weights
are published: `hf_hub_id` and `revision` stay `None`.
"""

import dataclasses
import importlib.resources
import json
import re
import warnings

from keras_cmod.zoo.registry import PretrainedCfg, get_cfg, register

#: Package-data file holding the published weights of the registry tags.
PUBLISHED_FILE = "published.json"

_SHA1_RE = re.compile(r"[0-9a-f]{40}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_PUBLISHED_KEYS = ("hf_hub_id", "revision", "weights_sha256", "metrics")

# "arch.tag" -> the PretrainedCfg registered by this table, before any
# published weights were applied.
_BASE_CFGS = {}

PAPER_SUFFIX = {
    ("standard", "none"): "CNN",
    ("twin", "none"): "WCNN",
    ("cmod", "none"): "CWCNN",
    ("standard", "blurpool"): "BlurCNN",
    ("twin", "blurpool"): "BlurWCNN",
    ("cmod", "blurpool"): "CBlurWCNN",
    ("standard", "adaptive_blurpool"): "ABlurCNN",
    ("twin", "adaptive_blurpool"): "ABlurWCNN",
    ("cmod", "adaptive_blurpool"): "CABlurWCNN",
}
_AA_NAME = {"none": "", "blurpool": "_blurpool",
            "adaptive_blurpool": "_ablurpool"}
_STEM_NAME = {"standard": "", "twin": "_twin", "cmod": "_cmod"}

CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog",
                  "frog", "horse", "ship", "truck")


def _description(family, stem, antialias):
    kind = PAPER_SUFFIX[(stem, antialias)]
    parts = {
        "standard": "standard first layer (real convolution + max pooling)",
        "twin": "mathematical twin: Gabor channels from a fixed DT-CWPT with "
                "real convolution + max pooling (RMax)",
        "cmod": "mathematical twin with complex convolution + modulus (CMod) "
                "on the Gabor channels",
    }
    aa = {"none": "", "blurpool": "; Zhang's blur pooling (BlurPool)",
          "adaptive_blurpool": "; Zou's adaptive blur pooling"}
    return f"{family} {kind}: {parts[stem]}{aa[antialias]}."


def _register_all():
    families = [("alexnet", None)] + [("resnet", d) for d in (18, 34, 50,
                                                              101)]
    for family, depth in families:
        antialiases = ("none", "blurpool") if family == "alexnet" else (
            "none", "blurpool", "adaptive_blurpool")
        for antialias in antialiases:
            for stem in ("standard", "twin", "cmod"):
                base = family if depth is None else f"resnet{depth}"
                arch = base + _AA_NAME[antialias] + _STEM_NAME[stem]
                kwargs = {"stem": stem, "antialias": antialias}
                if depth is not None:
                    kwargs["depth"] = depth
                label = family if depth is None else f"ResNet-{depth}"
                desc = _description(label, stem, antialias)
                _register_base(PretrainedCfg(
                    architecture=arch, tag="in1k", family=family,
                    model_kwargs=kwargs, description=desc,
                ))
                if depth in (18, 34):
                    _register_base(PretrainedCfg(
                        architecture=arch, tag="cifar10", family=family,
                        model_kwargs=kwargs, input_size=(32, 32, 3),
                        crop_pct=32 / 36, num_classes=10,
                        dataset="cifar10", label_names=CIFAR10_LABELS,
                        description=desc + " CIFAR-10 (32x32, unmodified "
                        "ImageNet architecture, as in the paper).",
                    ))


def _register_base(cfg):
    _BASE_CFGS[cfg.name] = cfg
    register(cfg)


def _check_entry(name, entry, where):
    if name not in _BASE_CFGS:
        hint = "" if "." in name else " (the key must include the tag)"
        raise ValueError(
            f"{where}: {name!r} is not a registered model tag{hint}; "
            "expected one of keras_cmod.zoo.list_models(include_tags=True)."
        )
    if not isinstance(entry, dict):
        raise ValueError(
            f"{where}: the entry of {name!r} must be an object. "
            f"Received: {entry!r}"
        )
    unknown = sorted(set(entry) - set(_PUBLISHED_KEYS))
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown} in the entry of {name!r}; "
            f"allowed: {list(_PUBLISHED_KEYS)}."
        )
    from keras_cmod.hub.sources import validate_repo_id

    try:
        validate_repo_id(entry.get("hf_hub_id"))
    except ValueError as exc:
        raise ValueError(f"{where}: {name!r}: {exc}") from None
    revision = entry.get("revision")
    if not isinstance(revision, str) or not _SHA1_RE.fullmatch(revision):
        raise ValueError(
            f"{where}: the revision of {name!r} must be a full 40-hex "
            "commit sha (a branch or tag could move). Received: "
            f"revision={revision!r}"
        )
    sha256 = entry.get("weights_sha256")
    if sha256 is not None and not (
        isinstance(sha256, str) and _SHA256_RE.fullmatch(sha256)
    ):
        raise ValueError(
            f"{where}: weights_sha256 of {name!r} must be 64 lowercase hex "
            f"digits or absent. Received: {sha256!r}"
        )
    metrics = entry.get("metrics")
    if metrics is not None and not isinstance(metrics, dict):
        raise ValueError(
            f"{where}: metrics of {name!r} must be an object or absent. "
            f"Received: {metrics!r}"
        )


def read_published(path=None):
    """Reads and validates a published-weights table.

    Args:
        path: a JSON file; `None` reads the package's `published.json`
            (through `importlib.resources`). A missing or empty file is an
            empty table.

    Returns:
        A dict `"arch.tag" -> {"hf_hub_id", "revision", "weights_sha256",
        "metrics"}`.

    Raises:
        ValueError: the file is not valid JSON, or an entry names an
            unregistered tag, an invalid repo id, a revision that is not a
            40-hex commit sha, or a malformed hash or metrics.
    """
    if path is None:
        resource = importlib.resources.files("keras_cmod.zoo") / PUBLISHED_FILE
        where = f"keras_cmod/zoo/{PUBLISHED_FILE}"
        try:
            text = resource.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
    else:
        where = str(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return {}
    if not text.strip():
        return {}
    try:
        table = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(table, dict):
        raise ValueError(
            f"{where} must hold a JSON object \"arch.tag\" -> entry. "
            f"Received: {type(table).__name__}"
        )
    for name, entry in table.items():
        _check_entry(name, entry, where)
    return table


def _published_cfg(base, entry):
    if entry is None:
        return base
    return dataclasses.replace(
        base,
        hf_hub_id=entry["hf_hub_id"],
        revision=entry["revision"],
        weights_sha256=entry.get("weights_sha256"),
        metrics=entry.get("metrics"),
    )


def reload_published(path=None):
    """(Re-)applies a published-weights table to the registry.

    Every tag of this table gets the Hub repository, pinned commit, weights
    hash and metrics of its entry; tags without an entry go back to "no
    weights published". The whole table is validated before anything
    changes. `keras_cmod.zoo.load(name)` then fetches exactly the recorded
    commit, and `list_models(pretrained=True)` lists the published tags.

    Args:
        path: a JSON file (see `read_published`); `None` re-reads the
            package's `published.json`, i.e. restores the shipped state.

    Returns:
        The table that was applied (a dict).

    Raises:
        ValueError: see `read_published`.
    """
    table = read_published(path)
    for name, base in _BASE_CFGS.items():
        cfg = _published_cfg(base, table.get(name))
        if get_cfg(name) is cfg:
            continue
        with warnings.catch_warnings():
            # Replacing our own entry is the point here, not an accident.
            warnings.filterwarnings(
                "ignore", message="Overwriting registered model"
            )
            register(cfg)
    return table


_register_all()
reload_published()
