"""User paths beyond the first journey: a model saved at its own input
size and class count, reloaded through every entry point a user reaches
for, must come back as exactly that model.

Tiny sizes (48 px, 3 classes, ResNet-18), no training, no network.
"""

import numpy as np
import pytest

NAME = "resnet18_cmod"
SIZE = 48
CLASSES = ["astronaut", "coffee", "rocket"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A 48-px, 3-class model folder, as a run or save_pretrained writes."""
    from keras_cmod import hub, zoo

    model = zoo.create_model(NAME, num_classes=len(CLASSES),
                             input_shape=(SIZE, SIZE, 3))
    model.pretrained_cfg = {**model.pretrained_cfg, "label_names": CLASSES}
    directory = tmp_path_factory.mktemp("saved") / "model"
    hub.save_pretrained(model, directory)
    x = np.random.default_rng(0).normal(size=(2, SIZE, SIZE, 3))
    return directory, model, x.astype("float32")


def test_weights_file_of_a_model_folder_keeps_its_input_size(saved):
    """`weights=DIR/model.weights.h5` loads the model `weights=DIR` loads:
    same input size, classes and label names, same predictions."""
    from keras_cmod import zoo

    directory, model, x = saved
    ref = np.asarray(model(x, training=False))
    by_dir = zoo.load(NAME, weights=directory)
    by_file = zoo.load(NAME, weights=directory / "model.weights.h5")
    for m in (by_dir, by_file):
        cfg = m.pretrained_cfg
        assert m.input_shape == (None, SIZE, SIZE, 3)
        assert cfg["input_size"] == [SIZE, SIZE, 3]
        assert cfg["num_classes"] == 3 and cfg["label_names"] == CLASSES
        np.testing.assert_allclose(np.asarray(m(x, training=False)), ref,
                                   atol=1e-5)
    # An explicit input size still wins over the folder's.
    wider = zoo.load(NAME, weights=directory / "model.weights.h5",
                     input_shape=(64, 64, 3))
    assert wider.input_shape == (None, 64, 64, 3)
    assert wider.pretrained_cfg["input_size"] == [64, 64, 3]


def test_weights_file_of_another_family_is_refused_by_name(saved):
    """A ResNet folder's weights file given to an AlexNet: the family is
    named, not a layer shape deep inside."""
    from sweep import rejects

    from keras_cmod import zoo

    directory, _, _ = saved
    rejects(lambda: zoo.load("alexnet_cmod",
                             weights=directory / "model.weights.h5"),
            ValueError, "resnet family", "alexnet", directory=directory)
