"""ModulusBatchNorm ("BN0") and Bias: what follows a CMod modulus."""

import keras
from keras import ops

from keras_cmod.layers._utils import (
    check_defined_channels,
    check_float,
    check_rank,
    empty_batch_output,
    float_input,
)


@keras.saving.register_keras_serializable(package="keras_cmod")
class ModulusBatchNorm(keras.layers.Layer):
    """Batch normalisation without centring, for CMod modulus maps ("BN0").

    `y = x / sqrt(E[x^2] / 2 + epsilon) * |gamma| + beta`, where `E[x^2]` is
    the mean second moment of each channel over the batch and the spatial
    positions. For a zero-mean band-pass complex output `Z`, `||Re Z||^2 =
    ||Z||^2 / 2`, so this matches the scale a standard batch norm would give
    the real part (paper, Props. 1-2). A moving second moment
    (`moving_energy`, initialised to 1) is updated during training as
    `moving = momentum * moving + (1 - momentum) * E[x^2]` and used at
    inference; a frozen layer (`trainable=False`) always runs in inference
    mode, as Keras' `BatchNormalization`. Computed in float32 under mixed
    precision.

    Args:
        momentum: float, moving-average momentum (Keras convention; 0.9
            equals PyTorch's `momentum=0.1`).
        epsilon: float, added to the variance estimate. Defaults to `1e-5`.

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        Same as the input.

    Example:
    >>> bn0 = keras_cmod.layers.ModulusBatchNorm()
    >>> bn0(np.ones((2, 4, 4, 3)), training=True).shape
    (2, 4, 4, 3)

    Reference:
        - Leterme et al., "From CNNs to Shift-Invariant Twin Models Based on
          Complex Wavelets", EUSIPCO 2024, eqs. 24-34.
    """

    def __init__(self, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0,
                                    include_maximum=False)
        self.epsilon = check_float(epsilon, "epsilon", 0.0,
                                   include_minimum=False)

    def build(self, input_shape):
        check_rank(input_shape, 4, "ModulusBatchNorm")
        check_defined_channels(input_shape, "ModulusBatchNorm")
        channels = input_shape[-1]
        self.gamma = self.add_weight(
            name="gamma", shape=(channels,), initializer="ones",
            autocast=False,
        )
        self.beta = self.add_weight(
            name="beta", shape=(channels,), initializer="zeros",
            autocast=False,
        )
        self.moving_energy = self.add_weight(
            name="moving_energy",
            shape=(channels,),
            initializer="ones",
            trainable=False,
            autocast=False,
        )

    def call(self, inputs, training=None):
        check_rank(inputs.shape, 4, "ModulusBatchNorm")
        inputs = float_input(inputs, self.compute_dtype, "ModulusBatchNorm")
        empty = empty_batch_output(self, inputs)
        if empty is not None:  # nothing to normalise, no statistics to move
            return empty
        dtype = inputs.dtype
        x = ops.cast(inputs, "float32")
        # Variables are float16 / bfloat16 under a pure half policy: every
        # product runs in float32 and the moving value is stored back.
        moving = ops.cast(self.moving_energy, "float32")
        if training and self.trainable:  # frozen: inference mode, as BN
            energy = ops.mean(ops.square(x), axis=(0, 1, 2))
            self.moving_energy.assign(ops.cast(
                self.momentum * moving + (1.0 - self.momentum) * energy,
                self.moving_energy.dtype))
        else:
            energy = moving
        gamma = ops.cast(self.gamma, "float32")
        beta = ops.cast(self.beta, "float32")
        scale = ops.abs(gamma) / ops.sqrt(energy / 2.0 + self.epsilon)
        return ops.cast(x * scale + beta, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="keras_cmod")
class Bias(keras.layers.Layer):
    """Adds a trainable per-channel bias (nothing else).

    Used after the modulus of AlexNet CMod twins, where the bias of the
    RMax twin (inside the packet mixing) has to move after the modulus.
    The default initialiser is `U(-1, 1)`, as the reference's 1x1 depthwise
    convolution with fan-in 1.

    Args:
        bias_initializer: initializer of the bias.

    Input shape:
        `(..., channels)`.

    Output shape:
        Same as the input.

    Example:
    >>> keras_cmod.layers.Bias()(np.zeros((1, 2, 2, 3))).shape
    (1, 2, 2, 3)
    """

    def __init__(self, bias_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if bias_initializer is None:
            bias_initializer = keras.initializers.RandomUniform(-1.0, 1.0)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(
                "Bias expects an input with a channel axis. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        check_defined_channels(input_shape, "Bias")
        self.bias = self.add_weight(
            name="bias",
            shape=(input_shape[-1],),
            initializer=self.bias_initializer,
        )

    def call(self, inputs):
        inputs = float_input(inputs, self.compute_dtype, "Bias")
        return inputs + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["bias_initializer"] = keras.initializers.serialize(
            self.bias_initializer
        )
        return config
