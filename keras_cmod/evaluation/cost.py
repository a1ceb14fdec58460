"""Computational cost and memory: the paper's analytic model and measurements.

Part (a), ANALYTIC (paper Table III, SPEC 5.4): cost and memory of the first
layer, per image and per Gabor channel, normalised to the unprotected layer
(conv + max pooling). They are estimates for ordinary convolutions, not for
the DT-CWPT implementation, and no model is run.

Operation costs, relative to an addition (measured by the authors on CPU):
`t_s = 1` (add), `t_p = 1` (multiply), `t_e = 0.75` (exp), `t_mod = 3.5`
(modulus), ReLU 0.75, `t_max = 12` (3x3 max pooling, per output).

Per-output-unit costs (`K = 3` input channels, `N_f` the kernel side: 11 for
AlexNet, 7 for ResNet; blur kernels `N_b = 3`):

- conv: `(K N_f^2 - 1) t_s + K N_f^2 t_p` (725 for AlexNet, 293 for ResNet);
- complex conv: twice that (real and imaginary kernels);
- bias: `t_s`; BN: `4 t_s + 3 t_p`; ReLU: 0.75; modulus: `t_mod`;
- max pooling: `t_max`;
- blur: `(N_b^2 - 1) t_s + N_b^2 t_p` (17);
- adaptive blur (Zou's PASA, `L = 64` channels, groups of `L_g = 8`): the
  predicting conv yields `N_b^2 / L_g` maps per channel, each costing a
  conv with `L` inputs `(2 L N_b^2 - 1)`, a BN (7) and a softmax
  (`t_e + 2`), then the blur itself (17):
  `(N_b^2 / L_g) [(2 L N_b^2 - 1) + 7 + (t_e + 2)] + 17 = 1322.84`.

Each stage's unit cost is weighted by its number of outputs relative to the
stride-`m` grid of the unprotected conv, `(N / m)^2`: a stage at stride `m`
counts 1, at stride `2m` counts 1/4, at stride `m / 2` counts 4.

| stage list (density) | AlexNet | ResNet |
| --- | --- | --- |
| none | conv (1), bias (1), ReLU (1), max pool (1/4) = **729.75** | conv, bias, BN, ReLU (1 each), max pool (1/4) = **304.75** |
| BlurPool | conv, bias, ReLU at stride 2 (4), blur (1), max pool stride 1 (1), blur (1/4) = 2940.25 -> **4.03** | conv, bias, BN, ReLU (1), max pool stride 1 (1), blur (1/4) = 318 -> **1.04** |
| ABlurPool | not run on AlexNet | as BlurPool with the adaptive blur (1/4) = 644.46 -> **2.11** |
| CMod | complex conv, modulus, bias, ReLU at stride 2m (1/4) = 363.81 -> **0.50** | complex conv, modulus, bias, BN, ReLU (1/4) = 149.56 -> **0.49** |

The unprotected ResNet layer has no conv bias, yet its reference cost
304.75 = 293 + 1 + 7 + 0.75 + 3 contains one `t_s` beyond conv, BN, ReLU
and max pooling: this module counts it as the generic "bias" stage of the
paper's layer model (`Conv -> Bias -> ReLU -> MaxPool`), in every ResNet
variant. It is the reading that reproduces the published 304.75 and the
Table III ratios.

Memory (tensors autograd saves, per channel, in units of `N^2 / m^2`; int64
max-pool indices count twice):

- AlexNet none: ReLU output (1) + indices (2 x 1/4) + pooled output, saved
  by the next conv (1/4) = **7/4**;
- ResNet none: conv output saved by BN (1) + ReLU output (1) + indices
  (1/2) + pooled output (1/4) = **11/4**;
- AlexNet BlurPool: ReLU output at stride m/2 (4) + blurred (1) + stride-1
  max-pool indices (2) + its output (1) + final blur output (1/4) =
  **33/4** -> 4.71;
- ResNet BlurPool: conv output (1) + ReLU output (1) + indices (2) +
  max-pool output (1) + blur output (1/4) = **21/4** -> 1.91;
- ResNet ABlurPool: BlurPool plus the predicted filters at the output
  stride, `N_b^2 / L_g` maps of `(N / 2m)^2` (9/32) = 177/32 -> 2.01. (The
  paper prints 2.0; counting those maps twice, e.g. for the softmax output
  as well, would give 2.11, the "2.0-2.1" of SPEC 5.4.)
- CMod: real and imaginary outputs at stride 2m (2 x 1/4) + modulus
  output (1/4) + ReLU output (1/4) = **1** -> 0.57 (AlexNet), 0.36 (ResNet).

Part (b), MEASURED on a Keras model: parameter counts (counted), MACs per
layer (computed exactly from the layer shapes of a functional graph, for
the layer types listed in `layer_macs`), wall time of forward and
forward+backward passes (measured), peak device memory (measured, GPU
only), and an activation-memory figure (ESTIMATED: sum of layer output
sizes, not what the framework really keeps).
"""  # noqa: E501

