"""`keras-cmod benchmark`: run the benchmarks, print tables, write JSON."""

import json
import os


def register(subparsers):
    p = subparsers.add_parser(
        "benchmark",
        help="speed and memory benchmarks (ratios within one run)",
        description=(
            "Run benchmarks: layer1 (first layer fwd+bwd), train_step "
            "(images/s per model), dtcwpt (cascade vs dense kernel), "
            "resnet50 (vs keras.applications). Ratios are measured within "
            "one run; absolute times are machine- and load-dependent."
        ),
    )
    p.add_argument("which", nargs="*", default=["layer1", "dtcwpt",
                                                "resnet50", "train_step"],
                   help="benchmarks to run (default: all)")
    p.add_argument("--output", default="benchmark_results",
                   help="folder for the JSON results")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=None,
                   help="override each benchmark's batch size")
    p.add_argument("--models", nargs="*", default=None,
                   help="train_step: zoo names (default: all variants of "
                        "resnet18/34/50 and AlexNet)")
    p.add_argument("--sizes", nargs="*", type=int, default=[224, 32],
                   help="train_step: input sizes")
    p.set_defaults(func=run)


def run(args):
    from keras_cmod.benchmarks import BENCHMARKS, common

    unknown = [b for b in args.which if b not in BENCHMARKS]
    if unknown:
        raise ValueError(
            f"Unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}."
        )
    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1. Received: {args.repeats}")
    machine = common.machine_description()
    print(json.dumps(machine))
    os.makedirs(args.output, exist_ok=True)
    for name in args.which:
        print(f"== {name}")
        kwargs = {"repeats": args.repeats}
        if args.batch_size:
            kwargs["batch_size"] = args.batch_size
        if name == "layer1":
            from keras_cmod.benchmarks import layer1 as mod
        elif name == "dtcwpt":
            from keras_cmod.benchmarks import dtcwpt as mod
        elif name == "resnet50":
            from keras_cmod.benchmarks import resnet50 as mod
        else:
            from keras_cmod.benchmarks import train_step as mod

            kwargs.update(names=args.models, sizes=tuple(args.sizes))
        result = mod.run(**kwargs)
        result["machine"] = machine
        for key in ("ratios", "speedups"):
            if key in result:
                print(json.dumps(result[key], indent=2))
        path = common.write_json(result,
                                 os.path.join(args.output, f"{name}.json"))
        print(f"wrote {path}")
    return 0
