"""The `keras-cmod` command line.

Each sub-command lives in the module that owns the feature; this file only
collects them. A module listed in `_COMMAND_MODULES` exposes
`register(subparsers)`, which adds its sub-parser(s) and sets `func` to a
callable taking the parsed `argparse.Namespace` and returning an exit code.

Start-up stays light: `keras-cmod --help` and `--version` import neither
TensorFlow nor Keras, and `keras-cmod CMD ...` imports only the module of
CMD (the other commands appear in the help from the `COMMANDS` table).
The sub-command modules keep their heavy imports inside the command bodies.

Unless `TF_CPP_MIN_LOG_LEVEL` is set, TensorFlow's C++ start-up log
(oneDNN, CUDA stubs, CPU features, `failed call to cuInit` on a machine
without a GPU) is hidden; set `TF_CPP_MIN_LOG_LEVEL=0` to see it.

Expected failures end as one line `keras-cmod CMD: error: ...` on stderr
and exit status 2, without a traceback:

* `CommandError` (raised by the command modules), `ValueError` (this
  includes `json.JSONDecodeError` and `UnicodeDecodeError`), `TypeError`;
* `OSError` and its subclasses (`FileNotFoundError`, `PermissionError`,
  `IsADirectoryError`, `NotADirectoryError`, h5py's "unable to open
  file"), named with their file;
* `zipfile.BadZipFile`, `EOFError` (truncated archives), h5py's own
  exceptions;
* `KeyError` carrying a sentence (a bare `KeyError('name')` is a bug).

Anything else is a bug and keeps its full traceback, with a note saying
so: `AttributeError`, `RuntimeError`, `IndexError`, and in particular
TensorFlow's `tf.errors.OpError` family and JAX's `XlaRuntimeError` raised
inside a model call. A user's bad input is checked, and named in the
library's own words, before any op runs (an image that cannot be decoded
is named by the data code as a `ValueError`); an op that fails later is
ours to fix, and squashing its traceback into one line would make it look
like a mistake in the command line. `KeyboardInterrupt` exits with status
130. `handle_exception` is that rule; every entry point uses it.
"""

import argparse
import importlib
import os
import re
import sys
import tempfile

from keras_cmod import _import_hooks
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

#: command -> (module that registers it, the help line of `--help`).
COMMANDS = {
    "list": ("keras_cmod.zoo.cli", "list registered models"),
    "push": ("keras_cmod.hub.cli",
             "upload a saved model directory to a Hugging Face Hub repo"),
    "pull": ("keras_cmod.hub.cli",
             "download a model's files into the Hugging Face cache"),
    "info": ("keras_cmod.hub.cli",
             "describe a model: config, weights source/revision, cache, "
             "metrics"),
    "demo": ("keras_cmod.demo",
             "RMax vs CMod first layers on real photos (offline)"),
    "evaluate": ("keras_cmod.evaluation.cli",
                 "accuracy and shift invariance of a model (the paper's "
                 "protocols)"),
    "benchmark": ("keras_cmod.benchmarks.cli",
                  "speed ratios in the user's call order (one process per "
                  "group)"),
    "convert": ("keras_cmod.convert.cli",
                "import a PyTorch checkpoint (torchvision or the paper's "
                "code)"),
    "train": ("keras_cmod.training.cli",
              "train or fine-tune a zoo model (resumable, distributed)"),
}


class CommandError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def _new_parser():
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
    return parser, subparsers


def build_parser(command=None):
    """The `keras-cmod` parser.

    Args:
        command: `None` registers every sub-command (imports every command
            module); a name from `COMMANDS` imports only the module of that
            command and lists the others by their help line (what `main`
            does); `""` imports no command module at all.
    """
    parser, subparsers = _new_parser()
    if command is None:
        for module_name in _COMMAND_MODULES:
            importlib.import_module(module_name).register(subparsers)
        return parser
    module = COMMANDS.get(command, (None,))[0]
    if module is not None:
        importlib.import_module(module).register(subparsers)
    for name, (owner, help_text) in COMMANDS.items():
        if owner != module:
            subparsers.add_parser(name, help=help_text)
    return parser


def _command_of(argv):
    """The sub-command named in `argv` (the first non-option), or ''."""
    for arg in argv:
        if arg == "--":
            return ""
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else ""
    return ""


# -- TensorFlow's start-up log ---------------------------------------------

# Lines TensorFlow's C++ code writes to file descriptor 2 while it loads,
# before absl logging is initialised (so TF_CPP_MIN_LOG_LEVEL cannot hide
# them): the absl pre-init banner, absl-formatted lines
# (`I0000 00:00:1700000000.000000    123 port.cc:153] ...`) and the
# continuation line of cpu_feature_guard's message.
_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r" are written to STDERR"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.\-]+:\d+\] .*"
    r"|To enable the following instructions: .*"
    r"rebuild TensorFlow with the appropriate compiler flags\.)$"
)


def _is_startup_noise(line):
    return bool(_STARTUP_NOISE.match(line))


