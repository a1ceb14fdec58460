"""BlurPool2D: fixed binomial low-pass filtering, then subsampling."""

import keras
import numpy as np
from keras import ops

from keras_cmod.layers._utils import (
    check_defined_channels,
    check_int,
    check_rank,
    check_spatial,
    empty_batch_output,
    float_input,
)
from keras_cmod.wavelets.blur import BLUR_SIZES, binomial_filter_2d


def blur_padding(filter_size):
    """(before, after) padding that keeps the blur centred on each sample."""
    return (filter_size - 1) // 2, filter_size // 2


def _static_pad_indices(n, before, after):
    """Source rows of the padded axis (numpy), for a known size `n >= 1`.

    Reflect when both pads are smaller than `n`; otherwise repeated
    symmetric padding, one pass of at most the current size at a time (a
    constant map stays constant). Every pass makes progress since the
    size is at least 1.
    """
    if max(before, after) < n:
        i = np.abs(np.arange(-before, n + after))
        return np.where(i > n - 1, 2 * (n - 1) - i, i)
    idx = np.arange(n)
    while before or after:
        m = len(idx)
        a, b = min(before, m), min(after, m)
        k = np.arange(-a, m + b)
        k = np.where(k < 0, -k - 1, np.where(k >= m, 2 * m - k - 1, k))
        idx = idx[k]
        before, after = before - a, after - b
    return idx


def _dynamic_pad_indices(n, before, after):
    """`_static_pad_indices` with ops, for a size known only at run time.

    The same rows for every `n >= 1`, without branching on `n`: both
    candidate index vectors are computed (the symmetric passes with a
    fixed count, `max(before, after)`, each pass possibly empty) and the
    reflect one is selected where it applies. Indices are clipped to
    `[0, n - 1]`, so no runtime ever reads outside the map.
    """
    n = ops.cast(n, "int32")
    last = ops.maximum(n - 1, 0)
    i = ops.abs(ops.arange(-before, n + after, dtype="int32"))
    reflect = ops.where(i > last, 2 * last - i, i)
    idx = ops.arange(0, n, dtype="int32")
    m, rb, ra = n, before, after
    for _ in range(max(before, after)):
        a, b = ops.minimum(rb, m), ops.minimum(ra, m)
        k = ops.arange(-a, m + b, dtype="int32")
        k = ops.where(k < 0, -k - 1, ops.where(k >= m, 2 * m - k - 1, k))
        idx = ops.take(idx, ops.clip(k, 0, ops.maximum(m - 1, 0)))
        m, rb, ra = m + a + b, rb - a, ra - b
    symmetric = ops.reshape(idx, (-1,))
    use_reflect = ops.less(max(before, after), n)
    out = ops.where(use_reflect, reflect, symmetric)
    return ops.clip(out, 0, last)


def pad_reflect_safe(x, pads):
    """Reflect padding of an NHWC map that also works on small maps.

    Reflect padding needs `pad < size`. CIFAR-sized inputs and AlexNet at
    63-80 px reach 1- or 2-pixel maps; on such an axis the padding falls
    back to repeated symmetric padding (edge values mirrored, one pass at
    a time), which keeps a constant map constant. Each axis is decided on
    its own. Known sizes use a gather of constant rows; sizes known only
    at run time use a gather whose rows are computed with ops,
    so the result is the same for every size in every runtime (TF, TFLite,
    ONNX, JAX). Empty maps are rejected; empty batches pass.

    Known sizes gather constant rows too rather than calling a reflect pad:
    TensorFlow's `MirrorPad` refuses an empty batch, and a gather is
    portable to every converter.
    """
    (t, b), (left, r) = pads
    if t == b == left == r == 0:
        return x
    static = x.shape
    for axis, name in ((1, "height"), (2, "width")):
        if static[axis] == 0:
            raise ValueError(
                f"Cannot pad an empty map: the {name} is 0. "
                f"Received: input_shape={tuple(static)}"
            )
    dynamic = None
    for axis, (before, after) in ((1, (t, b)), (2, (left, r))):
        if before == after == 0:
            continue
        n = static[axis]
        if n is not None:
            idx = _static_pad_indices(n, before, after).astype("int32")
        else:
            if dynamic is None:
                dynamic = ops.shape(x)
            idx = _dynamic_pad_indices(dynamic[axis], before, after)
        x = ops.take(x, idx, axis=axis)
    return x


@keras.saving.register_keras_serializable(package="keras_cmod")
class BlurPool2D(keras.layers.Layer):
    """Anti-aliased downsampling: binomial blur per channel, then stride.

    Each channel is reflect-padded, filtered with the normalised binomial
    kernel `b b^T` (`b = [1, 2, 1] / 4` for `filter_size=3`) and subsampled.
    The filter is a constant derived from the configuration, not a weight.
    Maps smaller than the padding fall back to symmetric padding.

    Args:
        filter_size: int in 1..7. `1` is plain subsampling. Defaults to `3`.
        strides: int, subsampling factor. Defaults to `2`.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), channels)`
        for odd filter sizes.

    Example:
    >>> keras_cmod.layers.BlurPool2D()(np.zeros((1, 8, 8, 4))).shape
    (1, 4, 4, 4)

    Reference:
        - R. Zhang, "Making Convolutional Networks Shift-Invariant Again",
          ICML 2019.
    """

    def __init__(self, filter_size=3, strides=2, **kwargs):
        super().__init__(**kwargs)
        filter_size = check_int(filter_size, "filter_size", min(BLUR_SIZES),
                                max(BLUR_SIZES))
        strides = check_int(strides, "strides", 1)
        self._kernel_2d = binomial_filter_2d(filter_size)
        self.filter_size = filter_size
        self.strides = strides

    def build(self, input_shape):
        check_rank(input_shape, 4, "BlurPool2D")
        check_defined_channels(input_shape, "BlurPool2D")
        check_spatial(input_shape, 1, "BlurPool2D")
        channels = input_shape[-1]
        self._kernel = np.tile(
            self._kernel_2d[:, :, None, None], (1, 1, channels, 1)
        ).astype("float32")

    def call(self, inputs):
        check_rank(inputs.shape, 4, "BlurPool2D")
        check_spatial(inputs.shape, 1, "BlurPool2D")
        inputs = float_input(inputs, self.compute_dtype, "BlurPool2D")
        empty = empty_batch_output(self, inputs)
        if empty is not None:
            return empty
        s = self.strides
        if self.filter_size == 1:
            return inputs[:, ::s, ::s, :]
        p = blur_padding(self.filter_size)
        x = pad_reflect_safe(inputs, (p, p))
        return ops.depthwise_conv(
            x, ops.cast(self._kernel, x.dtype), strides=s, padding="valid"
        )

    def compute_output_shape(self, input_shape):
        def out(n):
            if n is None:
                return None
            if self.filter_size == 1:
                return (n - 1) // self.strides + 1
            return (n + self.filter_size - 1 - self.filter_size) // (
                self.strides
            ) + 1

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]),
                input_shape[3])

    def macs(self, input_shape):
        _, h, w, c = self.compute_output_shape(input_shape)
        return h * w * c * self.filter_size**2

    def get_config(self):
        config = super().get_config()
        config.update(
            {"filter_size": self.filter_size, "strides": self.strides}
        )
        return config
