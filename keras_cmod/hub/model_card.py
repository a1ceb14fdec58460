"""Model cards (the Hub's README.md) generated from a pretrained config.

The card is YAML front matter built with `huggingface_hub.ModelCardData`
(so it parses with `huggingface_hub.ModelCard.load` / `metadata_load`, and
the Hub shows the `model-index` evaluation results) followed by Markdown
sections: description, model details, results, the shift protocol, how to
load and fine-tune, filter provenance and the citation.

Evaluation results (`metrics=`) are a dict, or a list of dicts for several
datasets:

    {
        "dataset": "imagenet",          # or {"id", "name", "split", "config"}
        "top1": 73.1, "top5": 91.2,     # accuracy in %
        "consistency": 88.0,            # normalised mean flip rate, lower
                                        # is better (100 = reference model)
        "mfr": 17.8,                    # raw mean flip rate in %
        "kl": 0.012,                    # mean KL divergence under shifts
        "protocol": "...",              # str, or {metric_key: str}
        "source": {"name": "...", "url": "..."},
    }

Keys are matched loosely (`"top-1"`, `"Top1"`, `"mFR"`, `"kl_div"`...); a
value may also be `{"value": x, "protocol": "..."}`. Other numeric entries
become extra results under their own name.
"""

import json
import math
import numbers

from keras_cmod.version import __version__

__all__ = [
    "generate_model_card",
    "read_model_card_metadata",
    "weights_provenance",
    "normalize_metrics",
    "CITATION_BIBTEX",
    "DEFAULT_SHIFT_PROTOCOL",
]

TAGS = ("keras-cmod", "shift-invariance", "image-classification", "keras")

CITATION_BIBTEX = """\
@inproceedings{leterme2024twin,
  title         = {From {CNNs} to Shift-Invariant Twin Models Based on
                   Complex Wavelets},
  author        = {Leterme, Hubert and Polisano, K{\\'e}vin and
                   Perrier, Val{\\'e}rie and Alahari, Karteek},
  booktitle     = {32nd European Signal Processing Conference (EUSIPCO)},
  year          = {2024},
  eprint        = {2212.00394},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CV},
  url           = {https://arxiv.org/abs/2212.00394}
}"""

DEFAULT_SHIFT_PROTOCOL = """\
Unless a result names another protocol, shift invariance is measured as in
Leterme et al. (2024), with crop-based (sliding-window, not circular)
shifts of real image content:

- **Consistency** (lower is better) is the mean flip rate (mFR): the
  fraction of pairs of frames, *s* pixels apart, whose top-1 predictions
  differ, averaged over *s* = 1..8 px (ImageNet; 1..4 px for CIFAR) and
  over the vertical, horizontal and diagonal directions, each direction
  normalised by the reference model's mFR and scaled so that the reference
  (standard AlexNet for ImageNet, standard ResNet-18 for CIFAR) scores 100.
- **KL** is the mean KL divergence KL(p0 || ps) between the softmax output
  of an image and of copies shifted by 0, 0.5, ..., 8 px (448-px crops
  downsampled to 224 px).
- **Top-1 / top-5** accuracy use a single centre crop."""

PROVENANCE = """\
The fixed filters of the twin first layer come from the dual-tree complex
wavelet packet transform built on Nick Kingsbury's **Q-shift orthogonal
filters** (`qshift_a`, length 10), as published in Kingsbury's DT-CWT
toolbox and redistributed by the `dtcwt` Python package; keras-cmod ships
the taps as constants (see `keras_cmod/wavelets/data/PROVENANCE.md`).

- N. G. Kingsbury, "Complex wavelets for shift invariant analysis and
  filtering of signals", Applied and Computational Harmonic Analysis
  10(3), 2001.
- N. G. Kingsbury, "Design of Q-shift complex wavelets for image
  processing using frequency domain energy minimisation", ICIP 2003."""

