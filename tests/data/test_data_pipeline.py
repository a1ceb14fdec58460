"""preprocess: the paper's train/eval pipelines on synthetic tf.data."""

import numpy as np
import pytest
import tensorflow as tf

from keras_cmod.data import eval_resize_size, preprocess, resolve_data_config

CFG = {
    "input_size": (16, 16, 3),
    "crop_pct": 0.875,
    "interpolation": "bilinear",
    # Not the ImageNet constants: proves they come from the config.
    "mean": (0.5, 0.4, 0.3),
    "std": (0.2, 0.25, 0.5),
}


def _dataset(n=6, h=24, w=30, as_dict=True):
    """Image i is the constant i * 10 (so labels can be checked)."""
    images = np.stack([np.full((h, w, 3), i * 10, np.uint8) for i in range(n)])
    labels = np.arange(n, dtype=np.int64)
    if as_dict:
        return tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": labels}
        )
    return tf.data.Dataset.from_tensor_slices((images, labels))


def _random_dataset(n=4, h=27, w=33, seed=0):
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, (n, h, w, 3)).astype(np.uint8)
    return tf.data.Dataset.from_tensor_slices(
        (images, np.zeros(n, np.int64))
    ), images


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("training", [False, True])
def test_constant_image_normalisation_by_hand(training):
    value = np.array([10, 128, 250], np.uint8)
    ds = tf.data.Dataset.from_tensor_slices(
        {"image": np.broadcast_to(value, (2, 20, 28, 3)), "label": [3, 4]}
    )
    out = preprocess(ds, CFG, training=training, batch_size=2, seed=0)
    x, y = next(iter(out))
    expected = (value / 255.0 - np.array(CFG["mean"])) / np.array(CFG["std"])
    assert x.dtype == tf.float32 and y.dtype == tf.int32
    assert x.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(
        x.numpy(), np.broadcast_to(expected, x.shape), rtol=1e-6, atol=1e-6
    )
    # Training shuffles (its order follows TensorFlow's global seed state,
    # which depends on what ran before in the process): compare the set.
    labels = np.sort(y.numpy()) if training else y.numpy()
    np.testing.assert_array_equal(labels, [3, 4])


def test_unnormalised_output_is_in_unit_range():
    ds, _ = _random_dataset()
    for training in (False, True):
        x, _ = _collect(
            preprocess(ds, CFG, training, batch_size=2, normalize=False)
        )
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert x.max() > 0.5  # scaled by 1/255, not left at 0..255


def test_float_images_are_taken_as_unit_range():
    ds = tf.data.Dataset.from_tensor_slices(
        (np.full((1, 16, 16, 3), 0.5, np.float32), [0])
    )
    x, _ = _collect(preprocess(ds, CFG, batch_size=1))
    expected = (0.5 - np.array(CFG["mean"])) / np.array(CFG["std"])
    np.testing.assert_allclose(x[0, 0, 0], expected, rtol=1e-6)


def test_batching_shapes_and_drop_remainder():
    ds = _dataset(n=5, as_dict=False)
    train = list(preprocess(ds, CFG, training=True, batch_size=2))
    assert [tuple(x.shape) for x, _ in train] == [(2, 16, 16, 3)] * 2
    test = list(preprocess(ds, CFG, batch_size=2))
    assert [x.shape[0] for x, _ in test] == [2, 2, 1]
    single = next(iter(preprocess(ds, CFG)))
    assert single[0].shape == (16, 16, 3) and single[1].shape == ()


def test_labels_stay_with_their_images_when_shuffled():
    ds = _dataset(n=8)
    out = preprocess(ds, CFG, training=True, batch_size=4, normalize=False)
    x, y = _collect(out)
    assert sorted(y.tolist()) == list(range(8))
    # Constant images stay constant under crop/flip/resize.
    np.testing.assert_allclose(x[:, 0, 0, 0] * 255.0, y * 10.0, atol=1e-4)


@pytest.mark.parametrize("as_dict", [True, False])
def test_eval_paper_mode_is_resize_then_centre_crop(as_dict):
    # input 16: the shorter side (16) is already 16 -> no resize; crop of
    # the width 23 -> 16 at round(7 / 2) = round(3.5) = 4.
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (1, 16, 23, 3)).astype(np.uint8)
    if as_dict:
        ds = tf.data.Dataset.from_tensor_slices({"image": img, "label": [0]})
    else:
        ds = tf.data.Dataset.from_tensor_slices((img, [0]))
    x, _ = _collect(preprocess(ds, CFG, normalize=False, batch_size=1))
    np.testing.assert_allclose(x[0] * 255.0, img[0, :, 4:20], atol=1e-4)


