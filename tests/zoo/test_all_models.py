"""Registry-driven smoke test: every name builds and runs."""

import numpy as np
import pytest

from keras_cmod import zoo


@pytest.mark.parametrize("name", zoo.list_models())
def test_model_forward_small(name):
    model = zoo.create_model(name, num_classes=10, input_shape=(64, 64, 3))
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("f4")
    y = np.asarray(model(x, training=False))
    assert y.shape == (2, 10)
    assert np.isfinite(y).all()


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
