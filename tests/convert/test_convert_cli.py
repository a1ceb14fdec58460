"""`keras-cmod convert` and scripts/convert_wcnn_checkpoint.py."""

import argparse
import importlib.util
import os

import keras
import numpy as np
import pytest
from convert_helpers import build, images, randomize

from keras_cmod.convert import cli, to_torch_state_dict
from keras_cmod.zoo import create_model

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _parse(argv):
    parser = argparse.ArgumentParser(prog="keras-cmod")
    sub = parser.add_subparsers(dest="command")
    cli.register(sub)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A twin CMod ResNet-18 (5 classes, 64x64) as .npz, and its logits."""
    model = randomize(build("resnet18_cmod"))
    path = tmp_path_factory.mktemp("ckpt") / "rwy_mod.npz"
    np.savez(path, **to_torch_state_dict(model))
    x = images(model)
    return str(path), x, model.predict(x, verbose=0)


ARGS = ["resnet18_cmod", "--num-classes", "5", "--input-size", "64"]


def test_convert_to_weights_h5(checkpoint, tmp_path, capsys):
    path, x, ref = checkpoint
    out = tmp_path / "sub" / "model.weights.h5"
    args = _parse(["convert", path, ARGS[0], str(out), *ARGS[1:]])
    assert args.func is cli.run and args.strict
    assert args.func(args) == 0
    assert sorted(os.listdir(out.parent)) == ["model.weights.h5"]
    text = capsys.readouterr().out
    assert "keys: 111 loaded, 2 checked (frozen filters equal), 1 skipped" \
        in text
    model = create_model("resnet18_cmod", num_classes=5,
                         input_shape=(64, 64, 3))
    model.load_weights(out)
    np.testing.assert_array_equal(model.predict(x, verbose=0), ref)


def test_convert_to_keras_file(checkpoint, tmp_path):
    path, x, ref = checkpoint
    out = tmp_path / "model.keras"
    out.write_bytes(b"old")  # replaced atomically
    args = _parse(["convert", path, ARGS[0], str(out), *ARGS[1:]])
    assert args.func(args) == 0
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]
    model = keras.saving.load_model(out)
    np.testing.assert_array_equal(model.predict(x, verbose=0), ref)


def test_convert_errors_leave_no_output(checkpoint, tmp_path):
    path, _, _ = checkpoint
    with pytest.raises(ValueError, match=r"\.weights\.h5 or \.keras"):
        cli.run(_parse(["convert", path, ARGS[0], str(tmp_path / "m.h5"),
                        *ARGS[1:]]))
    # 10 classes: the classifier shapes differ.
    bad = _parse(["convert", path, "resnet18_cmod", str(tmp_path / "m.keras"),
                  "--num-classes", "10", "--input-size", "64"])
    with pytest.raises(ValueError, match="fc.weight"):
        cli.run(bad)
    # A ResNet checkpoint is not an AlexNet one.
    bad = _parse(["convert", path, "resnet18", str(tmp_path / "m.keras"),
                  *ARGS[1:]])
    with pytest.raises(ValueError, match="missing keys"):
        cli.run(bad)
    with pytest.raises(ValueError, match="positive"):
        cli.run(_parse(["convert", path, ARGS[0], str(tmp_path / "m.keras"),
                        "--num-classes", "0"]))
    assert os.listdir(tmp_path) == []


def test_convert_no_strict(checkpoint, tmp_path, capsys):
    path, x, ref = checkpoint
    sd = dict(np.load(path))
    sd["extra.weight"] = np.zeros(2, "f4")
    del sd["fc.bias"]
    np.savez(tmp_path / "ckpt.npz", **sd)
    out = tmp_path / "m.weights.h5"
    argv = ["convert", str(tmp_path / "ckpt.npz"), ARGS[0], str(out),
            *ARGS[1:]]
    with pytest.raises(ValueError, match="extra.weight"):
        cli.run(_parse(argv))
    assert cli.run(_parse(argv + ["--no-strict"])) == 0
    text = capsys.readouterr().out
    assert "unexpected (1, ignored): extra.weight" in text
    assert "missing (1, left at their initial values): fc.bias" in text


def _script():
    path = os.path.join(ROOT, "scripts", "convert_wcnn_checkpoint.py")
    spec = importlib.util.spec_from_file_location("convert_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_round_trip_check(checkpoint, tmp_path, capsys):
    path, _, _ = checkpoint
    script = _script()
    out = tmp_path / "m.weights.h5"
    assert script.main([path, *ARGS[:1], str(out), *ARGS[1:]]) == 0
    text = capsys.readouterr().out
    assert "round trip: max |diff| = 0" in text
    assert script.main([path, "alexnet", str(out)]) == 2


def test_script_output_check_with_torch(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    import torch_reference as tr

    net = tr.randomize(tr.ResNet(18, stem="cmod", num_classes=5))
    torch.save(net.state_dict(), tmp_path / "ckpt.pth")
    script = _script()
    argv = [str(tmp_path / "ckpt.pth"), *ARGS[:1],
            str(tmp_path / "m.keras"), *ARGS[1:],
            "--torch-model", "torch_reference:ResNet",
            "--torch-kwargs", '{"stem": "cmod", "num_classes": 5}']
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    assert "output check:" in text and ": ok" in text
