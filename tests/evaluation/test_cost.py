"""Analytic cost model (Table III) and measured cost of Keras models."""

import keras
import numpy as np
import pytest

from keras_cmod import evaluation as ev
from keras_cmod.evaluation import analytic

# --- (a) analytic model: paper Table III --------------------------------------


def test_unit_costs():
    assert analytic.conv_unit_cost(11) == 725  # 362 adds + 363 muls
    assert analytic.conv_unit_cost(7) == 293
    assert analytic.batch_norm_unit_cost() == 7
    assert analytic.blur_unit_cost(3) == 17
    # (9 / 8) * [(2 * 64 * 9 - 1) + 7 + (0.75 + 2)] + 17
    assert analytic.adaptive_blur_unit_cost() == pytest.approx(
        9 / 8 * (1151 + 7 + 2.75) + 17
    )


def test_reference_costs_of_the_unprotected_layer():
    assert ev.analytic_cost("alexnet", "none")["cost"] == 729.75
    assert ev.analytic_cost("resnet", "none")["cost"] == 304.75


@pytest.mark.parametrize(
    "arch, method, ratio",
    [
        ("alexnet", "blurpool", 4.03),
        ("alexnet", "cmod", 0.50),
        ("resnet", "blurpool", 1.04),
        ("resnet", "adaptive_blurpool", 2.11),
        ("resnet", "cmod", 0.49),
        ("alexnet", "none", 1.00),
        ("resnet", "none", 1.00),
    ],
)
def test_table_iii_compute_ratios(arch, method, ratio):
    assert round(ev.analytic_cost_ratio(arch, method), 2) == ratio


@pytest.mark.parametrize(
    "arch, method, ratio, units",
    [
        ("alexnet", "none", 1.00, 7 / 4),
        ("resnet", "none", 1.00, 11 / 4),
        ("alexnet", "blurpool", 4.71, 33 / 4),
        ("resnet", "blurpool", 1.91, 21 / 4),
        ("alexnet", "cmod", 0.57, 1.0),
        ("resnet", "cmod", 0.36, 1.0),
        ("resnet", "adaptive_blurpool", 2.01, 177 / 32),
    ],
)
def test_table_iii_memory_ratios(arch, method, ratio, units):
    assert ev.analytic_memory(arch, method)["memory"] == pytest.approx(units)
    assert round(ev.analytic_memory_ratio(arch, method), 2) == ratio


def test_table_iii_rounded_like_the_paper():
    table = ev.table_iii()
    paper = {
        "cost": {"alexnet": {"blurpool": 4.0, "cmod": 0.5},
                 "resnet": {"blurpool": 1.0, "adaptive_blurpool": 2.1,
                            "cmod": 0.5}},
        "memory": {"alexnet": {"blurpool": 4.7, "cmod": 0.6},
                   "resnet": {"blurpool": 1.9, "adaptive_blurpool": 2.0,
                              "cmod": 0.4}},
    }
    for kind, archs in paper.items():
        for arch, methods in archs.items():
            for method, value in methods.items():
                assert round(table[kind][arch][method], 1) == value
    assert table["cost"]["alexnet"]["adaptive_blurpool"] is None


def test_cmod_saving_comes_from_the_larger_stride():
    stages = ev.analytic_cost("alexnet", "cmod")["stages"]
    assert all(density == 0.25 for _, _, density, _ in stages)
    assert stages[0][:2] == ["complex_conv", 1450.0]


def test_analytic_bad_input():
    with pytest.raises(ValueError, match="not run on AlexNet"):
        ev.analytic_cost("alexnet", "adaptive_blurpool")
    with pytest.raises(ValueError, match="architecture"):
        ev.analytic_cost("vgg", "none")
    with pytest.raises(ValueError, match="method"):
        ev.analytic_memory("resnet", "maxblur")
    with pytest.raises(ValueError, match="Unknown operation"):
        analytic.conv_unit_cost(3, costs={"sqrt": 2.0})


# --- (b) measured cost -------------------------------------------------------


def _conv_model():
    inp = keras.Input((17, 19, 3))
    out = keras.layers.Conv2D(8, (3, 5), strides=2, name="conv")(inp)
    return keras.Model(inp, out)


def test_macs_of_a_single_conv2d_match_the_formula():
    model = _conv_model()
    # Output 8 x 8 (valid, stride 2): out_h * out_w * filters * kh * kw * cin.
    expected = 8 * 8 * 8 * 3 * 5 * 3
    res = ev.model_macs(model)
    assert res["total"] == expected == 23040
    (row,) = res["layers"]
    assert row["name"] == "conv"
    assert row["input_shape"] == (None, 17, 19, 3)
    assert row["output_shape"] == (None, 8, 8, 8)
    assert res["kind"] == "computed"


