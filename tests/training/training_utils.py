"""Helpers of the training tests: subprocess runs of the driver, ports."""

import os
import socket
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "training_driver.py")
REPO = os.path.dirname(os.path.dirname(HERE))


def tiny_args(output, *extra, model="tiny_plain", epochs=2, steps=3,
              batch=8):
    """`keras-cmod train` arguments of a tiny synthetic run."""
    return [
        "train", "--model", model, "--dataset", "synthetic",
        "--input-size", "8", "--epochs", str(epochs),
        "--steps-per-epoch", str(steps), "--batch-size", str(batch),
        "--num-classes", "4", "--set", "synthetic_train_size=64",
        "--set", "synthetic_val_size=13", "--quiet",
        "--output", str(output), *extra,
    ]


def env(**extra):
    out = dict(os.environ)
    out.pop("TF_CONFIG", None)
    out["TF_CPP_MIN_LOG_LEVEL"] = "2"
    out["PYTHONPATH"] = os.pathsep.join(
        [REPO, HERE] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    out.update(extra)
    return out


def driver_cmd(train_args, *, logical_cpus=0, kill_at_step=0,
               dump_weights=None, tiny=True):
    cmd = [sys.executable, DRIVER]
    if logical_cpus:
        cmd += ["--logical-cpus", str(logical_cpus)]
    if kill_at_step:
        cmd += ["--kill-at-step", str(kill_at_step)]
    if dump_weights:
        cmd += ["--dump-weights", str(dump_weights)]
    if tiny:
        cmd += ["--tiny"]
    return cmd + ["--"] + list(train_args)


def run_driver(train_args, timeout=120, extra_env=None, **kwargs):
    """Runs the driver to completion; returns the CompletedProcess."""
    return subprocess.run(
        driver_cmd(train_args, **kwargs), env=env(**(extra_env or {})),
        capture_output=True, text=True, timeout=timeout,
    )


def free_ports(n):
    """`n` distinct free loopback ports (bound to port 0, then released)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def load_weights(path):
    with np.load(path) as z:
        return [z[k] for k in sorted(z.files)]


def tail(proc, n=3000):
    return (proc.stdout[-n:] if proc.stdout else "") + "\n" + (
        proc.stderr[-n:] if proc.stderr else "")


def run_in_process(train_args, dump_weights):
    """The same command in this process (one device), tiny models."""
    from training_models import tiny_model_fn

    from keras_cmod.training import cli

    def hook(event, info):
        if event == "train_end":
            np.savez(dump_weights, **{
                f"w{i:03d}": w
                for i, w in enumerate(info["model"].get_weights())})

    return cli.main(list(train_args), model_fn=tiny_model_fn,
                    callbacks=[hook])