# (HF dataset id, display name) for the data sets the zoo trains on.
_DATASETS = {
    "imagenet": ("ILSVRC/imagenet-1k", "ImageNet-1k"),
    "imagenet1k": ("ILSVRC/imagenet-1k", "ImageNet-1k"),
    "imagenet2012": ("ILSVRC/imagenet-1k", "ImageNet-1k"),
    "in1k": ("ILSVRC/imagenet-1k", "ImageNet-1k"),
    "ilsvrcimagenet1k": ("ILSVRC/imagenet-1k", "ImageNet-1k"),
    "cifar10": ("uoft-cs/cifar10", "CIFAR-10"),
    "uoftcscifar10": ("uoft-cs/cifar10", "CIFAR-10"),
    "cifar100": ("uoft-cs/cifar100", "CIFAR-100"),
    "uoftcscifar100": ("uoft-cs/cifar100", "CIFAR-100"),
}

# canonical key -> (metric type, display name)
_METRICS = {
    "top1": ("accuracy", "Top-1 accuracy (%)"),
    "top5": ("top_5_accuracy", "Top-5 accuracy (%)"),
    "consistency": (
        "consistency",
        "Consistency: normalised mean flip rate (lower is better)",
    ),
    "mfr": ("mean_flip_rate", "Mean flip rate (%)"),
    "kl": ("kl_divergence", "Mean KL divergence under shifts"),
}
_ALIASES = {
    "top1acc": "top1",
    "top1accuracy": "top1",
    "acc1": "top1",
    "accuracy": "top1",
    "top5acc": "top5",
    "top5accuracy": "top5",
    "acc5": "top5",
    "meanfliprate": "mfr",
    "kldiv": "kl",
    "kldivergence": "kl",
    "meankl": "kl",
}
_NON_METRIC_KEYS = {"dataset", "protocol", "source", "task", "split"}


def _canonical(key):
    flat = "".join(c for c in str(key).lower() if c.isalnum())
    return _ALIASES.get(flat, flat)


def _known_dataset(spec):
    flat = "".join(c for c in str(spec).lower() if c.isalnum() or c == "/")
    return _DATASETS.get(flat.replace("/", "")) or _DATASETS.get(flat)


def _local_dataset(spec):
    """The display name of data that is not on the Hub (else None)."""
    if isinstance(spec, str) and spec.startswith("folder:"):
        return "local image folder"  # its path stays private
    if spec == "synthetic":
        return "synthetic random images"
    return None


def _source_name(source, local=False):
    """A weights source as a card may show it: a Hub source as it is, a
    local file by its name only (its folders stay private)."""
    source = str(source)
    for prefix in ("local:", "local-dir:"):
        if source.startswith(prefix):
            source, local = source[len(prefix):], True
    if local:
        name = source.replace("\\", "/").rstrip("/").split("/")[-1]
        return f"a local file (`{name}`)"
    return f"`{source}`"


def weights_provenance(pretrained_cfg):
    """What the weights are, from a pretrained config.

    Returns:
        `(sentence, datasets)`: a sentence for the card (`None` when the
        config does not record it) and the Hub ids of the data sets the
        weights were trained on (for the card's `datasets:`). A model built
        untrained (`pretrained: false`) was trained on nothing, whatever
        its tag says; a model trained on a local folder or on synthetic
        data names no Hub data set. A config without the `pretrained` key
        (written by hand) is taken at its tag's word.
    """
    cfg = pretrained_cfg or {}
    if "pretrained" not in cfg:
        known = _known_dataset(cfg.get("dataset") or cfg.get("tag") or "")
        return None, [known[0]] if known else []
    if not cfg.get("pretrained"):
        return ("Random initialisation: these weights are untrained (the "
                "model was built without weights); they have not been "
                "trained on any data set."), []
    dataset = cfg.get("dataset")
    origin = cfg.get("trained_from")
    if origin == "published weights":
        name = ".".join(str(p) for p in (cfg.get("architecture"),
                                         cfg.get("tag")) if p)
        start = f"Fine-tuned from the published weights of `{name}`"
    elif origin:  # the trainer's `weights`: a local path
        start = f"Fine-tuned from {_source_name(origin, local=True)}"
    elif "trained_from" not in cfg and cfg.get("weights"):
        start = f"Weights loaded from {_source_name(cfg['weights'])}, trained"
    else:
        start = "Trained"
    classes = cfg.get("num_classes")
    if isinstance(dataset, str) and dataset.startswith("folder:"):
        names = cfg.get("label_names") or []
        listed = ""
        if names:
            listed = ": " + ", ".join(str(n) for n in names[:10]) + (
                ", ..." if len(names) > 10 else "")
        return (f"{start} on a local image folder of {classes} classes"
                f"{listed}."), []
    if dataset == "synthetic":
        return (f"{start} on synthetic random images: a smoke test, not a "
                "usable classifier."), []
    known = _known_dataset(dataset or "")
    if known:
        return f"{start} on {known[1]}.", [known[0]]
    if dataset:
        return f"{start} on `{dataset}`.", []
    return (f"{start}; the training data is not recorded."), []


