"""Dynamic-size exports after `fit`: SavedModel, TFLite and ONNX outputs at
several input sizes equal the Keras model's (TensorFlow backend)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                       reason="exports run on the TensorFlow backend"),
]
tf = pytest.importorskip("tensorflow")

from keras_cmod import layers  # noqa: E402

SIZES = ((32, 36), (45, 40))


def _small_model():
    inp = keras.Input((None, None, 3))
    x = layers.TwinStem("resnet", "cmod", name="stem")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(3)(x))


def _fitted(model, size=32):
    """`fit` first: the graph is traced before any eager call."""
    rng = np.random.default_rng(0)
    model.compile("sgd", "mse")
    n_out = model.output.shape[-1]
    model.fit(rng.uniform(0, 1, (4, size, size, 3)).astype("float32"),
              rng.normal(size=(4, n_out)).astype("float32"), epochs=1,
              batch_size=2, verbose=0)
    return model


def _inputs():
    rng = np.random.default_rng(1)
    return [rng.uniform(0, 1, (2, h, w, 3)).astype("float32")
            for h, w in SIZES]


def _check(run, model, xs, tol=1e-4):
    for x in xs:
        ref = np.asarray(model(x, training=False))
        got = np.asarray(run(x))
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=tol,
                                   atol=tol * max(1.0, np.abs(ref).max()))


def _tflite_runner(saved_model_dir):
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    interpreter = tf.lite.Interpreter(model_content=converter.convert())

    def run(x):
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        out = interpreter.get_output_details()[0]
        return interpreter.get_tensor(out["index"])

    return run


def _onnx_runner(path):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path))
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


@pytest.fixture(scope="module")
def fitted_small():
    return _fitted(_small_model())


def test_saved_model_and_tflite_at_two_sizes(fitted_small, tmp_path):
    model = fitted_small
    model.export(str(tmp_path / "sm"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    xs = _inputs()
    _check(lambda x: loaded.serve(x), model, xs)
    _check(_tflite_runner(str(tmp_path / "sm")), model, xs)


def test_onnx_at_two_sizes(fitted_small, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("tf2onnx")
    model = fitted_small
    model.export(str(tmp_path / "m.onnx"), format="onnx", verbose=False)
    _check(_onnx_runner(tmp_path / "m.onnx"), model, _inputs())


@pytest.mark.slow
@pytest.mark.large
def test_resnet18_cmod_cifar10_dynamic_exports(tmp_path):
    from keras_cmod import zoo

    model = _fitted(zoo.create_model("resnet18_cmod.cifar10",
                                     input_shape=(None, None, 3)))
    xs = _inputs()
    model.export(str(tmp_path / "sm"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    _check(lambda x: loaded.serve(x), model, xs)
    _check(_tflite_runner(str(tmp_path / "sm")), model, xs)
    if pytest.importorskip("onnx") and pytest.importorskip("tf2onnx"):
        model.export(str(tmp_path / "m.onnx"), format="onnx", verbose=False)
        _check(_onnx_runner(tmp_path / "m.onnx"), model, xs)
