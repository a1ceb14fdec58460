"""One benchmark group, measured in this (fresh) process.

`python -m keras_cmod.benchmarks.worker SPEC_JSON OUT_JSON` runs the group
described by `SPEC_JSON` (see `suite.groups`) on the backend named by
`KERAS_BACKEND` and writes the measurements to `OUT_JSON`. The suite starts
one such process per group, so that every model meets its first call the
way a user's model does: the first thing a process does with each model is
`train_on_batch` (a traced step), never an eager call. Only the `order`
group makes eager calls first, on purpose, to compare the traced op path
of both orders.

Within a group the units are timed interleaved: round `r` times every unit
once (in an order rotated by `r`), so slow drifts of a shared machine hit
every unit alike and the per-round ratios cancel them.
"""

import collections
import json
import sys
import time

import keras
import numpy as np
from keras import ops

from keras_cmod.benchmarks import common

KERAS_RESNET50 = "keras.applications.ResNet50"


# -- building the units ----------------------------------------------------


def _num_classes(size):
    return 10 if size <= 64 else 1000


def build_classifier(name, size, num_classes):
    """A zoo model (or Keras' own ResNet-50) for `size`x`size` inputs."""
    shape = (size, size, 3)
    if name == KERAS_RESNET50:
        return keras.applications.ResNet50(
            weights=None, input_shape=shape, classes=num_classes)
    from keras_cmod import zoo

    return zoo.create_model(name, num_classes=num_classes,
                            input_shape=shape)


def build_stem(name, size):
    """The first-layer block of a zoo model: its layers up to `stem`."""
    model = build_classifier(name, size, _num_classes(size))
    return keras.Model(model.inputs, model.get_layer("stem").output,
                       name=f"{name.split('.')[0]}_stem")


class GaborChannels(keras.layers.Layer):
    """The Gabor channels of a twin stem alone, as the stem computes them.

    `TwinStem.gabor_response` gives the operator output (RMax: max pooling
    of the real parts; CMod: the modulus at the doubled stride), then the
    per-channel affine step of the family (ResNet: batch norm, the
    `ModulusBatchNorm` for CMod; AlexNet CMod: a bias) and ReLU. The free
    channels are not computed.
    """

    def __init__(self, family, mode, **kwargs):
        super().__init__(**kwargs)
        from keras_cmod.layers import Bias, ModulusBatchNorm, TwinStem

        self.family, self.mode = family, mode
        self.stem = TwinStem(family, mode)
        if family == "resnet":
            self.norm = (ModulusBatchNorm() if mode == "cmod" else
                         keras.layers.BatchNormalization(momentum=0.9,
                                                         epsilon=1e-5))
        else:
            self.norm = Bias() if mode == "cmod" else None

    def build(self, input_shape):
        self.stem.build(input_shape)
        out = self.stem.gabor_response(keras.KerasTensor(input_shape))
        if self.norm is not None:
            self.norm.build(out.shape)

    def call(self, x, training=None):
        y = self.stem.gabor_response(x)
        if self.norm is not None:
            y = self.norm(y, training=training)
        return ops.relu(y)


def build_gabor(family, mode, size):
    inp = keras.Input((size, size, 3))
    return keras.Model(inp, GaborChannels(family, mode)(inp),
                       name=f"{family}_{mode}_gabor")


def _mean_output(y_true, y_pred):
    # Loss of the stem-only steps: the mean activation (any scalar whose
    # gradient reaches every weight would do).
    del y_true
    return ops.mean(ops.cast(y_pred, "float32"))


def build_unit(unit, size):
    """`unit`: {"kind": "train"|"stem"|"gabor"|"forward", "name": ...}."""
    kind, name = unit["kind"], unit["name"]
    if kind in ("train", "forward"):
        model = build_classifier(name, size, _num_classes(size))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif kind == "stem":
        model, loss = build_stem(name, size), _mean_output
    elif kind == "gabor":
        family, mode = name.split("/")
        model, loss = build_gabor(family, mode, size), _mean_output
    else:
        raise ValueError(f"Unknown unit kind {kind!r}")
    model.compile(optimizer=keras.optimizers.SGD(1e-4, momentum=0.9),
                  loss=loss)
    return model


def _batch(size, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (batch_size, size, size, 3)).astype("float32")
    y = rng.integers(0, _num_classes(size), batch_size)
    return x, y


def _step_fn(unit, model, x, y):
    if unit["kind"] == "forward":
        return lambda: model.predict_on_batch(x)
    return lambda: model.train_on_batch(x, y)


# -- the op path (order check) ---------------------------------------------