def _dataset(spec, pretrained_cfg):
    """(id, name, split, config) of an evaluation data set."""
    split = config = name = None
    if spec is None:
        spec = pretrained_cfg.get("dataset")
    if spec is None:
        # A weights tag names the training data only if it is a known set.
        known = _known_dataset(pretrained_cfg.get("tag") or "")
        return (known or (None, None)) + (None, None)
    if isinstance(spec, dict):
        split, config = spec.get("split"), spec.get("config")
        name = spec.get("name")
        spec = spec.get("id") or spec.get("type") or name
    if spec is None:
        return None, None, split, config
    local = _local_dataset(spec)
    if local:
        return None, name or local, split, config
    known = _known_dataset(spec)
    if known:
        return known[0], name or known[1], split, config
    return str(spec), name or str(spec), split, config


def normalize_metrics(metrics, pretrained_cfg=None):
    """Flatten evaluation results into a list of row dicts.

    Args:
        metrics: a dict or a list of dicts (see the module docstring).
        pretrained_cfg: optional dict, used for the default data set
            (`dataset` or `tag`).

    Returns:
        A list of dicts with keys `key`, `type`, `name`, `value`,
        `dataset_id`, `dataset_name`, `split`, `dataset_config`,
        `protocol`, `source_name`, `source_url`.
    """
    pretrained_cfg = pretrained_cfg or {}
    if not metrics:
        return []
    groups = metrics if isinstance(metrics, (list, tuple)) else [metrics]
    rows = []
    for group in groups:
        if not isinstance(group, dict):
            raise TypeError(
                f"metrics must be a dict or a list of dicts, got {group!r}"
            )
        ds_id, ds_name, split, ds_config = _dataset(
            group.get("dataset"), pretrained_cfg
        )
        split = group.get("split", split)
        protocol = group.get("protocol")
        source = group.get("source") or {}
        for key, value in group.items():
            if key in _NON_METRIC_KEYS:
                continue
            item_protocol = None
            if isinstance(value, dict) and "value" in value:
                item_protocol = value.get("protocol")
                value = value["value"]
            if isinstance(value, bool) or not isinstance(
                value, numbers.Real
            ):
                continue
            if not math.isfinite(float(value)):
                continue
            canon = _canonical(key)
            mtype, mname = _METRICS.get(canon, (str(key), str(key)))
            if isinstance(protocol, dict):
                item_protocol = item_protocol or protocol.get(key)
                item_protocol = item_protocol or protocol.get(canon)
            elif isinstance(protocol, str):
                item_protocol = item_protocol or protocol
            rows.append(
                {
                    "key": canon if canon in _METRICS else str(key),
                    "type": mtype,
                    "name": mname,
                    "value": float(value),
                    "dataset_id": ds_id,
                    "dataset_name": ds_name,
                    "split": split,
                    "dataset_config": ds_config,
                    "protocol": item_protocol,
                    "source_name": source.get("name"),
                    "source_url": source.get("url"),
                }
            )
    return rows


def _fmt_value(value):
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


