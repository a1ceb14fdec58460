"""One machine mode in a fresh process: run the layers and models on fixed
weights and inputs, write every output to an `.npz` file.

    python worker.py MODE OUT.npz [--models fast|all] [--export DIR]
                     [--serve DIR ...] [--only-serve]

MODE is `tf-own` (TensorFlow's own kernels, as on a CPU without AVX-512:
`TF_ENABLE_ONEDNN_OPTS=0` when TensorFlow loads, then the variable is
removed, as on a machine where nobody set it), `tf-onednn`
(`TF_ENABLE_ONEDNN_OPTS=1`) or `jax`. Weights are drawn from numpy with
fixed seeds, so every mode runs the same numbers.
"""

import os
import sys

MODE = sys.argv[1]
if MODE == "jax":
    os.environ["KERAS_BACKEND"] = "jax"
else:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if MODE == "tf-onednn" else "0"
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    del os.environ["TF_ENABLE_ONEDNN_OPTS"]
    onednn = bool(_pywrap_util_port.IsMklEnabled())
    assert onednn == (MODE == "tf-onednn"), (MODE, onednn)

import argparse  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_cmod import layers, zoo  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("mode")
parser.add_argument("out")
parser.add_argument("--export")
parser.add_argument("--serve", nargs="*", default=[])
parser.add_argument("--only-serve", action="store_true")
parser.add_argument("--models", default="fast",
                    help="fast, all, or one key of MODELS")
args = parser.parse_args()

MODELS = {
    # name: (registry name, kwargs, input size)
    "resnet18_cmod": ("resnet18_cmod.cifar10", {}, 32),
    "resnet18_twin": ("resnet18_twin.cifar10", {}, 32),
    "resnet18_ablurpool_cmod": ("resnet18_ablurpool_cmod",
                                {"num_classes": 10}, 32),
    "resnet18_blurpool_twin": ("resnet18_blurpool_twin",
                               {"num_classes": 10}, 32),
    "resnet50_cmod": ("resnet50_cmod", {"num_classes": 5}, 64),
    "alexnet_cmod": ("alexnet_cmod", {"num_classes": 5}, 64),
    "alexnet_blurpool_twin": ("alexnet_blurpool_twin",
                              {"num_classes": 5}, 64),
}

FAST = ("resnet18_cmod",)

LAYERS = {
    "dtcwpt2d_j2": (lambda: layers.DTCWPT2D(depth=2, stride=2), (2, 40, 40, 2)),
    "dtcwpt2d_j3_real": (lambda: layers.DTCWPT2D(
        depth=3, stride=4, output_mode="real"), (2, 72, 72, 1)),
    "cmodconv2d": (lambda: layers.CModConv2D(4, 7, strides=2, padding=3),
                   (2, 17, 17, 3)),
    "twinstem_resnet_cmod": (lambda: layers.TwinStem("resnet", "cmod"),
                             (2, 40, 40, 3)),
    "twinstem_alexnet_rmax": (lambda: layers.TwinStem("alexnet", "rmax"),
                              (2, 70, 70, 3)),
    "blurpool": (lambda: layers.BlurPool2D(3), (2, 9, 9, 4)),
    "adaptive_blurpool": (lambda: layers.AdaptiveBlurPool2D(groups=2),
                          (2, 9, 9, 4)),
}


def fix_weights(obj, seed):
    """Every trainable kernel drawn from numpy (half the variance-preserving
    scale, so that deep residual stacks stay in float16 range); vectors
    perturbed from their initial value where it is a constant (batch norm
    scales and offsets), drawn otherwise (random biases); non-trainable
    variables (batch norm statistics, fixed filters) as initialised. The
    same numbers on every backend."""
    rng = np.random.default_rng(seed)
    for v in obj.trainable_variables:
        shape = tuple(v.shape)
        if len(shape) < 2:
            value = np.asarray(v.value)
            noise = 0.1 * rng.standard_normal(shape)
            if value.size and np.ptp(value) == 0:  # a constant initial value
                noise = noise + value
            v.assign(noise.astype("float32"))
        else:
            fan_in = int(np.prod(shape[:-1]))
            w = rng.standard_normal(shape) * np.sqrt(0.25 / fan_in)
            v.assign(w.astype("float32"))


def image(shape, seed):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


out = {}
if not args.only_serve:
    for i, (key, (make, shape)) in enumerate(sorted(LAYERS.items())):
        layer = make()
        x = image(shape, i)
        layer(x)
        fix_weights(layer, 100 + i)
        out[f"layer/{key}/infer"] = np.asarray(layer(x, training=False))
        out[f"layer/{key}/train"] = np.asarray(layer(x, training=True))

    for i, (key, (name, kwargs, size)) in enumerate(sorted(MODELS.items())):
        if args.models == "fast" and key not in FAST or (
                args.models not in ("fast", "all") and key != args.models):
            continue
        start = time.perf_counter()
        keras.utils.set_random_seed(0)
        model = zoo.create_model(name, input_shape=(size, size, 3), **kwargs)
        fix_weights(model, 200 + i)
        x = image((2, size, size, 3), i)
        out[f"model/{key}/predict"] = model.predict(x, verbose=0)
        out[f"model/{key}/empty"] = np.asarray(
            model(np.zeros((0, size, size, 3), "float32"), training=False))
        if key == "resnet18_cmod":  # before the step changes the statistics
            keras.config.set_dtype_policy("mixed_float16")
            half = zoo.create_model(name, input_shape=(size, size, 3))
            half.set_weights(model.get_weights())
            out[f"model/{key}/mixed_float16"] = np.asarray(
                half(x, training=False), "float32")
            keras.config.set_dtype_policy("float32")
        classes = out[f"model/{key}/predict"].shape[-1]
        model.compile(keras.optimizers.SGD(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True))
        # One SGD step on 4 images: the loss, and the step itself
        # (weights before minus after, over the learning rate: the
        # gradient) for every trainable variable.
        xt = image((4, size, size, 3), 50 + i)
        y = np.arange(4) % classes
        before = [np.asarray(v.value) for v in model.trainable_variables]
        out[f"model/{key}/loss"] = np.float32(
            model.train_on_batch(xt, y, return_dict=True)["loss"])
        out[f"model/{key}/gradient"] = np.concatenate([
            ((b - np.asarray(v.value)) / 1e-3).ravel()
            for b, v in zip(before, model.trainable_variables)])
        print(f"{key}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
        if key == "resnet18_cmod" and args.export:
            model.export(args.export, format="tf_saved_model", verbose=False)
            np.savez(os.path.join(os.path.dirname(args.export), "inputs.npz"),
                     x=x, expected=np.asarray(model(x, training=False)))

for i, path in enumerate(args.serve):
    import tensorflow as tf

    served = tf.saved_model.load(path)
    saved = np.load(os.path.join(os.path.dirname(path), "inputs.npz"))
    out[f"serve/{i}"] = np.asarray(served.serve(saved["x"]))
    out[f"serve/{i}/expected"] = saved["expected"]

np.savez(args.out, **out)
print("ok", MODE, len(out))
