"""PyTorch parameter names of every keras-cmod model, and layout changes.

`model_entries(model)` lists, for a `keras_cmod.models.ResNet` or
`AlexNet`, every PyTorch state-dict key its weights correspond to:

* `Param`: a learned tensor or a batch-norm statistic, loaded into a Keras
  variable after a layout change (`kind`);
* `Fixed`: a frozen filter that the reference stores (q-shift QMFs, Zhang's
  binomial `filt`, the unit weight of AlexNet-CMod's `Bias`), compared with
  the filter keras-cmod derives from its configuration, never loaded;
* `optional`: keys accepted but ignored (`num_batches_tracked`, the unused
  `running_mean` of the reference's BN0).

Names follow torchvision for the standard models, `antialiased_cnns`
(Zhang) and Zou's PASA ResNet for the blurred bodies, and the paper's code
(wcnn) for the twins. Layouts:

| kind | PyTorch | Keras |
|---|---|---|
| `conv` | `(O, I, kh, kw)` | `(kh, kw, I, O)` |
| `dense` | `(out, in)` | `(in, out)` |
| `dense_nhwc` | `(out, C*H*W)`, CHW flatten | `(H*W*C, out)`, HWC flatten |
| `vector` | `(n,)` | `(n,)` |
| `colormix` | `(1, 3, 1, 1)` | `(3,)` |
| `mixing` | `(L_q, K_q/g_q, 1, 1, 1)` | `(K_q/g_q, L_q)` |

Known difference: Zou's PASA (`Downsample_PASA_group_softmax`) takes its
softmax over all `G*9` predicted channels (its released code), whereas
`keras_cmod.layers.AdaptiveBlurPool2D` takes it per group of 9 taps. The
names and shapes of Zou checkpoints map exactly, but their outputs differ
until the layer follows the reference (`tests/convert`, xfail test).
"""

import dataclasses

import keras
import numpy as np

from keras_cmod.layers import (
    AdaptiveBlurPool2D,
    Bias,
    BlurPool2D,
    ModulusBatchNorm,
    TwinStem,
)
from keras_cmod.models import DEPTHS, AlexNet, ResNet
from keras_cmod.wavelets import binomial_filter_2d, qshift_filters

#: Wavelet of the reference's DT-CWPT (`BaseDwt2d(wavelet="qshift_a")`).
WAVELET = "qshift_a"
KINDS = ("conv", "dense", "dense_nhwc", "vector", "colormix", "mixing")


@dataclasses.dataclass(frozen=True)
class Param:
    """A PyTorch tensor stored in (a slice of) a Keras variable.

    Attributes:
        key: PyTorch state-dict name.
        variable: the Keras variable.
        kind: layout change (see the module table).
        index: `slice` of the (1-D) variable this key fills, or `None` for
            the whole variable.
        spatial: `(H, W, C)` of the flattened map (`dense_nhwc` only).
    """

    key: str
    variable: object
    kind: str
    index: object = None
    spatial: tuple = None

    @property
    def keras_shape(self):
        shape = tuple(self.variable.shape)
        if self.index is not None:
            return (len(range(*self.index.indices(shape[0]))),)
        return shape

    @property
    def torch_shape(self):
        return torch_shape(self.kind, self.keras_shape)


@dataclasses.dataclass(frozen=True)
class Fixed:
    """A frozen PyTorch tensor that must equal `value` (PyTorch layout)."""

    key: str
    value: np.ndarray
    description: str


