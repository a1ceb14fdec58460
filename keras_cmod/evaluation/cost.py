"""Computational cost and memory of a Keras model, measured.

Measured on a Keras model: parameter counts (counted), MACs per
layer (computed exactly from the layer shapes of a functional graph, for
the layer types listed in `layer_macs`), wall time of forward and
forward+backward passes (measured), peak device memory (measured, GPU
only), and an activation-memory figure (ESTIMATED: sum of layer output
sizes, not what the framework really keeps).

The paper's analytic model (Table III) lives in `analytic`.
"""

import math
import statistics
import time

import numpy as np

from keras_cmod.evaluation._image import check_positive_int

# ---------------------------------------------------------------------------
# Measured cost of a Keras model


def count_params(model):
    """Trainable and non-trainable parameter counts (counted, exact).

    Args:
        model: a built `keras.Model` (or layer).

    Returns:
        A dict `{"trainable": int, "non_trainable": int, "total": int}`.

    Raises:
        ValueError: if the model is not built.
    """
    if not getattr(model, "built", False):
        raise ValueError(
            f"The model must be built before counting parameters. Received: "
            f"{getattr(model, 'name', model)!r} (built=False)"
        )
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    fixed = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    return {
        "trainable": trainable,
        "non_trainable": fixed,
        "total": trainable + fixed,
    }


def _prod(values):
    return int(math.prod(int(v) for v in values))


def _channels_last(layer):
    return getattr(layer, "data_format", "channels_last") != "channels_first"


def _split_shape(shape, channels_last):
    """(batch, *spatial, channels) or (batch, channels, *spatial)."""
    if channels_last:
        return tuple(shape[1:-1]), shape[-1]
    return tuple(shape[2:]), shape[1]


def layer_macs(layer, input_shape, output_shape):
    """Multiply-accumulates of one call of a layer, per example.

    Rules (bias additions and element-wise layers are not MACs):

    - a layer with a method `macs(input_shape)` (custom keras-cmod layers):
      its return value, an int;
    - `Conv1D/2D/3D`: `prod(output spatial) * filters * prod(kernel) *
      in_channels / groups`;
    - `Conv1D/2D/3DTranspose`: `prod(input spatial) * in_channels *
      prod(kernel) * filters`;
    - `DepthwiseConv1D/2D`: `prod(output spatial) * in_channels *
      depth_multiplier * prod(kernel)`;
    - `SeparableConv1D/2D`: the depthwise part plus `prod(output spatial) *
      in_channels * depth_multiplier * filters`;
    - `Dense`: `prod(input_shape[1:]) * units`.

    Args:
        layer: a Keras layer.
        input_shape: its input shape with the batch dimension (a tuple, or a
            list of tuples for several inputs).
        output_shape: its output shape (tuple).

    Returns:
        An int, or None when no rule applies (the layer is not counted).

    Raises:
        ValueError: if a needed dimension is unknown (None), or a custom
            `macs` does not return a non-negative int.
    """
    import keras

    if hasattr(layer, "macs") and callable(layer.macs):
        value = layer.macs(input_shape)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < 0
        ):
            raise ValueError(
                f"`{layer.name}.macs(input_shape)` must return a "
                f"non-negative int. Received: {value!r}"
            )
        return int(value)
    kinds = (
        (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
         keras.layers.Conv3DTranspose),
        (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D),
        (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D),
        (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D),
        (keras.layers.Dense,),
    )
    if not isinstance(layer, sum(kinds, ())):
        return None
    shapes = [input_shape] if not isinstance(input_shape, list) else (
        input_shape
    )
    in_shape = tuple(shapes[0])
    out_shape = tuple(output_shape)
    needed = in_shape[1:] + out_shape[1:]
    if any(d is None for d in needed):
        raise ValueError(
            f"Layer {layer.name!r} has unknown dimensions (input "
            f"{in_shape}, output {out_shape}); build the model on a fixed "
            "input size, e.g. keras.Input(shape=(224, 224, 3))."
        )
    if isinstance(layer, keras.layers.Dense):
        return _prod(in_shape[1:]) * int(layer.units)
    last = _channels_last(layer)
    in_sp, in_c = _split_shape(in_shape, last)
    out_sp, _ = _split_shape(out_shape, last)
    kernel = _prod(layer.kernel_size)
    if isinstance(layer, kinds[0]):  # transposed convolutions
        return _prod(in_sp) * in_c * kernel * int(layer.filters)
    if isinstance(layer, kinds[3]):  # ordinary (grouped) convolutions
        groups = int(getattr(layer, "groups", 1))
        return _prod(out_sp) * int(layer.filters) * kernel * in_c // groups
    depthwise = _prod(out_sp) * in_c * int(layer.depth_multiplier) * kernel
    if isinstance(layer, kinds[1]):
        return depthwise
    pointwise = _prod(out_sp) * in_c * int(layer.depth_multiplier)
    return depthwise + pointwise * int(layer.filters)


