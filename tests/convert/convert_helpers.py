"""Shared helpers of the conversion tests (small inputs, few classes)."""

import numpy as np

from keras_cmod.zoo import create_model

NUM_CLASSES = 5
#: ResNets run at 64x64; AlexNet needs >= 63.
SIZES = {"resnet": 64, "alexnet": 64}


def input_size(name):
    return SIZES["alexnet" if name.startswith("alexnet") else "resnet"]


def build(name, size=None, **kwargs):
    size = size or input_size(name)
    shape = size if isinstance(size, tuple) else (size, size)
    kwargs.setdefault("num_classes", NUM_CLASSES)
    return create_model(name, input_shape=(*shape, 3), **kwargs)


def images(model, batch=2, seed=0):
    h, w = model.input_shape[1:3]
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, h, w, 3)).astype("float32")


def weights_of(model):
    return {w.path: np.array(w.numpy()) for w in model.weights}


def randomize(model, seed=1):
    """Random values in every variable (positive batch-norm variances)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if w.path.endswith(("moving_variance", "moving_energy")):
            value = rng.random(shape, dtype=np.float32) + 0.5
        else:
            value = rng.standard_normal(shape, dtype=np.float32) * 0.1
        w.assign(value)
    return model


def close(out, ref):
    """Float32 round-off over a network:
    max |diff| <= 1e-4 * max(1, max |ref|)."""
    out, ref = np.asarray(out), np.asarray(ref)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    diff = float(np.max(np.abs(out - ref)))
    bound = 1e-4 * max(1.0, float(np.max(np.abs(ref))))
    assert diff <= bound, f"max |diff| {diff:.3g} > {bound:.3g}"
    return diff
