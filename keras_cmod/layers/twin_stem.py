"""TwinStem: the first-layer block of the AlexNet / ResNet twins.

The block is composed of small parts: a free convolution, a Gabor branch
(`DTCWPTConv2D`), centre crops, the family's pooling block and, for CMod,
the Gabor channels' own normalisation. Each family's numbers live in
`STEM_SPECS`; the layer has no family-specific code paths.
"""

import dataclasses

import keras
from keras import ops

from keras_cmod.layers._utils import (
    check_modulus_epsilon,
    conv_output_size,
    empty_batch_output,
    modulus,
    round_half_even_half,
)
from keras_cmod.layers.adaptive_blur_pool import AdaptiveBlurPool2D
from keras_cmod.layers.blur_pool import BlurPool2D
from keras_cmod.layers.dtcwpt import check_image_input, image_input
from keras_cmod.layers.dtcwpt_conv import DTCWPTConv2D
from keras_cmod.layers.normalization import Bias, ModulusBatchNorm
from keras_cmod.wavelets import dtcwpt as wt

FAMILIES = ("alexnet", "resnet")
MODES = ("rmax", "cmod")
ANTIALIAS = ("none", "blurpool", "adaptive_blurpool")


_CMOD_NORMS = ("modulus_batch_norm", "bias")
# Pooling-block steps done by a sub-layer (the others are plain ops), and
# those of them built on their first call (no weights).
_LAYER_STEPS = ("bn", "blur_0", "blur", "adaptive_blur")
_BLUR_STEPS = ("blur_0", "blur")


@dataclasses.dataclass(frozen=True)
class StemSpec:
    """The numbers of one family's twin stem (the reference's
    `HybridConv2dWpt` and the pooling block that follows it).

    Attributes:
        title: the family's name in messages.
        free_filters, free_kernel, free_padding, free_bias: the free RGB
            convolution (its stride is `stride`, or `blurred_stride` with
            blur pooling).
        stride: `m`, the stride of the convolutions of the standard
            model; the block's total stride is `2m`.
        blurred_stride: `m` with blur pooling (Zhang's AlexNet runs its
            first convolution at stride 2 and blurs the rest away).
        pool_norm: whether a batch norm precedes the pooling block's ReLU.
        pool_size, pool_stride, pool_padding: the max pooling after it.
        blur_first: blurred block `ReLU -> Blur -> MaxPool(k, 1) -> Blur`
            instead of `ReLU -> MaxPool(k, 1, pad) -> Blur`.
        rmax_gabor_bias: whether the RMax Gabor convolution has a bias.
        cmod_norm: what follows the modulus in CMod mode,
            `"modulus_batch_norm"` or `"bias"`.
        adaptive_blurpool: whether adaptive blur pooling is defined.
        adaptive_group_size: channels per group of adaptive blur pooling.

    The DT-CWPT depth and packet lists are
    `keras_cmod.wavelets.dtcwpt.PACKET_SELECTIONS[family]`.
    """

    title: str
    free_filters: int
    free_kernel: int
    free_padding: int
    free_bias: bool
    stride: int
    blurred_stride: int
    pool_norm: bool
    pool_size: int
    pool_stride: int
    pool_padding: int
    blur_first: bool
    rmax_gabor_bias: bool
    cmod_norm: str
    adaptive_blurpool: bool
    adaptive_group_size: int = 8

    def __post_init__(self):
        if self.cmod_norm not in _CMOD_NORMS:
            raise ValueError(
                f"cmod_norm must be one of {list(_CMOD_NORMS)}. "
                f"Received: cmod_norm={self.cmod_norm!r}"
            )


STEM_SPECS = {
    # torchvision's AlexNet: conv 11x11/4 pad 2 -> ReLU -> MaxPool(3, 2).
    "alexnet": StemSpec(
        title="AlexNet", free_filters=32, free_kernel=11, free_padding=2,
        free_bias=True, stride=4, blurred_stride=2, pool_norm=False,
        pool_size=3, pool_stride=2, pool_padding=0, blur_first=True,
        rmax_gabor_bias=True, cmod_norm="bias", adaptive_blurpool=False,
    ),
    # torchvision's ResNet: conv 7x7/2 pad 3 -> BN -> ReLU ->
    # MaxPool(3, 2, pad 1).
    "resnet": StemSpec(
        title="ResNet", free_filters=40, free_kernel=7, free_padding=3,
        free_bias=False, stride=2, blurred_stride=2, pool_norm=True,
        pool_size=3, pool_stride=2, pool_padding=1, blur_first=False,
        rmax_gabor_bias=False, cmod_norm="modulus_batch_norm",
        adaptive_blurpool=True,
    ),
}


