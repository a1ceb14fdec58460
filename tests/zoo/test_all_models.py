"""Registry-driven smoke test: every name builds and runs.

The default tier builds one model for each depth family, stem and
anti-aliasing (each value appears at least once, checked below); the slow
tier builds every registered name.
"""

import numpy as np
import pytest

from keras_cmod import zoo

# Together these cover AlexNet, the basic-block and the bottleneck ResNets,
# each stem (plain, RMax twin, CMod twin) and each anti-aliasing (none,
# blur pool, adaptive blur pool).
COVER = ["alexnet_blurpool_cmod", "alexnet_twin", "resnet18",
         "resnet18_blurpool_twin", "resnet18_ablurpool_cmod",
         "resnet50_cmod"]


def test_the_default_tier_covers_every_family_stem_and_antialias():
    def parts(name):
        family, *rest = name.split("_")
        depth = {"alexnet": "alexnet", "resnet18": "basic",
                 "resnet34": "basic"}.get(family, "bottleneck")
        antialias = next((r for r in rest if "blurpool" in r), "none")
        stem = next((r for r in rest if r in ("twin", "cmod")), "plain")
        return {("depth", depth), ("antialias", antialias), ("stem", stem)}

    every = set().union(*map(parts, zoo.list_models()))
    assert set().union(*map(parts, COVER)) == every
    assert set(COVER) <= set(zoo.list_models())


@pytest.mark.parametrize("name", [
    n if n in COVER else pytest.param(n, marks=pytest.mark.slow)
    for n in zoo.list_models()])
def test_model_forward_small(name):
    model = zoo.create_model(name, num_classes=10, input_shape=(64, 64, 3))
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("f4")
    y = np.asarray(model(x, training=False))
    assert y.shape == (2, 10)
    assert np.isfinite(y).all()


@pytest.mark.slow
@pytest.mark.large
@pytest.mark.parametrize("name", zoo.list_models(include_tags=True))
def test_model_forward_full_size(name):
    model = zoo.create_model(name)
    cfg = zoo.get_pretrained_cfg(name)
    x = np.random.default_rng(0).uniform(
        0, 1, (1, *cfg.input_size)).astype("f4")
    y = np.asarray(model(x, training=False))
    assert y.shape == (1, cfg.num_classes)
    assert np.isfinite(y).all()
