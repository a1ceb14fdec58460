"""Strict mode, frozen-filter checks and checkpoint wrappers."""

import re

import numpy as np
import pytest
from convert_helpers import build, weights_of

from keras_cmod.convert import load_torch_state_dict, to_torch_state_dict


@pytest.fixture(scope="module")
def cmod_state():
    """(model builder, a valid state dict) for the ResNet-18 CMod twin."""
    model = build("resnet18_cmod")
    return to_torch_state_dict(model)


def test_strict_lists_every_missing_and_unexpected_key(cmod_state):
    model = build("resnet18_cmod")
    before = weights_of(model)
    sd = dict(cmod_state)
    missing = ["layer1.0.conv1.weight", "maxpool.high.2.running_var",
               "conv1.wptblock.wpt._gfilters"]
    for key in missing:
        del sd[key]
    unexpected = {"bn1.weight": np.ones(64, "f4"),
                  "bn1.num_batches_tracked": np.array(3),
                  "layer5.0.conv1.weight": np.zeros((1, 1, 1, 1), "f4")}
    sd.update(unexpected)
    with pytest.raises(ValueError) as info:
        load_torch_state_dict(model, sd)
    msg = str(info.value)
    for key in missing + list(unexpected):
        assert key in msg
    assert "missing keys (3)" in msg and "unexpected keys (3)" in msg
    assert "strict=False" in msg
    # Nothing was assigned.
    after = weights_of(model)
    for path, value in before.items():
        np.testing.assert_array_equal(after[path], value)


def test_non_strict_loads_the_rest(cmod_state):
    model = build("resnet18_cmod")
    old = np.array(model.get_layer("layer1_0_conv1").kernel.numpy())
    sd = {k: v + 1.0 for k, v in cmod_state.items() if ".wpt." not in k
          and k != "layer1.0.conv1.weight"}
    sd["extra.weight"] = np.zeros(3, "f4")
    report = load_torch_state_dict(model, sd, strict=False)
    assert report.missing == ["layer1.0.conv1.weight",
                              "conv1.wptblock.wpt._hfilters",
                              "conv1.wptblock.wpt._gfilters"]
    assert report.unexpected == ["extra.weight"]
    assert report.skipped == ["maxpool.high.2.running_mean"]
    assert "1 unexpected" in report.summary() and "extra.weight" in str(
        report)
    np.testing.assert_array_equal(
        model.get_layer("layer1_0_conv1").kernel.numpy(), old)
    np.testing.assert_allclose(
        model.get_layer("stem").gabor_norm.moving_energy.numpy(),
        cmod_state["maxpool.high.2.running_var"] + 1.0)


def test_shape_mismatch_is_always_an_error(cmod_state):
    model = build("resnet18_cmod")
    sd = dict(cmod_state)
    sd["fc.weight"] = np.zeros((7, 512), "f4")
    sd["conv1.freeconv.weight"] = np.zeros((40, 3, 7, 7, 1), "f4")
    for strict in (True, False):
        with pytest.raises(ValueError) as info:
            load_torch_state_dict(model, sd, strict=strict)
        msg = str(info.value)
        assert "fc.weight: shape (7, 512)" in msg and "(5, 512)" in msg
        assert "conv1.freeconv.weight" in msg


@pytest.mark.parametrize("key,value,what", [
    ("conv1.wptblock.wpt._hfilters", "swap", "low-pass QMFs"),
    ("conv1.wptblock.wpt._gfilters", "scale", "high-pass QMFs"),
    ("conv1.wptblock.wpt._hfilters", "shape", "shape (1, 10)"),
])
def test_qmf_mismatch_is_an_error(cmod_state, key, value, what):
    model = build("resnet18_cmod")
    sd = dict(cmod_state)
    if value == "swap":
        sd[key] = sd[key][::-1].copy()  # [hb, ha]: trees exchanged
    elif value == "scale":
        sd[key] = sd[key] * 1.001
    else:
        sd[key] = sd[key][:1]
    for strict in (True, False):
        with pytest.raises(ValueError, match=re.escape(what)) as info:
            load_torch_state_dict(model, sd, strict=strict)
        assert key in str(info.value)


def test_blur_filter_and_unit_bias_weight_are_checked():
    model = build("resnet18_blurpool")
    sd = to_torch_state_dict(model)
    sd["layer3.0.conv2.0.filt"] = np.full((256, 1, 3, 3), 1 / 9, "f4")
    with pytest.raises(ValueError, match=r"layer3\.0\.conv2\.0\.filt.*blur"):
        load_torch_state_dict(model, sd)
    alex = build("alexnet_cmod", include_top=False)
    sd = to_torch_state_dict(alex)
    assert np.all(sd["features.1.high.2.weight"] == 1.0)
    report = load_torch_state_dict(alex, sd)
    assert "features.1.high.2.weight" in report.checked
    sd["features.1.high.2.weight"] = sd["features.1.high.2.weight"] * 2
    with pytest.raises(ValueError, match="unit weight"):
        load_torch_state_dict(alex, sd)


def test_checkpoint_wrappers_and_ddp_prefix(cmod_state):
    model = build("resnet18_cmod")
    ddp = {f"module.{k}": v + 0.5 for k, v in cmod_state.items()
           if ".wpt." not in k}
    for k in ("conv1.wptblock.wpt._hfilters", "conv1.wptblock.wpt._gfilters"):
        ddp[f"module.{k}"] = cmod_state[k]
    ddp["module.maxpool.low.0.num_batches_tracked"] = np.array(12)
    for wrapped in ({"state_dict": ddp, "epoch": 3, "arch": "x"},
                    {"net": ddp}, {"model": {"state_dict": ddp}}):
        report = load_torch_state_dict(model, wrapped)
        assert sorted(report.skipped) == [
            "maxpool.high.2.running_mean",
            "maxpool.low.0.num_batches_tracked"]
    np.testing.assert_allclose(
        model.get_layer("layer1_0_bn1").moving_mean.numpy(),
        cmod_state["layer1.0.bn1.running_mean"] + 0.5)
    with pytest.raises(ValueError, match="Could not find a state dict"):
        load_torch_state_dict(model, {"epoch": 3, "optimizer": {}})
    with pytest.raises(ValueError, match="Duplicate key"):
        load_torch_state_dict(model, {"fc.bias": np.zeros(5, "f4"),
                                      "module.fc.bias": np.zeros(5, "f4")})


def test_non_array_values_are_rejected():
    model = build("resnet18")
    sd = to_torch_state_dict(model)
    sd["fc.bias"] = np.zeros(5, "f4")
    sd["note"] = np.array("text")
    with pytest.raises(ValueError, match="unexpected keys"):
        load_torch_state_dict(model, sd)
    sd = to_torch_state_dict(model)
    sd["fc.bias"] = np.array(["a"] * 5)
    with pytest.raises(ValueError, match="non-numeric"):
        load_torch_state_dict(model, sd)
    with pytest.raises(ValueError, match="mapping of names"):
        load_torch_state_dict(model, 42)
