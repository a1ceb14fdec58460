"""One writer per run folder, and what a killed writer leaves behind.

The faults are real: a second process on the same `--output`, a process
holding the lock that is SIGKILLed, a run killed while it writes a
checkpoint (fault_driver.py).
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from training_utils import env, load_weights, tail, tiny_args

from keras_cmod.training.runlock import (
    LOCK_FILE,
    RunInUseError,
    RunLock,
    remove_stale_temp_files,
)

HERE = os.path.dirname(os.path.abspath(__file__))
FAULT_DRIVER = os.path.join(HERE, "fault_driver.py")


def fault_cmd(train_args, *options):
    return [sys.executable, FAULT_DRIVER, "--tiny", *map(str, options),
            "--", *map(str, train_args)]


def run_fault(train_args, *options, timeout=180):
    return subprocess.run(fault_cmd(train_args, *options), env=env(),
                          capture_output=True, text=True, timeout=timeout)


def temp_files(folder):
    return sorted(
        os.path.relpath(os.path.join(root, name), folder)
        for root, dirs, files in os.walk(folder) for name in files + dirs
        if ".tmp-" in name)


_HOLDER = """
import sys, time
from keras_cmod.training.runlock import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def _hold_lock(folder):
    """A process (no TensorFlow) that takes the folder's lock and waits."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)],
                            env=env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


# -- the lock itself ----------------------------------------------------------


def test_a_held_lock_refuses_a_second_holder(tmp_path):
    run = tmp_path / "run"
    with RunLock(run) as first:
        assert first.held and (run / LOCK_FILE).is_file()
        info = json.loads((run / LOCK_FILE).read_text())
        assert info["pid"] == os.getpid()
        # flock belongs to the open file: a second open is refused even
        # in the same process.
        with pytest.raises(RunInUseError) as caught:
            RunLock(run).acquire()
        message = str(caught.value)
        assert repr(str(run)) in message and f"pid {os.getpid()}" in message
        assert isinstance(caught.value, OSError)
    RunLock(run).acquire().release()  # free again once released


def test_stale_temp_files_are_removed_and_nothing_else(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / ".tmp-123-model-abc").mkdir()
    (run / ".tmp-123-model-abc" / "config.json").write_text("{}")
    stale = [".tmp-4242-model.keras", "run.json.tmp-4242",
             "checkpoints/ckpt-000000005.npz.tmp-77"]
    kept = ["model.keras", "run.json", "checkpoints/ckpt-000000004.npz",
            ".results.json.abc123.tmp", "notes.tmp-draft", LOCK_FILE]
    for name in stale + kept:
        (run / name).write_text("x")
    removed = remove_stale_temp_files(run)
    assert sorted(os.path.relpath(p, run) for p in removed) == sorted(
        stale + [".tmp-123-model-abc"])
    assert temp_files(run) == ["notes.tmp-draft"]
    assert all((run / name).exists() for name in kept)


@pytest.mark.slow
def test_a_lock_of_a_killed_process_does_not_block(tmp_path):
    run = tmp_path / "run"
    holder = _hold_lock(run)
    try:
        with pytest.raises(RunInUseError, match=f"pid {holder.pid}"):
            RunLock(run).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        holder.stdout.close()
    # The lock file is still there, naming the dead process...
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == holder.pid
    # ...and blocks nobody: the kernel released the lock with the process.
    lock = RunLock(run).acquire()
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()


@pytest.mark.slow
def test_the_library_trainer_refuses_a_held_folder_and_leaves_it(tmp_path):
    from training_models import tiny_model_fn

    from keras_cmod.training import TrainConfig, train

    run = tmp_path / "run"
    holder = _hold_lock(run)
    (run / "train_config.json").write_text("{}")  # the other run's
    try:
        cfg = TrainConfig(model="tiny_plain", dataset="synthetic",
                          input_size=(8, 8), epochs=1, steps_per_epoch=1,
                          batch_size=4, num_classes=3)
        start = time.monotonic()
        with pytest.raises(RunInUseError) as caught:
            train(cfg, run, model_fn=tiny_model_fn, verbose=0)
        assert time.monotonic() - start < 30
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        holder.stdout.close()
    assert f"pid {holder.pid}" in str(caught.value)
    assert str(run) in str(caught.value)
    assert (run / "train_config.json").read_text() == "{}"  # untouched
    assert sorted(os.listdir(run)) == [LOCK_FILE, "train_config.json"]


# -- two train commands on one --output ---------------------------------------


@pytest.mark.slow
def test_a_second_train_on_the_same_output_is_refused(tmp_path):
    run = tmp_path / "run"
    ready, release = tmp_path / "ready", tmp_path / "release"
    args = tiny_args(run, "--deterministic", epochs=2, steps=3)
    first = subprocess.Popen(
        fault_cmd(args, "--hold-at-step", 2, "--ready", ready, "--release",
                  release),
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.monotonic() + 150
        while not ready.exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never started"
            time.sleep(0.1)
        before = sorted(os.listdir(run))
        second = run_fault(args)
        # Refused, in one line naming the folder and the first process.
        assert second.returncode == 2, tail(second)
        error = second.stderr.strip().splitlines()[-1]
        assert error.startswith("keras-cmod train: error: "), error
        assert str(run) in error and f"pid {first.pid}" in error, error
        assert sorted(os.listdir(run)) == before  # nothing removed or added
    finally:
        release.touch()
        out, err = first.communicate(timeout=150)
    assert first.returncode == 0, err[-3000:]
    assert (run / "model.keras").is_file() and temp_files(run) == []


# -- a writer killed during a checkpoint --------------------------------------


@pytest.mark.slow
def test_a_run_killed_in_a_checkpoint_resumes_bit_identical(tmp_path):
    run, ref = tmp_path / "run", tmp_path / "reference"
    extra = ("--deterministic", "--checkpoint-every", "1")
    killed = run_fault(tiny_args(run, *extra, model="tiny_bn_dropout"),
                       "--kill-in", "checkpoint", "--kill-at", 4)
    assert killed.returncode == -signal.SIGKILL, tail(killed)
    (leftover,) = temp_files(run)  # the checkpoint being written
    assert leftover.startswith("checkpoints/ckpt-000000004.npz.tmp-")
    dead_pid = int(leftover.rsplit("-", 1)[1])
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == dead_pid

    listing = tmp_path / "listing.json"
    rerun = run_fault(tiny_args(run, *extra, model="tiny_bn_dropout"),
                      "--list-before-first-checkpoint", listing,
                      "--dump-weights", tmp_path / "resumed.npz")
    assert rerun.returncode == 0, tail(rerun)
    # Removed when the rerun started, before it wrote any checkpoint.
    assert not [n for n in json.loads(listing.read_text()) if ".tmp-" in n]
    assert temp_files(run) == []

    reference = run_fault(tiny_args(ref, *extra, model="tiny_bn_dropout"),
                          "--dump-weights", tmp_path / "reference.npz")
    assert reference.returncode == 0, tail(reference)
    for a, b in zip(load_weights(tmp_path / "resumed.npz"),
                    load_weights(tmp_path / "reference.npz"), strict=True):
        np.testing.assert_array_equal(a, b)

