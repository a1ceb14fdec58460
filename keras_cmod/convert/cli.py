"""`keras-cmod convert`: a PyTorch checkpoint -> Keras weights.

`register(subparsers)` adds the sub-command; `keras_cmod.cli` collects it.
"""

import os

from keras_cmod import _atomic

#: Output formats, by file-name ending.
OUTPUT_SUFFIXES = (".weights.h5", ".keras")


def register(subparsers):
    """Adds `convert CHECKPOINT MODEL_NAME OUT` to an argparse sub-parser."""
    parser = subparsers.add_parser(
        "convert",
        help="import a PyTorch checkpoint (torchvision or the paper's code)",
        description=(
            "Load a PyTorch state dict (.pth/.pt needs PyTorch; .safetensors "
            "and .npz do not) into the keras-cmod model MODEL_NAME (a "
            "registry name such as resnet34_cmod) and write its Keras "
            "weights. Parameter names follow torchvision for standard "
            "models, antialiased-cnns / Zou's PASA ResNet for the blurred "
            "ones, and the paper's reference code for the twins."
        ),
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="PyTorch checkpoint (.pth, .pt, .safetensors, "
                        ".npz)")
    parser.add_argument("model_name", metavar="MODEL_NAME",
                        help="registry name, e.g. resnet34_cmod")
    parser.add_argument("out", metavar="OUT",
                        help="output file: .weights.h5 (weights only) or "
                        ".keras (whole model)")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="classifier size (default: the registry's)")
    parser.add_argument("--input-size", type=int, default=None,
                        metavar="H",
                        help="square input size H (default: the registry's)")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="ignore missing and unexpected keys")
    parser.set_defaults(func=run)
    return parser


def check_output_path(out):
    """Checks OUT before any work; creates nothing.

    Raises:
        ValueError: OUT does not end in `.weights.h5` or `.keras`.
        IsADirectoryError: OUT is a folder.
        NotADirectoryError: a parent of OUT is a regular file.
        PermissionError: the nearest existing folder is not writable.
    """
    if not str(out).endswith(OUTPUT_SUFFIXES):
        raise ValueError(
            f"OUT must end in .weights.h5 or .keras. Received: {out!r}"
        )
    return _atomic.check_writable_path(out, "OUT")


def save_atomic(model, out):
    """Writes `model` to `out` through a temporary file + `os.replace`.

    `.keras` saves the whole model, `.weights.h5` its weights. The
    temporary file lives in the destination directory (same file system),
    so the final rename is atomic and a failed save leaves no partial OUT;
    the file gets the umask's permissions (`keras_cmod._atomic`).
    """
    out = check_output_path(out)
    suffix = ".keras" if out.endswith(".keras") else ".weights.h5"
    with _atomic.atomic_path(out, suffix=suffix) as tmp:
        if suffix == ".keras":
            model.save(tmp)
        else:
            model.save_weights(tmp)
    return out


def convert(checkpoint, model_name, *, num_classes=None, input_size=None,
            strict=True):
    """Builds `model_name` and loads `checkpoint` into it.

    Returns:
        `(model, report)`: the Keras model and the `ConversionReport`.
    """
    from keras_cmod.convert.state_dict import load_torch_state_dict
    from keras_cmod.zoo import create_model

    input_shape = None if input_size is None else (input_size, input_size, 3)
    model = create_model(model_name, num_classes=num_classes,
                         input_shape=input_shape)
    report = load_torch_state_dict(model, checkpoint, strict=strict)
    return model, report


def format_report(report, checkpoint, model, out=None):
    lines = [
        f"{checkpoint} -> {model.name}"
        + (f" -> {out}" if out else ""),
        f"  keys: {len(report.loaded)} loaded, {len(report.checked)} "
        f"checked (frozen filters equal), {len(report.skipped)} skipped",
    ]
    if report.missing:
        lines.append(f"  missing ({len(report.missing)}, left at their "
                     "initial values): " + ", ".join(report.missing))
    if report.unexpected:
        lines.append(f"  unexpected ({len(report.unexpected)}, ignored): "
                     + ", ".join(report.unexpected))
    return "\n".join(lines)


def _checkpoint_error(exc, checkpoint):
    """`exc` again, or, when it is a read failure that does not name
    CHECKPOINT, a `CommandError` that does."""
    from keras_cmod.cli import CommandError, error_message

    message = error_message(exc)
    if message is None or isinstance(exc, (KeyError, TypeError)):
        return exc
    if checkpoint in message or os.path.abspath(checkpoint) in message:
        return exc
    if isinstance(exc, ValueError) and not _is_read_error(exc):
        return exc  # a library message about the model or its keys
    return CommandError(f"Cannot read the checkpoint {checkpoint!r}: "
                        f"{message}")


def _is_read_error(exc):
    import json
    import zipfile

    return isinstance(exc, (OSError, zipfile.BadZipFile, EOFError,
                            json.JSONDecodeError, UnicodeDecodeError)) or any(
        (c.__module__ or "").startswith(("h5py", "safetensors", "pickle",
                                         "numpy.lib", "_pickle"))
        for c in type(exc).__mro__
    )


def run(args):
    """The `convert` command; returns the exit status."""
    check_output_path(args.out)
    if args.num_classes is not None and args.num_classes < 1:
        raise ValueError(
            f"--num-classes must be positive. Received: {args.num_classes}"
        )
    if args.input_size is not None and args.input_size < 1:
        raise ValueError(
            f"--input-size must be positive. Received: {args.input_size}"
        )
    if not os.path.isfile(args.checkpoint):
        raise FileNotFoundError(
            f"CHECKPOINT {args.checkpoint!r} is not a file (expected a "
            ".pth, .pt, .safetensors or .npz state dict)."
        )
    try:
        model, report = convert(
            args.checkpoint, args.model_name, num_classes=args.num_classes,
            input_size=args.input_size, strict=args.strict,
        )
    except ImportError as exc:  # a .pth file without PyTorch
        raise ValueError(str(exc)) from None
    except Exception as exc:
        raise _checkpoint_error(exc, args.checkpoint) from exc
    out = save_atomic(model, args.out)
    print(format_report(report, args.checkpoint, model, out))
    return 0