def op_path(model, x):
    """Op types of the traced training-mode forward pass, with counts.

    TensorFlow: the graph of a `tf.function`; JAX: the primitives of the
    jaxpr of `stateless_call` (nested jaxprs included). Two processes that
    run the same code path give the same counts.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda v: model(v, training=True))
        graph = fn.get_concrete_function(
            tf.TensorSpec(x.shape, tf.float32)).graph
        counts = collections.Counter(op.type for op in graph.get_operations())
        for func in graph._functions.values():  # nested functions
            counts.update(op.type for op in func.graph.get_operations())
        return dict(sorted(counts.items()))
    if backend == "jax":
        import jax

        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]

        def fwd(tv, ntv, v):
            return model.stateless_call(tv, ntv, v, training=True)[0]

        closed = jax.make_jaxpr(fwd)(tv, ntv, x)
        counts = collections.Counter()

        def walk(jaxpr):
            for eqn in jaxpr.eqns:
                counts[eqn.primitive.name] += 1
                for param in eqn.params.values():
                    for sub in param if isinstance(param, (list, tuple)) \
                            else [param]:
                        inner = getattr(sub, "jaxpr", None)
                        if inner is not None and hasattr(sub, "consts"):
                            walk(inner)
                        elif hasattr(sub, "eqns"):
                            walk(sub)

        walk(closed.jaxpr)
        return dict(sorted(counts.items()))
    raise ValueError(f"op_path: unsupported backend {backend!r}")


def run_order(spec):
    """Fit first or eager first, then the op path of every model."""
    rows = []
    models = []
    for unit in spec["units"]:
        size, bs = unit["size"], unit["batch_size"]
        models.append((unit, build_unit(unit, size), *_batch(size, bs)))
    if spec["first_call"] == "eager":
        for _, model, x, _ in models:
            model(ops.convert_to_tensor(x), training=False)
    for unit, model, x, y in models:
        model.train_on_batch(x, y)
    for unit, model, x, _ in models:
        rows.append({"name": unit["name"], "size": unit["size"],
                     "first_call": spec["first_call"],
                     "op_path": op_path(model, x)})
    return {"rows": rows}


# -- timing ----------------------------------------------------------------


def run_timed(spec, log=print):
    units = spec["units"]
    repeats, warmup = spec["repeats"], spec["warmup"]
    built = []
    for unit in units:
        size, bs = unit["size"], unit["batch_size"]
        x, y = _batch(size, bs)
        if spec.get("on_device"):
            # Inputs already on the accelerator: no host copy in the steps.
            x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        model = build_unit(unit, size)
        if unit["kind"] == "forward":
            # The user's order: a process that trains first (a small batch),
            # then predicts.
            xs, ys = _batch(size, min(2, bs), seed=1)
            t = time.perf_counter()
            model.train_on_batch(xs, ys)
            first = time.perf_counter() - t
        else:
            first = None
        step = _step_fn(unit, model, x, y)
        t = time.perf_counter()
        step()  # first call of the measured step: trace + compile
        first_step = time.perf_counter() - t
        for _ in range(warmup):
            step()
        t = time.perf_counter()
        step()
        once = time.perf_counter() - t
        steps = max(1, int(round(spec.get("min_sample_s", 0.0) / once)))
        built.append({"unit": unit, "step": step, "steps": steps,
                      "times": [], "first_step_s": first_step,
                      "first_fit_s": first})
        log(f"  built {unit['kind']} {unit['name']}: first step "
            f"{first_step:.1f} s, {once * 1e3:.0f} ms/step, "
            f"{steps} step(s)/sample")
    for r in range(repeats):
        order = built[r % len(built):] + built[: r % len(built)]
        for b in order:
            t = time.perf_counter()
            for _ in range(b["steps"]):
                b["step"]()
            b["times"].append((time.perf_counter() - t) / b["steps"])
    rows = []
    for b in built:
        unit = b["unit"]
        s = common.summarize(b["times"])
        rows.append({
            "kind": unit["kind"], "name": unit["name"],
            "size": unit["size"], "batch_size": unit["batch_size"],
            "steps_per_sample": b["steps"],
            "times_s": b["times"],
            "median_ms": 1e3 * s["median_s"],
            "iqr_ms": 1e3 * s["iqr_s"],
            "images_per_s": unit["batch_size"] / s["median_s"],
            "first_step_s": b["first_step_s"],
            "first_fit_s": b["first_fit_s"],
        })
    return {"rows": rows}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m keras_cmod.benchmarks.worker SPEC OUT",
              file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    t0 = time.perf_counter()
    if spec["kind"] == "order":
        result = run_order(spec)
    else:
        result = run_timed(spec, log=lambda m: print(m, flush=True))
    result.update(group=spec["id"], backend=keras.backend.backend(),
                  versions=common.backend_versions(),
                  wall_s=time.perf_counter() - t0)
    common.write_json(result, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
