"""image_folder(): custom data laid out as class sub-folders, and the
errors naming a bad folder, file or setting."""

import io
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from sweep import rejects

from keras_cmod import data
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


# -- bad folders and settings: errors that name the folder or the file,
# raised before a dataset is built, leaving nothing behind.

def _pil_png(size=8):
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def _pil_jpeg(size=32):
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(
        buf, "JPEG")
    return buf.getvalue()


def _pil_bmp():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "BMP")
    return buf.getvalue()


def _put(root, rel, content):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _good(root):
    _put(root, "a/0.png", _pil_png())
    _put(root, "b/0.png", _pil_png())


# name -> (files to write under the root, or None for special layouts,
#          exception, needles; "{root}" is replaced by the root folder)
FOLDERS = {
    "truncated_jpeg": ({"b/1.jpg": _pil_jpeg()[:300]}, ValueError,
                       ["b/1.jpg", "truncated JPEG"]),
    "truncated_png": ({"a/1.png": _pil_png()[:40]}, ValueError,
                      ["a/1.png", "truncated PNG"]),
    "truncated_bmp": ({"a/1.bmp": _pil_bmp()[:60]}, ValueError,
                      ["a/1.bmp", "truncated BMP"]),
    "text_as_jpeg": ({"a/x.jpg": b"hello world"}, ValueError,
                     ["a/x.jpg", "not a JPEG/PNG/BMP/GIF"]),
    "empty_file": ({"a/e.png": b""}, ValueError, ["a/e.png"]),
    "empty_class": ({"c/readme.txt": b"notes"}, ValueError,
                    ["['c']", "{root}", "No images"]),
    "empty_class_dir": ({"c/.keep": b""}, ValueError, ["['c']", "{root}"]),
}


@pytest.mark.parametrize("name", sorted(FOLDERS))
@pytest.mark.parametrize("mode", ["header", "full"])
def test_bad_folders(name, mode, tmp_path):
    root = tmp_path / "data"
    _good(root)
    files, exc, needles = FOLDERS[name]
    for rel, content in files.items():
        _put(root, rel, content)
    needles = [n.replace("{root}", str(root)) for n in needles]
    rejects(lambda: data.list_image_folder(root, mode), exc, *needles,
            directory=tmp_path)
    rejects(lambda: data.image_folder(root, check_images=mode), exc,
            *needles, directory=tmp_path)


def test_trailing_bytes_after_the_jpeg_end_are_fine(tmp_path):
    root = tmp_path / "data"
    _good(root)
    _put(root, "a/t.jpg", _pil_jpeg() + b"\x00" * 100)
    files, labels, classes = data.list_image_folder(root, "full")
    assert len(files) == 3 and classes == ["a", "b"]


LAYOUTS = {
    "missing": (lambda r: r / "nope", FileNotFoundError, ["nope",
                                                          "not found"]),
    "a_file": (lambda r: _put(r, "f.png", _pil_png()), FileNotFoundError,
               ["f.png", "not a folder"]),
    "empty": (lambda r: r, ValueError, ["No class sub-folders"]),
    "loose_images": (lambda r: (_put(r, "x.png", _pil_png()), r)[1], ValueError,
                     ["No class sub-folders", "1 image file",
                      "sub-folder per class"]),
    "hidden_only": (lambda r: (_put(r, ".cache/x.png", _pil_png()), r)[1],
                    ValueError, ["No class sub-folders"]),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_bad_layouts(name, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    make, exc, needles = LAYOUTS[name]
    target = make(root)
    rejects(lambda: data.list_image_folder(target), exc, *needles,
            str(target), directory=tmp_path)


ARGS = [
    (lambda r: data.list_image_folder(r, "deep"), ValueError,
     ["check_images", "'deep'", "header"]),
    (lambda r: data.image_folder(r, check_images="all"), ValueError,
     ["check_images='all'"]),
    (lambda r: data.image_folder(r, channels=2), ValueError,
     ["channels=2", "1 or 3"]),
    (lambda r: data.resolve_data_config(input_size=(3, -1, 8)), ValueError,
     ["input_size"]),
    (lambda r: data.resolve_data_config(interpolation="nearest-ish"),
     ValueError, ["interpolation", "nearest-ish"]),
    (lambda r: data.load("mnist", "train"), ValueError, ["mnist",
                                                         "cifar10"]),
]


@pytest.mark.parametrize("call,exc,needles", ARGS)
def test_bad_arguments(call, exc, needles, tmp_path):
    root = tmp_path / "data"
    _good(root)
    rejects(lambda: call(root), exc, *needles, directory=tmp_path)
