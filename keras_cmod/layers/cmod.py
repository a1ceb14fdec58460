"""CModConv2D: complex convolution as two real convolutions, then modulus."""

import keras
from keras import ops

from keras_cmod.layers._utils import (
    check_modulus_epsilon,
    conv_output_size,
    empty_batch_output,
    fresh_initializer,
    modulus,
    normalize_padding,
    normalize_pair,
    pad_hw,
)
from keras_cmod.layers.dtcwpt import check_image_input, image_input


@keras.saving.register_keras_serializable(package="keras_cmod")
class CModConv2D(keras.layers.Layer):
    """Complex convolution followed by the modulus (CMod).

    Computes `|x (*) (W_re + i W_im)| = sqrt((x (*) W_re)^2 + (x (*) W_im)^2)`
    with two trainable real kernels, where `(*)` is cross-correlation with
    explicit zero padding and stride. In a CNN's first layer this replaces
    "real convolution + max pooling" (RMax) for Gabor-like kernels; use twice
    the stride of the convolution it replaces. The modulus is computed in
    float32 as `sqrt(max(re^2 + im^2, epsilon))` with a floor far below
    float32 resolution (`1e-30`): the value is the exact modulus to float32
    round-off, its gradient is finite at 0 and float16 inputs cannot
    overflow; the optional bias is added after the modulus.

    Args:
        filters: int, number of complex output channels.
        kernel_size: int or tuple of 2 ints.
        strides: int or tuple of 2 ints. Defaults to `1`.
        padding: int or `((top, bottom), (left, right))` explicit zero
            padding, then a "valid" convolution. Defaults to `0`.
        use_bias: bool, add a trainable bias after the modulus.
        epsilon: float >= 0, floor under `|z|^2`. Defaults to `1e-30`
            (exact modulus, finite gradient at 0).
        kernel_initializer: initializer of both real kernels.
        bias_initializer: initializer of the bias.
        kernel_regularizer: optional regularizer of both kernels.

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        4D tensor `(batch, new_height, new_width, filters)`.

    Example:
    >>> layer = keras_cmod.layers.CModConv2D(8, 7, strides=4, padding=3)
    >>> layer(np.zeros((2, 64, 64, 3))).shape
    (2, 16, 16, 8)

    Reference:
        - Leterme et al., "From CNNs to Shift-Invariant Twin Models Based on
          Complex Wavelets", EUSIPCO 2024.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding=0,
        use_bias=False,
        epsilon=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or (
            filters < 1
        ):
            raise ValueError(
                f"filters must be a positive int. Received: filters={filters!r}"
            )
        self.filters = filters
        self.kernel_size = normalize_pair(kernel_size, "kernel_size")
        self.strides = normalize_pair(strides, "strides")
        if min(self.kernel_size) < 1 or min(self.strides) < 1:
            raise ValueError(
                "kernel_size and strides must be >= 1. Received: "
                f"kernel_size={kernel_size!r}, strides={strides!r}"
            )
        self.padding = normalize_padding(padding)
        self.use_bias = bool(use_bias)
        self.epsilon = check_modulus_epsilon(epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        check_image_input(input_shape, "CModConv2D")
        channels = input_shape[-1]
        self._check_sizes(input_shape)
        shape = self.kernel_size + (channels, self.filters)
        self.real_kernel = self.add_weight(
            name="real_kernel",
            shape=shape,
            initializer=fresh_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        self.imag_kernel = self.add_weight(
            name="imag_kernel",
            shape=shape,
            initializer=fresh_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
            )

    def _check_sizes(self, input_shape):
        for size, k, (p0, p1) in zip(
            input_shape[1:3], self.kernel_size, self.padding
        ):
            if isinstance(size, int) and size + p0 + p1 < k:
                raise ValueError(
                    f"CModConv2D needs a height and width of at least "
                    f"{k - p0 - p1} pixels (kernel_size={self.kernel_size}, "
                    f"padding={self.padding}). Received: "
                    f"input_shape={tuple(input_shape)}"
                )

    def call(self, inputs):
        inputs = image_input(inputs, "CModConv2D")
        check_image_input(inputs.shape, "CModConv2D",
                          channels=self.real_kernel.shape[2])
        self._check_sizes(inputs.shape)
        empty = empty_batch_output(self, inputs)
        if empty is not None:
            return empty
        x = pad_hw(ops.cast(inputs, self.compute_dtype), self.padding)
        # One convolution with the two kernels side by side.
        kernel = ops.concatenate([self.real_kernel, self.imag_kernel], axis=-1)
        y = ops.conv(x, kernel, strides=self.strides, padding="valid")
        out = modulus(y[..., : self.filters], y[..., self.filters :],
                      self.epsilon)
        if self.use_bias:
            out = out + ops.cast(self.bias, out.dtype)
        return out

    def compute_output_shape(self, input_shape):
        h, w = (
            conv_output_size(s, k, st, sum(p))
            for s, k, st, p in zip(
                input_shape[1:3], self.kernel_size, self.strides, self.padding
            )
        )
        return (input_shape[0], h, w, self.filters)

    def macs(self, input_shape):
        """Multiply-accumulates per example (two real convs + modulus)."""
        _, h, w, _ = self.compute_output_shape(input_shape)
        k = self.kernel_size[0] * self.kernel_size[1] * input_shape[-1]
        return 2 * h * w * self.filters * k

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "epsilon": self.epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
            }
        )
        return config
