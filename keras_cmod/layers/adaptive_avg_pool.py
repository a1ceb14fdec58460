"""AdaptiveAvgPool2D: PyTorch's adaptive average pooling (any sizes)."""

import keras
from keras import ops

from keras_cmod.layers._utils import (
    check_int,
    check_rank,
    check_spatial,
    float_input,
)


def _pool_matrix(n_in, n_out):
    """`(n_out, n_in)` averaging matrix of PyTorch's adaptive pooling.

    Bin `i` averages inputs `floor(i n_in / n_out) .. ceil((i + 1) n_in /
    n_out) - 1`; works for `n_out > n_in` (bins then repeat inputs) and for
    tensor sizes.
    """
    i = ops.arange(n_out)
    start = (i * n_in) // n_out
    end = ((i + 1) * n_in + n_out - 1) // n_out
    j = ops.arange(n_in)
    mask = ops.logical_and(j[None, :] >= start[:, None],
                           j[None, :] < end[:, None])
    mask = ops.cast(mask, "float32")
    return mask / ops.sum(mask, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="keras_cmod")
class AdaptiveAvgPool2D(keras.layers.Layer):
    """Average pooling to a fixed output size, with PyTorch's bins.

    Unlike `keras.layers.AdaptiveAveragePooling2D`, inputs smaller than the
    output are accepted (as `torch.nn.AdaptiveAvgPool2d`, bins then repeat
    input pixels), so AlexNet's classifier works at any input size. At
    224x224 AlexNet's 6x6 map passes unchanged.

    Args:
        output_size: int or tuple of 2 ints.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, out_height, out_width, channels)`.

    Example:
    >>> keras_cmod.layers.AdaptiveAvgPool2D(6)(np.ones((1, 1, 1, 2))).shape
    (1, 6, 6, 2)
    """

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        pair = output_size
        if not isinstance(pair, (tuple, list)):
            pair = (pair, pair)
        if len(pair) != 2:
            raise ValueError(
                "output_size must be a positive int or 2 positive ints. "
                f"Received: output_size={output_size!r}"
            )
        self.output_size = tuple(check_int(v, "output_size", 1)
                                 for v in pair)

    def build(self, input_shape):
        check_rank(input_shape, 4, "AdaptiveAvgPool2D")
        check_spatial(input_shape, 1, "AdaptiveAvgPool2D")

    def call(self, inputs):
        check_rank(inputs.shape, 4, "AdaptiveAvgPool2D")
        check_spatial(inputs.shape, 1, "AdaptiveAvgPool2D")
        inputs = float_input(inputs, self.compute_dtype, "AdaptiveAvgPool2D")
        shape = ops.shape(inputs)
        ph = ops.cast(_pool_matrix(shape[1], self.output_size[0]),
                      inputs.dtype)
        pw = ops.cast(_pool_matrix(shape[2], self.output_size[1]),
                      inputs.dtype)
        return ops.einsum("oh,bhwc,pw->bopc", ph, inputs, pw)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["output_size"] = self.output_size
        return config
