"""Test helpers written on public Keras APIs only.

`run_layer_test` checks what every keras-cmod layer must do: config and
serialisation round trips, weight counts, a symbolic call, an eager call, a
one-step `fit`, finite gradients and a mixed-precision call.
`run_model_saving_test` saves to `.keras` and reloads with identical outputs.
"""

import json
import os
import tempfile

import keras
import numpy as np
from keras import ops


def assert_all_close(actual, desired, rtol=1e-5, atol=1e-6, msg=""):
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(actual),
        keras.ops.convert_to_numpy(desired),
        rtol=rtol,
        atol=atol,
        err_msg=msg,
    )


def run_serialization_test(layer):
    """JSON round trip of `get_config` and `serialize_keras_object`."""
    config = layer.get_config()
    json.dumps(config)  # JSON-friendly
    revived = layer.__class__.from_config(config)
    assert revived.get_config() == config
    ser = keras.saving.serialize_keras_object(layer)
    again = keras.saving.deserialize_keras_object(json.loads(json.dumps(ser)))
    assert type(again) is type(layer)
    assert again.get_config() == config
    return revived


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_training_check=True,
    run_mixed_precision_check=True,
    run_gradient_check=True,
):
    """Builds, serialises, calls, trains and checks one layer class."""
    input_data = np.asarray(input_data)
    layer = layer_cls(**init_kwargs)
    run_serialization_test(layer)

    # Symbolic call.
    sym = keras.KerasTensor(input_data.shape, dtype="float32")
    sym_out = layer(sym)
    if expected_output_shape is not None:
        assert tuple(sym_out.shape) == tuple(expected_output_shape), (
            sym_out.shape,
            expected_output_shape,
        )
        assert tuple(layer.compute_output_shape(input_data.shape)) == tuple(
            expected_output_shape
        )
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert (
            len(layer.non_trainable_weights)
            == expected_num_non_trainable_weights
        )
    run_serialization_test(layer)

    # Eager call on a fresh instance.
    layer = layer_cls(**init_kwargs)
    out = layer(input_data)
    out_np = ops.convert_to_numpy(out)
    if expected_output_shape is not None:
        assert out_np.shape == tuple(expected_output_shape)
    assert np.all(np.isfinite(out_np))

    if run_gradient_check and layer.trainable_weights:
        grads = _gradients(layer, input_data)
        for g in grads:
            assert np.all(np.isfinite(g))

    if run_training_check and layer.trainable_weights:
        inp = keras.Input(input_data.shape[1:], batch_size=input_data.shape[0])
        model = keras.Model(inp, layer_cls(**init_kwargs)(inp))
        model.compile(optimizer="sgd", loss="mse")
        target = np.zeros(model.output_shape, dtype="float32")
        history = model.fit(input_data, target, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])

    if run_mixed_precision_check:
        kwargs = dict(init_kwargs, dtype="mixed_float16")
        mp_layer = layer_cls(**kwargs)
        mp_out = ops.convert_to_numpy(mp_layer(input_data))
        assert np.all(np.isfinite(mp_out))
    return out_np


def _gradients(layer, x):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x, training=True)))
        grads = tape.gradient(loss, layer.trainable_weights)
        return [np.asarray(g) for g in grads if g is not None]
    if backend == "jax":
        import jax

        values = [v.value for v in layer.trainable_variables]
        ntv = [v.value for v in layer.non_trainable_variables]

        import inspect

        kwargs = {}
        if "training" in inspect.signature(layer.call).parameters:
            kwargs["training"] = True

        def f(tv):
            y, _ = layer.stateless_call(tv, ntv, x, **kwargs)
            return jax.numpy.sum(y**2)

        return [np.asarray(g) for g in jax.grad(f)(values)]
    return []  # pragma: no cover


def run_model_saving_test(model, input_data, atol=1e-6):
    """Saves `model` to `.keras`, reloads it (safe mode) and compares."""
    expected = ops.convert_to_numpy(model(input_data, training=False))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        revived = keras.saving.load_model(path, safe_mode=True)
    assert type(revived) is type(model)
    actual = ops.convert_to_numpy(revived(input_data, training=False))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=atol)
    return revived


def input_gradient(layer, x):
    """Gradient of `sum(layer(x))` with respect to `x` (any backend)."""
    backend = keras.backend.backend()
    x = np.asarray(x, "float32")
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.reduce_sum(layer(xt))
        return np.asarray(tape.gradient(y, xt))
    if backend == "jax":
        import jax

        layer(x)  # build
        tv = [v.value for v in layer.trainable_variables]
        ntv = [v.value for v in layer.non_trainable_variables]

        def f(inp):
            y, _ = layer.stateless_call(tv, ntv, inp)
            return jax.numpy.sum(y)

        return np.asarray(jax.grad(f)(x))
    raise NotImplementedError(backend)  # pragma: no cover
