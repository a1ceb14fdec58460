"""Evaluation of keras-cmod models: the paper's protocols and cost model.

- `metrics`: top-1/top-5, one-/ten-crop views.
- `shift_metrics`: mean flip rates and the paper's normalised consistency
  (Tables I/II), KL divergence under half-pixel shifts (Fig. 2), Zhang's
  consistency.
- `shifts`: deterministic shifted frames of each protocol.
- `first_layer`: RMax vs CMod first-layer similarity and shift stability.
- `analytic`: the analytic cost/memory model of Table III.
- `cost`: parameters, MACs, timings and memory of a Keras model.
- `results`: JSON results with their protocol, written atomically.
- `plots`: PNG figures (matplotlib, imported lazily).

Everything works on any `keras.Model` or callable mapping a float32 NHWC
batch to logits; preprocessing constants come from the caller (the model's
preset), never from this package. `plots` imports matplotlib only inside
its functions, so importing `keras_cmod.evaluation` does not load it.
"""

from keras_cmod.evaluation import (
    cost,
    first_layer,
    metrics,
    plots,
    results,
    shifts,
)
from keras_cmod.evaluation.analytic import (
    ANALYTIC_METHODS,
    OPERATION_COSTS,
    analytic_cost,
    analytic_cost_ratio,
    analytic_memory,
    analytic_memory_ratio,
    table_iii,
)
from keras_cmod.evaluation.cost import (
    activation_memory,
    count_params,
    layer_macs,
    measure_cost,
    model_macs,
    time_model,
)
from keras_cmod.evaluation.first_layer import (
    compare_feature_maps,
    cosine_similarity,
    first_layer_stability,
    match_spatial_size,
    normalized_l2,
    relative_l2,
    relative_shift_change,
    shifted_crops,
)
from keras_cmod.evaluation.metrics import (
    TEN_CROP_ORDER,
    accuracy_metrics,
    average_crop_probabilities,
    center_crop,
    center_crop_offset,
    evaluate_accuracy,
    five_crop,
    log_softmax,
    one_crop,
    resize_shorter_side,
    softmax,
    ten_crop,
    top_k_accuracy,
    top_k_error,
)
from keras_cmod.evaluation.plots import (
    plot_first_layer_stability,
    plot_flip_rates,
    plot_kernel_grid,
    plot_kl_curves,
)
from keras_cmod.evaluation.results import (
    build_results,
    protocol,
    read_results,
    to_jsonable,
    write_results,
)
from keras_cmod.evaluation.shift_metrics import (
    PAPER_MFR_REFERENCE,
    PAPER_RAW_MFR,
    consistency,
    flip_rates,
    kl_divergence,
    kl_divergence_curve,
    mean_flip_rate,
    mean_flip_rates,
    zhang_consistency,
)
from keras_cmod.evaluation.shifts import (
    DIRECTIONS,
    flip_rate_frames,
    half_pixel_shift_frames,
    half_pixel_shifts,
    shift_offsets,
    zhang_crop_pairs,
)

__all__ = [
    "ANALYTIC_METHODS",
    "DIRECTIONS",
    "OPERATION_COSTS",
    "PAPER_MFR_REFERENCE",
    "PAPER_RAW_MFR",
    "TEN_CROP_ORDER",
    "accuracy_metrics",
    "activation_memory",
    "analytic_cost",
    "analytic_cost_ratio",
    "analytic_memory",
    "analytic_memory_ratio",
    "average_crop_probabilities",
    "build_results",
    "center_crop",
    "center_crop_offset",
    "compare_feature_maps",
    "consistency",
    "cosine_similarity",
    "cost",
    "count_params",
    "evaluate_accuracy",
    "first_layer",
    "first_layer_stability",
    "five_crop",
    "flip_rate_frames",
    "flip_rates",
    "half_pixel_shift_frames",
    "half_pixel_shifts",
    "kl_divergence",
    "kl_divergence_curve",
    "layer_macs",
    "log_softmax",
    "match_spatial_size",
    "mean_flip_rate",
    "mean_flip_rates",
    "measure_cost",
    "metrics",
    "model_macs",
    "normalized_l2",
    "one_crop",
    "plot_first_layer_stability",
    "plot_flip_rates",
    "plot_kernel_grid",
    "plot_kl_curves",
    "plots",
    "protocol",
    "read_results",
    "relative_l2",
    "relative_shift_change",
    "resize_shorter_side",
    "results",
    "shift_offsets",
    "shifted_crops",
    "shifts",
    "softmax",
    "table_iii",
    "ten_crop",
    "time_model",
    "to_jsonable",
    "top_k_accuracy",
    "top_k_error",
    "write_results",
    "zhang_consistency",
    "zhang_crop_pairs",
]

