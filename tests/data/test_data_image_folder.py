"""image_folder(): custom data laid out as class sub-folders."""

import struct

import numpy as np
import pytest
import tensorflow as tf

from keras_cmod.data import image_folder, list_image_folder, preprocess


def _rgb(h, w, seed):
    return (
        np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype("uint8")
    )


def _png(img):
    return tf.io.encode_png(img).numpy()


def _bmp(img):
    """A 24-bit BMP (TensorFlow has no BMP encoder)."""
    h, w, _ = img.shape
    pad = b"\0" * ((4 - (3 * w) % 4) % 4)
    rows = [img[y, :, ::-1].tobytes() + pad for y in range(h - 1, -1, -1)]
    data = b"".join(rows)
    header = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    info = struct.pack(
        "<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0
    )
    return header + info + data


@pytest.fixture
def folder(tmp_path):
    """b_dog/ (2 PNG + 1 BMP + a .txt), a_cat/ (PNG in a sub-folder, .PNG)."""
    images = {
        "b_dog/x1.png": _rgb(20, 30, 0),
        "b_dog/x0.png": _rgb(25, 18, 1),
        "b_dog/y.bmp": _rgb(9, 7, 2),
        "a_cat/sub/z.png": _rgb(12, 12, 3),
        "a_cat/A.PNG": _rgb(16, 10, 4),
    }
    for rel, img in images.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_bmp(img) if rel.endswith(".bmp") else _png(img))
    (tmp_path / "b_dog" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    return tmp_path, images


def test_listing_order_and_labels(folder):
    root, _ = folder
    files, labels, classes = list_image_folder(root)
    assert classes == ["a_cat", "b_dog"]
    rel = [str(f)[len(str(root)) + 1 :] for f in files]
    assert rel == [
        "a_cat/A.PNG",
        "a_cat/sub/z.png",
        "b_dog/x0.png",
        "b_dog/x1.png",
        "b_dog/y.bmp",
    ]
    assert labels == [0, 0, 1, 1, 1]


def test_images_decode_exactly(folder):
    root, images = folder
    ds, classes = image_folder(root, with_info=True)
    got = list(ds)
    order = ["a_cat/A.PNG", "a_cat/sub/z.png", "b_dog/x0.png"]
    order += ["b_dog/x1.png", "b_dog/y.bmp"]
    assert classes == ["a_cat", "b_dog"]
    for (img, label), rel in zip(got, order):
        assert img.dtype == tf.uint8 and label.dtype == tf.int64
        np.testing.assert_array_equal(img.numpy(), images[rel])


def test_pipeline_on_image_folder(folder):
    root, _ = folder
    cfg = {"input_size": (8, 8, 3)}
    for decode in (True, False):
        ds = image_folder(root, decode=decode, shuffle_files=True, seed=1)
        x, y = next(iter(preprocess(ds, cfg, batch_size=5)))
        assert x.shape == (5, 8, 8, 3) and x.dtype == tf.float32
        assert sorted(y.numpy().tolist()) == [0, 0, 1, 1, 1]


def test_real_photos_and_grayscale(tmp_path):
    skdata = pytest.importorskip("skimage.data")
    photos = {"cat": skdata.chelsea(), "astronaut": skdata.astronaut()}
    for name, img in photos.items():
        small = tf.image.resize(img, (64, 64), antialias=True)
        small = tf.cast(tf.round(small), tf.uint8).numpy()
        (tmp_path / name).mkdir()
        (tmp_path / name / "rgb.png").write_bytes(_png(small))
        gray = small[..., :1]
        (tmp_path / name / "gray.png").write_bytes(_png(gray))
    ds = image_folder(tmp_path)
    items = list(ds)
    assert len(items) == 4
    assert all(img.shape == (64, 64, 3) for img, _ in items)
    gray = items[0][0].numpy()  # astronaut/gray.png comes first
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    out = preprocess(ds, {"input_size": (32, 32, 3)}, batch_size=4)
    x, y = next(iter(out))
    assert x.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(y.numpy(), [0, 0, 1, 1])


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        image_folder(tmp_path / "nope")


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="No class sub-folders"):
        image_folder(tmp_path)


def test_loose_images_without_class_folders(tmp_path):
    (tmp_path / "a.png").write_bytes(_png(_rgb(4, 4, 0)))
    with pytest.raises(ValueError, match="1 image file.*sub-folder per class"):
        image_folder(tmp_path)


def test_class_folder_without_images(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a.png").write_bytes(_png(_rgb(4, 4, 0)))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\['empty'\]"):
        image_folder(tmp_path)


def test_unreadable_image_is_named(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "ok.png").write_bytes(_png(_rgb(4, 4, 0)))
    (tmp_path / "c" / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        image_folder(tmp_path)


def test_truncated_image_found_by_the_header_check(tmp_path):
    (tmp_path / "c").mkdir()
    data = _png(_rgb(40, 40, 0))
    (tmp_path / "c" / "cut.png").write_bytes(data[: len(data) // 2])
    # No IEND chunk: named without decoding anything.
    with pytest.raises(ValueError, match="cut.png.*truncated PNG"):
        list_image_folder(tmp_path)


def test_damaged_image_found_by_full_check(tmp_path):
    (tmp_path / "c").mkdir()
    data = _png(_rgb(40, 40, 0))
    # Cut inside the image data, the IEND chunk kept: the header check
    # passes, a full decode does not.
    damaged = data[: len(data) // 2] + data[-12:]
    (tmp_path / "c" / "cut.png").write_bytes(damaged)
    assert len(list_image_folder(tmp_path)[0]) == 1
    with pytest.raises(ValueError, match="cut.png"):
        image_folder(tmp_path, check_images="full")


def test_invalid_arguments(folder):
    root, _ = folder
    with pytest.raises(ValueError, match="check_images='all'"):
        image_folder(root, check_images="all")
    with pytest.raises(ValueError, match="channels=2"):
        image_folder(root, channels=2)
