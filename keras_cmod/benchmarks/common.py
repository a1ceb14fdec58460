"""Timing and memory measurement shared by the benchmarks."""

import json
import os
import platform
import statistics
import time

import keras
import numpy as np


def machine_description():
    """Backend, devices, CPU and versions, for the report."""
    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["devices"] = [d.name for d in tf.config.list_logical_devices()]
    elif backend == "jax":
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [str(d) for d in jax.devices()]
    return info


def summarize(times):
    times = sorted(times)
    q = np.percentile(times, [25, 75])
    return {
        "median_s": statistics.median(times),
        "iqr_s": float(q[1] - q[0]),
        "min_s": times[0],
        "max_s": times[-1],
        "repeats": len(times),
    }


def make_step(fn, weights, backward=True, jit_compile=None):
    """A compiled step: `fn(x)`, or `fn(x)` + gradients of its sum.

    Returns `(step, to_numpy)`; `step(x)` runs once and blocks.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=jit_compile)
        def step(x):
            if not backward:
                return [fn(x)]
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.cast(fn(x), "float32"))
            return tape.gradient(loss, weights)

        def run(x):
            out = step(x)
            for o in out:
                if o is not None:
                    o.numpy()
            return out

        return run, step
    if backend == "jax":

        from keras_cmod.benchmarks.jax_support import jax_step

        return jax_step(fn, weights, backward)
    raise ValueError(f"Unsupported backend for benchmarks: {backend!r}")


def time_step(run, x, repeats=5, warmup=2):
    for _ in range(warmup):
        run(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t)
    return summarize(times)


def saved_activation_bytes(fn, weights, x):
    """Bytes of forward tensors kept for the backward pass (TensorFlow).

    The forward + backward step is traced into one graph; every tensor made
    by a forward op and read by a gradient op is what autograd saves (the
    measure the paper takes with PyTorchViz). Sizes are static shapes times
    dtype sizes; the input itself and the weights are not counted.
    Returns `None` on other backends (see `jax_support`).
    """
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.cast(fn(x), "float32"))
        return tape.gradient(loss, weights)

    graph = step.get_concrete_function(
        tf.TensorSpec(x.shape, x.dtype)).graph
    saved = {}
    for op in graph.get_operations():
        if "gradient" not in op.name.lower():
            continue
        for t in op.inputs:
            src = t.op
            if "gradient" in src.name.lower():
                continue
            if src.type in ("Placeholder", "ReadVariableOp", "Const",
                            "VarHandleOp", "Identity"):
                continue
            shape = t.shape
            if not shape.is_fully_defined() or t.dtype == tf.resource:
                continue
            saved[t.name] = int(np.prod(shape.as_list())) * t.dtype.size
    return int(sum(saved.values()))


def write_json(result, path):
    tmp = f"{path}.tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2, default=float)
    os.replace(tmp, path)
    return path


def format_rows(rows, columns):
    """A plain-text table from a list of dicts."""
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows))
              for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    for r in rows:
        lines.append("  ".join(str(r.get(c, "")).ljust(w)
                               for c, w in zip(columns, widths)))
    return "\n".join(lines)
