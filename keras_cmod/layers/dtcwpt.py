"""DTCWPT2D: the dual-tree complex wavelet packet transform as a layer.

The transform runs as a separable cascade of depthwise 1-D convolutions
(vertical then horizontal at each stage, strided stages first, then
undecimated stages with growing dilation), exactly as the filter bank of
`keras_cmod.wavelets.dtcwpt`. Only the branches leading to the requested
packets are computed, and a fully decimated transform is computed directly
(never an undecimated last stage followed by subsampling).
"""

import keras
import numpy as np
from keras import ops

from keras_cmod.layers._utils import conv_output_size, empty_batch_output
from keras_cmod.wavelets import dtcwpt as wt
from keras_cmod.wavelets import plans
from keras_cmod.wavelets.plans import (  # noqa: F401 (public names)
    CascadePlan,
    FusedPlan,
    complex_combination,
    needed_maps,
)

#: Deepest transform a layer accepts: the twin models use 2 and 3; depth 4
#: already has 512 complex packets of 138x138 taps, and a depth-10 transform
#: would run for minutes at gigabytes of memory.
MAX_DEPTH = 4


def check_image_input(input_shape, layer_name, channels=None, min_size=1):
    """The input check of the DT-CWPT layer family (`DTCWPT2D`,
    `DTCWPTConv2D`, `TwinStem`, `CModConv2D`), run in `build` and on
    every call with known sizes.

    Rank 4 `(batch, height, width, channels)`, a defined channel count
    (`channels` if given) and a known height / width of at least
    `min_size`; a ValueError naming the shape and what is allowed
    otherwise.
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if shape is None or len(shape) != 4:
        raise ValueError(
            f"{layer_name} expects a rank-4 input (batch, height, width, "
            f"channels). Received: input_shape={input_shape!r}"
        )
    if shape[-1] is None:
        raise ValueError(
            f"{layer_name}: the channel dimension must be defined. "
            f"Received: input_shape={shape}"
        )
    if channels is not None and shape[-1] != channels:
        raise ValueError(
            f"{layer_name} expects {channels} input channels "
            f"(channels_last). Received: input_shape={shape}"
        )
    for axis, name in ((1, "height"), (2, "width")):
        n = shape[axis]
        if n is not None and not isinstance(n, int):
            continue  # a symbolic size
        if n is not None and n < min_size:
            raise ValueError(
                f"{layer_name} needs a {name} of at least {min_size} "
                f"pixels. Received: input_shape={shape}"
            )
    return shape


def image_input(inputs, layer_name):
    """Integer and boolean images cast to float32 (values unchanged, e.g.
    uint8 0..255); float inputs pass; complex or string inputs raise a
    TypeError naming the dtype. The same rule for every layer of the
    family."""
    kind = keras.backend.standardize_dtype(inputs.dtype)
    if kind.startswith(("float", "bfloat")):
        return inputs
    if kind.startswith(("int", "uint", "bool")):
        return ops.cast(inputs, "float32")
    raise TypeError(
        f"{layer_name} expects a real (float or integer) image. "
        f"Received: dtype={kind}"
    )


def check_depth(depth):
    """An int in `1..MAX_DEPTH`; TypeError / ValueError naming it."""
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise TypeError(
            f"depth must be an int in 1..{MAX_DEPTH}. Received: "
            f"depth={depth!r} (of type {type(depth).__name__})"
        )
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(
            f"depth must be an int in 1..{MAX_DEPTH}. Received: depth={depth}"
        )
    return int(depth)


IMPLEMENTATIONS = ("auto", "fused", "cascade")


def check_implementation(implementation):
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {list(IMPLEMENTATIONS)}. "
            f"Received: implementation={implementation!r}"
        )
    return implementation


def make_plan(implementation, n_channels, depth, stride, needed,
              wavelet="qshift_a"):
    """The plan of `implementation`: `"auto"` and `"fused"` give the fused
    plan (the one path of the layers), `"cascade"` the stage-by-stage one
    (an independent check of it).

    Measured on TensorFlow / CPU: forward, the two fused passes run 1.6-3.5x
    faster than the stage-by-stage cascade; the layers never run a backward
    pass through the transform (see `DTCWPTConv2D`).
    """
    kind = check_implementation(implementation)
    return plans.make_plan("cascade" if kind == "cascade" else "fused",
                           n_channels, depth, stride, needed, wavelet)


def _filter_last_axis(x, kernel, stride, dilation):
    """Depthwise 1-D filter of an NHWC tensor along its width, with the
    batch and height folded together: `(n, h, w, c)` runs as a 1-D
    depthwise convolution of `(n * h, w, c)`."""
    n, h, w, c = ops.shape(x)
    symbolic = n is None or h is None  # Keras tensors (shapes only)
    y = ops.reshape(x, (-1 if symbolic else n * h, w, c))
    y = ops.depthwise_conv(y, kernel, strides=stride, padding="valid",
                           dilation_rate=dilation)
    if symbolic:
        return keras.KerasTensor((n, h) + tuple(y.shape[1:]), dtype=y.dtype)
    return ops.reshape(y, (n, h) + tuple(ops.shape(y)[1:]))


def depthwise_conv_1d(x, kernel, axis, stride, dilation):
    """Depthwise 1-D cross-correlation of an NHWC tensor along `axis`
    (1: height, 2: width), at `stride` with `dilation`.

    `kernel` has shape `(taps, channels, multiplier)`; output channel
    `c * multiplier + j` is channel `c` filtered by `kernel[:, c, j]`.

    Every pass runs as a 1-D depthwise convolution of a tensor whose other
    spatial axis is folded into the batch (a height pass transposes height
    and width around it). A 2-D depthwise convolution with `(s, 1)`
    strides runs on oneDNN, JAX and PyTorch but not on TensorFlow's own
    CPU and GPU kernels; the 1-D form runs everywhere (TensorFlow runs it
    as a 2-D one on a height-1 map with equal `(s, s)` strides), with a
    dynamic image size too, and converts to TFLite and ONNX. So the same
    ops run on every machine, in eager calls, `fit`, `predict` and
    exported graphs.
    """
    k = ops.convert_to_tensor(kernel, x.dtype)  # (taps, c, m)
    if axis == 2:
        return _filter_last_axis(x, k, stride, dilation)
    y = _filter_last_axis(ops.transpose(x, (0, 2, 1, 3)), k, stride,
                          dilation)
    return ops.transpose(y, (0, 2, 1, 3))


def apply_plan(plan, x):
    """Runs a `keras_cmod.wavelets.plans` plan on an NHWC tensor (already
    padded).

    The filter bank runs in float32 whatever the input dtype (it is fixed
    and cheap; this keeps mixed precision exact and portable); the result
    is float32.
    """
    x = ops.cast(x, "float32")
    if isinstance(plan, plans.FusedPlan):
        stages = [{"v_gather": plan.v_gather, "v_kernel": plan.v_kernel,
                   "h_gather": plan.h_gather, "h_kernel": plan.h_kernel,
                   "stride": plan.stride, "dilation": 1}]
    else:
        stages = [dict(st, v_kernel=st["v_kernel"][:, 0],
                       h_kernel=st["h_kernel"][0]) for st in plan.stages]
    for st in stages:
        s, d = st["stride"], st["dilation"]
        if st["v_gather"] is not None:
            x = ops.take(x, st["v_gather"], axis=-1)
        x = depthwise_conv_1d(x, st["v_kernel"], 1, s, d)
        if st["h_gather"] is not None:
            x = ops.take(x, st["h_gather"], axis=-1)
        x = depthwise_conv_1d(x, st["h_kernel"], 2, s, d)
    return x


def check_output(output_mode):
    if output_mode not in ("complex", "real"):
        raise ValueError(
            "output_mode must be 'complex' or 'real'. "
            f"Received: output_mode={output_mode!r}"
        )


def check_packets(depth, packets):
    n = 2 * 4**depth
    if packets is None:
        return list(range(n))
    packets = [int(p) for p in packets]
    bad = [p for p in packets if not 0 <= p < n]
    if bad or not packets:
        raise ValueError(
            f"packets must be a non-empty list of complex packet indices in "
            f"0..{n - 1} for depth={depth}. Received: packets={packets}"
        )
    return packets


@keras.saving.register_keras_serializable(package="keras_cmod")
class DTCWPT2D(keras.layers.Layer):
    """Dual-tree complex wavelet packet transform of each input channel.

    A fixed (non-trainable) filter bank: Kingsbury's Q-shift filters in the
    Bayram-Selesnick dual-tree packet structure of the twin models, with the
    analytic step (see `keras_cmod.wavelets.dtcwpt`). The input is zero
    padded by `padding` on each side, then transformed by a separable
    cascade. Output channels are grouped by input channel, then by packet
    (in the order of `packets`), then (Re, Im) when `output_mode="complex"`.

    Args:
        depth: int >= 1, number of decomposition stages `J`.
        stride: int, total stride, a power of two in `1 .. 2**depth`.
            Defaults to `2**depth` (fully decimated).
        output_mode: `"complex"` (Re, Im channel pairs) or `"real"` (real
            parts).
        packets: list of complex packet indices to keep, in output order
            (`psi_a` packets `0..4**J-1`, then `psi_b`). Defaults to all
            `2 * 4**J` packets.
        padding: int, zero padding per side. Defaults to the reference
            padding `keras_cmod.wavelets.dtcwpt_padding(depth, stride)`.
        wavelet: str, Q-shift set. Defaults to `"qshift_a"`.
        implementation: `"auto"` or `"fused"` (each branch's stage filters
            composed into one equivalent 1-D filter: one vertical and one
            horizontal pass at the total stride, the fast path), or
            `"cascade"` (stage by stage, as the filter bank is defined; an
            independent check). Same result to float32 round-off.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, h, w, channels * len(packets) * (2 if complex else 1))`
        with `h = (height + 2 * padding - S) // stride + 1`, where
        `S = 12 + 9 * (2**depth - 2)` is the kernel support.

    Example:
    >>> layer = keras_cmod.layers.DTCWPT2D(depth=2, stride=2, padding=14)
    >>> layer(np.zeros((1, 40, 40, 1))).shape
    (1, 20, 20, 64)

    Reference:
        - I. Bayram and I. W. Selesnick, "On the Dual-Tree Complex Wavelet
          Packet and M-Band Transforms", IEEE TSP 2008.
        - Leterme et al., "From CNNs to Shift-Invariant Twin Models Based on
          Complex Wavelets", EUSIPCO 2024.
    """

    def __init__(
        self,
        depth,
        stride=None,
        output_mode="complex",
        packets=None,
        padding=None,
        wavelet="qshift_a",
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.implementation = check_implementation(implementation)
        depth = check_depth(depth)
        stride = 2**depth if stride is None else stride
        wt._check_stride(depth, stride)
        check_output(output_mode)
        wt.qshift_filters(wavelet)  # validates the name
        self.depth = depth
        self.stride = int(stride)
        self.output_mode = output_mode
        self.packets = check_packets(depth, packets)
        if padding is None:
            padding = wt.dtcwpt_padding(depth, self.stride, wavelet)
        if isinstance(padding, bool) or not isinstance(padding, int) or (
            padding < 0
        ):
            raise ValueError(
                f"padding must be an int >= 0. Received: padding={padding!r}"
            )
        self.padding = padding
        self.wavelet = wavelet
        self.kernel_support = wt.kernel_size(depth, wavelet)

    def build(self, input_shape):
        check_image_input(input_shape, "DTCWPT2D",
                          min_size=self.min_input_size())
        channels = input_shape[-1]
        needed = []
        for c in range(channels):
            needed += needed_maps(
                self.depth, self.packets, self.output_mode, c
            )
        plan = make_plan(self.implementation, channels, self.depth,
                         self.stride, needed, self.wavelet)
        cols = []
        for c in range(channels):
            re, im = complex_combination(
                self.depth, self.wavelet, self.packets, plan, c
            )
            if self.output_mode == "complex":
                cols.append(np.stack([re, im], axis=-1).reshape(len(re), -1))
            else:
                cols.append(re)
        self._plan = plan
        self._combine = np.concatenate(cols, axis=1)

    def min_input_size(self):
        """Smallest height / width with at least one output sample."""
        return max(1, self.kernel_support - 2 * self.padding)

    def call(self, inputs, training=None):
        inputs = image_input(inputs, "DTCWPT2D")
        check_image_input(inputs.shape, "DTCWPT2D",
                          min_size=self.min_input_size())
        empty = empty_batch_output(self, inputs)
        if empty is not None:
            return empty
        p = self.padding
        x = ops.pad(inputs, ((0, 0), (p, p), (p, p), (0, 0)))
        x = apply_plan(self._plan, x)
        y = ops.matmul(x, ops.convert_to_tensor(self._combine, "float32"))
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        h, w = (
            conv_output_size(s, self.kernel_support, self.stride,
                             2 * self.padding)
            for s in input_shape[1:3]
        )
        per = len(self.packets) * (1 + (self.output_mode == "complex"))
        channels = input_shape[-1]
        return (input_shape[0], h, w,
                None if channels is None else channels * per)

    def macs(self, input_shape):
        """Multiply-accumulates per example of the cascade and combination."""
        h, w = input_shape[1] + 2 * self.padding, input_shape[2] + (
            2 * self.padding
        )
        oh, ow = self.compute_output_shape(input_shape)[1:3]
        return int(
            self._plan.macs_per_pixel() * h * w
            + oh * ow * self._combine.size
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth": self.depth,
                "stride": self.stride,
                "output_mode": self.output_mode,
                "packets": list(self.packets),
                "padding": self.padding,
                "wavelet": self.wavelet,
                "implementation": self.implementation,
            }
        )
        return config
