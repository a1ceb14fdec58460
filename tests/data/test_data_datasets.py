"""load(): TFDS datasets (mocked, no network) and the held-out splits."""

import numpy as np
import pytest
import tensorflow as tf

from keras_cmod.data import heldout_file_names, load, preprocess

tfds = pytest.importorskip("tensorflow_datasets")

SMALL = {"input_size": (32, 32, 3)}


@pytest.fixture
def manual_dir(tmp_path):
    """A manual dir holding (empty) ILSVRC tars: enough for the checks."""
    path = tmp_path / "manual"
    path.mkdir()
    for name in ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"):
        (path / name).write_bytes(b"")
    return path


def test_mock_cifar10_train_pipeline():
    with tfds.testing.mock_data(num_examples=8):
        ds = load("cifar10", "train")
        out = preprocess(ds, SMALL, training=True, batch_size=4, seed=0)
        batches = list(out)
    assert len(batches) == 2
    for x, y in batches:
        assert x.shape == (4, 32, 32, 3) and x.dtype == tf.float32
        assert y.dtype == tf.int32
        assert ((y.numpy() >= 0) & (y.numpy() < 10)).all()


def test_mock_cifar10_split_slicing_passes_through():
    # TFDS slicing syntax is accepted and handed to tfds.load (the mock
    # knows no split sizes, so it ignores the slice itself).
    with tfds.testing.mock_data(num_examples=3):
        images = [x for x, _ in load("cifar10", "test[:50%]+train[:10]")]
    assert len(images) == 3
    assert images[0].dtype == tf.uint8 and images[0].shape == (32, 32, 3)


@pytest.mark.parametrize("training", [False, True])
def test_mock_imagenet_random_sizes_are_resized(manual_dir, training):
    with tfds.testing.mock_data(num_examples=6):
        ds = load("imagenet2012", "validation", manual_dir=manual_dir)
        sizes = {tuple(x.shape) for x, _ in ds}
        out = preprocess(ds, SMALL, training=training, batch_size=3)
        batches = list(out)
    assert len(sizes) > 1  # mock images have random sizes
    assert [tuple(x.shape) for x, _ in batches] == [(3, 32, 32, 3)] * 2
    assert all(np.isfinite(x.numpy()).all() for x, _ in batches)


def test_mock_imagenet_undecoded_images(manual_dir):
    with tfds.testing.mock_data(num_examples=2):
        ds = load("imagenet2012", "train", manual_dir=manual_dir, decode=False)
        assert ds.element_spec[0].dtype == tf.string
        x, _ = next(iter(preprocess(ds, SMALL, batch_size=2)))
    assert x.shape == (2, 32, 32, 3)


# ---- held-out splits ------------------------------------------------------


def _cifar_fake(n=20, encoded=False):
    """CIFAR-like records whose TFDS "id" is shuffled, as in real TFDS.

    With `encoded=True` the images are PNG strings, as TFDS yields them
    under `SkipDecoding` (which `load` uses for the held-out splits).
    """
    order = np.random.RandomState(0).permutation(n)
    spec = (
        tf.TensorSpec((), tf.string)
        if encoded
        else tf.TensorSpec((32, 32, 3), tf.uint8)
    )

    def as_dataset(self, split, **kwargs):
        def gen():
            for i in order:
                image = np.full((32, 32, 3), i, np.uint8)
                if encoded:
                    image = tf.io.encode_png(image).numpy()
                yield {
                    "id": f"train_{i:05d}",
                    "image": image,
                    "label": np.int64(i % 10),
                }

        return tf.data.Dataset.from_generator(
            gen,
            output_signature={
                "id": tf.TensorSpec((), tf.string),
                "image": spec,
                "label": tf.TensorSpec((), tf.int64),
            },
        )

    return as_dataset


def _original_indices(ds):
    """The fake images carry their original CIFAR index as pixel value."""
    return sorted(int(x[0, 0, 0]) for x, _ in ds)


@pytest.mark.parametrize("encoded", [False, True])
def test_cifar10_heldout_is_the_first_original_images(encoded):
    with tfds.testing.mock_data(as_dataset_fn=_cifar_fake(20, encoded)):
        held = _original_indices(load("cifar10", "heldout", heldout_size=5))
        val = _original_indices(load("cifar10", "val", heldout_size=5))
        rest = _original_indices(
            load("cifar10", "train_minus_heldout", heldout_size=5)
        )
        default = _original_indices(load("cifar10", "heldout"))
        image, label = next(iter(load("cifar10", "heldout")))
    assert held == val == [0, 1, 2, 3, 4]
    assert rest == list(range(5, 20))
    assert default == list(range(20))  # default 5,000 > 20 examples
    assert image.dtype == tf.uint8 and image.shape == (32, 32, 3)
    assert label.dtype == tf.int64