@dataclasses.dataclass
class Entries:
    """Everything a model's PyTorch state dict holds."""

    params: list = dataclasses.field(default_factory=list)
    fixed: list = dataclasses.field(default_factory=list)
    optional: set = dataclasses.field(default_factory=set)
    #: Optional keys that `to_torch_state_dict` still writes, with their
    #: value, so that PyTorch's strict `load_state_dict` accepts the dict.
    extras: dict = dataclasses.field(default_factory=dict)

    # -- helpers used by the builders --------------------------------------

    def add(self, key, variable, kind, **kwargs):
        self.params.append(Param(key, variable, kind, **kwargs))

    def conv(self, layer, prefix):
        self.add(f"{prefix}.weight", layer.kernel, "conv")
        if layer.use_bias:
            self.add(f"{prefix}.bias", layer.bias, "vector")

    def dense(self, layer, prefix, spatial=None):
        kind = "dense" if spatial is None else "dense_nhwc"
        self.add(f"{prefix}.weight", layer.kernel, kind, spatial=spatial)
        if layer.use_bias:
            self.add(f"{prefix}.bias", layer.bias, "vector")

    def batch_norm(self, layer, prefix):
        if not isinstance(layer, keras.layers.BatchNormalization):
            raise TypeError(f"{layer.name!r} is not a BatchNormalization.")
        if layer.scale:
            self.add(f"{prefix}.weight", layer.gamma, "vector")
        if layer.center:
            self.add(f"{prefix}.bias", layer.beta, "vector")
        self.add(f"{prefix}.running_mean", layer.moving_mean, "vector")
        self.add(f"{prefix}.running_var", layer.moving_variance, "vector")
        self.optional.add(f"{prefix}.num_batches_tracked")

    def modulus_batch_norm(self, layer, prefix):
        """BN0 (`BatchNormOnGaborModulus2d`): running_var = moving energy."""
        if not isinstance(layer, ModulusBatchNorm):
            raise TypeError(f"{layer.name!r} is not a ModulusBatchNorm.")
        self.add(f"{prefix}.weight", layer.gamma, "vector")
        self.add(f"{prefix}.bias", layer.beta, "vector")
        self.add(f"{prefix}.running_var", layer.moving_energy, "vector")
        # A BatchNorm2d buffer that BN0 never reads.
        self.optional.add(f"{prefix}.running_mean")
        n = int(layer.moving_energy.shape[0])
        self.extras[f"{prefix}.running_mean"] = np.zeros(n, np.float32)
        self.optional.add(f"{prefix}.num_batches_tracked")

    def blur_pool(self, layer, prefix, channels=None):
        """Zhang's BlurPool: only the fixed `filt` (C, 1, k, k) buffer."""
        if not isinstance(layer, BlurPool2D):
            raise TypeError(f"{layer.name!r} is not a BlurPool2D.")
        if channels is None:
            channels = _channels(layer)
        k2 = binomial_filter_2d(layer.filter_size).astype(np.float32)
        filt = np.tile(k2[None, None], (channels, 1, 1, 1))
        self.fixed.append(Fixed(
            f"{prefix}.filt", filt,
            f"binomial blur filter of size {layer.filter_size}",
        ))

    def adaptive_blur_pool(self, layer, prefix):
        """Zou's PASA: `conv` (G*k*k, C, k, k) then `bn`."""
        if not isinstance(layer, AdaptiveBlurPool2D):
            raise TypeError(f"{layer.name!r} is not an AdaptiveBlurPool2D.")
        self.conv(layer.conv, f"{prefix}.conv")
        self.batch_norm(layer.bn, f"{prefix}.bn")

    def antialias(self, layer, prefix, channels=None):
        if isinstance(layer, BlurPool2D):
            self.blur_pool(layer, prefix, channels)
        else:
            self.adaptive_blur_pool(layer, prefix)

    def wpt_block(self, gabor, prefix):
        """The reference's `WptBlock` (colour mix, DT-CWPT, packet mixing)."""
        self.add(f"{prefix}.colormix.weight", gabor.colormix, "colormix")
        f = qshift_filters(WAVELET)
        self.fixed.append(Fixed(
            f"{prefix}.wpt._hfilters",
            np.stack([f["ha"], f["hb"]]).astype(np.float32),
            f"{WAVELET} low-pass QMFs [ha, hb]",
        ))
        self.fixed.append(Fixed(
            f"{prefix}.wpt._gfilters",
            np.stack([f["ga"], f["gb"]]).astype(np.float32),
            f"{WAVELET} high-pass QMFs [ga, gb]",
        ))
        sel = gabor.packet_selection
        start = 0
        for q, weight in enumerate(gabor.mixing):
            self.add(f"{prefix}.featmapmix.{q}.weight", weight, "mixing")
            if gabor.use_bias:  # one bias per section in the reference
                stop = start + sel.split_out[q]
                self.add(f"{prefix}.featmapmix.{q}.bias", gabor.bias,
                         "vector", index=slice(start, stop))
                start = stop

    def keys(self):
        return [p.key for p in self.params] + [f.key for f in self.fixed]


def torch_shape(kind, keras_shape):
    """PyTorch shape of a tensor of `kind` whose Keras shape is given."""
    s = tuple(keras_shape)
    if kind == "conv":
        return (s[3], s[2], s[0], s[1])
    if kind in ("dense", "dense_nhwc"):
        return (s[1], s[0])
    if kind == "vector":
        return s
    if kind == "colormix":
        return (1, s[0], 1, 1)
    if kind == "mixing":
        return (s[1], s[0], 1, 1, 1)
    raise ValueError(f"Unknown kind {kind!r}; expected one of {KINDS}.")


