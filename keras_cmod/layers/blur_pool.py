"""BlurPool2D: fixed binomial low-pass filtering, then subsampling."""

import keras
import numpy as np
from keras import ops

from keras_cmod.wavelets.blur import binomial_filter_2d


def blur_padding(filter_size):
    """(before, after) padding that keeps the blur centred on each sample."""
    return (filter_size - 1) // 2, filter_size // 2


def pad_reflect_safe(x, pads):
    """Reflect padding that also works on maps smaller than the padding.

    Reflect padding needs `pad < size`. CIFAR-sized inputs reach 1- or
    2-pixel maps, so on such (static) sizes the padding falls back to
    repeated symmetric padding (edge values mirrored, one pass at a time),
    which keeps a constant map constant instead of failing.
    """
    (t, b), (left, r) = pads
    if t == b == left == r == 0:
        return x
    h, w = x.shape[1], x.shape[2]
    small = (h is not None and max(t, b) >= h) or (
        w is not None and max(left, r) >= w
    )
    if not small:
        return ops.pad(x, ((0, 0), (t, b), (left, r), (0, 0)),
                       mode="reflect")
    while t or b or left or r:
        h, w = x.shape[1], x.shape[2]
        step = [min(v, n) for v, n in ((t, h), (b, h), (left, w), (r, w))]
        x = ops.pad(x, ((0, 0), tuple(step[:2]), tuple(step[2:]), (0, 0)),
                    mode="symmetric")
        t, b, left, r = (v - d for v, d in zip((t, b, left, r), step))
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
        self._kernel_2d = binomial_filter_2d(filter_size)  # validates
        if isinstance(strides, bool) or not isinstance(strides, int) or (
            strides < 1
        ):
            raise ValueError(
                f"strides must be a positive int. Received: strides={strides!r}"
            )
        self.filter_size = int(filter_size)
        self.strides = strides

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "The channel dimension must be defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self._kernel = np.tile(
            self._kernel_2d[:, :, None, None], (1, 1, channels, 1)
        ).astype("float32")

    def call(self, inputs):
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
