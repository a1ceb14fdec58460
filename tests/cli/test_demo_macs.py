"""The demo's MAC counts: the training and the inference path, and an
honest comparison with the standard layer."""

import numpy as np
import pytest

from keras_cmod import demo


@pytest.fixture(scope="module")
def counts():
    out = {}
    for family in ("resnet", "alexnet"):
        stems, twins = demo.build_stems(family, 224)
        out[family] = (demo.layer1_macs(stems),
                       demo.layer1_inference_macs(stems, twins, 224), twins)
    return out


def test_inference_transforms_the_luminance_only(counts):
    for family, (train, infer, twins) in counts.items():
        assert infer["standard"] == train["standard"]
        for mode, stem in twins.items():
            pad = stem.gabor_padding
            shape = (1, 224 + 2 * pad, 224 + 2 * pad, 3)
            g_train = demo.gabor_macs(stem.gabor, shape, True)
            g_infer = demo.gabor_macs(stem.gabor, shape, False)
            assert g_train == stem.gabor.macs(shape)
            # One plane instead of three: about a third, plus the colour
            # mix (3 MACs a pixel).
            h, w = shape[1] + sum(stem.gabor.padding[0]), \
                shape[2] + sum(stem.gabor.padding[1])
            assert g_infer - 3 * h * w == pytest.approx(g_train / 3,
                                                        rel=1e-9)
            # The free channels are the same on both paths.
            assert train[mode] - g_train == infer[mode] - g_infer


def test_the_table_says_where_cmod_costs_more(counts):
    rows = []
    for family, (train, infer, twins) in counts.items():
        rows.append({
            "family": family, "model": family, "gabor_channels": 1,
            "total_stride": 4, "params_layer1": dict.fromkeys(train, 1),
            "params_model": dict.fromkeys(train, 1), "macs_layer1": train,
            "macs_layer1_inference": infer,
            "time_fwd_bwd_s": dict.fromkeys(train, 0.001),
            "stability": {"shifts": [1], "rmax": [0.5], "cmod": [0.4]},
            "rmax_cmod_cosine": 0.9,
            "analytic_table_iii": {"cost": {"cmod": 0.5, "blurpool": 1.0},
                                   "memory": {"cmod": 0.5,
                                              "blurpool": 1.0}},
        })
    text = demo.format_table(rows)
    assert "MMACs train" in text and "MMACs infer" in text
    lines = [x for x in text.splitlines() if x.startswith("MACs of twin")]
    resnet, alexnet = lines
    train, infer, _ = counts["alexnet"]
    ratio = train["cmod"] / train["standard"]
    assert ratio > 1 and f"training {ratio:.2f}x (more)" in alexnet
    assert "(less)" in resnet and "(more)" not in resnet
    assert np.isfinite(ratio)
