"""Tiny Keras models for the Hub tests (a few KB of weights).

`TinyModulus` is a custom layer registered under the test package
`keras_cmod_test`: a complex linear map followed by a modulus (a dense
cousin of CMod), so the Hub round trips cover registered custom objects and
`safe_mode=True` loading. The subprocess tests import this module too.
"""

import keras
import numpy as np
from keras import ops

# The bearer token the fake Hub of the tests accepts for writes.
TOKEN = "hf_fake_write_token_0123456789"


@keras.saving.register_keras_serializable(package="keras_cmod_test")
class TinyModulus(keras.layers.Layer):
    """|x W_re + i x W_im|, with a floor under the squared modulus."""

    def __init__(self, units, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.epsilon = epsilon

    def build(self, input_shape):
        shape = (input_shape[-1], self.units)
        self.real_kernel = self.add_weight(shape=shape, name="real_kernel")
        self.imag_kernel = self.add_weight(shape=shape, name="imag_kernel")

    def call(self, inputs):
        real = ops.matmul(inputs, self.real_kernel)
        imag = ops.matmul(inputs, self.imag_kernel)
        return ops.sqrt(
            ops.maximum(ops.square(real) + ops.square(imag), self.epsilon)
        )

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "epsilon": self.epsilon,
        }


def tiny_model(seed=0, custom=True):
    """A functional model Input(8) -> [TinyModulus(6)] -> Dense(3)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8,), name="x")
    if custom:
        x = TinyModulus(6, name="modulus")(inputs)
    else:
        x = keras.layers.Dense(6, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"tiny_{seed}")


def sample_input():
    return np.random.RandomState(0).rand(4, 8).astype("float32")


def predict(model):
    return np.asarray(model(sample_input()))
