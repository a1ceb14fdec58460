"""Subprocess driver of the training tests: `keras-cmod train` + hooks.

    python training_driver.py [--logical-cpus N] [--kill-at-step K]
        [--dump-weights PATH] [--tiny] -- train --model tiny_plain ...

It runs the real command-line entry point
(`keras_cmod.training.cli.main`) after, optionally:

- splitting the CPU into N logical devices (must precede any TF op, hence
  a separate process), for MirroredStrategy on one machine;
- using the tiny test models (`training_models.tiny_model_fn`);
- killing itself with SIGKILL right after optimizer step K (after the
  checkpoint of that step, if any): a crash in the middle of an epoch;
- dumping the final model weights of this process (chief or not) to an
  .npz file.
"""

import argparse
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logical-cpus", type=int, default=0)
    parser.add_argument("--kill-at-step", type=int, default=0)
    parser.add_argument("--dump-weights")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest

    import tensorflow as tf

    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus
        )

    import numpy as np

    from keras_cmod.training import cli

    def hook(event, info):
        if (event == "step_end" and args.kill_at_step
                and info["global_step"] == args.kill_at_step):
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        if event == "train_end" and args.dump_weights:
            weights = info["model"].get_weights()
            np.savez(args.dump_weights,
                     **{f"w{i:03d}": w for i, w in enumerate(weights)})

    kwargs = {"callbacks": [hook]}
    if args.tiny:
        from training_models import tiny_model_fn

        kwargs["model_fn"] = tiny_model_fn
    return cli.main(rest, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
