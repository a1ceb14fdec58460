"""A new user's journey, end to end, offline: own photos -> train ->
evaluate -> reload -> publish -> reload from the Hub.

A 3-class image folder made of scikit-image's sample photos, 32x32 model
(`resnet18_cmod.cifar10`), one epoch. At every step the model must give the
same predictions on the same images and say the truth about itself: input
size 32, 3 classes, the folder's class names.
"""

import json

import numpy as np
import pytest
from fakehub import FakeHub
from sweep import cli

pytest.importorskip("skimage")
pytestmark = pytest.mark.slow

TOKEN = "hf_fake_write_token_0123456789"
CLASSES = ["astronaut", "coffee", "rocket"]
NAME = "resnet18_cmod.cifar10"


def _photos():
    from skimage import data, transform

    out = {}
    for name in CLASSES:
        img = getattr(data, name)()[..., :3]
        out[name] = [
            (transform.resize(img[i * 7:, j * 5:], (48, 48),
                              anti_aliasing=True) * 255).astype("uint8")
            for i in range(3) for j in range(2)
        ]
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    for name, images in _photos().items():
        for split, part in (("train", images[:4]), ("val", images[4:])):
            d = root / split / name
            d.mkdir(parents=True)
            for k, img in enumerate(part):
                Image.fromarray(img).save(d / f"{k}.png")
    return root


def _probe():
    from keras_cmod import zoo

    photos = _photos()
    raw = np.stack([photos[c][0][8:40, 8:40] for c in CLASSES])
    return zoo.preprocess_input(raw, NAME)


def _predict(model, x):
    return np.asarray(model(x, training=False))


def _check_truth(model, where):
    cfg = model.pretrained_cfg
    assert cfg["input_size"][:2] == [32, 32], where
    assert cfg["num_classes"] == 3 and model.output_shape[-1] == 3, where
    assert cfg["label_names"] == CLASSES, where


def _evaluate(model_arg, tmp_path, folder, extra=()):
    from keras_cmod.cli import main

    out = tmp_path / f"eval_{len(list(tmp_path.glob('eval_*')))}.json"
    code = main(["evaluate", model_arg, *extra, "--dataset",
                 f"folder:{folder / 'val'}", "--metrics", "accuracy",
                 "--output", str(out), "--no-progress"])
    assert code == 0
    return json.loads(out.read_text())


def test_own_photos_train_evaluate_publish_reload(folder, tmp_path,
                                                  no_real_hub, monkeypatch):
    import keras

    from keras_cmod import hub, zoo
    from keras_cmod.cli import main

    run = tmp_path / "run"
    proc = cli(["train", "--model", NAME, "--dataset",
                f"folder:{folder / 'train'}", "--val-split",
                str(folder / "val"), "--epochs", "1", "--batch-size", "4",
                "--output", str(run), "--quiet"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run / "train_config.json").is_file()
    x = _probe()

    # 1. the run's weights file, class count read from the file
    model = zoo.load(NAME, weights=run / "model.weights.h5")
    _check_truth(model, "weights file")
    ref = _predict(model, x)
    assert np.isfinite(ref).all()

    # 2. the run folder as a model source, and as weights
    for m, where in ((zoo.load(f"local-dir:{run}"), "local-dir"),
                     (zoo.load(NAME, weights=run), "weights=RUN"),
                     (hub.from_pretrained(run), "from_pretrained"),
                     (zoo.load(NAME, weights=run / "model.weights.h5",
                               num_classes=3), "num_classes=3")):
        _check_truth(m, where)
        np.testing.assert_allclose(_predict(m, x), ref, atol=1e-5)

    # 3. evaluate (the CLI) from the weights file and from the run folder
    a = _evaluate(NAME, tmp_path, folder,
                  ["--weights", str(run / "model.weights.h5")])
    b = _evaluate(f"local-dir:{run}", tmp_path, folder)
    assert a["metrics"]["summary"]["top1"] == b["metrics"]["summary"]["top1"]

    # 4. a .keras round trip keeps the metadata
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.pretrained_cfg == model.pretrained_cfg

    # 5. publish the run folder with the CLI, reload it pinned by sha
    with FakeHub(token=TOKEN) as hub:
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        assert main(["push", str(run), "me/photos", "--endpoint",
                     hub.endpoint]) == 0
        sha = hub.head("me/photos")
        pulled = zoo.load(f"hf-hub:me/photos@{sha}", endpoint=hub.endpoint,
                          cache_dir=tmp_path / "cache", progress=False)
        names = set(hub.files("me/photos", sha))
    _check_truth(pulled, "hub")
    assert pulled.pretrained_cfg["weights"] == f"hf-hub:me/photos@{sha}"
    np.testing.assert_allclose(_predict(pulled, x), ref, atol=1e-5)
    assert not any(n.startswith("checkpoints/") for n in names), names
