"""Bad image folders and data settings: errors that name the folder or
the file, raised before a dataset is built."""

import io

import numpy as np
import pytest
from PIL import Image
from sweep import rejects

from keras_cmod import data


def _png(size=8):
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(size=32):
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(
        buf, "JPEG")
    return buf.getvalue()


def _bmp():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "BMP")
    return buf.getvalue()


def _put(root, rel, content):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _good(root):
    _put(root, "a/0.png", _png())
    _put(root, "b/0.png", _png())


# name -> (files to write under the root, or None for special layouts,
#          exception, needles; "{root}" is replaced by the root folder)
FOLDERS = {
    "truncated_jpeg": ({"b/1.jpg": _jpeg()[:300]}, ValueError,
                       ["b/1.jpg", "truncated JPEG"]),
    "truncated_png": ({"a/1.png": _png()[:40]}, ValueError,
                      ["a/1.png", "truncated PNG"]),
    "truncated_bmp": ({"a/1.bmp": _bmp()[:60]}, ValueError,
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
    _put(root, "a/t.jpg", _jpeg() + b"\x00" * 100)
    files, labels, classes = data.list_image_folder(root, "full")
    assert len(files) == 3 and classes == ["a", "b"]


LAYOUTS = {
    "missing": (lambda r: r / "nope", FileNotFoundError, ["nope"]),
    "a_file": (lambda r: _put(r, "f.png", _png()), FileNotFoundError,
               ["f.png", "not a folder"]),
    "empty": (lambda r: r, ValueError, ["No class sub-folders"]),
    "loose_images": (lambda r: (_put(r, "x.png", _png()), r)[1], ValueError,
                     ["No class sub-folders", "1 image file"]),
    "hidden_only": (lambda r: (_put(r, ".cache/x.png", _png()), r)[1],
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
    (lambda r: data.image_folder(r, channels=2), ValueError,
     ["channels", "1 or 3"]),
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
