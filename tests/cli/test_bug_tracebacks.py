"""A bug looks like a bug: an op error inside a model call keeps its
traceback; a bad flag is still one `error:` line.

The op errors here are real `tf.errors.InvalidArgumentError`s, raised by
TensorFlow's own kernel (`CheckNumerics` on a tensor made infinite inside
a layer's call) while the model runs, as an unsupported op would.
"""

import subprocess
import sys
import textwrap

import keras
import pytest
import tensorflow as tf

from keras_cmod import cli
from keras_cmod.training import cli as train_cli


class _InfiniteLogits(keras.layers.Layer):
    """Makes the tensor infinite and lets TensorFlow's CheckNumerics fail."""

    def call(self, x):
        return tf.debugging.check_numerics(x / 0.0, "logits of the test")


def _failing_model_fn(name, num_classes=10, input_shape=None, **kwargs):
    inputs = keras.Input(tuple(input_shape or (8, 8, 3)))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(num_classes, name="predictions")(x)
    return keras.Model(inputs, _InfiniteLogits()(x), name=name)


def _argv(output, *extra):
    return ["train", "--model", "tiny", "--dataset", "synthetic",
            "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4",
            "--input-size", "8", "--num-classes", "3", "--output",
            str(output), *extra]


def test_an_op_error_is_not_an_expected_failure():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        tf.debugging.check_numerics(tf.constant([float("inf")]), "x")
    assert cli.error_message(info.value) is None


def test_an_op_error_in_a_model_call_is_raised_with_a_note(tmp_path,
                                                           capsys):
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        train_cli.main(_argv(tmp_path / "run"), model_fn=_failing_model_fn)
    notes = getattr(info.value, "__notes__", [])
    assert notes == [cli.BUG_NOTE.format(command="train")]
    assert "logits of the test" in str(info.value)
    assert "error:" not in capsys.readouterr().err
    # Nothing was checkpointed: the run folder it created is removed.
    assert not (tmp_path / "run").exists()


def test_a_bad_flag_is_still_one_line(tmp_path, capsys):
    rc = train_cli.main(_argv(tmp_path / "run", "--batch-size", "0"),
                        model_fn=_failing_model_fn)
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == [
        line for line in err.splitlines()
        if line.startswith("keras-cmod train: error: ")]
    assert "batch_size" in err


_DRIVER = textwrap.dedent("""
    import sys

    import keras
    import tensorflow as tf

    conv_call = keras.layers.Conv2D.call

    def call(self, x):  # the first conv of every model becomes infinite
        return tf.debugging.check_numerics(conv_call(self, x) / 0.0,
                                           "injected")

    keras.layers.Conv2D.call = call
    from keras_cmod.cli import main

    sys.exit(main(sys.argv[1:]))
""")


def _keras_cmod(args, tmp_path, driver=None):
    code = ["-c", driver] if driver else ["-m", "keras_cmod.cli"]
    return subprocess.run(
        [sys.executable, *code, *map(str, args)], capture_output=True,
        text=True, timeout=600, cwd=tmp_path)


@pytest.mark.slow
def test_the_command_prints_the_whole_traceback(tmp_path):
    args = ["train", "--model", "resnet18.cifar10", "--dataset",
            "synthetic", "--epochs", "1", "--steps-per-epoch", "1",
            "--batch-size", "2", "--output", tmp_path / "run"]
    proc = _keras_cmod(args, tmp_path, driver=_DRIVER)
    err = proc.stderr
    assert proc.returncode == 1, err[-3000:]
    assert "Traceback (most recent call last):" in err
    assert "tensorflow.python.framework.errors_impl.InvalidArgumentError" \
        in err
    assert "injected" in err
    assert cli.BUG_NOTE.format(command="train") in " ".join(err.split())
    assert "keras-cmod train: error:" not in err
    # Python frames of the call chain are there, down to the model call.
    assert 'keras_cmod/training/trainer.py", line' in err

    # The same command with a bad flag: one line, exit status 2.
    proc = _keras_cmod([*args, "--batch-size", "0"], tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(
        "keras-cmod train: error: "), proc.stderr[-3000:]
    assert "batch_size" in lines[0]
