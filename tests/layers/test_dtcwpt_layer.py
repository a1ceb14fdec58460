import numpy as np
import pytest
from np_reference import dtcwpt_dense
from testing import run_layer_test

from keras_cmod import layers, wavelets


def test_matches_reference_forward_vector(data_dir):
    ref = np.load(f"{data_dir}/dtcwpt_j2_reference.npz")
    x = ref["test_x"].transpose(0, 2, 3, 1)
    y = np.asarray(layers.DTCWPT2D(2, 2, padding=14)(x))
    np.testing.assert_allclose(y, ref["test_y"].transpose(0, 2, 3, 1),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("depth,stride,pad,shape", [
    (2, 2, 14, (17, 21)),
    (2, 4, 14, (16, 16)),
    (3, 4, 34, (37, 30)),
    (3, 8, 34, (40, 40)),
    (3, 2, 34, (20, 23)),
    (1, 1, 5, (9, 9)),
])
@pytest.mark.parametrize("implementation", ["cascade", "fused"])
def test_cascade_equals_dense_equivalent_kernels(depth, stride, pad, shape,
                                                 implementation):
    rng = np.random.default_rng(depth * 10 + stride)
    x = rng.standard_normal((2, *shape, 1)).astype("float32")
    k = wavelets.dtcwpt_kernels(depth)
    packets = sorted(rng.choice(len(k), 6, replace=False).tolist())
    dense = dtcwpt_dense(x[..., 0].astype(float), k[packets], stride, pad)
    y = np.asarray(layers.DTCWPT2D(depth, stride, packets=packets,
                                   padding=pad,
                                   implementation=implementation)(x))
    scale = np.abs(dense).max()
    np.testing.assert_allclose(y[..., 0::2], dense.real, atol=2e-6 * scale)
    np.testing.assert_allclose(y[..., 1::2], dense.imag, atol=2e-6 * scale)
    yr = np.asarray(layers.DTCWPT2D(depth, stride, output_mode="real",
                                    packets=packets, padding=pad,
                                    implementation=implementation)(x))
    np.testing.assert_allclose(yr, dense.real, atol=2e-6 * scale)


def test_multichannel_input_is_per_channel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 24, 24, 2)).astype("float32")
    layer = layers.DTCWPT2D(2, 2, padding=14)
    y = np.asarray(layer(x))
    assert y.shape == (1, 12, 12, 128)
    y0 = np.asarray(layers.DTCWPT2D(2, 2, padding=14)(x[..., :1]))
    y1 = np.asarray(layers.DTCWPT2D(2, 2, padding=14)(x[..., 1:]))
    np.testing.assert_allclose(y, np.concatenate([y0, y1], -1), atol=1e-5)


def test_decimated_transform_is_subsampled_undecimated():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 48, 48, 1)).astype("float32")
    full = np.asarray(layers.DTCWPT2D(3, 4, padding=34)(x))
    direct = np.asarray(layers.DTCWPT2D(3, 8, padding=34)(x))
    np.testing.assert_allclose(direct, full[:, ::2, ::2], atol=1e-5)


