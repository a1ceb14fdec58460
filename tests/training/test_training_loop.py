"""One-device training in process: a real zoo model, the loss and update
maths against a hand computation, gradient accumulation, datasets, mixed
precision, fine-tuning."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_models import tiny_model_fn

from keras_cmod import zoo
from keras_cmod.training import TrainConfig, freeze_backbone, inputs, train
from keras_cmod.training.optimizers import TorchSGD


def tiny_config(**changes):
    values = dict(model="tiny_plain", dataset="synthetic", input_size=[8, 8],
                  num_classes=4, epochs=1, steps_per_epoch=2, batch_size=8,
                  synthetic_train_size=64, synthetic_val_size=13)
    values.update(changes)
    return TrainConfig.from_dict(values)


@pytest.fixture(scope="module")
def r18_run(tmp_path_factory):
    """Two optimizer steps of the real resnet18_cmod (CIFAR-10 tag)."""
    out = tmp_path_factory.mktemp("r18")
    cfg = TrainConfig.from_dict(dict(
        model="resnet18_cmod.cifar10", dataset="synthetic", epochs=1,
        steps_per_epoch=2, batch_size=4, synthetic_val_size=6))
    keras.backend.clear_session()
    metrics = train(cfg, out, verbose=0)
    return cfg, out, metrics


def test_trains_a_real_zoo_model(r18_run):
    cfg, out, metrics = r18_run
    assert TrainConfig.load(out / "train_config.json") == cfg
    run = json.loads((out / "run.json").read_text())
    assert run["strategy"] == "one_device" and run["num_replicas"] == 1
    assert run["num_classes"] == 10
    assert run["data_config"]["input_size"] == [32, 32, 3]
    assert metrics["global_step"] == 2
    assert len(metrics["history"]) == 1
    row = metrics["history"][0]
    assert np.isfinite(row["loss"]) and np.isfinite(row["val_loss"])
    assert 0 <= row["val_accuracy"] <= 1
    assert json.loads((out / "metrics.json").read_text())["global_step"] == 2
    assert (out / "log.csv").read_text().count("\n") == 2
    assert os.listdir(out / "logs" / "train")  # TensorBoard events
    assert sorted(os.listdir(out / "checkpoints")) == [
        "checkpoint.json", "ckpt-000000002.npz"]
    # The .keras model and the weights file hold the same network.
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("f4")
    reloaded = keras.saving.load_model(out / "model.keras")
    fresh = zoo.load("resnet18_cmod.cifar10", pretrained=True,
                     weights=out / "model.weights.h5")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0),
                               fresh.predict(x, verbose=0), atol=1e-5)


@pytest.mark.slow
def test_fine_tune_from_run_weights_with_frozen_backbone(r18_run):
    _, out, _ = r18_run
    trained = keras.saving.load_model(out / "model.keras")
    model = zoo.load("resnet18_cmod.cifar10", pretrained=True,
                     weights=out / "model.weights.h5", num_classes=3)
    assert model.get_layer("predictions").kernel.shape == (512, 3)
    np.testing.assert_array_equal(
        model.get_layer("layer4_1_conv2").get_weights()[0],
        trained.get_layer("layer4_1_conv2").get_weights()[0])
    freeze_backbone(model)
    assert [v.path for v in model.trainable_variables] == [
        "predictions/kernel", "predictions/bias"]
    before = {v.path: v.numpy().copy() for v in model.weights
              if v.trainable or "predictions" in v.path}
    frozen = [v.path for v in model.weights if not v.trainable]
    model.compile(
        optimizer=TorchSGD(0.05, momentum=0.9, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 32, 32, 3)).astype("float32")
    y = np.arange(8) % 3
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = {v.path: v.numpy() for v in model.weights}
    assert not np.allclose(after["predictions/kernel"],
                           before["predictions/kernel"])
    conv = model.get_layer("layer4_1_conv2").get_weights()[0]
    np.testing.assert_array_equal(
        conv, trained.get_layer("layer4_1_conv2").get_weights()[0])
    assert "layer4_1_conv2/kernel" in frozen
    with pytest.raises(ValueError, match="no layer named"):
        freeze_backbone(model, head="classifier")


@pytest.mark.slow
def test_fine_tune_through_the_trainer(r18_run, tmp_path):
    """`--weights W --num-classes 3 --freeze-backbone` in `train`."""
    _, out, _ = r18_run
    cfg = TrainConfig.from_dict(dict(
        model="resnet18_cmod.cifar10", weights=str(out / "model.weights.h5"),
        num_classes=3, freeze_backbone=True, dataset="synthetic", epochs=1,
        steps_per_epoch=1, batch_size=4, val_split=None,
        learning_rate=0.01))
    final = {}
    train(cfg, tmp_path / "ft", verbose=0, callbacks=[
        lambda e, i: final.setdefault("model", i["model"])])
    run = json.loads((tmp_path / "ft" / "run.json").read_text())
    assert run["num_classes"] == 3
    assert run["trainable_params"] == 512 * 3 + 3
    trained = keras.saving.load_model(out / "model.keras")
    np.testing.assert_array_equal(
        final["model"].get_layer("layer2_0_conv1").get_weights()[0],
        trained.get_layer("layer2_0_conv1").get_weights()[0])


def test_freeze_backbone_keeps_only_the_head():
    model = tiny_model_fn("tiny_plain", num_classes=3)
    assert len(model.trainable_variables) == 4
    freeze_backbone(model)
    assert len(model.trainable_variables) == 2


def _first_batches(cfg, n):
    source = inputs.open_source(cfg, cfg.train_split, True,
                                (*cfg.input_size, 3), cfg.num_classes)
    fn = inputs.make_train_dataset_fn(
        source, None, per_replica_batch_size=cfg.batch_size,
        steps_per_epoch=cfg.steps_per_epoch,
        grad_accum_steps=cfg.grad_accum_steps, seed=cfg.seed, epoch=0)
    return list(fn(tf.distribute.InputContext()).take(n))


def test_one_step_equals_the_hand_computed_update(tmp_path):
    """loss = mean CE + packet penalty; d = g + wd * w; w -= lr * d."""
    cfg = tiny_config(model="tiny_penalty", steps_per_epoch=1,
                      learning_rate=0.2, weight_decay=0.05, val_split=None,
                      lr_schedule="constant")
    initial = {}

    def model_fn(name, **kwargs):
        model = tiny_model_fn(name, **kwargs)
        initial["weights"] = [w.copy() for w in model.get_weights()]
        return model

    final = {}
    train(cfg, tmp_path / "run", model_fn=model_fn, verbose=0,
          callbacks=[lambda e, i: final.setdefault(
              "w", i["model"].get_weights()) if e == "train_end" else None])

    ref = tiny_model_fn("tiny_penalty", num_classes=4, input_shape=(8, 8, 3))
    ref.set_weights(initial["weights"])
    assert len(ref.losses) == 1  # the penalty is a weight regularizer
    (x, y), = _first_batches(cfg, 1)
    with tf.GradientTape() as tape:
        logits = ref(x, training=True)
        ce = keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True)
        loss = tf.reduce_mean(ce) + tf.add_n(ref.losses)
    grads = tape.gradient(loss, ref.trainable_variables)
    expected = [w.numpy() - 0.2 * (g.numpy() + 0.05 * w.numpy())
                for w, g in zip(ref.trainable_variables, grads)]
    # The check is sensitive to the penalty: without it the kernel differs.
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            y, ref(x, training=True), from_logits=True))
    g0 = tape.gradient(loss, ref.trainable_variables)[0]
    kernel = ref.trainable_variables[0].numpy()
    assert not np.allclose(kernel - 0.2 * (g0.numpy() + 0.05 * kernel),
                           expected[0], rtol=1e-5, atol=1e-6)
    for got, want in zip(final["w"], expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_equals_the_large_batch(tmp_path):
    weights = {}

    def grab(key):
        def hook(event, info):
            if event == "train_end":
                weights[key] = info["model"].get_weights()
        return hook

    train(tiny_config(batch_size=8, grad_accum_steps=1, val_split=None),
          tmp_path / "a", model_fn=tiny_model_fn, verbose=0,
          callbacks=[grab("big")])
    train(tiny_config(batch_size=4, grad_accum_steps=2, val_split=None),
          tmp_path / "b", model_fn=tiny_model_fn, verbose=0,
          callbacks=[grab("accum")])
    for a, b in zip(weights["big"], weights["accum"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _write_image_folder(root, classes=2, per_class=3):
    rng = np.random.default_rng(0)
    for c in range(classes):
        os.makedirs(root / f"class{c}", exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 255, size=(10, 12, 3), dtype=np.uint8)
            (root / f"class{c}" / f"{i}.png").write_bytes(
                tf.io.encode_png(img).numpy())


def test_image_folder_dataset(tmp_path):
    _write_image_folder(tmp_path / "train")
    _write_image_folder(tmp_path / "val")
    cfg = tiny_config(dataset=f"folder:{tmp_path / 'train'}",
                      val_split=str(tmp_path / "val"), num_classes=None,
                      steps_per_epoch=None, batch_size=4)
    metrics = train(cfg, tmp_path / "run", model_fn=tiny_model_fn,
                    verbose=0)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["num_classes"] == 2
    assert (run["train_examples"], run["val_examples"]) == (6, 6)
    assert run["steps_per_epoch"] == 1  # 6 images // batch 4
    assert np.isfinite(metrics["final"]["val_loss"])


def test_cifar10_through_tfds_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    cfg = tiny_config(dataset="cifar10", train_split="train",
                      val_split="test", input_size=None, num_classes=None,
                      steps_per_epoch=None, batch_size=4,
                      data_dir=str(tmp_path / "tfds"))
    with tfds.testing.mock_data(num_examples=8):
        metrics = train(cfg, tmp_path / "run", model_fn=tiny_model_fn,
                        verbose=0)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["num_classes"] == 10 and run["train_examples"] == 8
    assert run["steps_per_epoch"] == 2
    assert np.isfinite(metrics["final"]["loss"])


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_mixed_precision(tmp_path, precision):
    cfg = tiny_config(model="tiny_bn_dropout", mixed_precision=precision)
    seen = {}
    metrics = train(cfg, tmp_path / "run", model_fn=tiny_model_fn, verbose=0,
                    callbacks=[lambda e, i: seen.setdefault(
                        "policy", i["model"].dtype_policy.name)])
    assert seen["policy"] == f"mixed_{precision}"
    assert keras.config.dtype_policy().name == "float32"  # restored
    assert np.isfinite(metrics["final"]["loss"])
    ckpt = np.load(tmp_path / "run" / "checkpoints" / "ckpt-000000002.npz")
    meta = json.loads(bytes(ckpt["meta"]).decode())
    names = [v["path"] for v in meta["optimizer"]]
    assert any("dynamic_scale" in n for n in names) == (
        precision == "float16")
