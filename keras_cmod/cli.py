"""The `keras-cmod` command line.

Each sub-command lives in the module that owns the feature; this file only
collects them. A module listed in `_COMMAND_MODULES` exposes
`register(subparsers)`, which adds its sub-parser(s) and sets `func` to a
callable taking the parsed `argparse.Namespace` and returning an exit code.
Modules are imported only when the parser is built, and each keeps its heavy
imports (tensorflow, huggingface_hub) inside the command body.
"""

import argparse
import importlib
import sys

from keras_cmod.version import __version__

_COMMAND_MODULES = [
    "keras_cmod.zoo.cli",
    "keras_cmod.hub.cli",
    "keras_cmod.demo",
    "keras_cmod.evaluation.cli",
    "keras_cmod.benchmarks.cli",
    "keras_cmod.convert.cli",
    "keras_cmod.training.cli",
]


class CommandError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-cmod",
        description=(
            "Shift-invariant twin CNNs (CMod first layers) for Keras 3: "
            "models, training, evaluation and Hub weights."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"keras-cmod {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (CommandError, ValueError, FileNotFoundError) as exc:
        print(f"keras-cmod {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
