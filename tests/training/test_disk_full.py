"""A full disk during training names the file being written.

The fault is a real file-size limit (`RLIMIT_FSIZE`, SIGXFSZ ignored: a
write past it fails with EFBIG, as a full disk fails with ENOSPC), set in
the training process by fault_driver.py: from the start (the next
checkpoint is too big) or once the last checkpoint is written (the final
`model.keras` is too big).
"""

import os

import pytest
from test_run_lock import run_fault, temp_files
from training_utils import tail, tiny_args

pytestmark = pytest.mark.slow

LIMIT = 4096  # above the small files of a tiny run, below a checkpoint


def _error_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("keras-cmod train: error: "), (
        tail(proc))
    assert "Traceback" not in proc.stderr, tail(proc)
    return lines[-1]


def _snapshot(folder):
    return {name: (folder / name).read_bytes()
            for name in sorted(os.listdir(folder))}


def test_a_checkpoint_that_does_not_fit_is_named(tmp_path):
    run = tmp_path / "run"
    first = run_fault(tiny_args(run, "--deterministic", epochs=1))
    assert first.returncode == 0, tail(first)
    before = _snapshot(run / "checkpoints")
    assert os.path.getsize(run / "checkpoints" / "ckpt-000000003.npz") > LIMIT

    more = run_fault(tiny_args(run, "--deterministic", epochs=2),
                     "--fsize-limit", LIMIT)
    assert more.returncode == 2, tail(more)
    error = _error_line(more)
    path = run / "checkpoints" / "ckpt-000000006.npz"
    assert repr(str(path)) in error, error
    assert "File too large" in error and "intact" in error, error
    # The previous checkpoint and its pointer are untouched; no temp file.
    assert _snapshot(run / "checkpoints") == before
    assert temp_files(run) == []

    again = run_fault(tiny_args(run, "--deterministic", epochs=2))
    assert again.returncode == 0, tail(again)
    assert (run / "checkpoints" / "ckpt-000000006.npz").is_file()


def test_a_final_model_that_does_not_fit_is_named(tmp_path):
    run = tmp_path / "run"
    full = run_fault(tiny_args(run, "--deterministic", epochs=1),
                     "--fsize-limit-at-end", LIMIT)
    assert full.returncode == 2, tail(full)
    error = _error_line(full)
    assert repr(str(run / "model.keras")) in error, error
    assert "File too large" in error, error
    assert not (run / "model.keras").exists() and temp_files(run) == []
    assert (run / "checkpoints" / "ckpt-000000003.npz").is_file()

    again = run_fault(tiny_args(run, "--deterministic", epochs=1))
    assert again.returncode == 0, tail(again)
    assert (run / "model.keras").is_file() and temp_files(run) == []