def _imagenet_fake():
    """3 classes x 5 files, stored shuffled; names test string ordering."""
    records = [
        (f"n0000000{c}_{k}.JPEG", c)
        for c in range(3)
        for k in (1, 2, 10, 9, 100)
    ]
    np.random.RandomState(0).shuffle(records)

    def as_dataset(self, split, **kwargs):
        def gen():
            for i, (fname, label) in enumerate(records):
                yield {
                    "image": np.full((10 + i, 12, 3), i, np.uint8),
                    "label": np.int64(label),
                    "file_name": fname,
                }

        return tf.data.Dataset.from_generator(
            gen,
            output_signature={
                "image": tf.TensorSpec((None, None, 3), tf.uint8),
                "label": tf.TensorSpec((), tf.int64),
                "file_name": tf.TensorSpec((), tf.string),
            },
        )

    return as_dataset, records


def test_imagenet_heldout_first_per_class_in_sorted_file_order(
    tmp_path, manual_dir
):
    fake, records = _imagenet_fake()
    kwargs = dict(data_dir=tmp_path, manual_dir=manual_dir, heldout_size=2)

    def names(ds):
        return sorted(records[int(x[0, 0, 0])][0] for x, _ in ds)

    with tfds.testing.mock_data(as_dataset_fn=fake):
        held = names(load("imagenet2012", "heldout", **kwargs))
        rest = names(load("imagenet2012", "train_minus_heldout", **kwargs))
    # String order (torchvision ImageFolder): _1 < _10 < _100 < _2 < _9.
    expected = [f"n0000000{c}_{k}.JPEG" for c in range(3) for k in (1, 10)]
    assert held == sorted(expected)
    assert len(rest) == 9 and not set(rest) & set(held)
    cache = tmp_path / "keras_cmod" / "imagenet2012-5.1.0-heldout-first2.txt"
    assert cache.read_text().split() == expected


def test_imagenet_heldout_file_is_reused(tmp_path, manual_dir):
    fake, records = _imagenet_fake()
    listing = tmp_path / "my_heldout.txt"
    listing.write_text("n00000001_9.JPEG\n")
    with tfds.testing.mock_data(as_dataset_fn=fake):
        ds = load(
            "imagenet2012",
            "val",
            manual_dir=manual_dir,
            heldout_file=str(listing),
        )
        got = [records[int(x[0, 0, 0])][0] for x, _ in ds]
    assert got == ["n00000001_9.JPEG"]


def test_heldout_file_names_pure_function():
    names = [b"b_2.JPEG", "a_10.JPEG", "a_9.JPEG", "a_1.JPEG", "b_1.JPEG"]
    labels = [1, 0, 0, 0, 1]
    assert heldout_file_names(names, labels, per_class=2) == [
        "a_1.JPEG",
        "a_10.JPEG",
        "b_1.JPEG",
        "b_2.JPEG",
    ]


# ---- errors, raised before TFDS does any work (no mock, no network) --------


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"name='mnist'.*|image_folder"):
        load("mnist", "train")


@pytest.mark.parametrize(
    "name, split",
    [
        ("cifar10", "validation"),  # CIFAR-10 has no validation split
        ("cifar10", "training"),
        ("imagenet2012", "val[:10]"),
        ("imagenet2012", "train+bogus"),
        ("imagenet2012", 3),
    ],
)
def test_unknown_split(name, split):
    with pytest.raises(ValueError, match="Unknown split"):
        load(name, split)


@pytest.mark.parametrize(
    "split, tar",
    [
        ("validation", "ILSVRC2012_img_val.tar"),
        ("heldout", "ILSVRC2012_img_train.tar"),
        ("train[:10%]", "ILSVRC2012_img_train.tar"),
    ],
)
def test_missing_imagenet_tars_name_the_expected_files(tmp_path, split, tar):
    manual = tmp_path / "manual"
    with pytest.raises(FileNotFoundError) as info:
        load("imagenet2012", split, data_dir=tmp_path, manual_dir=manual)
    assert str(manual / tar) in str(info.value)
    # default manual dir: <data_dir>/downloads/manual
    with pytest.raises(FileNotFoundError) as info:
        load("imagenet2012", split, data_dir=tmp_path)
    assert str(tmp_path / "downloads" / "manual" / tar) in str(info.value)


def test_validation_tar_alone_is_enough_for_evaluation(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "ILSVRC2012_img_val.tar").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_train.tar"):
        load("imagenet2012", "train", data_dir=tmp_path, manual_dir=manual)
    # The validation split passes the checks (then TFDS is mocked).
    with tfds.testing.mock_data(num_examples=1):
        ds = load("imagenet2012", "validation", manual_dir=manual)
        assert len(list(ds)) == 1


def test_not_prepared_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        load("cifar10", "test", data_dir=tmp_path, download=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"heldout_size": 0}, "heldout_size=0"),
        ({"manual_dir": "/x"}, "only used by imagenet2012"),
        ({"heldout_file": "/x.txt"}, "only used by imagenet2012"),
    ],
)
def test_invalid_load_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load("cifar10", "heldout", **kwargs)