def _quiet(run):
    """Runs `run` (TensorFlow's module code) with fd 2 captured.

    What TensorFlow prints while it loads goes to a temporary file; the
    known start-up lines are dropped and anything else is written back to
    stderr, so real warnings and import errors stay visible.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        saved = None
    if saved is None:  # no usable stderr: nothing to quieten
        return run()
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            run()
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):  # pragma: no cover
                pass
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines()
                    if not _is_startup_noise(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def _quiet_tensorflow():
    """Hides TensorFlow's start-up log unless the user chose a log level.

    Returns a function that undoes what was set (the environment variable
    and the import hook), for in-process callers of `main`.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return lambda: None
    # Level 3 also hides the E-level `failed call to cuInit` written when
    # the first op runs on a machine without a GPU.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    finder = _import_hooks.on_first_import("tensorflow", _quiet)

    def undo():
        _import_hooks.remove(finder)
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3":
            del os.environ["TF_CPP_MIN_LOG_LEVEL"]

    return undo


# -- expected failures -----------------------------------------------------

_MAX_MESSAGE = 2000


def _one_line(text):
    text = " ".join(str(text).split())
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE - 3] + "..."
    return text


def _class_names(exc):
    return [(c.__module__ or "", c.__name__) for c in type(exc).__mro__]


def _is_tf_op_error(exc):
    return any(module.startswith("tensorflow") and name == "OpError"
               for module, name in _class_names(exc))


#: The note a bug's traceback ends with.
BUG_NOTE = (
    "keras-cmod {command}: this is an unexpected error, not a problem with "
    "the command line: it is a bug in keras-cmod (or in a library below "
    "it). Please report it with this traceback, the command and "
    "`keras-cmod --version`."
)


def handle_exception(exc, command):
    """The one rule that turns a command's exception into an exit status.

    An expected failure (see `error_message`) is printed as one line
    `keras-cmod COMMAND: error: ...` on stderr and gives status 2. Anything
    else is raised again with a note (`BUG_NOTE`) appended to its
    traceback, so that Python prints the whole traceback and exits with
    status 1.
    """
    message = error_message(exc)
    if message is None:
        note = BUG_NOTE.format(command=command)
        if note not in getattr(exc, "__notes__", ()):
            exc.add_note(note)
        raise exc
    print(f"keras-cmod {command}: error: {message}", file=sys.stderr)
    return 2


def _is_h5py_error(exc):
    return any(module.startswith("h5py") for module, _ in _class_names(exc))


def _os_error_message(exc):
    text = str(exc)
    filename = getattr(exc, "filename", None)
    if exc.strerror and filename is not None:
        text = f"{exc.strerror}: {os.fspath(filename)!r}"
        filename2 = getattr(exc, "filename2", None)
        if filename2 is not None:
            text += f" -> {os.fspath(filename2)!r}"
    elif filename is not None and os.fspath(filename) not in text:
        text = f"{text} ({os.fspath(filename)!r})"
    return text or type(exc).__name__


def error_message(exc):
    """The one-line message of an expected failure, or `None` for a bug.

    See the module docstring for the list of expected failures; a
    TensorFlow `OpError` is not one of them, even when it subclasses
    nothing else (it is checked here by name, without importing
    TensorFlow, so that the rule does not depend on the import order).
    """
    if _is_tf_op_error(exc):
        return None
    import zipfile

    if isinstance(exc, KeyError):
        arg = exc.args[0] if len(exc.args) == 1 else None
        if isinstance(arg, str) and " " in arg.strip():
            return _one_line(arg)
        return None
    if isinstance(exc, OSError):
        return _one_line(_os_error_message(exc))
    if isinstance(exc, (CommandError, ValueError, TypeError,
                        zipfile.BadZipFile, EOFError)):
        text = str(exc)
        if isinstance(exc, (zipfile.BadZipFile, EOFError)) or not text:
            text = f"{type(exc).__name__}: {text}" if text else (
                type(exc).__name__)
        return _one_line(text)
    if _is_h5py_error(exc):
        return _one_line(f"{type(exc).__name__}: {exc}")
    return None


def check_weights_file(path, flag="--weights"):
    """Opens a weights file the cheap way, to fail before any work.

    `.h5` files are opened with h5py, `.keras` files are read as zip
    archives (every member's CRC); folders and other files are left to
    their loader. Raises `ValueError` naming `path` (and `flag`) when the
    file is truncated or not of its kind, `FileNotFoundError` when it is
    missing.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{flag} {path!r} does not exist (expected a .weights.h5, a "
            ".keras file or a model folder)."
        )
    if os.path.isdir(path):
        return path
    try:
        if path.endswith(".h5"):
            import h5py

            with h5py.File(path, "r"):
                pass
        elif path.endswith(".keras"):
            import zipfile

            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"member {bad!r} is corrupt")
    except Exception as exc:
        message = error_message(exc)
        if message is None:
            raise
        raise ValueError(
            f"{flag} {path!r} cannot be read: {message}"
        ) from None
    return path


def main(argv=None):
    """Runs `keras-cmod ARGV`; returns the exit status.

    `--help`, `--version` and argument errors exit through `SystemExit`
    (argparse), the others return 0 on success, 2 on an expected failure
    (one `keras-cmod CMD: error: ...` line on stderr), 130 on Ctrl-C.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    # Before the command's module is imported: some import Keras.
    undo = _quiet_tensorflow() if command else (lambda: None)
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return handle_exception(exc, command or "")
    finally:
        undo()


if __name__ == "__main__":  # pragma: no cover
    # `python -m keras_cmod.cli`: run the imported module's `main`, so that
    # the `CommandError` the commands raise is the one caught there.
    from keras_cmod.cli import main as _main

    sys.exit(_main())