@pytest.mark.parametrize(
    "layer, in_shape, expected",
    [
        # grouped conv: 6 x 6 outputs x 6 filters x 9 taps x 4 / 2 groups
        (keras.layers.Conv2D(6, 3, groups=2), (8, 8, 4), 6 * 6 * 6 * 9 * 2),
        (keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (8, 8, 4),
         6 * 6 * 4 * 2 * 9),
        (keras.layers.SeparableConv2D(5, 3), (8, 8, 4),
         6 * 6 * 4 * 9 + 6 * 6 * 4 * 5),
        (keras.layers.Dense(7), (3, 4), 3 * 4 * 7),
        (keras.layers.Conv2DTranspose(5, 3, strides=2), (4, 4, 2),
         4 * 4 * 2 * 9 * 5),
        (keras.layers.Conv1D(4, 3), (10, 2), 8 * 4 * 3 * 2),
        (keras.layers.MaxPooling2D(), (8, 8, 4), None),
    ],
)
def test_layer_macs_rules(layer, in_shape, expected):
    inp = keras.Input(in_shape)
    out = layer(inp)
    got = ev.layer_macs(layer, tuple(inp.shape), tuple(out.shape))
    assert got == expected


class CountedLayer(keras.layers.Layer):
    """A custom layer that reports its own MACs, as keras-cmod layers do."""

    def call(self, x):
        return x * 2.0

    def macs(self, input_shape):
        return 10 * int(input_shape[-1])


class MatrixLayer(keras.layers.Layer):
    """Has a kernel but no `macs` method."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 2))

    def call(self, x):
        return keras.ops.matmul(x, self.kernel)


def test_custom_macs_shared_layers_and_nested_models():
    shared = keras.layers.Conv2D(3, 1, name="shared")
    inner_in = keras.Input((6, 6, 3))
    inner = keras.Model(
        inner_in, keras.layers.Conv2D(2, 3, name="inner_conv")(inner_in),
        name="inner",
    )
    inp = keras.Input((6, 6, 3))
    x = shared(inp)
    x = shared(x)  # called twice
    x = CountedLayer(name="counted")(x)
    a = inner(x)
    b = inner(x)  # nested model called twice
    out = keras.layers.Add()([a, b])
    out = keras.layers.BatchNormalization(name="bn")(out)  # no MACs
    out = MatrixLayer(name="matrix")(out)  # a kernel but no rule
    model = keras.Model(inp, out)
    res = ev.model_macs(model)
    shared_macs = 6 * 6 * 3 * 3
    inner_macs = 4 * 4 * 2 * 9 * 3
    assert res["total"] == 2 * shared_macs + 30 + 2 * inner_macs
    names = [r["name"] for r in res["layers"]]
    assert names.count("shared") == 2
    assert "inner/inner_conv" in names
    assert res["uncounted"] == ["matrix"]


def test_custom_macs_must_be_an_int():
    class Bad(CountedLayer):
        def macs(self, input_shape):
            return 1.5

    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, Bad()(inp))
    with pytest.raises(ValueError, match="non-negative int"):
        ev.model_macs(model)


def test_model_macs_needs_a_functional_graph_with_fixed_sizes():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3)

        def call(self, x):
            return self.conv(x)

    sub = Sub()
    sub(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="no functional graph"):
        ev.model_macs(sub)
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(2, 3)(inp))
    with pytest.raises(ValueError, match="fixed input size"):
        ev.model_macs(model)
    seq = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        ev.model_macs(seq)
    seq.build((None, 5))
    assert ev.model_macs(seq)["total"] == 15


def test_count_params_trainable_and_fixed():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    model = keras.Model(inp, x)
    p = ev.count_params(model)
    # conv 3*3*3*4 = 108, BN gamma/beta 8 trainable, mean/var 8 fixed.
    assert p == {"trainable": 116, "non_trainable": 8, "total": 124}
    with pytest.raises(ValueError, match="built"):
        ev.count_params(keras.Sequential([keras.layers.Dense(2)]))


def test_activation_memory_estimate():
    model = _conv_model()
    mem = ev.activation_memory(model, batch_size=3)
    assert mem["bytes"] == 8 * 8 * 8 * 4 * 3
    assert mem["kind"] == "estimated"
    with pytest.raises(ValueError, match="batch_size"):
        ev.activation_memory(model, batch_size=0)


def test_time_model_and_measure_cost():
    model = _conv_model()
    fwd = ev.time_model(model, batch_size=2, repeats=3, warmup=1)
    assert fwd["kind"] == "measured"
    assert 0 < fwd["min_s"] <= fwd["median_s"] <= fwd["max_s"]
    assert fwd["input_shape"] == [17, 19, 3]
    bwd = ev.time_model(model, batch_size=2, repeats=2, warmup=1,
                        backward=True, compiled=False)
    assert bwd["backward"] and bwd["median_s"] > 0
    res = ev.measure_cost(model, batch_size=2, timing=False)
    assert res["params"]["kind"] == "counted"
    assert res["macs"]["total"] == 23040
    assert "forward_time" not in res
    with pytest.raises(ValueError, match="input_shape"):
        inp = keras.Input((None, None, 3))
        ev.time_model(keras.Model(inp, keras.layers.Conv2D(2, 3)(inp)))
