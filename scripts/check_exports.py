"""Export three models (fixed and dynamic input size) to a SavedModel,
TFLite and ONNX, serve each, and print the largest difference from the
Keras model's logits.

    python scripts/check_exports.py      # needs pip install ".[onnx]"

Run it with TF_ENABLE_ONEDNN_OPTS=0 or =1 (set before TensorFlow loads) to
check TensorFlow's own kernels or oneDNN's.
"""

import os
import tempfile

import numpy as np
import onnxruntime as ort
import tensorflow as tf

from keras_cmod import zoo

CASES = (("resnet18_cmod.cifar10", (32, 32, 3), {}, (32, 32)),
         ("resnet18_cmod", (None, None, 3), {"num_classes": 10}, (64, 68)),
         ("alexnet_blurpool_cmod", (None, None, 3), {"num_classes": 10},
          (80, 84)))


def _tflite(saved_model, x):
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def main():
    print("| model | input | max abs logit | SavedModel | TFLite | ONNX |")
    print("|---|---|---|---|---|---|")
    for name, shape, kwargs, (h, w) in CASES:
        model = zoo.create_model(name, input_shape=shape, **kwargs)
        x = np.random.default_rng(0).uniform(0, 1, (2, h, w, 3)).astype("f4")
        ref = np.asarray(model(x, training=False))
        with tempfile.TemporaryDirectory() as tmp:
            sm = os.path.join(tmp, "sm")
            model.export(sm, verbose=False)
            loaded = tf.saved_model.load(sm)  # kept: it owns the variables
            served = np.asarray(loaded.serve(x))
            lite = _tflite(sm, x)
            onnx_path = os.path.join(tmp, "m.onnx")
            model.export(onnx_path, format="onnx", verbose=False)
            session = ort.InferenceSession(onnx_path)
            onnx = session.run(None, {session.get_inputs()[0].name: x})[0]
        errs = [np.abs(o - ref).max() for o in (served, lite, onnx)]
        size = "fixed" if shape[0] else "dynamic"
        print(f"| {name} | {size}, {h}x{w} | {np.abs(ref).max():.3g} | "
              + " | ".join(f"{e:.1e}" for e in errs) + " |")


if __name__ == "__main__":
    main()
