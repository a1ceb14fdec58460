"""AlexNet blur-pool models at 63-80 px with a dynamic input size.

At these sizes pool5 sees 1- and 2-pixel maps, smaller than the blur's
reflect padding. A model built with `input_shape=(None, None, 3)` must give
the static-shape model's outputs (same weights) at every size, whatever
size it was called at before, in Keras (both backends), TFLite and ONNX
(TensorFlow backend: they export TensorFlow graphs).
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cmod.layers import AdaptiveAvgPool2D
from keras_cmod.zoo import create_model

ARCHS = ["alexnet_blurpool", "alexnet_blurpool_cmod"]
TF_ONLY = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                             reason="exports a TensorFlow graph")
SIZES = [80, 63, 70, 64]  # a larger size first, then the small ones


def _features(arch, size):
    """The backbone (pool5 map) and AlexNet's 6x6 adaptive pooling; the
    4096-wide dense layers add nothing here but time."""
    backbone = create_model(arch, include_top=False,
                            input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3))
    return keras.Model(inputs, AdaptiveAvgPool2D(6)(backbone(inputs)))


@functools.lru_cache(maxsize=None)
def _build(arch):
    """A dynamic model and, per size, a static one with its weights."""
    dynamic = _features(arch, None)
    weights = dynamic.get_weights()
    statics = {}
    for size in SIZES:
        static = _features(arch, size)
        static.set_weights(weights)
        statics[size] = static
    rng = np.random.default_rng(0)
    inputs = {s: rng.standard_normal((2, s, s, 3)).astype("float32")
              for s in SIZES}
    expected = {s: np.asarray(statics[s](inputs[s])) for s in SIZES}
    return arch, dynamic, inputs, expected


# The twin's static models take ~20 s to build: slow tier.
@pytest.fixture(scope="module", params=[
    ARCHS[0], pytest.param(ARCHS[1], marks=pytest.mark.slow)])
def models(request):
    return _build(request.param)


def _traced(model):
    """One traced function of `model`, for every input size."""
    if keras.backend.backend() == "tensorflow":
        fn = tf.function(model, input_signature=[
            tf.TensorSpec((None, None, None, 3), "float32")])
        return lambda x: fn(x).numpy()
    import jax

    fn = jax.jit(lambda x: model(x, training=False))  # traced per shape
    return lambda x: np.asarray(fn(x))


def test_keras_dynamic_equals_static(models):
    _, dynamic, inputs, expected = models
    # Eager calls, then one traced function reused at every size.
    fn = _traced(dynamic)
    for size in SIZES:
        np.testing.assert_allclose(np.asarray(dynamic(inputs[size])),
                                   expected[size], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fn(inputs[size]), expected[size],
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@TF_ONLY
def test_tflite_dynamic_equals_static(models, tmp_path):
    _, dynamic, inputs, expected = models
    path = str(tmp_path / "saved_model")
    dynamic.export(path, format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    index = interpreter.get_input_details()[0]["index"]
    for size in SIZES:
        interpreter.resize_tensor_input(index, inputs[size].shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, inputs[size])
        interpreter.invoke()
        out = interpreter.get_tensor(
            interpreter.get_output_details()[0]["index"])
        np.testing.assert_allclose(out, expected[size], rtol=1e-4,
                                   atol=1e-4)


# The twin's ONNX case runs the same padding code; it is `large` for time.
@pytest.mark.slow
@pytest.mark.parametrize("arch", [
    "alexnet_blurpool",
    pytest.param("alexnet_blurpool_cmod", marks=pytest.mark.large),
])
@TF_ONLY
def test_onnx_dynamic_equals_static(arch):
    tf2onnx = pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    _, dynamic, inputs, expected = _build(arch)
    spec = (tf.TensorSpec((None, None, None, 3), "float32", name="x"),)
    proto, _ = tf2onnx.convert.from_function(
        tf.function(lambda x: dynamic(x, training=False)),
        input_signature=spec, opset=17)
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for size in SIZES:
        out = session.run(None, {name: inputs[size]})[0]
        np.testing.assert_allclose(out, expected[size], rtol=1e-4,
                                   atol=1e-4)
