"""Benchmark 1: the first layer, forward + backward, batch 32 at 224.

For the ResNet-34 and AlexNet settings: standard conv + max pool, twin
RMax, twin CMod, Zhang's blur pool and (ResNet) Zou's adaptive blur pool,
for the whole 64-channel block and for the Gabor channels alone. Time is
the median over repeats of a compiled forward + backward step (gradients
of the summed output with respect to the trainable weights); memory is the
bytes of activations the backward pass keeps (TensorFlow: read off the
traced graph; JAX: XLA's temporary buffers).
"""

import keras
import numpy as np
from keras import ops

from keras_cmod.benchmarks import common
from keras_cmod.layers import (
    AdaptiveBlurPool2D,
    BlurPool2D,
    ModulusBatchNorm,
    TwinStem,
)
from keras_cmod.models import apply_stem

SETTINGS = {
    # family: (model, free channels, Gabor channels, conv kernel, stride m)
    "resnet": ("resnet34", 40, 24, 7, 2),
    "alexnet": ("alexnet", 32, 32, 11, 4),
}


def _block(family, antialias, channels):
    """The family's activation + pooling block on `channels` channels."""
    layers = []
    if family == "resnet":
        layers.append(keras.layers.BatchNormalization(momentum=0.9,
                                                      epsilon=1e-5))
    layers.append(keras.layers.ReLU())
    if antialias == "none":
        if family == "resnet":
            layers.append(keras.layers.ZeroPadding2D(1))
        layers.append(keras.layers.MaxPooling2D(3, strides=2))
        return layers
    if family == "alexnet":
        layers.append(BlurPool2D(3))
    elif family == "resnet":
        layers.append(keras.layers.ZeroPadding2D(1))
    layers.append(keras.layers.MaxPooling2D(3, strides=1))
    if antialias == "blurpool":
        layers.append(BlurPool2D(3))
    else:
        layers.append(AdaptiveBlurPool2D(groups=max(1, channels // 8)))
    return layers


def _conv(family, channels, antialias="none"):
    _, _, _, k, m = SETTINGS[family]
    if family == "alexnet" and antialias != "none":
        m = 2
    return [keras.layers.ZeroPadding2D(3 if family == "resnet" else 2),
            keras.layers.Conv2D(channels, k, strides=m,
                                use_bias=family == "alexnet")]


def _sequential(layers, size):
    inp = keras.Input((size, size, 3))
    x = inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def variants(family, size=224):
    """name -> (callable, trainable weights), whole block and Gabor part."""
    out = {}
    # Whole 64-channel first-layer blocks.
    antialiases = ["none", "blurpool"] + (
        ["adaptive_blurpool"] if family == "resnet" else [])
    for aa in antialiases:
        inp = keras.Input((size, size, 3))
        m = keras.Model(inp, apply_stem(inp, family, "standard", aa))
        out[f"all64/standard_{aa}"] = (m, m.trainable_weights)
    for mode in ("rmax", "cmod"):
        stem = TwinStem(family, mode)
        inp = keras.Input((size, size, 3))
        m = keras.Model(inp, stem(inp))
        out[f"all64/twin_{mode}"] = (m, m.trainable_weights)
    # Gabor channels alone.
    _, _, n_gabor, _, _ = SETTINGS[family]
    for aa in antialiases:
        m = _sequential(_conv(family, n_gabor, aa) + _block(family, aa,
                                                           n_gabor), size)
        out[f"gabor/conv_{aa}"] = (m, m.trainable_weights)
    rmax = TwinStem(family, "rmax")
    rmax.build((None, size, size, 3))
    rmax_block = _block(family, "none", n_gabor)

    def rmax_fn(x):
        ch, cw = rmax._crops(ops.shape(x))
        y = rmax._gabor_real(x, ch, cw, training=True)
        for layer in rmax_block:
            y = layer(y, training=True)
        return y

    rmax_fn(keras.KerasTensor((1, size, size, 3)))  # builds the block
    out["gabor/twin_rmax"] = (rmax_fn, rmax.gabor.trainable_weights + [
        w for layer in rmax_block for w in layer.trainable_weights])
    cmod = TwinStem(family, "cmod")
    cmod.build((None, size, size, 3))
    norm = (ModulusBatchNorm() if family == "resnet" else None)

    def cmod_fn(x):
        ch, cw = cmod._crops(ops.shape(x))
        y = cmod._gabor_modulus(x, ch, cw, training=True)
        y = norm(y, training=True) if norm is not None else (
            cmod.gabor_norm(y))
        return ops.relu(y)

    cmod_fn(keras.KerasTensor((1, size, size, 3)))
    extra = norm.trainable_weights if norm is not None else (
        cmod.gabor_norm.trainable_weights)
    out["gabor/twin_cmod"] = (cmod_fn, cmod.gabor.trainable_weights + extra)
    return out


def _call(model):
    if isinstance(model, keras.Model):
        return lambda x: model(x, training=True)
    return model


def run(batch_size=32, size=224, repeats=5, warmup=2, families=None,
        log=print):
    """Runs benchmark 1; returns the result dict (rows + ratios)."""
    families = families or list(SETTINGS)
    x = np.random.default_rng(0).uniform(0, 1, (batch_size, size, size, 3))
    x = ops.convert_to_tensor(x.astype("float32"))
    rows = []
    for family in families:
        for name, (model, weights) in variants(family, size).items():
            fn = _call(model)
            step, _ = common.make_step(fn, weights)
            t = common.time_step(step, x, repeats, warmup)
            mem = common.saved_activation_bytes(fn, weights, x)
            if mem is None and keras.backend.backend() == "jax":
                from keras_cmod.benchmarks.jax_support import temp_bytes

                mem = temp_bytes(fn, weights, x)
            row = {"family": family, "variant": name,
                   "time_ms": round(1e3 * t["median_s"], 2),
                   "iqr_ms": round(1e3 * t["iqr_s"], 2),
                   "memory_mb": None if mem is None else round(mem / 2**20,
                                                               2)}
            rows.append(row)
            log(f"  {family:8s} {name:28s} {row['time_ms']:9.1f} ms "
                f"(IQR {row['iqr_ms']:.1f})  {row['memory_mb']} MB")
    return {"benchmark": "layer1", "batch_size": batch_size, "size": size,
            "repeats": repeats, "rows": rows, "ratios": ratios(rows)}


def ratios(rows):
    """CMod against the RMax twin (Gabor channels, and whole block)."""
    out = {}
    by = {(r["family"], r["variant"]): r for r in rows}
    for family in {r["family"] for r in rows}:
        for scope in ("gabor", "all64"):
            a = by.get((family, f"{scope}/twin_cmod"))
            b = by.get((family, f"{scope}/twin_rmax"))
            if not (a and b):
                continue
            entry = {"time": round(a["time_ms"] / b["time_ms"], 3)}
            if a["memory_mb"] and b["memory_mb"]:
                entry["memory"] = round(a["memory_mb"] / b["memory_mb"], 3)
            out[f"{family}/{scope}: cmod vs rmax"] = entry
    return out
