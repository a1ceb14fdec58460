"""Training throughput (images/s) of zoo models, through the real trainer.

    python benchmarks/train_throughput.py                     # r18 vs r18_cmod
    python benchmarks/train_throughput.py --models resnet34 resnet34_cmod \\
        --input-size 224 --batch-size 32 --json out.json

Each model is trained with `keras_cmod.training.train` (the same custom
loop, optimizer and strategy as `keras-cmod train`) on the `synthetic`
dataset for `--warmup + --steps` optimizer steps; the result is the median
images/s over the timed steps (the first `--warmup` steps, which include
tracing, are dropped). All models run in the same process, in alternating
rounds (A B A B ...), so host noise affects them alike; the table reports
the median over rounds of each model's median. Timings vary between runs
and machines: compare models within one run.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def measure(model, args, out_dir):
    from keras_cmod.training import TrainConfig, train

    cfg = TrainConfig.from_dict(dict(
        model=model, dataset="synthetic", input_size=[args.input_size] * 2,
        num_classes=args.num_classes, epochs=1,
        steps_per_epoch=args.warmup + args.steps, batch_size=args.batch_size,
        val_split=None, synthetic_train_size=args.batch_size * 4,
        strategy=args.strategy, mixed_precision=args.mixed_precision,
        lr_schedule="constant",
    ))
    times = []
    last = {}

    def hook(event, info):
        if event == "step_end":
            now = time.perf_counter()
            if "t" in last:
                times.append(now - last["t"])
            last["t"] = now

    train(cfg, out_dir, verbose=0, callbacks=[hook])
    # times[i] is the wall time of step i + 2 (from one step end to the
    # next): drop the warm-up steps.
    timed = times[max(args.warmup - 1, 0):]
    rates = [args.batch_size / t for t in timed]
    return statistics.median(rates), rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+",
                        default=["resnet18", "resnet18_cmod"])
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--mixed-precision", default=None)
    parser.add_argument("--json", default="train_throughput.json",
                        help="where to write the results")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    results = {m: [] for m in args.models}
    all_rates = {m: [] for m in args.models}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for model in args.models:
                keras.backend.clear_session()
                median, rates = measure(model, args,
                                        os.path.join(tmp, f"{model}-{r}"))
                results[model].append(median)
                all_rates[model].extend(rates)
                print(f"round {r + 1}: {model}: {median:.1f} img/s",
                      file=sys.stderr, flush=True)

    base = statistics.median(results[args.models[0]])
    rows = []
    print(f"\ninput {args.input_size}x{args.input_size}, global batch "
          f"{args.batch_size}, {args.steps} timed steps x {args.rounds} "
          f"rounds, strategy {args.strategy}, "
          f"precision {args.mixed_precision or 'float32'}")
    print(f"{'model':<28}{'img/s (median)':>16}{'per round':>26}"
          f"{'relative':>10}")
    for model in args.models:
        med = statistics.median(results[model])
        rows.append({"model": model, "images_per_sec": med,
                     "per_round": results[model],
                     "relative_to_first": med / base,
                     "step_rates": all_rates[model]})
        rounds = ", ".join(f"{v:.1f}" for v in results[model])
        print(f"{model:<28}{med:>16.1f}{rounds:>26}{med / base:>10.2f}")
    gpus = tf.config.list_physical_devices("GPU")
    report = {
        "settings": vars(args),
        "device": (f"{len(gpus)} GPU(s)" if gpus else
                   f"CPU ({os.cpu_count()} cores)"),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
        "results": rows,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
