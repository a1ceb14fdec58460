"""Same outputs as PyTorch models (skipped when torch is not installed).

The PyTorch side is `torch_reference.py`: small re-implementations that
follow the paper and the reference code (twin stems, BN0, packet mixing,
crops, Zhang / Zou bodies) with the state-dict names of torchvision / the
reference code.
Where torchvision is installed, its resnet18 and alexnet are compared too.
Tolerance: max |diff| <= 1e-4 * max(1, max |ref|).
"""

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch_reference as tr  # noqa: E402
from convert_helpers import build, close  # noqa: E402

from keras_cmod.convert import load_torch_state_dict  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def _torch_model(name, seed=0, **kwargs):
    kwargs.setdefault("num_classes", 5)
    family = tr.AlexNet if name.startswith("alexnet") else tr.ResNet
    return tr.randomize(family(**kwargs), seed=seed)


def _compare(net, model, seed=0):
    """(stem |diff|, logits |diff|) on the same random NCHW/NHWC batch."""
    h, w = model.input_shape[1:3]
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    x = x.astype("float32")
    with torch.no_grad():
        ref_stem = net.stem(torch.from_numpy(x)).numpy()
        ref = net(torch.from_numpy(x)).numpy()
    xk = x.transpose(0, 2, 3, 1)
    stem = keras.Model(model.inputs, model.get_layer("stem").output)
    d_stem = close(stem.predict(xk, verbose=0),
                   ref_stem.transpose(0, 2, 3, 1))
    d_logits = close(model.predict(xk, verbose=0), ref)
    return d_stem, d_logits


CASES = [
    ("resnet18", {}),
    ("resnet50_blurpool", {"depth": 50, "antialias": "blurpool"}),
    ("resnet18_twin", {"stem": "twin"}),
    ("resnet18_cmod", {"stem": "cmod"}),
    ("resnet18_blurpool_cmod", {"stem": "cmod", "antialias": "blurpool"}),
    # Zou: PASA with the reference's joint softmax over all G*9 channels.
    ("resnet18_ablurpool_twin", {"stem": "twin",
                                 "antialias": "adaptive_blurpool",
                                 "joint_softmax": True}),
    ("alexnet", {}),
    ("alexnet_twin", {"stem": "twin"}),
    ("alexnet_cmod", {"stem": "cmod"}),
    ("alexnet_blurpool_cmod", {"stem": "cmod", "antialias": "blurpool"}),
]
#: Zhang's reflect padding needs maps of at least 2x2 before each blur.
SIZE = {"alexnet_blurpool_cmod": 96}


@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] for c in CASES])
def test_same_outputs_as_torch_reference(name, kwargs):
    net = _torch_model(name, **kwargs)
    model = build(name, size=SIZE.get(name))
    report = load_torch_state_dict(model, net.state_dict())
    assert not report.missing and not report.unexpected
    _compare(net, model)


@pytest.mark.parametrize("name,kwargs,size", [
    ("resnet18_cmod", {"stem": "cmod"}, (64, 96)),  # H != W
    ("resnet18_cmod", {"stem": "cmod"}, (32, 32)),  # CIFAR: 8x8 stem
    ("alexnet_blurpool_cmod", {"stem": "cmod", "antialias": "blurpool"},
     (112, 96)),
])
def test_twin_cmod_other_input_sizes(name, kwargs, size):
    net = _torch_model(name, seed=3, **kwargs)
    model = build(name, size=size)
    load_torch_state_dict(model, net.state_dict())
    _compare(net, model, seed=3)


def test_from_a_pth_file(tmp_path):
    net = _torch_model("resnet18_blurpool_twin", stem="twin",
                       antialias="blurpool")
    torch.save({"epoch": 90, "state_dict": {
        f"module.{k}": v for k, v in net.state_dict().items()}},
        tmp_path / "ckpt.pth.tar")
    model = build("resnet18_blurpool_twin")
    report = load_torch_state_dict(model, tmp_path / "ckpt.pth.tar")
    assert "maxpool.3.filt" in report.checked
    _compare(net, model)


def test_zou_reference_joint_softmax():
    net = _torch_model("resnet18_ablurpool_cmod", stem="cmod",
                       antialias="adaptive_blurpool", joint_softmax=True)
    model = build("resnet18_ablurpool_cmod")
    load_torch_state_dict(model, net.state_dict())
    _compare(net, model)


@pytest.mark.parametrize("arch", ["resnet18", "alexnet"])
def test_same_outputs_as_torchvision(arch):
    models = pytest.importorskip("torchvision.models")
    net = tr.randomize(getattr(models, arch)(num_classes=5))
    model = build(arch)
    report = load_torch_state_dict(model, net.state_dict())
    assert not report.missing and not report.unexpected
    h, w = model.input_shape[1:3]
    x = np.random.default_rng(0).standard_normal((2, 3, h, w))
    x = x.astype("float32")
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    close(model.predict(x.transpose(0, 2, 3, 1), verbose=0), ref)


FULL_SIZE = [
    ("resnet34_cmod", {"depth": 34, "stem": "cmod"}),
    ("resnet34_blurpool_cmod", {"depth": 34, "stem": "cmod",
                                "antialias": "blurpool"}),
    ("resnet34_ablurpool_cmod", {"depth": 34, "stem": "cmod",
                                 "antialias": "adaptive_blurpool",
                                 "joint_softmax": True}),
    ("resnet101_twin", {"depth": 101, "stem": "twin"}),
    ("alexnet_cmod", {"stem": "cmod"}),
    ("alexnet_blurpool_twin", {"stem": "twin", "antialias": "blurpool"}),
]


@pytest.mark.slow
@pytest.mark.large
@pytest.mark.parametrize("name,kwargs", FULL_SIZE,
                         ids=[c[0] for c in FULL_SIZE])
def test_full_size_1000_classes(name, kwargs):
    net = _torch_model(name, num_classes=1000, **kwargs)
    model = build(name, size=224, num_classes=1000)
    load_torch_state_dict(model, net.state_dict())
    _compare(net, model)