import math
import statistics
import time

import numpy as np

from keras_cmod.evaluation._image import check_positive_int

# ---------------------------------------------------------------------------
# (a) Analytic model

#: Operation costs relative to an addition (paper, Appendix F).
OPERATION_COSTS = {
    "add": 1.0,
    "mul": 1.0,
    "exp": 0.75,
    "modulus": 3.5,
    "relu": 0.75,
    "max_pool": 12.0,
}

#: First-layer settings of the analytic model.
ANALYTIC_ARCHITECTURES = {
    "alexnet": {"kernel_size": 11, "in_channels": 3, "stride": 4},
    "resnet": {"kernel_size": 7, "in_channels": 3, "stride": 2},
}

#: Antialiasing methods of Table III.
ANALYTIC_METHODS = ("none", "blurpool", "adaptive_blurpool", "cmod")

#: Settings of the blur and adaptive blur stages.
BLUR_SIZE = 3
ADAPTIVE_BLUR_CHANNELS = 64
ADAPTIVE_BLUR_GROUP_SIZE = 8


def _costs(costs):
    merged = dict(OPERATION_COSTS)
    if costs is not None:
        unknown = set(costs) - set(OPERATION_COSTS)
        if unknown:
            raise ValueError(
                f"Unknown operation names {sorted(unknown)}; allowed: "
                f"{sorted(OPERATION_COSTS)}."
            )
        merged.update(costs)
    return merged


def conv_unit_cost(kernel_size, in_channels=3, costs=None):
    """Cost of one output of a real convolution.

    `(K N_f^2 - 1) t_s + K N_f^2 t_p`: `K N_f^2` products summed by
    `K N_f^2 - 1` additions.

    Args:
        kernel_size: int, kernel side `N_f`.
        in_channels: int, `K`. Defaults to 3.
        costs: optional dict overriding `OPERATION_COSTS`.

    Returns:
        A float (725 for `N_f = 11`, 293 for `N_f = 7`).

    Raises:
        ValueError: for non-positive sizes or unknown operation names.
    """
    c = _costs(costs)
    n = check_positive_int(in_channels, "in_channels") * check_positive_int(
        kernel_size, "kernel_size"
    ) ** 2
    return (n - 1) * c["add"] + n * c["mul"]


def batch_norm_unit_cost(costs=None):
    """Cost of one batch-normalisation output, `4 t_s + 3 t_p` (= 7).

    Args:
        costs: optional dict overriding `OPERATION_COSTS`.

    Returns:
        A float.

    Raises:
        ValueError: for unknown operation names.
    """
    c = _costs(costs)
    return 4 * c["add"] + 3 * c["mul"]


def blur_unit_cost(blur_size=BLUR_SIZE, costs=None):
    """Cost of one output of a fixed `N_b x N_b` blur (depthwise conv).

    `(N_b^2 - 1) t_s + N_b^2 t_p` (17 for `N_b = 3`).

    Args:
        blur_size: int, `N_b`. Defaults to 3.
        costs: optional dict overriding `OPERATION_COSTS`.

    Returns:
        A float.

    Raises:
        ValueError: for a non-positive size or unknown operation names.
    """
    return conv_unit_cost(blur_size, 1, costs)


def adaptive_blur_unit_cost(blur_size=BLUR_SIZE,
                            channels=ADAPTIVE_BLUR_CHANNELS,
                            group_size=ADAPTIVE_BLUR_GROUP_SIZE, costs=None):
    """Cost of one output (one channel) of Zou's adaptive blur (PASA).

    `(N_b^2 / L_g) [(2 L N_b^2 - 1) + 7 + (t_e + 2)] + 17` with unit
    add/mul costs: per channel, `N_b^2 / L_g` filter taps are predicted,
    each by a conv over `L` channels, a BN and a softmax (`t_e + t_s +
    t_p`), and the predicted blur is applied (17).

    Args:
        blur_size: int, `N_b`. Defaults to 3.
        channels: int, `L`, input channels of the predicting conv.
            Defaults to 64.
        group_size: int, `L_g`, channels sharing one predicted filter.
            Defaults to 8.
        costs: optional dict overriding `OPERATION_COSTS`.

    Returns:
        A float (1322.84375 with the defaults).

    Raises:
        ValueError: for non-positive sizes or unknown operation names.
    """
    c = _costs(costs)
    nb2 = check_positive_int(blur_size, "blur_size") ** 2
    lg = check_positive_int(group_size, "group_size")
    predict = conv_unit_cost(blur_size, channels, costs)
    softmax = c["exp"] + c["add"] + c["mul"]
    return (nb2 / lg) * (
        predict + batch_norm_unit_cost(costs) + softmax
    ) + blur_unit_cost(blur_size, costs)


