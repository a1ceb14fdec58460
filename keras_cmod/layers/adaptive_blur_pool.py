"""AdaptiveBlurPool2D: content-aware low-pass filtering (Zou et al.)."""

import keras
from keras import ops

from keras_cmod.layers._utils import (
    check_defined_channels,
    check_float,
    check_int,
    check_rank,
    check_spatial,
    empty_batch_output,
    float_input,
)
from keras_cmod.layers.blur_pool import blur_padding, pad_reflect_safe


@keras.saving.register_keras_serializable(package="keras_cmod")
class AdaptiveBlurPool2D(keras.layers.Layer):
    """Pixel-adaptive, group-wise low-pass filtering, then subsampling.

    A small convolution predicts, at every position and for every group of
    channels, a `k x k` low-pass kernel: `sigma = softmax_taps(BN(conv(x)))`
    (the softmax over the `k^2` taps of a group makes the kernel positive
    and normalised). Each channel of group `g` is then filtered with the
    kernel of that group, `y_c = sum_t sigma_{g,t} x_pad(. + t)`, and the
    result is subsampled by `strides` (see `softmax` for how the predicted
    kernels are normalised). Input padding is reflect (symmetric
    on maps smaller than the padding). Channel `g * k^2 + t` of the
    predicted map is tap `t = k * di + dj` of group `g`; group `g` holds the
    contiguous channels `[g * C/G, (g + 1) * C/G)`.

    Args:
        groups: int, number of channel groups `G` (must divide the channels).
            Defaults to `8`.
        filter_size: int, kernel size `k` (odd). Defaults to `3`.
        strides: int, subsampling factor. Defaults to `2`.
        momentum: float, moving-average momentum of the batch norm (Keras
            convention). Defaults to `0.9` (PyTorch's 0.1).
        softmax: `"group"` (each group's `k^2` taps sum to 1, as Zou et
            al.'s paper describes: a constant map stays constant) or
            `"joint"` (one softmax over all `G k^2` predicted channels, as
            Zou et al.'s released code does, `nn.Softmax(dim=1)`: the models
            of the paper were trained that way, so keras-cmod's zoo uses
            it and their PyTorch checkpoints import with identical outputs).
            Defaults to `"group"`.
        epsilon: float, batch-norm epsilon. Defaults to `1e-5`.
        kernel_initializer: initializer of the prediction convolution.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), channels)`.

    Example:
    >>> layer = keras_cmod.layers.AdaptiveBlurPool2D(groups=2)
    >>> layer(np.zeros((1, 8, 8, 4))).shape
    (1, 4, 4, 4)

    Reference:
        - X. Zou, F. Xiao, Z. Yu, Y. Li, Y. J. Lee, "Delving Deeper into
          Anti-aliasing in ConvNets", IJCV 2023 (BMVC 2020).
    """

    def __init__(
        self,
        groups=8,
        filter_size=3,
        strides=2,
        momentum=0.9,
        epsilon=1e-5,
        kernel_initializer="he_normal",
        softmax="group",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if softmax not in ("group", "joint"):
            raise ValueError(
                "softmax must be 'group' or 'joint'. "
                f"Received: softmax={softmax!r}"
            )
        self.softmax = softmax
        groups = check_int(groups, "groups", 1)
        filter_size = check_int(filter_size, "filter_size", 1)
        strides = check_int(strides, "strides", 1)
        if filter_size % 2 == 0:
            raise ValueError(
                "filter_size must be odd. "
                f"Received: filter_size={filter_size}"
            )
        self.groups = groups
        self.filter_size = filter_size
        self.strides = strides
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0,
                                    include_maximum=False)
        self.epsilon = check_float(epsilon, "epsilon", 0.0,
                                   include_minimum=False)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        check_rank(input_shape, 4, "AdaptiveBlurPool2D")
        check_defined_channels(input_shape, "AdaptiveBlurPool2D")
        check_spatial(input_shape, 1, "AdaptiveBlurPool2D")
        channels = input_shape[-1]
        if channels % self.groups:
            raise ValueError(
                f"groups={self.groups} must divide the number of channels. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        k = self.filter_size
        self.conv = keras.layers.Conv2D(
            self.groups * k * k,
            k,
            padding="valid",
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            name="conv",
            dtype=self.dtype_policy,
        )
        padded = [None if s is None else s + k - 1 for s in input_shape[1:3]]
        self.conv.build((input_shape[0], *padded, channels))
        self.bn = keras.layers.BatchNormalization(
            momentum=self.momentum,
            epsilon=self.epsilon,
            name="bn",
            dtype=self.dtype_policy,
        )
        self.bn.build((input_shape[0], *input_shape[1:3], self.groups * k * k))

    def call(self, inputs, training=None):
        check_rank(inputs.shape, 4, "AdaptiveBlurPool2D")
        check_spatial(inputs.shape, 1, "AdaptiveBlurPool2D")
        inputs = float_input(inputs, self.compute_dtype, "AdaptiveBlurPool2D")
        empty = empty_batch_output(self, inputs)
        if empty is not None:
            return empty
        k, s, g = self.filter_size, self.strides, self.groups
        p = blur_padding(k)
        x = pad_reflect_safe(inputs, (p, p))
        logits = self.bn(self.conv(x), training=training)
        # Only the kept positions are filtered.
        logits = logits[:, ::s, ::s, :]
        shape = ops.shape(logits)
        if self.softmax == "joint":
            logits = ops.softmax(logits, axis=-1)
        sigma = ops.reshape(logits, (shape[0], shape[1], shape[2], g, k * k))
        if self.softmax == "group":
            sigma = ops.softmax(sigma, axis=-1)
        c = inputs.shape[-1]
        out = None
        for di in range(k):
            for dj in range(k):
                patch = x[:, di::s, dj::s, :][:, : shape[1], : shape[2], :]
                patch = ops.reshape(
                    patch, (shape[0], shape[1], shape[2], g, c // g)
                )
                term = patch * sigma[..., di * k + dj : di * k + dj + 1]
                out = term if out is None else out + term
        return ops.reshape(out, (shape[0], shape[1], shape[2], c))

    def compute_output_shape(self, input_shape):
        def out(n):
            return None if n is None else (n - 1) // self.strides + 1

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]),
                input_shape[3])

    def macs(self, input_shape):
        _, h, w, c = input_shape
        k = self.filter_size
        oh, ow = self.compute_output_shape(input_shape)[1:3]
        return h * w * c * k * k * self.groups * k * k + oh * ow * c * k * k

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "groups": self.groups,
                "filter_size": self.filter_size,
                "strides": self.strides,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "softmax": self.softmax,
            }
        )
        return config