def torch_to_keras(kind, value, spatial=None):
    """Converts a PyTorch-layout array to the Keras layout of `kind`."""
    v = np.asarray(value)
    if kind == "conv":
        return v.transpose(2, 3, 1, 0)
    if kind == "dense":
        return v.T
    if kind == "dense_nhwc":
        h, w, c = spatial
        out = v.shape[0]
        return (v.reshape(out, c, h, w).transpose(2, 3, 1, 0)
                .reshape(h * w * c, out))
    if kind == "vector":
        return v
    if kind == "colormix":
        return v.reshape(-1)
    if kind == "mixing":
        return v.reshape(v.shape[0], -1).T
    raise ValueError(f"Unknown kind {kind!r}; expected one of {KINDS}.")


def keras_to_torch(kind, value, spatial=None):
    """Inverse of `torch_to_keras`."""
    v = np.asarray(value)
    if kind == "conv":
        return v.transpose(3, 2, 0, 1)
    if kind == "dense":
        return v.T
    if kind == "dense_nhwc":
        h, w, c = spatial
        out = v.shape[1]
        return (v.reshape(h, w, c, out).transpose(3, 2, 0, 1)
                .reshape(out, c * h * w))
    if kind == "vector":
        return v
    if kind == "colormix":
        return v.reshape(1, -1, 1, 1)
    if kind == "mixing":
        return v.T.reshape(v.shape[1], v.shape[0], 1, 1, 1)
    raise ValueError(f"Unknown kind {kind!r}; expected one of {KINDS}.")


def _channels(layer):
    """Input channels of a layer of a functional model."""
    return int(layer.input.shape[-1])


