"""Subprocess driver of the fault tests: `keras-cmod train` + injected faults.

    python fault_driver.py [--tiny] [--kill-in WHERE] [--kill-at N]
        [--hold-at-step K --ready PATH --release PATH]
        [--list-before-first-checkpoint PATH] [--fsize-limit[-at-end] N]
        [--dump-weights PATH] -- train ...

It runs the real command-line entry point (`keras_cmod.training.cli.main`)
after arranging, optionally:

- `--kill-in checkpoint --kill-at N`: SIGKILL right after the N-th
  checkpoint's temporary file is written, before its rename (it stays as
  `ckpt-*.npz.tmp-<pid>`);
- `--kill-in final-save`: SIGKILL right after `model.keras` is written to
  its temporary name `.tmp-<pid>-model.keras`, before the rename;
- `--kill-in model-files`: SIGKILL once the model folder files are written
  to their temporary folder `.tmp-<pid>-model-*`, before they move;
- `--kill-in model-files-move`: SIGKILL right after the new
  `model.weights.h5` moved into place, before the manifest follows;
- `--hold-at-step K`: after optimizer step K, create `--ready` and wait
  until `--release` exists (the run holds its folder meanwhile);
- `--list-before-first-checkpoint PATH`: when this process is about to
  write its first checkpoint, write the files of the run folder (JSON):
  what a rerun left of a dead writer's files before it wrote any;
- `--fsize-limit BYTES`: a file-size limit (`RLIMIT_FSIZE`, with SIGXFSZ
  ignored, so a write past it fails with EFBIG) from the start;
  `--fsize-limit-at-end BYTES`: the same, set once the last epoch's
  checkpoint is written (the final save then fails);
- `--dump-weights`: the final weights as an .npz file.
"""

import argparse
import json
import os
import signal
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _die():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(where, at):
    """Wraps the writer of `where` so that the process dies inside it."""
    if where == "checkpoint":
        import numpy as np

        from keras_cmod.training import checkpoint

        real, count = np.savez, [0]

        class _NumpyWithDeath:
            def __getattr__(self, name):
                return getattr(np, name)

            @staticmethod
            def savez(file, *args, **kwargs):
                real(file, *args, **kwargs)
                count[0] += 1
                if count[0] == at:
                    file.flush()
                    os.fsync(file.fileno())
                    _die()

        checkpoint.np = _NumpyWithDeath()
    elif where == "final-save":
        import keras

        real = keras.Model.save

        def save(self, filepath, *args, **kwargs):
            real(self, filepath, *args, **kwargs)
            if ".tmp-" in os.path.basename(str(filepath)):
                _die()

        keras.Model.save = save
    elif where == "model-files":
        import keras

        real = keras.saving.save_model

        def save_model(model, filepath, *args, **kwargs):
            real(model, filepath, *args, **kwargs)
            if ".tmp-" in str(filepath):  # in the temporary folder
                _die()

        keras.saving.save_model = save_model
    elif where == "model-files-move":
        real = os.replace

        def replace(src, dst, *args, **kwargs):
            real(src, dst, *args, **kwargs)
            if ".tmp-" in str(src) and str(dst).endswith("model.weights.h5"):
                _die()

        os.replace = replace
    elif where:
        raise SystemExit(f"unknown --kill-in {where!r}")


def _list_before_first_checkpoint(output, listing):
    from keras_cmod.training import checkpoint

    real, first = checkpoint.save_checkpoint, [True]

    def save_checkpoint(*args, **kwargs):
        if first[0]:
            first[0] = False
            found = sorted(
                os.path.relpath(os.path.join(root, name), output)
                for root, dirs, files in os.walk(output)
                for name in files + dirs)
            with open(listing, "w") as f:
                json.dump(found, f)
        return real(*args, **kwargs)

    checkpoint.save_checkpoint = save_checkpoint


def _limit_file_size(limit):
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--kill-in", default="")
    parser.add_argument("--kill-at", type=int, default=1)
    parser.add_argument("--hold-at-step", type=int, default=0)
    parser.add_argument("--ready")
    parser.add_argument("--release")
    parser.add_argument("--list-before-first-checkpoint")
    parser.add_argument("--dump-weights")
    parser.add_argument("--fsize-limit", type=int, default=0)
    parser.add_argument("--fsize-limit-at-end", type=int, default=0)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    output = rest[rest.index("--output") + 1]
    epochs = int(rest[rest.index("--epochs") + 1])

    import numpy as np

    from keras_cmod.training import cli

    _arm(args.kill_in, args.kill_at)
    if args.fsize_limit:
        _limit_file_size(args.fsize_limit)
    if args.list_before_first_checkpoint:
        _list_before_first_checkpoint(output,
                                      args.list_before_first_checkpoint)

    def hook(event, info):
        if (event == "step_end" and args.hold_at_step
                and info["global_step"] == args.hold_at_step):
            open(args.ready, "w").close()
            deadline = time.monotonic() + 300
            while (not os.path.exists(args.release)
                   and time.monotonic() < deadline):
                time.sleep(0.05)
        if (event == "epoch_end" and args.fsize_limit_at_end
                and info["epoch"] + 1 == epochs):
            _limit_file_size(args.fsize_limit_at_end)
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