def _shape(t):
    return tuple(None if d is None else int(d) for d in t.shape)


def _layer_calls(model, prefix="", repeat=1):
    """Yields (path, layer, input_shapes, output_shapes, dtype, repeat)."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        # Each call of a layer in a functional graph is a Node; Keras keeps
        # them in `_inbound_nodes` (a long-standing Keras internal).
        nodes = list(getattr(layer, "_inbound_nodes", []))
        path = f"{prefix}{layer.name}"
        recurse = isinstance(layer, keras.Model) and not hasattr(
            layer, "macs"
        )
        if recurse:
            yield from _layer_calls(layer, path + "/", repeat * len(nodes))
            continue
        for node in nodes:
            ins = [_shape(t) for t in node.input_tensors]
            outs = [_shape(t) for t in node.outputs]
            dtype = node.outputs[0].dtype if node.outputs else None
            yield path, layer, ins, outs, dtype, repeat


def _check_functional(model):
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: {type(model).__name__}"
        )
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise ValueError(
            f"Model {model.name!r} has no functional graph (a subclassed "
            "model, or a Sequential model that is not built). Build it as a "
            "functional model on keras.Input(shape=...), or call "
            "`model.build((None, H, W, C))` for a Sequential model."
        )


def model_macs(model):
    """MACs per example of every counted layer of a functional model.

    Shapes come from the model's graph (each call of a layer is counted,
    nested functional models are walked, a nested model that defines
    `macs` counts as one layer). See `layer_macs` for the rules. The count
    is exact for the layer types it knows; other layers (pooling, BN,
    activations...) are listed with `macs=None` and add 0. A layer that is
    also called by another model counts those calls too (Keras records
    every call on the layer).

    Args:
        model: a functional `keras.Model` (or built `Sequential`) with
            fixed spatial input sizes.

    Returns:
        A dict: `"total"` (int, per example), `"layers"` (list of dicts
        `name, class_name, input_shape, output_shape, macs`), `"uncounted"`
        (layers with a kernel, i.e. a weight of rank >= 2, but no MAC rule:
        the total misses their MACs) and `"kind": "computed"`.

    Raises:
        ValueError: for a non-functional model or unknown dimensions.
    """
    _check_functional(model)
    rows = []
    uncounted = []
    total = 0
    for path, layer, ins, outs, _, repeat in _layer_calls(model):
        in_shape = ins[0] if len(ins) == 1 else ins
        macs = layer_macs(layer, in_shape, outs[0])
        if macs is None:
            has_kernel = any(len(w.shape) >= 2 for w in layer.weights)
            if has_kernel and path not in uncounted:
                uncounted.append(path)
        else:
            macs *= repeat
            total += macs
        rows.append(
            {
                "name": path,
                "class_name": type(layer).__name__,
                "input_shape": in_shape,
                "output_shape": outs[0] if len(outs) == 1 else outs,
                "macs": macs,
            }
        )
    return {
        "total": int(total),
        "layers": rows,
        "uncounted": uncounted,
        "kind": "computed",
    }


def activation_memory(model, batch_size=1):
    """ESTIMATED activation memory: sum of the layers' output sizes, bytes.

    Every call of every (leaf) layer contributes `prod(output shape) *
    batch_size * itemsize`; the model input is not counted. This is an
    upper-bound style estimate of what a training step keeps, not a
    measurement: frameworks free, fuse or recompute tensors. Use
    `time_model(...)["peak_device_memory_bytes"]` for a measurement.

    Args:
        model: a functional `keras.Model` with fixed input sizes.
        batch_size: int >= 1. Defaults to 1.

    Returns:
        A dict: `"bytes"` (int), `"batch_size"`, `"layers"` (list of
        `[name, bytes]`) and `"kind": "estimated"`.

    Raises:
        ValueError: for a non-functional model, unknown dimensions or a bad
            batch size.
    """
    _check_functional(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    rows = []
    for path, _, _, outs, dtype, repeat in _layer_calls(model):
        size = 0
        for shape in outs:
            if any(d is None for d in shape[1:]):
                raise ValueError(
                    f"Layer {path!r} has an unknown output dimension "
                    f"{shape}; build the model on a fixed input size."
                )
            size += _prod(shape[1:])
        itemsize = np.dtype(dtype or "float32").itemsize
        rows.append([path, int(size * itemsize * batch_size * repeat)])
    return {
        "bytes": int(sum(r[1] for r in rows)),
        "batch_size": batch_size,
        "layers": rows,
        "kind": "estimated",
    }


def _model_input_shape(model, input_shape):
    if input_shape is not None:
        shape = tuple(input_shape)
    else:
        try:
            shape = tuple(model.inputs[0].shape[1:])
        except (AttributeError, IndexError, TypeError):
            shape = ()
    if not shape or any(d is None or int(d) < 1 for d in shape):
        raise ValueError(
            "`input_shape` (without the batch) must be given when the model "
            "has no fixed input size. Received: input_shape="
            f"{input_shape!r}"
        )
    return tuple(int(d) for d in shape)


def _make_step(model, backward, compiled):
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def forward(x):
            return tf.reduce_sum(model(x, training=False))

        def forward_backward(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            return tf.add_n(
                [loss] + [tf.reduce_sum(g) for g in grads if g is not None]
            )

        fn = forward_backward if backward else forward
        if compiled:
            fn = tf.function(fn)
        return lambda x: float(fn(tf.constant(x)).numpy())
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]

        def forward(tv, ntv, x):
            return jnp.sum(model.stateless_call(tv, ntv, x,
                                                training=False)[0])

        def loss(tv, ntv, x):
            return jnp.sum(model.stateless_call(tv, ntv, x,
                                                training=True)[0])

        fn = jax.grad(loss) if backward else forward
        if compiled:
            fn = jax.jit(fn)
        return lambda x: jax.block_until_ready(fn(tv, ntv, x))
    if backend == "torch":
        import torch

        def step(x):
            x = torch.as_tensor(x, device=keras.backend.get_device())
            if backward:
                model.zero_grad()
                torch.sum(model(x, training=True)).backward()
            else:
                with torch.no_grad():
                    model(x, training=False)
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        return step
    raise ValueError(
        f"Timing is implemented for the tensorflow, jax and torch backends. "
        f"Received: backend={backend!r}"
    )


def _peak_memory_start():
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        return False
    tf.config.experimental.reset_memory_stats("GPU:0")
    return True


def _peak_memory_read(tracking):
    import keras

    if tracking:
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    if keras.backend.backend() == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return int(stats["peak_bytes_in_use"])
    return None


def time_model(model, input_shape=None, batch_size=8, repeats=10, warmup=2,
               backward=False, compiled=True, seed=0):
    """MEASURED wall time of a forward (or forward + backward) pass.

    The input is a fixed random float32 batch. The forward pass is
    `model(x, training=False)`; the backward variant is a training-mode
    forward, the sum of the outputs as loss and its gradient with respect
    to the trainable weights (no optimizer update). With `compiled=True`
    the step is wrapped in `tf.function` (TensorFlow) or `jax.jit` (JAX);
    the first `warmup` calls (tracing included) are not timed. Each timed
    call waits for the result (device sync).

    Args:
        model: a `keras.Model`.
        input_shape: shape without batch; defaults to the model's input.
        batch_size: int. Defaults to 8.
        repeats: int, timed calls. Defaults to 10.
        warmup: int, untimed calls first. Defaults to 2.
        backward: bool, time forward + backward. Defaults to False.
        compiled: bool. Defaults to True.
        seed: int, seed of the random input. Defaults to 0.

    Returns:
        A dict: `"median_s"`, `"min_s"`, `"max_s"`, `"q25_s"`, `"q75_s"`,
        `"mean_s"`, `"std_s"` (seconds per call), `"images_per_s"` (from the
        median), `"peak_device_memory_bytes"` (measured on a TensorFlow GPU
        or a JAX device that reports it, else None), the settings, and
        `"kind": "measured"`.

    Raises:
        ValueError: for bad counts, an unknown input shape or an
            unsupported backend.
    """
    import keras

    batch_size = check_positive_int(batch_size, "batch_size")
    repeats = check_positive_int(repeats, "repeats")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    shape = _model_input_shape(model, input_shape)
    x = np.random.default_rng(seed).standard_normal(
        (batch_size,) + shape
    ).astype(np.float32)
    step = _make_step(model, bool(backward), bool(compiled))
    tracking = _peak_memory_start()
    for _ in range(warmup):
        step(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(x)
        times.append(time.perf_counter() - start)
    q25, q75 = np.percentile(times, [25, 75])
    median = statistics.median(times)
    return {
        "kind": "measured",
        "backend": keras.backend.backend(),
        "backward": bool(backward),
        "compiled": bool(compiled),
        "batch_size": batch_size,
        "input_shape": list(shape),
        "repeats": repeats,
        "warmup": warmup,
        "median_s": float(median),
        "min_s": float(min(times)),
        "max_s": float(max(times)),
        "q25_s": float(q25),
        "q75_s": float(q75),
        "mean_s": float(np.mean(times)),
        "std_s": float(np.std(times)),
        "images_per_s": float(batch_size / median) if median > 0 else None,
        "peak_device_memory_bytes": _peak_memory_read(tracking),
    }


def measure_cost(model, batch_size=8, timing=True, repeats=10, warmup=2,
                 compiled=True, input_shape=None):
    """Parameters, MACs, activation memory and timings of a model.

    Every entry carries `"kind"`: `"counted"` (parameters), `"computed"`
    (MACs from the graph's shapes), `"estimated"` (activation memory) or
    `"measured"` (timings, peak device memory).

    Args:
        model: a functional `keras.Model` with fixed input sizes.
        batch_size: int, batch of the memory estimate and the timings.
            Defaults to 8.
        timing: bool, run the (slow) timings. Defaults to True.
        repeats: int, timed calls. Defaults to 10.
        warmup: int, untimed calls. Defaults to 2.
        compiled: bool, compile the timed step. Defaults to True.
        input_shape: shape without batch for the timings (defaults to the
            model's input).

    Returns:
        A dict with `"params"`, `"macs"` (total and per layer),
        `"activation_memory"` and, when `timing`, `"forward_time"` and
        `"forward_backward_time"`.

    Raises:
        ValueError: as `model_macs` and `time_model`.
    """
    params = count_params(model)
    params["kind"] = "counted"
    result = {
        "model": model.name,
        "params": params,
        "macs": model_macs(model),
        "activation_memory": activation_memory(model, batch_size),
    }
    if timing:
        for key, backward in (("forward_time", False),
                              ("forward_backward_time", True)):
            result[key] = time_model(
                model, input_shape, batch_size, repeats, warmup, backward,
                compiled,
            )
    return result
