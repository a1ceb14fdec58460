"""Convert a PyTorch checkpoint of the paper's code (wcnn) to Keras weights.

A thin wrapper around `keras_cmod.convert` (the same functions as
`keras-cmod convert`), with two checks:

1. **Round trip** (always): the Keras weights, exported back with
   `keras_cmod.convert.to_torch_state_dict`, must equal (in float32) every
   tensor of the checkpoint that was loaded. Frozen filters were already
   compared with keras-cmod's while loading.
2. **Output equality** (`--torch-model`, needs PyTorch and the package that
   defines the model): the PyTorch model is built, loads the checkpoint,
   and its logits on random inputs (NCHW) are compared with the Keras
   model's (NHWC): max |diff| <= 1e-4 * max(1, max |ref|).
   TF32 is disabled on both sides.

Usage:

    python scripts/convert_wcnn_checkpoint.py CHECKPOINT MODEL_NAME OUT \\
        [--num-classes N] [--input-size H] [--no-strict] \\
        [--torch-model MODULE:CALLABLE [--torch-kwargs JSON]]

Examples (the paper's model names):

    # torchvision ResNet-18 (needs torchvision for the check)
    python scripts/convert_wcnn_checkpoint.py resnet18.pth resnet18 \\
        resnet18.weights.h5 --torch-model torchvision.models:resnet18

    # CWResNet-34 (wcnn "dtcwpt_resnet34", config "Ft40YEx_mod")
    python scripts/convert_wcnn_checkpoint.py RwyI_mod.pth resnet34_cmod \\
        resnet34_cmod.keras \\
        --torch-model wcnn.cnn.models.resnet:dtcwpt_resnet34 \\
        --torch-kwargs '{"config": "Ft40YEx_mod"}'

Registry names for the paper's models: `resnet34[_blurpool|_ablurpool]
[_twin|_cmod]` and `alexnet[_blurpool][_twin|_cmod]` (`_twin` = WCNN,
`_cmod` = CWCNN, `_blurpool` = Zhang, `_ablurpool` = Zou). The checkpoint
must be a plain state dict (or a dict holding one under `state_dict`,
`net` or `model`): `.pth` files are read with `torch.load(weights_only=
True)`; `.safetensors` and `.npz` need no PyTorch.

Exit status: 0 on success, 1 if a check fails, 2 on a usage / loading
error. OUT is written (atomically) before the checks run.
"""

import argparse
import importlib
import json
import sys

import numpy as np

from keras_cmod.convert import read_state_dict, to_torch_state_dict
from keras_cmod.convert.cli import (
    check_output_path,
    convert,
    format_report,
    save_atomic,
)

#: Relative tolerance of the output check (float32 round-off over a deep
#: network).
RELATIVE_TOLERANCE = 1e-4


def round_trip_check(model, state_dict, report):
    """Max |diff| between the loaded tensors and the exported weights."""
    exported = to_torch_state_dict(model)
    worst = 0.0
    for key in report.loaded:
        a = np.asarray(state_dict[key]).astype(np.float32)
        b = exported[key]
        worst = max(worst, float(np.max(np.abs(a - b), initial=0.0)))
    return worst


def build_torch_model(spec, kwargs):
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(
            f"--torch-model must be MODULE:CALLABLE. Received: {spec!r}"
        )
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**kwargs)


def output_check(model, checkpoint, spec, kwargs, strict=True, batch=2,
                 seed=0):
    """Logits of the PyTorch and Keras models on the same random input."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    except ImportError:  # another Keras backend
        pass
    net = build_torch_model(spec, kwargs)
    state = {k: torch.from_numpy(np.ascontiguousarray(v))
             for k, v in read_state_dict(checkpoint).items()}
    net.load_state_dict(state, strict=strict)
    net.eval()
    h, w = model.input_shape[1:3]
    x = np.random.default_rng(seed).standard_normal(
        (batch, 3, h, w)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    out = np.asarray(model.predict(x.transpose(0, 2, 3, 1), verbose=0))
    diff = float(np.max(np.abs(out - ref)))
    bound = RELATIVE_TOLERANCE * max(1.0, float(np.max(np.abs(ref))))
    return diff, bound


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint")
    parser.add_argument("model_name")
    parser.add_argument("out")
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--no-strict", dest="strict", action="store_false")
    parser.add_argument("--torch-model", default=None,
                        help="MODULE:CALLABLE building the PyTorch model, "
                        "for the output-equality check")
    parser.add_argument("--torch-kwargs", default="{}",
                        help="JSON keyword arguments of --torch-model")
    args = parser.parse_args(argv)
    try:
        check_output_path(args.out)
        kwargs = json.loads(args.torch_kwargs)
        state_dict = read_state_dict(args.checkpoint)
        model, report = convert(
            state_dict, args.model_name, num_classes=args.num_classes,
            input_size=args.input_size, strict=args.strict,
        )
        out = save_atomic(model, args.out)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report, args.checkpoint, model, out))
    ok = True
    worst = round_trip_check(model, state_dict, report)
    print(f"round trip: max |diff| = {worst:.3g}")
    ok &= worst == 0.0
    if args.torch_model:
        try:
            diff, bound = output_check(model, args.checkpoint,
                                       args.torch_model, kwargs,
                                       strict=args.strict)
        except ImportError as exc:
            print(f"output check skipped: {exc}", file=sys.stderr)
        else:
            passed = diff <= bound
            print(f"output check: max |logits diff| = {diff:.3g} "
                  f"(bound {bound:.3g}): {'ok' if passed else 'FAILED'}")
            ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