def test_layer_contract():
    run_layer_test(
        layers.DTCWPT2D,
        {"depth": 2, "stride": 4, "packets": [1, 5, 17], "padding": 14},
        np.random.rand(2, 20, 20, 1).astype("float32"),
        expected_output_shape=(2, 5, 5, 6),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


def test_auto_plan_choice():
    from keras_cmod.layers.dtcwpt import (
        CascadePlan,
        FusedPlan,
        make_plan,
        needed_maps,
    )

    sel = wavelets.RESNET_PACKETS
    need = needed_maps(2, sel.packets, "complex")
    assert isinstance(make_plan("auto", 1, 2, 4, need), FusedPlan)
    assert isinstance(make_plan("cascade", 1, 2, 2, need), CascadePlan)
    # No channel gathers (slow) where zero filters are cheaper.
    for plan in (make_plan("cascade", 1, 2, 2, need),
                 make_plan("fused", 1, 2, 4, need)):
        gathers = ([plan.v_gather, plan.h_gather]
                   if isinstance(plan, FusedPlan) else
                   [g for st in plan.stages
                    for g in (st["v_gather"], st["h_gather"])])
        assert all(g is None for g in gathers)


def test_auto_gives_the_same_result_in_training_and_inference():
    x = np.random.default_rng(4).standard_normal((2, 37, 40, 3)).astype(
        "float32")
    for output_mode, strides in (("real", 2), ("complex", 4)):
        layer = layers.DTCWPTConv2D("resnet", strides=strides,
                                    output_mode=output_mode)
        a = np.asarray(layer(x, training=True))
        b = np.asarray(layer(x, training=False))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    t = layers.DTCWPT2D(3, 4, padding=34)
    y = np.random.default_rng(5).standard_normal((1, 40, 40, 1)).astype(
        "float32")
    np.testing.assert_allclose(np.asarray(t(y, training=True)),
                               np.asarray(t(y, training=False)),
                               rtol=1e-5, atol=1e-5)


_OP_PATH = """
import json, sys
import numpy as np
import keras
from keras_cmod import layers

inp = keras.Input((None, None, 3))
stem = layers.TwinStem("resnet", "cmod", name="stem")
model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(stem(inp)))
model.compile("sgd", "mse")
x = np.random.default_rng(0).uniform(0, 1, (2, 40, 40, 3)).astype("float32")
y = np.zeros((2, 64), "float32")
if sys.argv[1] == "fit":
    model.train_on_batch(x, y)
else:
    model(x)
    model.train_on_batch(x, y)
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    fn = tf.function(lambda t: model(t, training=True))
    graph = fn.get_concrete_function(
        tf.TensorSpec((None, None, None, 3), "float32")).graph
    ops_ = sorted(op.type for op in graph.get_operations())
    # Depthwise strides as written in the graph: TensorFlow's own kernels
    # accept equal (row, column) strides only.
    strides = sorted({tuple(op.get_attr("strides")) for op in
                      graph.get_operations()
                      if op.type.startswith("DepthwiseConv2dNative")})
else:
    import jax
    tv = [v.value for v in model.trainable_variables]
    nv = [v.value for v in model.non_trainable_variables]
    jaxpr = jax.make_jaxpr(
        lambda t: model.stateless_call(tv, nv, t, training=True))(x)
    ops_ = sorted(str(e.primitive) for e in jaxpr.jaxpr.eqns)
    strides = sorted({(1, e.params["window_strides"][0],
                       e.params["window_strides"][-1], 1)
                      for e in jaxpr.jaxpr.eqns
                      if str(e.primitive) == "conv_general_dilated"
                      and e.params["feature_group_count"] > 1})
print(json.dumps({"ops": ops_, "strides": strides}))
"""


@pytest.mark.slow
def test_same_ops_whether_the_process_starts_with_fit_or_eager():
    """The strided passes are chosen when the layer is built, not from the
    first call: a process starting with `train_on_batch` and one starting
    with an eager call run the same graph."""
    import json

    from sweep import child

    out = {}
    for order in ("fit", "eager"):
        proc = child(_OP_PATH.replace("sys.argv[1]", repr(order)),
                     timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[order] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["fit"] == out["eager"]
    # Every depthwise pass has equal row and column strides.
    assert out["fit"]["strides"], out["fit"]
    for strides in out["fit"]["strides"]:
        assert strides[1] == strides[2], out["fit"]["strides"]
    # Three convolutions: the free one, then the vertical and horizontal
    # passes of the transform (no stage cascade, no per-row fallback).
    convs = [op for op in out["fit"]["ops"]
             if op in ("Conv2D", "DepthwiseConv2dNative",
                       "conv_general_dilated")]
    assert len(convs) == 3, out["fit"]["ops"]
