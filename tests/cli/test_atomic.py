"""`keras_cmod._atomic`: whole files or nothing, with the umask's mode."""

import json
import math
import os
import stat

import pytest

from keras_cmod import _atomic
from keras_cmod.evaluation import write_results


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _write_with_atomic_path(path):
    with _atomic.atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("x")
    return path


WRITERS = {
    "bytes": lambda p: _atomic.write_bytes(p, b"\x00\x01"),
    "text": lambda p: _atomic.write_text(p, "hello\n"),
    "json": lambda p: _atomic.write_json(p, {"a": [1, 2]}),
    "atomic_path": _write_with_atomic_path,
    "results": lambda p: write_results({"a": 1}, p),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_files_get_the_mode_of_a_plain_open(writer, umask, tmp_path):
    path = tmp_path / "sub" / "file.out"
    WRITERS[writer](path)
    assert _mode(path) == 0o666 & ~umask
    assert _atomic.default_mode() == 0o666 & ~umask
    # A plain open() under the same umask agrees.
    with open(tmp_path / "plain", "w"):
        pass
    assert _mode(path) == _mode(tmp_path / "plain")
    assert os.listdir(path.parent) == ["file.out"]  # no temporary left


def test_json_round_trip(tmp_path):
    path = _atomic.write_json(tmp_path / "a.json", {"x": [1.5, None]})
    assert json.loads(open(path).read()) == {"x": [1.5, None]}


def _raise_inside(path):
    with _atomic.atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("partial")
        raise RuntimeError("the writer failed")


def _interrupt_inside(path):
    with _atomic.atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("partial")
        raise KeyboardInterrupt


def _write_nothing(path):
    with _atomic.atomic_path(path):
        pass


@pytest.mark.parametrize("fn,exc,needle", [
    (lambda p: _atomic.write_json(p, {"x": math.nan}), ValueError,
     "(?i)out of range"),
    (lambda p: _atomic.write_json(p, {"x": object()}), TypeError,
     "not JSON serializable"),
    (lambda p: _atomic.write_bytes(p, "text"), TypeError, "bytes"),
    (lambda p: _atomic.write_text(p, b"bytes"), TypeError, "str"),
    (_raise_inside, RuntimeError, "the writer failed"),
    (_interrupt_inside, KeyboardInterrupt, None),
    (_write_nothing, FileNotFoundError, "Nothing was written"),
])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
        fn, exc, needle, tmp_path):
    path = tmp_path / "kept.json"
    path.write_text("old\n")
    with pytest.raises(exc, match=needle):
        fn(path)
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["kept.json"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_under_a_regular_file(writer, tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(NotADirectoryError, match="a_file"):
        WRITERS[writer](tmp_path / "a_file" / "sub" / "out.json")
    assert os.listdir(tmp_path) == ["a_file"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_onto_a_folder(writer, tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="folder"):
        WRITERS[writer](tmp_path / "folder")
    assert os.listdir(tmp_path / "folder") == []


def test_atomic_path_keeps_the_weights_suffix(tmp_path):
    with _atomic.atomic_path(tmp_path / "m.weights.h5") as tmp:
        assert tmp.endswith(".weights.h5")
        assert os.path.dirname(tmp) == str(tmp_path)
        assert not os.path.exists(tmp)
        open(tmp, "wb").close()
    assert os.listdir(tmp_path) == ["m.weights.h5"]


def test_convert_output_gets_the_umask_mode(umask, tmp_path):
    import keras

    from keras_cmod.convert.cli import save_atomic

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    for name in ("w.weights.h5", "m.keras"):
        path = save_atomic(model, tmp_path / name)
        assert _mode(path) == 0o666 & ~umask
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "w.weights.h5"]
