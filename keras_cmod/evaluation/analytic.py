"""The paper's analytic cost and memory model of the first layer.

Paper Table III: cost and memory of the first
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
  as well, would give 2.11, the "2.0-2.1" range one can read
  from the paper.)
- CMod: real and imaginary outputs at stride 2m (2 x 1/4) + modulus
  output (1/4) + ReLU output (1/4) = **1** -> 0.57 (AlexNet), 0.36 (ResNet).

The measured cost of a Keras model lives in `cost`.
"""  # noqa: E501

from keras_cmod.evaluation._image import check_positive_int

# ---------------------------------------------------------------------------
# Analytic model

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