def _check_analytic(architecture, method):
    if architecture not in ANALYTIC_ARCHITECTURES:
        raise ValueError(
            f"`architecture` must be one of {tuple(ANALYTIC_ARCHITECTURES)}."
            f" Received: architecture={architecture!r}"
        )
    if method not in ANALYTIC_METHODS:
        raise ValueError(
            f"`method` must be one of {ANALYTIC_METHODS}. "
            f"Received: method={method!r}"
        )
    if architecture == "alexnet" and method == "adaptive_blurpool":
        raise ValueError(
            "Adaptive blur pooling was not run on AlexNet in the paper; "
            "use architecture='resnet'. Received: "
            "architecture='alexnet', method='adaptive_blurpool'"
        )


def _stages(architecture, method, costs):
    c = _costs(costs)
    cfg = ANALYTIC_ARCHITECTURES[architecture]
    conv = conv_unit_cost(cfg["kernel_size"], cfg["in_channels"], costs)
    bias = c["add"]
    bn = batch_norm_unit_cost(costs)
    relu = c["relu"]
    resnet = architecture == "resnet"
    if method == "cmod":
        stages = [("complex_conv", 2 * conv, 0.25),
                  ("modulus", c["modulus"], 0.25),
                  ("bias", bias, 0.25)]
        if resnet:
            stages.append(("batch_norm", bn, 0.25))
        return stages + [("relu", relu, 0.25)]
    if method == "blurpool" and not resnet:
        # Zhang's AlexNet: conv at stride m/2 -> ReLU -> BlurPool(s2)
        # -> MaxPool(s1) -> BlurPool(s2).
        return [("conv", conv, 4.0), ("bias", bias, 4.0),
                ("relu", relu, 4.0),
                ("blur", blur_unit_cost(BLUR_SIZE, costs), 1.0),
                ("max_pool", c["max_pool"], 1.0),
                ("blur", blur_unit_cost(BLUR_SIZE, costs), 0.25)]
    head = [("conv", conv, 1.0), ("bias", bias, 1.0)]
    if resnet:
        head.append(("batch_norm", bn, 1.0))
    head.append(("relu", relu, 1.0))
    if method == "none":
        return head + [("max_pool", c["max_pool"], 0.25)]
    blur = (
        blur_unit_cost(BLUR_SIZE, costs)
        if method == "blurpool"
        else adaptive_blur_unit_cost(costs=costs)
    )
    # Zhang/Zou ResNet stem: MaxPool(3, s1) -> (adaptive) BlurPool(s2).
    return head + [("max_pool", c["max_pool"], 1.0),
                   (method, blur, 0.25)]


def analytic_cost(architecture, method, costs=None):
    """First-layer cost per image and per Gabor channel (paper Table III).

    See the module docstring for the stage lists and their derivation.

    Args:
        architecture: `"alexnet"` or `"resnet"`.
        method: `"none"`, `"blurpool"`, `"adaptive_blurpool"` (ResNet only)
            or `"cmod"`.
        costs: optional dict overriding `OPERATION_COSTS`.

    Returns:
        A dict: `"cost"` (in additions per `(N / m)^2` output units; 729.75
        and 304.75 for `"none"`), `"stages"` (list of `[name, unit_cost,
        density, cost]`), `"architecture"`, `"method"`.

    Raises:
        ValueError: for unknown names, or adaptive blur on AlexNet.
    """
    _check_analytic(architecture, method)
    stages = [
        [name, float(unit), float(density), float(unit * density)]
        for name, unit, density in _stages(architecture, method, costs)
    ]
    return {
        "architecture": architecture,
        "method": method,
        "cost": float(sum(s[3] for s in stages)),
        "stages": stages,
    }