def _pool_plan(spec, antialias):
    """The pooling block as a sequence of steps `(kind, argument)`."""
    plan = [("bn", None)] if spec.pool_norm else []
    plan.append(("relu", None))
    if antialias == "none":
        if spec.pool_padding:  # zero padding is exact after a ReLU
            plan.append(("pad", spec.pool_padding))
        return tuple(plan + [("max", (spec.pool_size, spec.pool_stride))])
    if spec.blur_first:
        plan.append(("blur_0", None))
    if spec.pool_padding:
        plan.append(("pad", spec.pool_padding))
    plan.append(("max", (spec.pool_size, 1)))
    plan.append(("blur" if antialias == "blurpool" else "adaptive_blur",
                 None))
    return tuple(plan)


def _step_size(kind, arg, n):
    """Output size of a pooling-block step for an input size `n`."""
    if kind == "pad":
        return n + 2 * arg
    if kind == "max":
        return (n - arg[0]) // arg[1] + 1
    if kind in _BLUR_STEPS or kind == "adaptive_blur":
        return (n - 1) // 2 + 1  # stride 2, centred padding
    return n


def _check_number(value, name, kind, low, high, open_low=False,
                  open_high=False):
    """`value` as `kind` (int or float) within the bounds, or an error
    naming `name` (TypeError for a wrong type, ValueError out of range)."""
    types = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, types):
        raise TypeError(
            f"{name} must be {'an int' if kind is int else 'a number'}. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    value = kind(value)
    ok = value == value and abs(value) != float("inf")
    if low is not None:
        ok = ok and (value > low if open_low else value >= low)
    if high is not None:
        ok = ok and (value < high if open_high else value <= high)
    if not ok:
        left = "(" if open_low else "["
        right = ")" if open_high else "]"
        raise ValueError(
            f"{name} must be in {left}{low}, {'inf' if high is None else high}"
            f"{right}. Received: {name}={value!r}"
        )
    return value


def _ceil_div(a, b):
    return (a + b - 1) // b


def _crop(x, top, height, left, width):
    """`x[:, top:top+height, left:left+width]`, skipped when it is known
    statically to keep everything (a slice is a copy in most backends).
    `None` sizes keep the rest of the axis."""
    h, w = x.shape[1], x.shape[2]
    same_h = isinstance(top, int) and top == 0 and (
        height is None or (isinstance(height, int) and height == h))
    same_w = isinstance(left, int) and left == 0 and (
        width is None or (isinstance(width, int) and width == w))
    if same_h and same_w:
        return x
    bottom = None if height is None else top + height
    right = None if width is None else left + width
    return x[:, top:bottom, left:right, :]


def torch_conv_init():
    """PyTorch's default convolution initialiser, U(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(
        1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


@keras.saving.register_keras_serializable(package="keras_cmod")
class TwinStem(keras.layers.Layer):
    """First-layer block of a twin model: free channels + Gabor channels.

    The free channels are an ordinary RGB convolution (32 channels 11x11/4
    for AlexNet, 40 channels 7x7/2 for ResNet). The Gabor channels are a
    `DTCWPTConv2D` (AlexNet: J=3, 94 packets -> 32 channels; ResNet: J=2,
    16 packets -> 24 channels). Then, for a total stride of `2m` (8 for
    AlexNet, 4 for ResNet):

    * `mode="rmax"` (WCNN): the real parts at stride `m` are centre-cropped
      to the free maps and the 64 channels go through the family's pooling
      block jointly: AlexNet ReLU -> MaxPool(3, 2); ResNet BN -> ReLU ->
      MaxPool(3, 2, pad 1).
    * `mode="cmod"` (CWCNN): the free channels go through that block alone,
      while the Gabor channels are computed directly at stride `2m`
      (complex), take the modulus, then a `Bias` (AlexNet) or a
      `ModulusBatchNorm` (ResNet), then ReLU.

    With `antialias="blurpool"` (Zhang) or `"adaptive_blurpool"` (Zou, ResNet
    only), the pooling block becomes ... -> MaxPool(3, 1) -> BlurPool (or
    AdaptiveBlurPool with groups of 8 channels); AlexNet's free convolution
    and DT-CWPT then run at stride 2 and its block is ReLU -> BlurPool ->
    MaxPool(3, 1) -> BlurPool. The Gabor channels of CMod models are never
    blurred. Output channels: free channels first, then Gabor channels.
    Each family's numbers (sizes, strides, paddings, which normalisation)
    are its `StemSpec` in `STEM_SPECS`.
    Every crop is a centre crop with torchvision's offsets (round half to
    even), as the reference: e.g. AlexNet crops the 57x57 DT-CWPT maps to
    55x55 at offset 1 and the 28x28 modulus maps to 27x27 at offset 0.

    Args:
        family: `"alexnet"` or `"resnet"`.
        mode: `"rmax"` or `"cmod"`.
        antialias: `"none"`, `"blurpool"` or `"adaptive_blurpool"`.
        blur_size: int in 1..7, blur filter size. Defaults to `3`.
        epsilon: float >= 0, floor under `|z|^2` in the modulus. Defaults
            to `1e-30` (exact modulus, finite gradient at 0).
        bn_epsilon: float, batch-norm epsilon. Defaults to `1e-5`.
        bn_momentum: float, batch-norm momentum (Keras convention).
            Defaults to `0.9` (PyTorch's 0.1).
        packet_penalty: list of lambdas for the packet-selection penalty,
            or `None` for the selection's own.

    Input shape:
        `(batch, height, width, 3)`.

    Output shape:
        `(batch, h, w, 64)`: 27x27 (AlexNet) or 56x56 (ResNet) for 224x224
        inputs, 8x8 for a 32x32 ResNet input.

    Example:
    >>> stem = keras_cmod.layers.TwinStem("resnet", "cmod")
    >>> stem(np.zeros((1, 64, 64, 3))).shape
    (1, 16, 16, 64)

    Reference:
        - Leterme et al., "From CNNs to Shift-Invariant Twin Models Based on
          Complex Wavelets", EUSIPCO 2024.
    """

    def __init__(
        self,
        family="resnet",
        mode="cmod",
        antialias="none",
        blur_size=3,
        epsilon=None,
        bn_epsilon=1e-5,
        bn_momentum=0.9,
        packet_penalty=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value, allowed in (
            ("family", family, FAMILIES),
            ("mode", mode, MODES),
            ("antialias", antialias, ANTIALIAS),
        ):
            if value not in allowed:
                raise ValueError(
                    f"{name} must be one of {list(allowed)}. "
                    f"Received: {name}={value!r}"
                )
        spec = STEM_SPECS[family]
        if antialias == "adaptive_blurpool" and not spec.adaptive_blurpool:
            raise ValueError(
                f"Adaptive blur pooling is not defined for {spec.title} (the "
                f"paper could not adapt it). Received: family={family!r}, "
                "antialias='adaptive_blurpool'"
            )
        self.spec = spec
        self.family = family
        self.mode = mode
        self.antialias = antialias
        self.blur_size = _check_number(blur_size, "blur_size", int, 1, 7)
        self.epsilon = check_modulus_epsilon(epsilon)
        self.bn_epsilon = _check_number(bn_epsilon, "bn_epsilon", float, 0,
                                        None, open_low=True)
        self.bn_momentum = _check_number(bn_momentum, "bn_momentum", float,
                                         0, 1, open_high=True)
        if packet_penalty is not None:
            n = len(wt.PACKET_SELECTIONS[family].split_in)
            if not isinstance(packet_penalty, (list, tuple)) or len(
                packet_penalty
            ) != n:
                raise ValueError(
                    f"packet_penalty must be None or a list of {n} floats "
                    f"(one per section of the {family} packet selection). "
                    f"Received: packet_penalty={packet_penalty!r}"
                )
            packet_penalty = [
                _check_number(v, "packet_penalty", float, 0, None)
                for v in packet_penalty
            ]
        self.packet_penalty = packet_penalty
        sel = wt.PACKET_SELECTIONS[family]
        self.depth = sel.depth
        self.free_filters = spec.free_filters
        self.gabor_filters = sel.filters
        self.free_kernel = spec.free_kernel
        self.free_padding = spec.free_padding
        self.free_bias = spec.free_bias
        # m: stride of the convolutions; the block's total stride is 2m
        # (8 for AlexNet, 4 for ResNet).
        self.conv_stride = (spec.stride if antialias == "none"
                            else spec.blurred_stride)
        self.total_stride = 2 * spec.stride
        self._pool_plan = _pool_plan(spec, antialias)
        self.gabor_padding = wt.dtcwpt_padding(sel.depth, 2 ** (sel.depth - 1))
        self.kernel_support = wt.kernel_size(sel.depth)
        self._order_sizes()

    # -- construction ------------------------------------------------------

    @staticmethod
    def _smaller(a, b, a_is_smaller):
        """`min(a, b)` for ints; for symbolic sizes (dynamic shapes, JAX
        export), the one this configuration always makes the smaller, so
        slice bounds stay size expressions, not tensors."""
        if isinstance(a, int) and isinstance(b, int):
            return min(a, b)
        if a_is_smaller is None:
            return ops.minimum(a, b)
        return a if a_is_smaller else b

    def _order_sizes(self):
        """Which of the branch sizes is the smaller for every input size
        (`None` if it depends on the size)."""
        def always(pairs):
            if all(a <= b for a, b in pairs):
                return True
            if all(b <= a for a, b in pairs):
                return False
            return None

        self._free_is_smaller = self._decimated_is_smaller = None
        sizes = [self._sizes(n) for n in range(1, 1025)]
        self._free_is_smaller = always(
            [(nf, ng) for nf, ng, t in sizes if t >= 1])
        r = self.total_stride // self.conv_stride
        self._decimated_is_smaller = always(
            [(_ceil_div(t, r), self._pooled_size(t))
             for _, _, t in sizes if t >= 1 and self._pooled_size(t) >= 1])

    def min_input_size(self):
        """Smallest height / width giving at least one output pixel."""
        n = 1
        while not self._valid_size(n):
            n += 1
        return n

    def _valid_size(self, n):
        nf, ng, t = self._sizes(n)
        return min(nf, ng, t) >= 1 and self._output_size(n) >= 1

    def _check_input(self, input_shape):
        check_image_input(input_shape, "TwinStem", channels=3,
                          min_size=self.min_input_size())

    def build(self, input_shape):
        self._check_input(input_shape)
        policy = self.dtype_policy
        self.free_conv = keras.layers.Conv2D(
            self.free_filters,
            self.free_kernel,
            strides=self.conv_stride,
            padding="valid",
            use_bias=self.free_bias,
            kernel_initializer=torch_conv_init(),
            bias_initializer=torch_conv_init() if self.free_bias else "zeros",
            name="free_conv",
            dtype=policy,
        )
        p = self.free_padding
        h, w = input_shape[1:3]
        padded = [None if n is None else n + 2 * p for n in (h, w)]
        self.free_conv.build((input_shape[0], *padded, 3))
        cmod = self.mode == "cmod"
        self.gabor = DTCWPTConv2D(
            self.family,
            strides=self.total_stride if cmod else self.conv_stride,
            output_mode="complex" if cmod else "real",
            padding=0,
            use_bias=self.spec.rmax_gabor_bias and not cmod,
            penalty=self.packet_penalty,
            name="gabor",
            dtype=policy,
        )
        self.gabor.build((input_shape[0], None, None, 3))
        pooled_channels = self.free_filters + (
            0 if cmod else self.gabor_filters
        )
        self.pool_layers = self._make_pool_block(pooled_channels)
        if cmod:
            self.gabor_norm = self._make_gabor_norm()
            self.gabor_norm.build((None, None, None, self.gabor_filters))

    def _make_gabor_norm(self):
        """The layer after the CMod modulus (`spec.cmod_norm`)."""
        if self.spec.cmod_norm == "modulus_batch_norm":
            return ModulusBatchNorm(
                momentum=self.bn_momentum,
                epsilon=self.bn_epsilon,
                name="gabor_bn",
                dtype=self.dtype_policy,
            )
        return Bias(name="gabor_bias", dtype=self.dtype_policy)

    def _make_pool_layer(self, kind, channels):
        """The layer of a pooling-block step with weights or a filter."""
        policy = self.dtype_policy
        if kind == "bn":
            return keras.layers.BatchNormalization(
                momentum=self.bn_momentum,
                epsilon=self.bn_epsilon,
                name="bn",
                dtype=policy,
            )
        if kind in _BLUR_STEPS:
            return BlurPool2D(self.blur_size, name=kind, dtype=policy)
        return AdaptiveBlurPool2D(
            groups=channels // self.spec.adaptive_group_size,
            filter_size=3,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            softmax="joint",
            name="adaptive_blur",
            dtype=policy,
        )

    def _make_pool_block(self, channels):
        """The layers of the pooling block, in the order of the plan."""
        layers = []
        for kind, _ in self._pool_plan:
            if kind in _LAYER_STEPS:
                layer = self._make_pool_layer(kind, channels)
                if kind not in _BLUR_STEPS:
                    layer.build((None, None, None, channels))
                layers.append(layer)
        return layers

    # -- forward -----------------------------------------------------------

    def _pool(self, x, training):
        """The family's activation + pooling block on the pooled channels."""
        layers = iter(self.pool_layers)
        for kind, arg in self._pool_plan:
            if kind == "relu":
                x = ops.relu(x)
            elif kind == "pad":
                x = ops.pad(x, ((0, 0), (arg, arg), (arg, arg), (0, 0)))
            elif kind == "max":
                x = ops.max_pool(x, arg[0], strides=arg[1], padding="valid")
            else:
                x = next(layers)(x, training=training)
        return x

    def _sizes(self, n):
        """Per-axis sizes and offsets (ints, or tensors if dynamic)."""
        m = self.conv_stride
        p, k = self.free_padding, self.free_kernel
        nf = (n + 2 * p - k) // m + 1
        ng = (n + 2 * self.gabor_padding - self.kernel_support) // m + 1
        t = self._smaller(nf, ng, self._free_is_smaller)
        return nf, ng, t

    def _crops(self, shape):
        """Sizes and offsets of both branches for an input shape."""
        out = {}
        for axis, n in (("h", shape[1]), ("w", shape[2])):
            nf, ng, t = self._sizes(n)
            r = self.total_stride // self.conv_stride
            nc = _ceil_div(t, r)
            t2 = self._smaller(nc, self._pooled_size(t),
                               self._decimated_is_smaller)
            og = round_half_even_half(ng - t)
            out[axis] = {
                "t": t,  # common size at stride m
                "free": round_half_even_half(nf - t),
                "gabor": og,
                "t2": t2,  # CMod output size
                # first input row of the direct stride-2m transform
                "start": (og + r * round_half_even_half(nc - t2))
                * self.conv_stride,
            }
        return out["h"], out["w"]

    def _gabor_input(self, x):
        """The zero-padded image of the Gabor branch (float32)."""
        P = self.gabor_padding
        return ops.pad(ops.cast(x, "float32"),
                       ((0, 0), (P, P), (P, P), (0, 0)))

    def _gabor_real(self, x, ch, cw, training=None):
        """Re Z at stride m, cropped to the free maps (RMax mode)."""
        g, _ = self.gabor.transform(None, self._gabor_input(x),
                                    training=training)
        g = _crop(g, ch["gabor"], ch["t"], cw["gabor"], cw["t"])
        return ops.cast(g, self.compute_dtype)

    def _gabor_modulus(self, x, ch, cw, training=None):
        """|Z| computed directly at stride 2m (CMod mode)."""
        lum = _crop(self._gabor_input(x), ch["start"], None, cw["start"],
                    None)
        re, im = self.gabor.transform(None, lum, training=training)
        re = _crop(re, 0, ch["t2"], 0, cw["t2"])
        im = _crop(im, 0, ch["t2"], 0, cw["t2"])
        return ops.cast(modulus(re, im, self.epsilon), self.compute_dtype)

    def call(self, inputs, training=None):
        x = image_input(inputs, "TwinStem")
        self._check_input(x.shape)
        empty = empty_batch_output(self, x)
        if empty is not None:
            return empty
        x = ops.cast(x, self.compute_dtype)
        p = self.free_padding
        free = self.free_conv(
            ops.pad(x, ((0, 0), (p, p), (p, p), (0, 0))), training=training
        )
        ch, cw = self._crops(ops.shape(x))
        free = _crop(free, ch["free"], ch["t"], cw["free"], cw["t"])
        if self.mode == "rmax":
            gabor = self._gabor_real(x, ch, cw, training)
            y = ops.concatenate([free, ops.cast(gabor, free.dtype)], axis=-1)
            return self._pool(y, training)
        # CMod: the free channels are pooled alone.
        free = self._pool(free, training)
        mod = self._gabor_modulus(x, ch, cw, training)
        g = ops.relu(self.gabor_norm(mod, training=training))
        fshape = ops.shape(free)
        of_h = round_half_even_half(fshape[1] - ch["t2"])
        of_w = round_half_even_half(fshape[2] - cw["t2"])
        free = _crop(free, of_h, ch["t2"], of_w, cw["t2"])
        return ops.concatenate([free, ops.cast(g, free.dtype)], axis=-1)

    def gabor_response(self, inputs, mode=None):
        """The Gabor channels' operator output, before bias / norm / ReLU.

        `"rmax"`: `MaxPool(3, 2)(Re Z)` with the family's pooling padding
        (the standard first layer's pooling); `"cmod"`: `|Z|` at stride
        `2m`. Both use this layer's Gabor weights and crops, so the two
        responses are on the same output grid (the max-pooling window of
        output `n` is centred on the CMod sample `n`). Bias, normalisation
        and ReLU are left out: they commute with the max and are per-channel
        affine for both. Useful to compare the operators (e.g. their
        stability to shifts) on the same kernels.

        Args:
            inputs: `(batch, height, width, 3)` images.
            mode: `"rmax"`, `"cmod"` or `None` (this layer's mode).

        Returns:
            `(batch, h, w, gabor_filters)` float tensor.
        """
        mode = self.mode if mode is None else mode
        if mode not in MODES:
            raise ValueError(
                f"mode must be one of {list(MODES)}. Received: mode={mode!r}"
            )
        if not self.built:
            self.build(tuple(inputs.shape))
        ch, cw = self._crops(ops.shape(inputs))
        if mode == "cmod":
            if self.gabor.output_mode != "complex":
                raise ValueError(
                    "gabor_response(mode='cmod') needs a TwinStem built with "
                    "mode='cmod' (complex Gabor outputs)."
                )
            return self._gabor_modulus(inputs, ch, cw)
        if self.gabor.output_mode == "complex":
            raise ValueError(
                "gabor_response(mode='rmax') needs a TwinStem built with "
                "mode='rmax'; copy the Gabor weights into one."
            )
        re = self._gabor_real(inputs, ch, cw)
        spec = self.spec
        pad = spec.pool_padding
        if pad:
            re = ops.pad(re, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                         constant_values=-1e30)
        return ops.max_pool(re, spec.pool_size, strides=spec.pool_stride,
                            padding="valid")

    # -- shapes, cost, config ---------------------------------------------

    def _pooled_size(self, n):
        for kind, arg in self._pool_plan:
            n = _step_size(kind, arg, n)
        return n

    def _output_size(self, n):
        if n is None:
            return None
        _, _, t = self._sizes(n)
        pooled = self._pooled_size(t)
        if self.mode == "rmax":
            return pooled
        r = self.total_stride // self.conv_stride
        return min(_ceil_div(t, r), pooled)

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            self._output_size(input_shape[1]),
            self._output_size(input_shape[2]),
            self.free_filters + self.gabor_filters,
        )

    def macs(self, input_shape):
        """Multiply-accumulates per example of the convolutions."""
        n_h, n_w = input_shape[1:3]
        p, k, m = self.free_padding, self.free_kernel, self.conv_stride
        fh = conv_output_size(n_h, k, m, 2 * p)
        fw = conv_output_size(n_w, k, m, 2 * p)
        free = fh * fw * self.free_filters * k * k * 3
        P = self.gabor_padding
        gabor = self.gabor.macs((1, n_h + 2 * P, n_w + 2 * P, 3))
        return int(free + gabor)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "family": self.family,
                "mode": self.mode,
                "antialias": self.antialias,
                "blur_size": self.blur_size,
                "epsilon": self.epsilon,
                "bn_epsilon": self.bn_epsilon,
                "bn_momentum": self.bn_momentum,
                "packet_penalty": self.packet_penalty,
            }
        )
        return config
