"""Failures that name their cause: a full disk, a batch that cannot fit.

Faults injected for real: a file-size limit (`RLIMIT_FSIZE` in a
subprocess, with SIGXFSZ ignored, so a write past it fails with EFBIG as a
full disk fails with ENOSPC), a batch far beyond the machine's memory, and
a model whose training step asks TensorFlow for more memory than exists.
"""

import errno
import os
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cmod.cli
from keras_cmod import _atomic
from keras_cmod.training import cli as train_cli
from keras_cmod.training import memory

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
"""


def run_limited(limit, code, *args, timeout=300):
    """Runs `code` in a fresh Python whose files may not exceed `limit`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return subprocess.run(
        [sys.executable, "-c", _LIMITED + textwrap.dedent(code), str(limit),
         *map(str, args)],
        env=env, capture_output=True, text=True, timeout=timeout)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


def _tail(proc):
    return proc.stdout[-2000:] + "\n" + proc.stderr[-3000:]


# -- a full disk --------------------------------------------------------------


def test_disk_errors_are_recognised_and_named(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(OSError) as caught:
        with _atomic.naming_disk_errors(target, "the results"):
            raise OSError(errno.ENOSPC, "No space left on device")
    err = caught.value
    assert err.errno == errno.ENOSPC and err.filename == str(target)
    assert "while writing the results" in str(err)
    # HDF5 says it in words only.
    assert _atomic.is_disk_full(OSError("Can't write data (file write "
                                        "failed: errno = 28)"))
    assert not _atomic.is_disk_full(OSError(errno.ENOENT, "missing"))
    with pytest.raises(FileNotFoundError):  # other errors pass unchanged
        with _atomic.naming_disk_errors(target):
            raise FileNotFoundError(errno.ENOENT, "missing", "x")


@pytest.mark.slow
def test_evaluate_output_on_a_full_disk_names_it_and_keeps_the_old(
        tmp_path):
    photos = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for label in ("cat", "ship"):
        (photos / label).mkdir(parents=True)
        image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        (photos / label / "a.png").write_bytes(
            tf.io.encode_png(image).numpy())
    out = tmp_path / "results.json"
    out.write_text('{"old": true}\n')
    proc = run_limited(200, """
        from keras_cmod.cli import main
        sys.exit(main(sys.argv[2:]))
        """, "evaluate", "resnet18.cifar10", "--random-weights",
        "--dataset", f"folder:{photos}", "--metrics", "accuracy",
        "--batch-size", 2, "--no-progress", "--output", out)
    assert proc.returncode == 2, _tail(proc)
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("keras-cmod evaluate: error: File too large")
    assert repr(str(out)) in error, error
    assert out.read_text() == '{"old": true}\n'  # intact
    assert sorted(os.listdir(tmp_path)) == ["photos", "results.json"]


@pytest.mark.slow
def test_save_pretrained_overwrite_on_a_full_disk_keeps_the_old_folder(
        tmp_path):
    code = """
        import keras
        import keras_cmod.hub as kh

        def model(seed):
            keras.utils.set_random_seed(seed)
            inputs = keras.Input((64,))
            outputs = keras.layers.Dense(64)(inputs)
            return keras.Model(inputs, outputs)

        target = sys.argv[2]
        if sys.argv[3] == "first":
            kh.save_pretrained(model(0), target)
            sys.exit(0)
        try:
            kh.save_pretrained(model(1), target, overwrite=True)
        except OSError as err:
            print(err.errno, err.filename)
            print(err)
            sys.exit(3)
        """
    target = tmp_path / "model"
    first = run_limited(10**9, code, target, "first")
    assert first.returncode == 0, _tail(first)
    before = _files(target)
    assert os.path.getsize(target / "model.weights.h5") > 8000

    full = run_limited(8000, code, target, "again")
    assert full.returncode == 3, _tail(full)
    code_line, message = full.stdout.strip().splitlines()[-2:]
    assert code_line == f"{errno.EFBIG} {target}", full.stdout
    assert "File too large" in message and str(target) in message
    # The old folder is intact and nothing temporary is left beside it.
    assert _files(target) == before
    assert os.listdir(tmp_path) == ["model"]


# -- a batch that does not fit ------------------------------------------------


@pytest.mark.slow
def test_an_enormous_batch_is_refused_before_allocating(tmp_path, capsys):
    out = tmp_path / "run"
    start = time.monotonic()
    code = keras_cmod.cli.main([
        "train", "--model", "resnet18", "--dataset", "synthetic",
        "--input-size", "224", "--batch-size", "100000",
        "--set", "synthetic_train_size=100000", "--epochs", "1",
        "--quiet", "--output", str(out)])
    took = time.monotonic() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err[-1].startswith("keras-cmod train: error: batch_size=100000")
    for part in ("does not fit in memory", "224x224x3", "TiB",
                 "is available", "--grad-accum"):
        assert part in err[-1], (part, err[-1])
    assert took < 120, took  # no batch was made
    assert not out.exists()


class _Hog(keras.layers.Layer):
    """Asks for 4 TiB per example in training: a real out-of-memory."""

    def call(self, x, training=None):
        if not training:
            return x
        n = tf.cast(tf.shape(x)[0], tf.int64)
        size = tf.constant(2**40, tf.int64)
        big = tf.fill(tf.stack([n, size]), tf.reduce_mean(x))
        return x + 0.0 * tf.reduce_sum(big)


def _hog_model_fn(name, num_classes=10, input_shape=None, **kwargs):
    inputs = keras.Input(tuple(input_shape or (8, 8, 3)))
    x = _Hog()(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.mark.slow
def test_out_of_memory_in_a_step_names_the_batch(tmp_path, capsys):
    out = tmp_path / "run"
    code = train_cli.main([
        "train", "--model", "hog", "--dataset", "synthetic",
        "--input-size", "8", "--batch-size", "4", "--num-classes", "3",
        "--epochs", "1", "--steps-per-epoch", "1", "--quiet",
        "--output", str(out)], model_fn=_hog_model_fn)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    line = err[-1]
    assert line.startswith("keras-cmod train: error: batch_size=4 "), line
    assert "does not fit in memory" in line and "ResourceExhausted" in line
    assert "Lower --batch-size" in line


def test_tensorflow_memory_failures_are_recognised():
    parse = tf.errors.InvalidArgumentError(
        None, None, "Cannot parse tensor from proto: dtype: DT_FLOAT "
        "tensor_shape { dim { size: 100000 } }")
    assert memory.is_out_of_memory(parse)
    assert memory.is_out_of_memory(
        tf.errors.ResourceExhaustedError(None, None, "OOM"))
    assert not memory.is_out_of_memory(
        tf.errors.InvalidArgumentError(None, None, "Input is empty"))
