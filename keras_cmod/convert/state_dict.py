"""Loading PyTorch state dicts into keras-cmod models, and the inverse."""

import dataclasses

import numpy as np

from keras_cmod.convert.io import read_state_dict
from keras_cmod.convert.torch_names import (
    keras_to_torch,
    model_entries,
    torch_to_keras,
)

#: Tolerance of the comparison of frozen filters (stored in float32).
FIXED_RTOL = 1e-5
FIXED_ATOL = 1e-6


@dataclasses.dataclass
class ConversionReport:
    """What `load_torch_state_dict` did with each key of the state dict.

    Attributes:
        loaded: keys copied into the model's variables.
        checked: frozen filters (QMFs, blur filters, unit weights) found
            equal to the model's own.
        skipped: keys accepted and ignored (`num_batches_tracked`, the
            unused `running_mean` of BN0).
        missing: keys the model needs that the state dict lacks.
        unexpected: keys of the state dict the model has no use for.
    """

    loaded: list = dataclasses.field(default_factory=list)
    checked: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    missing: list = dataclasses.field(default_factory=list)
    unexpected: list = dataclasses.field(default_factory=list)

    def summary(self):
        """One line: how many keys of each category."""
        text = (f"{len(self.loaded)} loaded, {len(self.checked)} checked, "
                f"{len(self.skipped)} skipped")
        if self.missing or self.unexpected:
            text += (f", {len(self.missing)} missing, "
                     f"{len(self.unexpected)} unexpected")
        return text

    def __str__(self):
        lines = [self.summary()]
        for title, keys in (("missing", self.missing),
                            ("unexpected", self.unexpected)):
            if keys:
                lines.append(f"{title}: " + ", ".join(keys))
        return "\n".join(lines)


def _listing(title, items):
    """Every key, one per line (never truncated)."""
    return f"{title} ({len(items)}):\n  " + "\n  ".join(items)


def load_torch_state_dict(model, state_dict, *, strict=True):
    """Loads a PyTorch state dict (torchvision / reference code) into a model.

    The keys are those of torchvision's ResNet / AlexNet for the standard
    models, of `antialiased_cnns` (Zhang) and Zou's PASA ResNet for the
    blurred ones, and of the paper's reference code (wcnn) for the twins
    (see `keras_cmod.convert.torch_names`). Kernels are transposed to the
    Keras layouts, batch-norm statistics become moving statistics, and the
    first classifier weight of AlexNet is permuted for the channels-last
    flatten. Frozen filters stored by the reference (q-shift QMFs, Zhang's
    `filt`, the unit weight of AlexNet-CMod's `Bias`) are compared with the
    model's own filters instead of being loaded. `num_batches_tracked` is
    ignored. Nothing is assigned unless the whole state dict is accepted.

    Args:
        model: a `keras_cmod.models.ResNet` or `AlexNet` (e.g. from
            `keras_cmod.zoo.create_model`).
        state_dict: mapping of PyTorch names to numpy arrays (or torch
            tensors), a checkpoint dict holding one under `state_dict`,
            `model_state_dict`, `net` or `model`, or a path to a `.npz`,
            `.safetensors` or `.pth`/`.pt` file. A `module.` prefix (DDP)
            is removed.
        strict: bool, whether missing or unexpected keys are an error.
            Defaults to `True`.

    Returns:
        A `ConversionReport` listing the loaded, checked, skipped, missing
        and unexpected keys.

    Raises:
        ValueError: listing every problem at once: shape mismatches, frozen
            filters that differ from the model's, and (with `strict`)
            missing and unexpected keys. The model is left unchanged.
        FileNotFoundError: if a path does not exist.
        ImportError: for a PyTorch file when `torch` is not installed.

    Example:
    >>> model = keras_cmod.zoo.create_model(
    ...     "resnet18", num_classes=10, input_shape=(64, 64, 3))
    >>> sd = keras_cmod.convert.to_torch_state_dict(model)
    >>> sd["conv1.weight"].shape
    (64, 3, 7, 7)
    >>> keras_cmod.convert.load_torch_state_dict(model, sd).summary()
    '102 loaded, 0 checked, 0 skipped'
    """
    sd = read_state_dict(state_dict)
    entries = model_entries(model)
    report = ConversionReport()
    problems = []
    pending = []
    known = set()
    for p in entries.params:
        known.add(p.key)
        if p.key not in sd:
            report.missing.append(p.key)
            continue
        value = sd[p.key]
        if tuple(value.shape) != p.torch_shape:
            problems.append(
                f"{p.key}: shape {tuple(value.shape)} in the state dict, "
                f"{p.torch_shape} expected by the model"
            )
            continue
        if not np.issubdtype(value.dtype, np.number):
            problems.append(f"{p.key}: non-numeric dtype {value.dtype}")
            continue
        pending.append((p, torch_to_keras(p.kind, value, p.spatial)))
        report.loaded.append(p.key)
    for f in entries.fixed:
        known.add(f.key)
        if f.key not in sd:
            report.missing.append(f.key)
            continue
        value = sd[f.key]
        if not np.issubdtype(value.dtype, np.number):
            problems.append(f"{f.key}: non-numeric dtype {value.dtype}")
        elif tuple(value.shape) != f.value.shape:
            problems.append(
                f"{f.key}: shape {tuple(value.shape)} in the state dict, "
                f"{f.value.shape} expected ({f.description})"
            )
        elif not np.allclose(value.astype(np.float64), f.value,
                             rtol=FIXED_RTOL, atol=FIXED_ATOL):
            err = float(np.max(np.abs(value.astype(np.float64) - f.value)))
            problems.append(
                f"{f.key}: frozen filter differs from keras-cmod's "
                f"({f.description}; max |diff| = {err:.3g}). The checkpoint "
                "was built with other fixed filters and cannot be imported "
                "exactly."
            )
        else:
            report.checked.append(f.key)
    for key in sd:
        if key in known:
            continue
        if key in entries.optional:
            report.skipped.append(key)
        else:
            report.unexpected.append(key)
    if strict and report.missing:
        problems.append(_listing("missing keys", report.missing))
    if strict and report.unexpected:
        problems.append(_listing("unexpected keys", report.unexpected))
    if problems:
        raise ValueError(
            f"Cannot load the state dict into {model.name!r} "
            f"({type(model).__name__}); nothing was loaded.\n"
            + "\n".join(problems)
            + ("\n(Use strict=False to load anyway and ignore missing or "
               "unexpected keys.)" if strict and (report.missing or
                                                  report.unexpected) else "")
        )
    _assign(pending)
    return report


