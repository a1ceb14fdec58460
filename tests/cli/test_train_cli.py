"""`keras-cmod train` as a command: output lines, finished runs, leftovers.

A tiny model (`model_fn`, through `keras_cmod.training.cli.main`) keeps
each run to a few seconds.
"""

import io
import os

import keras
import pytest

from keras_cmod.training import cli as train_cli


def tiny_model_fn(name, num_classes=10, input_shape=None, **kwargs):
    inputs = keras.Input(tuple(input_shape or (8, 8, 3)))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def _argv(output, *extra):
    return ["train", "--model", "tiny", "--dataset", "synthetic",
            "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "4",
            "--input-size", "8", "--num-classes", "3", "--output",
            str(output), *extra]


def _train(argv):
    return train_cli.main(argv, model_fn=tiny_model_fn)


@pytest.mark.parametrize("quiet", [
    False, pytest.param(True, marks=pytest.mark.slow)])
def test_plain_lines_off_a_terminal_and_a_finished_run(quiet, tmp_path,
                                                       capsys):
    run = tmp_path / "run"
    extra = ["--quiet"] if quiet else []
    assert _train(_argv(run, *extra)) == 0
    out = capsys.readouterr().out
    # stdout is not a terminal here: no progress bar, no ANSI codes, one
    # line per epoch.
    assert "\x1b[" not in out and "\r" not in out and "\b" not in out
    epoch_lines = [line for line in out.splitlines()
                   if line.startswith("epoch=")]
    assert [line.split(",")[0] for line in epoch_lines] == [
        "epoch=1", "epoch=2"]
    assert "━" not in out
    model = run / "model.keras"
    stamp = os.stat(model).st_mtime_ns

    # The same command again: one line saying the run is complete.
    assert _train(_argv(run, *extra)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    assert "already complete" in lines[0] and str(run) in lines[0]
    assert "model.keras" in lines[0]
    assert os.stat(model).st_mtime_ns == stamp  # nothing was redone

    # More epochs: not complete any more, training continues.
    assert _train(_argv(run, *extra, "--set", "epochs=3")) == 0
    out = capsys.readouterr().out
    assert "already complete" not in out
    assert [line.split(",")[0] for line in out.splitlines()
            if line.startswith("epoch=")] == ["epoch=3"]


@pytest.mark.parametrize("tty,quiet,expected", [
    (True, False, 1), (True, True, 2), (False, False, 2), (False, True, 2),
])
def test_progress_bar_only_on_a_terminal(tty, quiet, expected, monkeypatch):
    class Stream(io.StringIO):
        def isatty(self):
            return tty

    monkeypatch.setattr("sys.stdout", Stream())
    assert train_cli.verbosity(quiet) == expected


def test_a_run_refused_by_validation_creates_nothing(tmp_path, capsys):
    run = tmp_path / "new" / "run"
    assert _train(_argv(run, "--set", "batch_size=0")) == 2
    err = capsys.readouterr().err
    assert "batch_size" in err and "Traceback" not in err
    assert not (tmp_path / "new").exists()


def test_a_run_failing_after_its_folder_was_made_leaves_nothing(
        tmp_path, capsys):
    """The trainer creates the folder, then fails (unknown strategy
    device): the CLI removes the folders it created."""
    run = tmp_path / "new" / "run"
    assert _train(_argv(run, "--strategy", "tpu")) == 2
    err = capsys.readouterr().err
    assert "tpu" in err.lower() and "Traceback" not in err
    assert not (tmp_path / "new").exists()


def test_output_under_a_regular_file(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    assert _train(_argv(tmp_path / "a_file" / "run")) == 2
    err = capsys.readouterr().err
    assert "a_file" in err and "is a file" in err
    assert os.listdir(tmp_path) == ["a_file"]
