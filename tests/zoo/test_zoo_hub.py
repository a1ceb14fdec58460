"""`zoo.load("hf-hub:org/repo@sha")` of a pushed zoo model (fake Hub)."""

import numpy as np
import pytest

from keras_cmod import hub, zoo

NAME = "resnet18_cmod.cifar10"
REPO = "keras-cmod-test/resnet18_cmod.cifar10"


@pytest.fixture
def pushed(fake_hub, hub_token, tmp_path):
    """A random resnet18_cmod.cifar10, saved and pushed; (model, sha)."""
    model = zoo.create_model(NAME)
    directory = hub.save_pretrained(model, tmp_path / "saved",
                                    pretrained_cfg=model.pretrained_cfg)
    sha = hub.push_to_hub(str(directory), REPO, endpoint=fake_hub.endpoint,
                          token=hub_token)
    assert sha == fake_hub.head(REPO)
    return model, sha


def _images():
    return np.random.RandomState(0).rand(2, 32, 32, 3).astype("float32")


def _weights_by_layer(model, skip=()):
    return {layer.name: layer.get_weights() for layer in model.layers
            if layer.weights and layer.name not in skip}


def test_load_pinned_hub_source(pushed, fake_hub, hf_cache):
    model, sha = pushed
    loaded = zoo.load(f"hf-hub:{REPO}@{sha}", endpoint=fake_hub.endpoint,
                      cache_dir=hf_cache, progress=False)
    assert loaded.name == "resnet18_cmod"
    cfg = loaded.pretrained_cfg
    assert cfg["name"] == NAME and cfg["hf_hub_id"] == REPO
    assert cfg["revision"] == sha
    assert cfg["input_size"] == [32, 32, 3] and cfg["num_classes"] == 10
    np.testing.assert_allclose(
        np.asarray(loaded(_images(), training=False)),
        np.asarray(model(_images(), training=False)), rtol=1e-5, atol=1e-6)


def test_new_head_keeps_backbone_then_offline(pushed, fake_hub, hf_cache):
    model, sha = pushed
    source = f"hf-hub:{REPO}@{sha}"
    three = zoo.load(source, num_classes=3, endpoint=fake_hub.endpoint,
                     cache_dir=hf_cache, progress=False)
    assert three.output_shape == (None, 3)
    head = three.get_layer("predictions")
    assert [tuple(w.shape) for w in head.weights] == [(512, 3), (3,)]
    ours = _weights_by_layer(three, skip=("predictions",))
    theirs = _weights_by_layer(model, skip=("predictions",))
    assert ours.keys() == theirs.keys() and len(ours) > 10
    for name, values in ours.items():
        for a, b in zip(values, theirs[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)

    # Everything is cached now: an offline load makes no request at all.
    fake_hub.reset_requests()
    offline = zoo.load(source, local_files_only=True, cache_dir=hf_cache,
                       progress=False)
    assert fake_hub.count() == 0
    assert offline.pretrained_cfg["revision"] == sha
    np.testing.assert_allclose(
        np.asarray(offline(_images(), training=False)),
        np.asarray(model(_images(), training=False)), rtol=1e-5, atol=1e-6)
    offline3 = zoo.load(source, num_classes=3, local_files_only=True,
                        cache_dir=hf_cache, progress=False)
    assert offline3.output_shape == (None, 3)
    assert fake_hub.count() == 0


def test_evaluate_command_on_a_hub_source(pushed, fake_hub, hf_cache,
                                          tmp_path, monkeypatch):
    import tensorflow as tf

    import keras_cmod.cli
    from keras_cmod.evaluation import read_results

    image = np.random.RandomState(1).randint(0, 256, (40, 48, 3), "uint8")
    (tmp_path / "data" / "cat").mkdir(parents=True)
    (tmp_path / "data" / "cat" / "noise.png").write_bytes(
        tf.io.encode_png(image).numpy())
    _, sha = pushed
    out = tmp_path / "results.json"
    rc = keras_cmod.cli.main([
        "evaluate", f"hf-hub:{REPO}@{sha}", "--endpoint", fake_hub.endpoint,
        "--cache-dir", str(hf_cache), "--dataset",
        f"folder:{tmp_path / 'data'}", "--metrics", "accuracy",
        "--output", str(out), "--no-progress",
    ])
    assert rc == 0
    res = read_results(out)
    assert res["model"] == NAME
    assert res["extra"]["weights"] == {
        "kind": "hub", "hf_hub_id": REPO, "revision": sha,
        "random_weights": False}
    assert res["metrics"]["accuracy"]["one_crop"]["num_images"] == 1