def _get(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        raise ValueError(
            f"Model {model.name!r} has no layer {name!r}: it does not have "
            "the layout keras_cmod.convert expects (was it built by "
            "keras_cmod.models?)."
        ) from None


def _has(model, name):
    return any(layer.name == name for layer in model.layers)


# -- twin first layers -----------------------------------------------------


def _twin_stem(e, stem, family):
    """`TwinStem` -> the reference's `HybridConv2dWpt` + pooling block."""
    if not isinstance(stem, TwinStem):
        raise ValueError(f"Layer {stem.name!r} is not a TwinStem.")
    cmod = stem.mode == "cmod"
    if family == "resnet":
        conv, pool = "conv1", "maxpool.low" if cmod else "maxpool"
        norm_prefix = "maxpool.high.2"
    else:
        conv, pool = "features.0", "features.1.low" if cmod else "features.1"
        norm_prefix = "features.1.high.2"
    e.conv(stem.free_conv, f"{conv}.freeconv")
    e.wpt_block(stem.gabor, f"{conv}.wptblock")
    # Channels of the pooling block (its blur layers may not be built).
    pooled = stem.free_filters + (0 if cmod else stem.gabor_filters)
    # Position of each layer of the pooling block in the nn.Sequential:
    # ResNet [BN, ReLU, MaxPool, Blur/PASA]; AlexNet [ReLU, Blur, MaxPool,
    # Blur].
    for layer in stem.pool_layers:
        if layer.name == "bn":
            e.batch_norm(layer, f"{pool}.0")
        elif layer.name == "blur_0":
            e.blur_pool(layer, f"{pool}.1", pooled)
        elif layer.name in ("blur", "adaptive_blur"):
            e.antialias(layer, f"{pool}.3", pooled)
        else:
            raise ValueError(
                f"Unexpected layer {layer.name!r} in the twin stem."
            )
    if cmod:
        norm = stem.gabor_norm
        if isinstance(norm, ModulusBatchNorm):
            e.modulus_batch_norm(norm, norm_prefix)
        elif isinstance(norm, Bias):
            # A depthwise 1x1 conv whose weight is frozen to 1.
            e.add(f"{norm_prefix}.bias", norm.bias, "vector")
            n = int(norm.bias.shape[0])
            e.fixed.append(Fixed(
                f"{norm_prefix}.weight", np.ones((n, 1, 1, 1), np.float32),
                "frozen unit weight of the post-modulus Bias",
            ))
        else:  # pragma: no cover - guarded by TwinStem
            raise ValueError(f"Unexpected layer {norm.name!r}.")


# -- ResNet ----------------------------------------------------------------


def _resnet_entries(model, e):
    aa = model.antialias
    if model.stem == "standard":
        e.conv(_get(model, "conv1"), "conv1")
        e.batch_norm(_get(model, "bn1"), "bn1")
        if aa != "none":
            # [MaxPool(3, 1, pad 1), BlurPool / PASA] (wcnn corrects
            # Zhang's and Zou's MaxPool kernel 2 to 3; no weights).
            e.antialias(_get(model, "stem"), "maxpool.1")
    else:
        _twin_stem(e, _get(model, "stem"), "resnet")
    block_type, stages = DEPTHS[model.depth]
    parts = ("conv1", "bn1", "conv2", "bn2")
    if block_type == "bottleneck":
        parts += ("conv3", "bn3")
    # The conv that follows the blur in a blurred strided block.
    blurred_conv = "conv2" if block_type == "basic" else "conv3"
    for i, n_blocks in enumerate(stages):
        for j in range(n_blocks):
            name, prefix = f"layer{i + 1}_{j}", f"layer{i + 1}.{j}"
            blurred = aa != "none" and i > 0 and j == 0
            for part in parts:
                layer = _get(model, f"{name}_{part}")
                p = f"{prefix}.{part}"
                if part.startswith("bn"):
                    e.batch_norm(layer, p)
                elif blurred and part == blurred_conv:
                    # nn.Sequential(BlurPool / PASA, conv)
                    e.antialias(_get(model, f"{name}_blur"), f"{p}.0")
                    e.conv(layer, f"{p}.1")
                else:
                    e.conv(layer, p)
            if _has(model, f"{name}_downsample_conv"):
                k = 0
                if blurred:  # [BlurPool / PASA, conv 1x1, BN]
                    e.antialias(_get(model, f"{name}_downsample_blur"),
                                f"{prefix}.downsample.0")
                    k = 1
                e.conv(_get(model, f"{name}_downsample_conv"),
                       f"{prefix}.downsample.{k}")
                e.batch_norm(_get(model, f"{name}_downsample_bn"),
                             f"{prefix}.downsample.{k + 1}")
    if model.include_top:
        e.dense(_get(model, "predictions"), "fc")


# -- AlexNet ---------------------------------------------------------------

#: Index in `features` of each Keras layer (torchvision / antialiased_cnns,
#: and the twins, whose `features` is one shorter: [first layer, pooling
#: block, conv2, ...]).
ALEXNET_FEATURES = {
    ("standard", "none"): {"conv1": 0, "conv2": 3, "conv3": 6, "conv4": 8,
                           "conv5": 10},
    ("standard", "blurpool"): {"conv1": 0, "blur1": 2, "stem": 4,
                               "conv2": 5, "pool2": 8, "conv3": 9,
                               "conv4": 11, "conv5": 13, "pool5": 16},
    ("twin", "none"): {"conv2": 2, "conv3": 5, "conv4": 7, "conv5": 9},
    ("twin", "blurpool"): {"conv2": 2, "pool2": 5, "conv3": 6, "conv4": 8,
                           "conv5": 10, "pool5": 13},
}
#: `classifier` indices: [Dropout, Linear, ReLU, Dropout, Linear, ReLU,
#: Linear].
ALEXNET_CLASSIFIER = {"fc1": 1, "fc2": 4, "predictions": 6}


def _alexnet_entries(model, e):
    stem = "standard" if model.stem == "standard" else "twin"
    table = ALEXNET_FEATURES[(stem, model.antialias)]
    if stem == "twin":
        _twin_stem(e, _get(model, "stem"), "alexnet")
    for name, index in table.items():
        layer = _get(model, name)
        prefix = f"features.{index}"
        if isinstance(layer, BlurPool2D):
            e.blur_pool(layer, prefix)
        else:
            e.conv(layer, prefix)
    if model.include_top:
        h, w, c = _get(model, "avg_pool").output.shape[1:]
        for name, index in ALEXNET_CLASSIFIER.items():
            spatial = (h, w, c) if name == "fc1" else None
            e.dense(_get(model, name), f"classifier.{index}",
                    spatial=spatial)


def model_entries(model):
    """The PyTorch state-dict entries of a keras-cmod model.

    Args:
        model: a built `keras_cmod.models.ResNet` or `AlexNet`.

    Returns:
        An `Entries` with `params`, `fixed` and `optional` keys.

    Raises:
        ValueError: for another kind of model, or if some weight of the
            model is not covered (an internal inconsistency).
    """
    e = Entries()
    if isinstance(model, ResNet):
        _resnet_entries(model, e)
    elif isinstance(model, AlexNet):
        _alexnet_entries(model, e)
    else:
        raise ValueError(
            "keras_cmod.convert handles keras_cmod.models.ResNet and "
            f"AlexNet models. Received: {type(model).__name__}"
        )
    keys = e.keys()
    if len(set(keys)) != len(keys):  # pragma: no cover - a bug guard
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"Duplicate PyTorch keys in the mapping: {dup}")
    covered = {id(p.variable) for p in e.params}
    left = [w.path for w in model.weights if id(w) not in covered]
    if left:  # pragma: no cover - a bug guard
        raise ValueError(
            f"Weights of {model.name!r} without a PyTorch name: {left}. "
            "keras_cmod.convert.torch_names is out of date with the model."
        )
    return e
