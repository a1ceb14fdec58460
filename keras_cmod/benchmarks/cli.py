"""`keras-cmod benchmark`: run the benchmark table, write JSON, render it."""

import os
import shlex
import sys

#: Where a run writes unless `--output` says otherwise: a folder of the
#: current directory (git-ignored in a clone), never the source tree.
DEFAULT_OUTPUT = os.path.join("benchmark_results", "benchmarks.json")
#: What `--quick` runs unless sections or `--groups` are named: the
#: training step of resnet18_cmod.cifar10 against resnet18.cifar10, on the
#: current Keras backend (about a minute on 2 CPU cores, one process; the
#: whole table, 16 processes, takes about half an hour).
QUICK_GROUPS = ("train-cifar",)


def register(subparsers):
    p = subparsers.add_parser(
        "benchmark",
        help="speed ratios in the user's call order (one process per group)",
        description=(
            "Run the benchmark table: train (whole training steps), stem "
            "(stem-only fwd+bwd), forward (ResNet-50 inference), order "
            "(op path after fit first vs eager first). Each group runs in a "
            "fresh process that starts every model with train_on_batch; "
            "ratios come from interleaved rounds against a baseline of the "
            "same process. `keras-cmod benchmark report` renders the "
            "Performance tables from the JSON."
        ),
    )
    p.add_argument("which", nargs="*", metavar="SECTION",
                   help="train, stem, forward, order (default: all), or "
                        "'report' alone to render a result file")
    p.add_argument("--backend", nargs="+", default=None,
                   help="machine modes: tensorflow (the kernels this "
                        "machine picks), tensorflow-own (TensorFlow's own "
                        "kernels, as on CPUs without AVX-512), "
                        "tensorflow-onednn, jax (default: tensorflow jax; "
                        "with --quick, the current Keras backend)")
    p.add_argument("--groups", nargs="+", default=None, metavar="PATTERN",
                   help="only the groups whose id matches (glob), e.g. "
                        "'train-*' or stem-resnet")
    p.add_argument("--quick", action="store_true",
                   help="a check that it runs, in about a minute: small "
                        "sizes, 2 rounds, the group(s) "
                        f"{', '.join(QUICK_GROUPS)} on the current "
                        "backend unless sections, --groups or --backend "
                        "are given (ratios not meaningful)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds (default 5; quick 2)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps after the first (default 2)")
    p.add_argument("--size", type=int, default=None,
                   help="input size of the 224-px units (default 224)")
    p.add_argument("--batch-scale", type=float, default=None,
                   help="multiply every batch size (e.g. 0.5)")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds one group's process may run (default 1800)")
    p.add_argument("--output", default=DEFAULT_OUTPUT,
                   help=f"result JSON (default {DEFAULT_OUTPUT}); with "
                        "'report': the file to read")
    p.add_argument("--merge", action="store_true",
                   help="add to the groups already in --output instead of "
                        "starting a new file")
    p.add_argument("--note", default=None,
                   help="text recorded with the run (e.g. 'machine shared')")
    p.add_argument("--readme", default=None,
                   help="also write the tables into this README, between "
                        "its benchmark markers")
    p.set_defaults(func=run)


def run(args):
    from keras_cmod.benchmarks import SECTIONS, report

    which = list(args.which)
    if "report" in which:
        if which != ["report"]:
            raise ValueError(
                f"'report' renders a result file and takes no sections. "
                f"Received: {which}")
        result = report.load(args.output)
        markdown = report.render(result)
        if args.readme:
            report.update_readme(args.readme, markdown)
            print(f"wrote the tables into {args.readme}")
        else:
            sys.stdout.write(markdown)
        return 0
    bad = [w for w in which if w not in SECTIONS]
    if bad:
        raise ValueError(f"Unknown benchmark section(s) {bad}; choose from "
                         f"{list(SECTIONS)} or 'report'.")
    if args.timeout <= 0:
        raise ValueError(f"--timeout must be > 0. Received: {args.timeout}")
    if args.readme and not os.path.isfile(args.readme):
        raise FileNotFoundError(f"No README at {args.readme!r}.")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"--output {args.output!r}: {out_dir!r} is not a "
                         "folder.")
    from keras_cmod.benchmarks import common, suite

    previous = report.load(args.output) if args.merge and os.path.exists(
        args.output) else None
    backends = args.backend or ["tensorflow", "jax"]
    patterns = args.groups
    if args.quick:
        if not args.backend:
            import keras

            backends = [keras.config.backend()]
        if not which and not patterns:
            patterns = list(QUICK_GROUPS)
    command = "keras-cmod benchmark " + shlex.join(
        sys.argv[2:] if sys.argv[1:2] == ["benchmark"] else [])
    result = suite.run_suite(
        backends=backends, sections=which or None, patterns=patterns,
        quick=args.quick, repeats=args.repeats, warmup=args.warmup,
        timeout=args.timeout, command=command.strip(), note=args.note,
        previous=previous, batch_scale=args.batch_scale, size=args.size,
        on_group=lambda partial: common.write_json(partial, args.output))
    common.write_json(result, args.output)
    print(f"wrote {args.output}")
    markdown = report.render(result)
    sys.stdout.write(markdown)
    if args.readme:
        report.update_readme(args.readme, markdown)
        print(f"wrote the tables into {args.readme}")
    failed = [f"{b}/{g}" for b, gs in result["results"].items()
              for g, r in gs.items() if "error" in r]
    if failed:
        print(f"error: group(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0