def _card_data(cfg, rows, model_name, overrides):
    from huggingface_hub import EvalResult, ModelCardData

    tags = list(TAGS)
    for tag in list(cfg.get("tags") or []) + list(overrides.get("tags", [])):
        if tag not in tags:
            tags.append(tag)
    datasets = list(overrides.get("datasets") or [])
    if not datasets:
        datasets = weights_provenance(cfg)[1]
    if "pretrained" not in cfg or cfg.get("pretrained"):
        # Hand-written configs, and trained weights evaluated on a data
        # set: listed too. Untrained weights were trained on nothing.
        for row in rows:
            if row["dataset_id"] and row["dataset_id"] not in datasets:
                datasets.append(row["dataset_id"])
    evals = [
        EvalResult(
            task_type="image-classification",
            task_name="Image Classification",
            dataset_type=row["dataset_id"] or "unspecified",
            dataset_name=row["dataset_name"] or "unspecified",
            dataset_split=row["split"],
            dataset_config=row["dataset_config"],
            metric_type=row["type"],
            metric_name=row["name"],
            metric_value=row["value"],
            metric_config=row["protocol"],
            source_name=row["source_name"],
            source_url=row["source_url"],
        )
        for row in rows
    ]
    return ModelCardData(
        library_name="keras",
        pipeline_tag="image-classification",
        tags=tags,
        license=overrides.get("license") or cfg.get("license") or "apache-2.0",
        datasets=datasets or None,
        model_name=model_name,
        eval_results=evals or None,
        base_model=overrides.get("base_model") or cfg.get("base_model"),
    )


def _details_table(cfg, model, weights_file):
    rows = []

    def add(label, value):
        if value is not None and str(value) not in ("", "[]", "()"):
            rows.append(f"| {label} | {value} |")

    add("Architecture", cfg.get("architecture") and f"`{cfg['architecture']}`")
    add("Weights tag", cfg.get("tag") and f"`{cfg['tag']}`")
    size = cfg.get("input_size")
    if isinstance(size, (list, tuple)) and size:
        add("Input size", " × ".join(str(s) for s in size) + " (channels last)")
    add("Classes", cfg.get("num_classes"))
    if model is not None:
        try:
            add("Parameters", f"{model.count_params():,}")
        except ValueError:  # an unbuilt model
            pass
    for key, label in (
        ("crop_pct", "Eval crop fraction"),
        ("interpolation", "Interpolation"),
        ("mean", "Normalisation mean"),
        ("std", "Normalisation std"),
    ):
        value = cfg.get(key)
        if isinstance(value, (list, tuple)):
            value = "(" + ", ".join(str(v) for v in value) + ")"
        add(label, value)
    add(
        "Framework",
        f"Keras {cfg.get('keras_version', '3')} · keras-cmod {__version__}",
    )
    add("Weights file", f"`{weights_file}` (Keras 3 HDF5, pickle-free)")
    add("License", cfg.get("license") or "apache-2.0")
    papers = cfg.get("paper_ids") or cfg.get("paper")
    if papers:
        add("Paper", papers if isinstance(papers, str) else ", ".join(papers))
    return "| | |\n|---|---|\n" + "\n".join(rows)


def _results_table(rows):
    if not rows:
        return "No evaluation results were recorded for these weights."
    lines = [
        "| Dataset | Split | Metric | Value | Protocol |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['dataset_name'] or '–'} | {row['split'] or '–'} | "
            f"{row['name']} | {_fmt_value(row['value'])} | "
            f"{row['protocol'] or 'see below'} |"
        )
    return "\n".join(lines)


def _usage(repo_id, revision, cfg):
    repo = repo_id or "<org>/<repo>"
    rev = revision or "<commit-sha>"
    num_classes = 10 if cfg.get("num_classes") != 10 else 100
    return f"""\
## How to load

Pin the commit you tested against (`@{rev}`): a branch may move, a commit
never does.

```python
import keras_cmod

model = keras_cmod.zoo.load("hf-hub:{repo}@{rev}")

# Without the registry (any Keras 3 model saved by keras-cmod):
model = keras_cmod.hub.from_pretrained("hf-hub:{repo}", revision="{rev}")

# Plain Keras also works (latest revision; import keras_cmod first so that
# its layers are registered):
import keras
model = keras.saving.load_model("hf://{repo}")
```

Offline, once cached: `keras_cmod.zoo.load("hf-hub:{repo}@{rev}",
local_files_only=True)` (or set `HF_HUB_OFFLINE=1`) makes no network
request. From the command line: `keras-cmod pull {repo}@{rev}`.

## Fine-tuning

```python
import keras
import keras_cmod

# A new {num_classes}-class head named "predictions"; backbone weights kept.
model = keras_cmod.zoo.load("hf-hub:{repo}@{rev}", num_classes={num_classes})
model.compile(
    optimizer=keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.fit(train_ds, validation_data=val_ds, epochs=10)
```

Use the preprocessing recorded in `pretrained_cfg.json` (input size, crop
fraction, interpolation, mean and std): see
`keras_cmod.data.resolve_data_config`."""