def test_eval_crop_pct_mode():
    cfg = dict(CFG, crop_pct=0.5)  # resize to floor(16 / 0.5) = 32
    assert eval_resize_size(resolve_data_config(cfg), "crop_pct") == (32, 32)
    assert eval_resize_size(resolve_data_config(cfg), "paper") == (16, 16)
    img = np.random.RandomState(0).randint(0, 256, (1, 32, 41, 3))
    ds = tf.data.Dataset.from_tensor_slices((img.astype(np.uint8), [0]))
    x, _ = _collect(
        preprocess(ds, cfg, eval_mode="crop_pct", normalize=False, batch_size=1)
    )
    # no resize (shorter side is 32); offsets round(8) = 8, round(12.5) = 12
    np.testing.assert_allclose(x[0] * 255.0, img[0, 8:24, 12:28], atol=1e-4)


def test_paper_resize_sizes():
    cfg = resolve_data_config()
    assert eval_resize_size(cfg, "paper") == (224, 224)
    assert eval_resize_size(cfg, "crop_pct") == (256, 256)
    assert eval_resize_size(cfg, "ten_crop") == (256, 256)
    cifar = resolve_data_config(img_size=32)
    assert eval_resize_size(cifar, "ten_crop") == (36, 36)


def test_ten_crop_pipeline():
    ds, _ = _random_dataset(n=3, h=20, w=25)
    out = preprocess(ds, CFG, eval_mode="ten_crop", batch_size=2)
    x, y = _collect(out)
    assert x.shape == (3, 10, 16, 16, 3) and y.shape == (3,)
    np.testing.assert_array_equal(x[:, 5:], x[:, :5, :, ::-1])
    assert not np.array_equal(x[:, 0], x[:, 3])


def test_encoded_and_grayscale_inputs():
    img = np.random.RandomState(0).randint(0, 256, (18, 20, 3)).astype("uint8")
    png = tf.io.encode_png(img)
    enc = tf.data.Dataset.from_tensors((png, 1))
    raw = tf.data.Dataset.from_tensors((img, 1))
    a, _ = _collect(preprocess(enc, CFG, batch_size=1))
    b, _ = _collect(preprocess(raw, CFG, batch_size=1))
    np.testing.assert_array_equal(a, b)
    gray = tf.data.Dataset.from_tensors((img[..., :1], 1))
    g, _ = _collect(preprocess(gray, CFG, batch_size=1, normalize=False))
    assert g.shape == (1, 16, 16, 3)
    np.testing.assert_array_equal(g[..., 0], g[..., 2])


def _train_values(seed, deterministic=True, ds=None):
    if ds is None:
        ds, _ = _random_dataset(n=6)
    out = preprocess(
        ds,
        CFG,
        training=True,
        batch_size=3,
        seed=seed,
        deterministic=deterministic,
    )
    return out


def test_deterministic_mode_reproduces_and_seeds_differ():
    first = _collect(_train_values(seed=3))
    again = _collect(_train_values(seed=3))
    other = _collect(_train_values(seed=4))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_each_epoch_gets_new_augmentations():
    out = _train_values(seed=3)
    epoch1, epoch2 = _collect(out), _collect(out)
    assert not np.array_equal(epoch1[0], epoch2[0])
    # and the whole sequence of epochs is reproducible
    out_again = _train_values(seed=3)
    np.testing.assert_array_equal(_collect(out_again)[0], epoch1[0])
    np.testing.assert_array_equal(_collect(out_again)[0], epoch2[0])


def test_options_cache_and_non_deterministic_mode():
    ds, _ = _random_dataset(n=4)
    out = preprocess(ds, CFG, training=True, batch_size=2, cache=True)
    assert out.options().deterministic is False
    assert _collect(out)[0].shape == (4, 16, 16, 3)
    out = preprocess(ds, CFG, batch_size=2, cache=True)
    assert out.options().deterministic is True
    np.testing.assert_array_equal(_collect(out)[0], _collect(out)[0])


def test_ready_for_model_fit():
    import keras

    ds = preprocess(_dataset(n=8), CFG, training=True, batch_size=4)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(8),
        ]
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("batch_size", [0, -4, 2.5, True, "8"])
def test_invalid_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        preprocess(_dataset(), CFG, batch_size=batch_size)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eval_mode": "center"}, "eval_mode='center'"),
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"ratio": (2.0, 1.0)}, "ratio"),
        ({"flip_prob": 1.5}, "flip_prob"),
        ({"shuffle_buffer_size": 0}, "shuffle_buffer_size"),
        ({"data_config": {"interpolation": "lanczos9"}}, "interpolation"),
    ],
)
def test_invalid_arguments(kwargs, match):
    kwargs = dict({"data_config": CFG}, **kwargs)
    with pytest.raises(ValueError, match=match):
        preprocess(_dataset(), **kwargs)


def test_invalid_datasets():
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        preprocess(np.zeros((2, 8, 8, 3)), CFG)
    with pytest.raises(ValueError, match="'image' and 'label'"):
        preprocess(tf.data.Dataset.from_tensor_slices({"x": [1, 2]}), CFG)
    with pytest.raises(ValueError, match="tuples"):
        preprocess(tf.data.Dataset.from_tensor_slices([1, 2]), CFG)
    batched = _dataset().batch(2)
    with pytest.raises(ValueError, match="unbatch"):
        preprocess(batched, CFG)