def _assign(pending):
    """Assigns converted values; slices of one variable are merged."""
    whole, parts = [], {}
    for p, value in pending:
        if p.index is None:
            whole.append((p.variable, value))
        else:
            parts.setdefault(id(p.variable), (p.variable, []))[1].append(
                (p.index, value)
            )
    for variable, value in whole:
        variable.assign(np.asarray(value, dtype=variable.dtype))
    for variable, pieces in parts.values():
        current = np.array(variable.numpy())
        for index, value in pieces:
            current[index] = value
        variable.assign(current.astype(variable.dtype))


def to_torch_state_dict(model, *, include_fixed=True):
    """The PyTorch state dict equivalent to a keras-cmod model's weights.

    The inverse of `load_torch_state_dict`: the keys and layouts of
    torchvision / the reference code, float32 numpy arrays. Frozen filters
    (QMFs, blur `filt`, unit `Bias` weights) and BN0's unused
    `running_mean` are included, so that the result loads back (here, or in
    the PyTorch model with `strict=True`). `num_batches_tracked` is left
    out (PyTorch fills it in).

    Args:
        model: a `keras_cmod.models.ResNet` or `AlexNet`.
        include_fixed: bool, include the frozen filters and extras.
            Defaults to `True`.

    Returns:
        `dict[str, numpy.ndarray]`.
    """
    entries = model_entries(model)
    out = {}
    values = {}
    for p in entries.params:
        key = id(p.variable)
        if key not in values:
            values[key] = np.asarray(p.variable.numpy())
        v = values[key] if p.index is None else values[key][p.index]
        out[p.key] = np.ascontiguousarray(
            keras_to_torch(p.kind, v, p.spatial), dtype=np.float32
        )
    if include_fixed:
        for f in entries.fixed:
            out[f.key] = np.array(f.value, dtype=np.float32)
        for key, value in entries.extras.items():
            out[key] = np.array(value, dtype=np.float32)
    return out