def analytic_cost_ratio(architecture, method, costs=None):
    """Cost of `method` divided by the cost of the unprotected layer.

    Args:
        architecture: `"alexnet"` or `"resnet"`.
        method: one of `ANALYTIC_METHODS`.
        costs: optional dict overriding `OPERATION_COSTS`.

    Returns:
        A float: AlexNet 4.03 (blurpool), 0.50 (cmod); ResNet 1.04
        (blurpool), 2.11 (adaptive_blurpool), 0.49 (cmod).

    Raises:
        ValueError: as `analytic_cost`.
    """
    cost = analytic_cost(architecture, method, costs)["cost"]
    return cost / analytic_cost(architecture, "none", costs)["cost"]


def _memory_tensors(architecture, method):
    # (name, density in N^2/m^2 units, factor: 2 for int64 indices)
    resnet = architecture == "resnet"
    if method == "cmod":
        return [("complex_conv_real", 0.25, 1), ("complex_conv_imag", 0.25, 1),
                ("modulus_output", 0.25, 1), ("relu_output", 0.25, 1)]
    if method == "none":
        head = [("conv_output", 1.0, 1)] if resnet else []
        return head + [("relu_output", 1.0, 1),
                       ("max_pool_indices", 0.25, 2),
                       ("max_pool_output", 0.25, 1)]
    if not resnet:  # Zhang AlexNet
        return [("relu_output", 4.0, 1), ("blur_output", 1.0, 1),
                ("max_pool_indices", 1.0, 2), ("max_pool_output", 1.0, 1),
                ("blur_output", 0.25, 1)]
    tensors = [("conv_output", 1.0, 1), ("relu_output", 1.0, 1),
               ("max_pool_indices", 1.0, 2), ("max_pool_output", 1.0, 1),
               ("blur_output", 0.25, 1)]
    if method == "adaptive_blurpool":
        tensors.append(
            ("predicted_filters",
             0.25 * BLUR_SIZE**2 / ADAPTIVE_BLUR_GROUP_SIZE, 1)
        )
    return tensors


def analytic_memory(architecture, method):
    """First-layer training memory per Gabor channel, in `N^2 / m^2` units.

    The tensors autograd saves (module docstring): 7/4 (AlexNet) and 11/4
    (ResNet) unprotected, 33/4 and 21/4 with BlurPool, 177/32 with ResNet
    ABlurPool, 1 with CMod.

    Args:
        architecture: `"alexnet"` or `"resnet"`.
        method: one of `ANALYTIC_METHODS` (no adaptive blur on AlexNet).

    Returns:
        A dict: `"memory"`, `"tensors"` (list of `[name, density, factor]`),
        `"architecture"`, `"method"`.

    Raises:
        ValueError: for unknown names, or adaptive blur on AlexNet.
    """
    _check_analytic(architecture, method)
    tensors = [
        [name, float(d), int(f)]
        for name, d, f in _memory_tensors(architecture, method)
    ]
    return {
        "architecture": architecture,
        "method": method,
        "memory": float(sum(d * f for _, d, f in tensors)),
        "tensors": tensors,
    }


def analytic_memory_ratio(architecture, method):
    """Memory of `method` divided by that of the unprotected layer.

    Args:
        architecture: `"alexnet"` or `"resnet"`.
        method: one of `ANALYTIC_METHODS`.

    Returns:
        A float: AlexNet 4.71 (blurpool), 0.57 (cmod); ResNet 1.91
        (blurpool), 2.01 (adaptive_blurpool), 0.36 (cmod).

    Raises:
        ValueError: as `analytic_memory`.
    """
    mem = analytic_memory(architecture, method)["memory"]
    return mem / analytic_memory(architecture, "none")["memory"]


def table_iii(costs=None):
    """Paper Table III recomputed: cost and memory ratios per method.

    Args:
        costs: optional dict overriding `OPERATION_COSTS`.

    Returns:
        `{"cost": {arch: {method: ratio}}, "memory": {...}}`, with `None`
        for adaptive blur on AlexNet (not run in the paper).

    Raises:
        ValueError: for unknown operation names in `costs`.
    """
    table = {"cost": {}, "memory": {}}
    for arch in ANALYTIC_ARCHITECTURES:
        table["cost"][arch] = {}
        table["memory"][arch] = {}
        for method in ANALYTIC_METHODS:
            if arch == "alexnet" and method == "adaptive_blurpool":
                table["cost"][arch][method] = None
                table["memory"][arch][method] = None
                continue
            table["cost"][arch][method] = analytic_cost_ratio(
                arch, method, costs
            )
            table["memory"][arch][method] = analytic_memory_ratio(
                arch, method
            )
    return table


# ---------------------------------------------------------------------------
# (b) Measured cost of a Keras model


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