def generate_model_card(
    pretrained_cfg=None,
    metrics=None,
    *,
    repo_id=None,
    revision=None,
    model=None,
    **overrides,
):
    """Generate a model card (README.md text) for a Hub repo.

    Args:
        pretrained_cfg: dict of the pretrained config (`architecture`, `tag`,
            `input_size`, `num_classes`, `mean`, `std`, `crop_pct`,
            `interpolation`, `license`, `dataset`, `description`, `tags`,
            ...). Missing keys are simply left out.
        metrics: evaluation results, a dict or a list of dicts (see the
            module docstring). Defaults to `pretrained_cfg["metrics"]`.
        repo_id: the Hub repo, used in the loading examples.
        revision: a commit sha to show in the loading examples.
        model: optional Keras model, for the parameter count.
        **overrides: `model_name`, `description`, `license`, `tags`,
            `datasets`, `base_model`, `shift_protocol`.

    Returns:
        The card as a string: YAML front matter (`library_name: keras`,
        `pipeline_tag: image-classification`, tags, license, datasets,
        `model-index`) and Markdown sections.
    """
    cfg = dict(pretrained_cfg or {})
    if metrics is None:
        metrics = cfg.get("metrics")
    rows = normalize_metrics(metrics, cfg)
    arch = cfg.get("architecture")
    default_name = (
        repo_id.split("/", 1)[1]
        if repo_id
        else ".".join(str(p) for p in (arch, cfg.get("tag")) if p)
    )
    model_name = overrides.get("model_name") or default_name or "keras-model"
    data = _card_data(cfg, rows, model_name, overrides)
    description = overrides.get("description") or cfg.get("description")
    if not description:
        description = (
            f"`{arch}`, from keras-cmod, a Keras 3 zoo of shift-invariant "
            "CNNs." if arch else "A Keras 3 model published with keras-cmod."
        )
        if arch and any(k in arch.lower() for k in ("cmod", "rmax", "wcnn")):
            description += (
                " Its first layer is a twin of the standard one, built on "
                "the dual-tree complex wavelet packet transform; in CMod "
                "variants a complex convolution followed by a modulus "
                "replaces convolution + max pooling (Leterme et al., 2024)."
            )
    provenance = weights_provenance(cfg)[0]
    if provenance:
        description = f"{description}\n\n**Weights:** {provenance}"
    protocol = overrides.get("shift_protocol") or DEFAULT_SHIFT_PROTOCOL
    sections = [
        f"# {model_name}",
        description,
        "## Model details",
        _details_table(cfg, model, "model.weights.h5"),
        "## Results",
        _results_table(rows),
        "## Shift protocol",
        protocol,
        _usage(repo_id, revision, cfg),
        "## Files",
        "Keras-native unzipped layout: `config.json` (architecture), "
        "`model.weights.h5` (weights), `metadata.json` (Keras version), "
        "plus `pretrained_cfg.json` (preprocessing, metrics and the sha256 "
        "of every file, checked on load).",
        "## Filter provenance",
        PROVENANCE,
        "## Citation",
        "If you use these weights, please cite the paper that introduced "
        "the twin models and the CMod operator:",
        f"```bibtex\n{CITATION_BIBTEX}\n```",
    ]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n"


def read_model_card_metadata(path):
    """The YAML front matter of a local card file as a dict (`{}` if none).

    Parsed with `huggingface_hub.ModelCard` (no network: the text is read
    here), so it accepts what the Hub accepts.

    Raises:
        FileNotFoundError: if `path` is not a file.
        ValueError: if the front matter is not valid YAML.
    """
    import pathlib

    from huggingface_hub import ModelCard

    text = pathlib.Path(path).read_text(encoding="utf-8")
    try:
        card = ModelCard(text)
    except Exception as exc:  # yaml.YAMLError and friends
        raise ValueError(f"Cannot parse the model card {path}: {exc}") from exc
    return json.loads(json.dumps(card.data.to_dict(), default=str))
