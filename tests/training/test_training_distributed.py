"""Strategies and crash recovery, in subprocesses.

- MirroredStrategy over two logical CPUs (they must be configured before
  any TensorFlow op, hence a fresh process).
- MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1.
- A run killed with SIGKILL in the middle of an epoch, then restarted.

All runs go through the `keras-cmod train` entry point
(`keras_cmod.training.cli.main`, via training_driver.py) with the tiny
test models. `tiny_plain` has no batch norm, so one replica over the
global batch and several replicas over slices of it compute the same
update (batch-norm statistics are per replica, as in PyTorch DDP).
"""

import json
import os
import signal
import subprocess

import keras
import numpy as np
import pytest
from training_utils import (
    driver_cmd,
    env,
    free_ports,
    load_weights,
    run_driver,
    run_in_process,
    tail,
    tiny_args,
)

pytestmark = pytest.mark.slow

TOL = dict(rtol=1e-5, atol=1e-6)


def test_mirrored_two_logical_cpus_matches_one_device(tmp_path):
    mirrored = run_driver(
        tiny_args(tmp_path / "mirrored", "--strategy", "mirrored"),
        logical_cpus=2, dump_weights=tmp_path / "mirrored.npz")
    assert mirrored.returncode == 0, tail(mirrored)
    assert run_in_process(tiny_args(tmp_path / "single"),
                          tmp_path / "single.npz") == 0

    run = json.loads((tmp_path / "mirrored" / "run.json").read_text())
    assert run["strategy_class"] == "MirroredStrategy"
    assert (run["num_replicas"], run["per_replica_batch_size"]) == (2, 4)
    for a, b in zip(load_weights(tmp_path / "mirrored.npz"),
                    load_weights(tmp_path / "single.npz")):
        np.testing.assert_allclose(a, b, **TOL)
    logs = [json.loads((tmp_path / d / "metrics.json").read_text())
            for d in ("mirrored", "single")]
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(logs[0]["final"][key],
                                   logs[1]["final"][key], rtol=1e-5)
    # The saved model reloads.
    model = keras.saving.load_model(tmp_path / "mirrored" / "model.keras")
    assert model.output_shape == (None, 4)


def test_global_batch_not_divisible_by_replicas(tmp_path):
    proc = run_driver(
        tiny_args(tmp_path / "run", "--strategy", "mirrored", batch=7),
        logical_cpus=2)
    assert proc.returncode == 2, tail(proc)
    assert "not divisible by the 2 replicas" in proc.stderr
    assert not (tmp_path / "run" / "train_config.json").exists()


def test_multi_worker_two_processes_equal_one_process(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "mw"
    procs = []
    scratch = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster,
                                    "task": {"type": "worker",
                                             "index": index}})
            tmp = tmp_path / f"tmp{index}"
            tmp.mkdir()
            scratch.append(tmp)
            procs.append(subprocess.Popen(
                ["timeout", "150"] + driver_cmd(
                    tiny_args(out, "--strategy", "multi_worker"),
                    dump_weights=tmp_path / f"worker{index}.npz"),
                env=env(TF_CONFIG=tf_config, TMPDIR=str(tmp)),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
        # The one-process reference, here while the workers run.
        single_rc = run_in_process(tiny_args(tmp_path / "single"),
                                   tmp_path / "single.npz")
        results = [p.communicate(timeout=170) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert single_rc == 0

    w0, w1, ws = (load_weights(tmp_path / f"{n}.npz")
                  for n in ("worker0", "worker1", "single"))
    for a, b, c in zip(w0, w1, ws):
        np.testing.assert_array_equal(a, b)  # workers stay in sync
        np.testing.assert_allclose(a, c, **TOL)  # = one process
    max_diff = max(float(np.abs(a - c).max()) for a, c in zip(w0, ws))
    print(f"multi-worker vs one process: max |diff| = {max_diff:.3g}")

    run = json.loads((out / "run.json").read_text())
    # tf.distribute.MultiWorkerMirroredStrategy's class name.
    assert run["strategy_class"] == "CollectiveAllReduceStrategy"
    assert (run["strategy"], run["num_replicas"]) == ("multi_worker", 2)
    for name in ("train_config.json", "config.json", "log.csv",
                 "metrics.json", "model.keras", "model.weights.h5"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    reference = json.loads((tmp_path / "single" / "metrics.json").read_text())
    np.testing.assert_allclose(metrics["final"]["val_loss"],
                               reference["final"]["val_loss"], rtol=1e-5)
    # The non-chief worker wrote only to a scratch folder, now deleted.
    assert os.listdir(scratch[1]) == []


def test_killed_mid_epoch_then_resumed_equals_uninterrupted(tmp_path):
    args = dict(model="tiny_bn_dropout", epochs=2, steps=4)
    extra = ("--deterministic", "--checkpoint-every", "1")
    # The uninterrupted reference runs while the crashing run runs.
    full = subprocess.Popen(
        ["timeout", "150"] + driver_cmd(
            tiny_args(tmp_path / "full", *extra, **args),
            dump_weights=tmp_path / "full.npz"),
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = tmp_path / "crash"
        # Step 6 = epoch 2, step 2 of 4; its checkpoint is written, then
        # the process kills itself with SIGKILL.
        killed = run_driver(tiny_args(out, *extra, **args), kill_at_step=6)
        stdout, stderr = full.communicate(timeout=170)
    finally:
        if full.poll() is None:
            full.kill()
            full.wait()
    assert full.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert killed.returncode == -signal.SIGKILL, tail(killed)
    state = json.loads((out / "checkpoints" / "checkpoint.json").read_text())
    assert state["state"]["global_step"] == 6
    assert (state["state"]["epoch"], state["state"]["step_in_epoch"]) == (
        1, 2)
    assert not (out / "model.keras").exists()

    resumed = run_driver(tiny_args(out, *extra, **args),
                         dump_weights=tmp_path / "resumed.npz")
    assert resumed.returncode == 0, tail(resumed)
    run = json.loads((out / "run.json").read_text())
    assert run["resumed_from"].endswith("ckpt-000000006.npz")
    for a, b in zip(load_weights(tmp_path / "full.npz"),
                    load_weights(tmp_path / "resumed.npz")):
        np.testing.assert_array_equal(a, b)  # bit-exact
    rows = [(tmp_path / d / "log.csv").read_text().splitlines()
            for d in ("full", "crash")]
    strip = [[",".join(r.split(",")[:7]) for r in rs] for rs in rows]
    assert strip[0] == strip[1]  # same losses/accuracies per epoch


def test_mirrored_float16_with_gradient_accumulation(tmp_path):
    # Loss scaling across replicas (they must agree on skipping a step),
    # batch norm and dropout in replica context, accumulation of 2 passes.
    proc = run_driver(
        tiny_args(tmp_path / "run", "--strategy", "mirrored",
                  "--mixed-precision", "float16", "--grad-accum", "2",
                  model="tiny_bn_dropout", epochs=1),
        logical_cpus=2)
    assert proc.returncode == 0, tail(proc)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["global_step"] == 3 and metrics["num_replicas"] == 2
    assert np.isfinite(metrics["final"]["loss"])
    assert np.isfinite(metrics["final"]["val_loss"])
