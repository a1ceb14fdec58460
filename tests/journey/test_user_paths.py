"""User paths beyond the first journey: a model saved at its own input
size and class count, reloaded through every entry point a user reaches
for, must come back as exactly that model.

Tiny sizes (48 px, 3 classes, ResNet-18), no training, no network.
"""

import numpy as np
import pytest

# Journeys: the slow tier.
pytestmark = pytest.mark.slow

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


TINY_CHILD = """
import numpy as np
from keras_cmod import zoo
m = zoo.create_model({name!r}, include_top=False, pooling="avg",
                     input_shape=(None, None, 3))
try:
    m(np.ones((1, {size}, {size}, 3), "float32"))
except ValueError as e:
    assert "at least {need}x{need}" in str(e), e
    assert "(1, {size}, {size}, 3)" in str(e), e
    print("REFUSED")
else:
    print("RAN")
"""


@pytest.mark.parametrize("name,size,need", [
    ("alexnet_cmod", 8, 63),         # died of SIGFPE
    ("resnet18_ablurpool_cmod", 1, 2),  # died of SIGFPE
    ("resnet18_cmod", 1, 2),         # a pooling kernel's AbortedError
])
def test_dynamic_size_model_refuses_too_small_an_image(name, size, need):
    """A dynamic-size model given an image below what it can run on: a
    ValueError naming the size, in the process, no signal."""
    from sweep import child

    proc = child(TINY_CHILD.format(name=name, size=size, need=need),
                 timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REFUSED" in proc.stdout


@pytest.mark.parametrize("flag,target,needle", [
    ("--output", "afile/sub/results.json", "is a file, not a folder"),
    ("--plots", "afile", "is a file; give a folder"),
])
def test_evaluate_refuses_an_unwritable_path_before_loading(
        tmp_path, monkeypatch, capsys, flag, target, needle):
    """`evaluate --output` under a regular file failed with a traceback
    after the whole evaluation; it is now refused before the model loads."""
    from keras_cmod.cli import main
    from keras_cmod.evaluation import cli as eval_cli

    def never(args):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(eval_cli, "_load_model", never)
    (tmp_path / "afile").write_text("x")
    args = {"--output": str(tmp_path / "r.json")}
    args[flag] = str(tmp_path / target)
    argv = ["evaluate", "resnet18_cmod.cifar10", "--random-weights",
            "--dataset", f"folder:{tmp_path}", "--metrics", "accuracy"]
    for k, v in args.items():
        argv += [k, v]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and flag in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_truncated_keras_file_is_named_corrupt_not_missing(tmp_path):
    """Keras says "File not found" for a truncated .keras file that
    exists; the loader says what is wrong with it."""
    from sweep import rejects

    from keras_cmod import zoo

    path = tmp_path / "cut.keras"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    for fn in (lambda: zoo.load("resnet18_cmod", weights=path),
               lambda: zoo.load(f"local:{path}")):
        rejects(fn, ValueError, "truncated, corrupt", str(path),
                directory=tmp_path)
