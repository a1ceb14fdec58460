import numpy as np
import pytest
from testing import run_layer_test

from keras_cmod import layers


def test_modulus_batch_norm_training_and_inference():
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal((4, 5, 5, 3))).astype("float32") * 3
    bn = layers.ModulusBatchNorm(momentum=0.9, epsilon=1e-5)
    bn.build(x.shape)
    bn.gamma.assign(np.array([-2.0, 1.0, 0.5], "float32"))  # |gamma| used
    bn.beta.assign(np.array([0.1, 0.2, 0.3], "float32"))
    y = np.asarray(bn(x, training=True))
    energy = (x.astype(float) ** 2).mean(axis=(0, 1, 2))
    ref = x / np.sqrt(energy / 2 + 1e-5) * np.array([2, 1, 0.5]) + [.1, .2, .3]
    np.testing.assert_allclose(y, ref, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_energy),
                               0.9 + 0.1 * energy, rtol=1e-5)
    y_inf = np.asarray(bn(x, training=False))
    moving = 0.9 + 0.1 * energy
    ref_inf = x / np.sqrt(moving / 2 + 1e-5) * np.array([2, 1, .5]) + [
        .1, .2, .3]
    np.testing.assert_allclose(y_inf, ref_inf, rtol=1e-5)


def test_frozen_modulus_batch_norm_uses_moving_energy():
    x = np.full((2, 3, 3, 2), 4.0, "float32")
    bn = layers.ModulusBatchNorm()
    bn.build(x.shape)
    bn.trainable = False
    y = np.asarray(bn(x, training=True))
    np.testing.assert_allclose(np.asarray(bn.moving_energy), 1.0)
    np.testing.assert_allclose(y, 4.0 / np.sqrt(0.5 + 1e-5), rtol=1e-5)


def test_modulus_batch_norm_contract():
    run_layer_test(
        layers.ModulusBatchNorm, {},
        np.random.rand(2, 4, 4, 3).astype("float32"),
        expected_output_shape=(2, 4, 4, 3),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=1,
    )


def test_bias_contract_and_values():
    out = run_layer_test(
        layers.Bias, {"bias_initializer": "ones"},
        np.zeros((2, 3, 3, 4), "float32"),
        expected_output_shape=(2, 3, 3, 4),
        expected_num_trainable_weights=1,
    )
    np.testing.assert_array_equal(out, 1.0)


def test_bias_default_init_is_uniform_minus_one_one():
    b = layers.Bias()
    b.build((None, 1000))
    v = np.asarray(b.bias)
    assert v.min() >= -1 and v.max() <= 1 and v.std() > 0.4


def test_packet_selection_penalty():
    pen = layers.PacketSelectionPenalty(0.1)
    w = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, -2.0], [0.0, 0.0, 1.0]])
    # columns: (1/1 - 1) + (3/3 - 1) + (5/2 - 1) = 1.5
    assert float(pen(w)) == pytest.approx(0.15)
    again = layers.PacketSelectionPenalty.from_config(pen.get_config())
    assert float(again(w)) == pytest.approx(0.15)
    with pytest.raises(ValueError, match="strength"):
        layers.PacketSelectionPenalty(-1.0)


def test_alexnet_twin_adds_the_penalty_as_a_loss():
    g = layers.DTCWPTConv2D("alexnet")
    g.build((None, 80, 80, 3))
    assert len(g.losses) == 2  # sections 2 and 3 (lambda 0 for section 1)
    r = layers.DTCWPTConv2D("resnet")
    r.build((None, 64, 64, 3))
    assert not r.losses
