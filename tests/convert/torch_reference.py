"""Small PyTorch models with the reference implementations' state-dict names.

Written for the tests from the paper's and the reference code's descriptions
of the operators (not copied from torchvision, antialiased-cnns, Zou's code
or wcnn): the module tree reproduces their parameter names, the forward
passes follow the published formulas. Only imported when `torch` is installed.

* `ResNet(depth, stem, antialias)`: torchvision ResNet names; Zhang / Zou
  bodies (`conv2.0` blur then `conv2.1` conv, `downsample.{0,1,2}`); twin
  stems `conv1.freeconv`, `conv1.wptblock.*`, `maxpool[.low/.high].*`.
* `AlexNet(stem, antialias)`: torchvision / Zhang `features` indices, twin
  `features.0` and `features.1` pooling block, `classifier.{1,4,6}`.

The DT-CWPT of the twins is a strided cross-correlation with the
equivalent complex kernels: for J=2 the kernels stored in
`tests/data/dtcwpt_j2_reference.npz` (computed by the reference code), for
J=3 those of `keras_cmod.wavelets.dtcwpt_kernels`.
"""

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from keras_cmod.wavelets import (
    PACKET_SELECTIONS,
    binomial_filter_2d,
    dtcwpt_kernels,
    qshift_filters,
)

DATA = os.path.join(os.path.dirname(__file__), "..", "data",
                    "dtcwpt_j2_reference.npz")


def center_crop(x, h, w):
    """torchvision's centre crop: offset round((H - h) / 2), half to even."""
    top = int(round((x.shape[-2] - h) / 2))
    left = int(round((x.shape[-1] - w) / 2))
    return x[..., top:top + h, left:left + w]


def crop_concat(maps):
    h = min(m.shape[-2] for m in maps)
    w = min(m.shape[-1] for m in maps)
    return torch.cat([center_crop(m, h, w) for m in maps], dim=1)


# -- anti-aliasing -----------------------------------------------------------


class BlurPool(nn.Module):
    """Zhang: reflect pad, depthwise binomial filter `filt`, stride 2."""

    def __init__(self, channels, size=3, stride=2):
        super().__init__()
        k = torch.tensor(binomial_filter_2d(size), dtype=torch.float32)
        self.register_buffer("filt", k[None, None].repeat(channels, 1, 1, 1))
        self.size, self.stride = size, stride

    def forward(self, x):
        p0, p1 = (self.size - 1) // 2, self.size // 2
        x = F.pad(x, (p0, p1, p0, p1), mode="reflect")
        return F.conv2d(x, self.filt, stride=self.stride,
                        groups=x.shape[1])


class PASA(nn.Module):
    """Zou's adaptive blur pooling (PASA), from its paper's description.

    sigma = softmax(BN(conv3x3(x_pad))), G*9 channels (group-major,
    tap = 3*di + dj); `joint=True` takes the softmax over all G*9 channels
    (as Zou's released code), `joint=False` over the 9 taps of each group
    (as Zou's paper).
    """

    def __init__(self, channels, groups, joint=True):
        super().__init__()
        self.conv = nn.Conv2d(channels, groups * 9, 3, bias=False)
        self.bn = nn.BatchNorm2d(groups * 9)
        self.groups, self.joint = groups, joint

    def forward(self, x):
        n, c, h, w = x.shape
        g = self.groups
        xp = F.pad(x, (1, 1, 1, 1), mode="reflect")
        logits = self.bn(self.conv(xp))  # (n, g*9, h, w)
        if self.joint:
            sigma = torch.softmax(logits, dim=1).view(n, g, 9, h, w)
        else:
            sigma = torch.softmax(logits.view(n, g, 9, h, w), dim=2)
        out = torch.zeros(n, g, c // g, h, w)
        for di in range(3):
            for dj in range(3):
                patch = xp[:, :, di:di + h, dj:dj + w].reshape(
                    n, g, c // g, h, w)
                out = out + patch * sigma[:, :, 3 * di + dj][:, :, None]
        return out.reshape(n, c, h, w)[:, :, ::2, ::2]


def antialias_layer(antialias, channels, groups=8, joint=True):
    if antialias == "blurpool":
        return BlurPool(channels)
    return PASA(channels, groups, joint=joint)


# -- twin first layer (wcnn names) -----------------------------------------


class Dwt(nn.Module):
    """Holds the frozen QMFs as the reference does; filtering uses the
    equivalent complex kernels of the kept packets."""

    def __init__(self, depth):
        super().__init__()
        f = qshift_filters("qshift_a")
        self._hfilters = nn.Parameter(torch.tensor(
            np.stack([f["ha"], f["hb"]]), dtype=torch.float32),
            requires_grad=False)
        self._gfilters = nn.Parameter(torch.tensor(
            np.stack([f["ga"], f["gb"]]), dtype=torch.float32),
            requires_grad=False)
        if depth == 2:
            with np.load(DATA) as d:
                kernels = d["kernels_re"] + 1j * d["kernels_im"]
        else:
            kernels = dtcwpt_kernels(depth)
        packets = PACKET_SELECTIONS["resnet" if depth == 2 else
                                    "alexnet"].packets
        kept = kernels[list(packets)]  # (K, S, S) complex
        # Output channel 2k = Re D_k, 2k+1 = Im D_k.
        weight = np.stack([kept.real, kept.imag], axis=1).reshape(
            -1, 1, *kept.shape[1:])
        self.register_buffer("kernels", torch.tensor(
            weight, dtype=torch.float64), persistent=False)
        self.padding = {2: 14, 3: 34}[depth]

    def forward(self, lum, stride):
        x = F.pad(lum.double(), (self.padding,) * 4)
        return F.conv2d(x, self.kernels, stride=stride).float()


class WptBlock(nn.Module):
    def __init__(self, family, stride, bias, real_part_only):
        super().__init__()
        sel = PACKET_SELECTIONS[family]
        self.colormix = nn.Conv2d(3, 1, 1, bias=False)
        self.wpt = Dwt(sel.depth)
        self.featmapmix = nn.ModuleList(
            nn.Conv3d(k, l_out, 1, groups=g, bias=bias)
            for k, l_out, g in zip(sel.split_in, sel.split_out, sel.groups)
        )
        self.split_in = list(sel.split_in)
        self.stride, self.real_part_only = stride, real_part_only

    def forward(self, x):
        d = self.wpt(self.colormix(x), self.stride)  # (n, 2K, h, w)
        n, _, h, w = d.shape
        outs = []
        for mix, x0 in zip(self.featmapmix,
                           torch.split(d, [2 * k for k in self.split_in], 1)):
            z = mix(x0.reshape(n, -1, 2, h, w))  # (n, L_q, 2, h, w)
            outs.append(z.reshape(n, -1, h, w))
        z = torch.cat(outs, dim=1)  # [Re Z0, Im Z0, Re Z1, ...]
        return z[:, 0::2] if self.real_part_only else z


class HybridConv2dWpt(nn.Module):
    def __init__(self, family, stride, cmod):
        super().__init__()
        if family == "resnet":
            self.freeconv = nn.Conv2d(3, 40, 7, stride, 3, bias=False)
        else:
            self.freeconv = nn.Conv2d(3, 32, 11, stride, 2)
        self.wptblock = WptBlock(
            family, stride, bias=family == "alexnet" and not cmod,
            real_part_only=not cmod)

    def forward(self, x):
        return crop_concat([self.freeconv(x), self.wptblock(x)])


class Downsample2d(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride]


class Modulus(nn.Module):
    def forward(self, x):
        return torch.sqrt(x[:, 0::2] ** 2 + x[:, 1::2] ** 2)


class BN0(nn.BatchNorm2d):
    """y = x / sqrt(running_var / 2 + eps) * |gamma| + beta (eval)."""

    def forward(self, x):
        v = self.running_var[None, :, None, None]
        return (x / torch.sqrt(v / 2 + self.eps)
                * torch.abs(self.weight)[None, :, None, None]
                + self.bias[None, :, None, None])


class Bias(nn.Conv2d):
    """Depthwise 1x1 conv with a frozen unit weight (AlexNet CMod)."""

    def __init__(self, channels):
        super().__init__(channels, channels, 1, groups=channels)
        with torch.no_grad():
            self.weight.fill_(1.0)
        self.weight.requires_grad = False


class Pooling(nn.ModuleDict):
    """Splits [free | Gabor pairs], runs `low` and `high`, crops, concats."""

    def __init__(self, n_low, low, high):
        super().__init__({"low": low, "high": high})
        self.n_low = n_low

    def forward(self, x):
        a = self["low"](x[:, :self.n_low])
        b = self["high"](x[:, self.n_low:])
        return crop_concat([a, b])


def resnet_pool(channels, antialias, groups_of_8=True, joint=True):
    if antialias == "none":
        return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(),
                             nn.MaxPool2d(3, 2, 1))
    return nn.Sequential(
        nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(3, 1, 1),
        antialias_layer(antialias, channels, channels // 8, joint=joint))


def alexnet_pool(channels, antialias):
    if antialias == "none":
        return nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, 2))
    return nn.Sequential(nn.ReLU(), BlurPool(channels), nn.MaxPool2d(3, 1),
                         BlurPool(channels))


# -- ResNet ------------------------------------------------------------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, antialias, joint):
        super().__init__()
        blurred = antialias != "none" and stride > 1
        self.conv1 = nn.Conv2d(cin, planes, 3, 1 if blurred else stride, 1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.conv2 = nn.Sequential(
            antialias_layer(antialias, planes, joint=joint), conv2
        ) if blurred else conv2
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = shortcut(cin, planes, stride, antialias, joint)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return F.relu(y + s)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, antialias, joint):
        super().__init__()
        blurred = antialias != "none" and stride > 1
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1 if blurred else stride,
                               1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.conv3 = nn.Sequential(
            antialias_layer(antialias, planes, joint=joint), conv3
        ) if blurred else conv3
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.downsample = shortcut(cin, 4 * planes, stride, antialias, joint)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        s = x if self.downsample is None else self.downsample(x)
        return F.relu(y + s)


def shortcut(cin, cout, stride, antialias, joint):
    if stride == 1 and cin == cout:
        return None
    layers = []
    if antialias != "none" and stride > 1:
        layers.append(antialias_layer(antialias, cin, joint=joint))
        stride = 1
    layers += [nn.Conv2d(cin, cout, 1, stride, bias=False),
               nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers)


DEPTHS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
          50: (Bottleneck, [3, 4, 6, 3]), 101: (Bottleneck, [3, 4, 23, 3])}


class ResNet(nn.Module):
    def __init__(self, depth=18, stem="standard", antialias="none",
                 num_classes=10, joint_softmax=True):
        super().__init__()
        block, stages = DEPTHS[depth]
        j = joint_softmax
        if stem == "standard":
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            if antialias == "none":
                self.maxpool = nn.MaxPool2d(3, 2, 1)
            else:  # wcnn's corrected [MaxPool(3, 1, 1), blur]
                self.maxpool = nn.Sequential(
                    nn.MaxPool2d(3, 1, 1),
                    antialias_layer(antialias, 64, 8, joint=j))
        else:
            cmod = stem == "cmod"
            self.conv1 = HybridConv2dWpt("resnet", 2, cmod)
            self.bn1 = nn.Identity()
            self.relu = nn.Identity()
            if not cmod:
                self.maxpool = resnet_pool(64, antialias, joint=j)
            else:
                high = nn.Sequential(Downsample2d(2), Modulus(), BN0(24),
                                     nn.ReLU())
                self.maxpool = Pooling(
                    40, resnet_pool(40, antialias, joint=j), high)
        cin = 64
        for i, n in enumerate(stages):
            planes = 64 * 2 ** i
            blocks = []
            for b in range(n):
                stride = 2 if (b == 0 and i > 0) else 1
                blocks.append(block(cin, planes, stride, antialias, j))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x):
        x = self.stem(x)
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -- AlexNet -----------------------------------------------------------------


class AlexNet(nn.Module):
    def __init__(self, stem="standard", antialias="none", num_classes=10):
        super().__init__()
        blur = antialias == "blurpool"

        def pool(c):
            if not blur:
                return [nn.MaxPool2d(3, 2)]
            return [nn.MaxPool2d(3, 1), BlurPool(c)]

        if stem == "standard":
            first = [nn.Conv2d(3, 64, 11, 2 if blur else 4, 2), nn.ReLU()]
            first += ([BlurPool(64)] if blur else []) + pool(64)
        else:
            cmod = stem == "cmod"
            conv = HybridConv2dWpt("alexnet", 2 if blur else 4, cmod)
            if not cmod:
                block = alexnet_pool(64, antialias)
            else:
                high = nn.Sequential(Downsample2d(4 if blur else 2),
                                     Modulus(), Bias(32), nn.ReLU())
                block = Pooling(32, alexnet_pool(32, antialias), high)
            first = [conv, block]
        rest = [nn.Conv2d(64, 192, 5, padding=2), nn.ReLU()] + pool(192) + [
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU()] + pool(256)
        self.features = nn.Sequential(*first, *rest)
        self.n_stem = len(first)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(256 * 36, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes))

    def stem(self, x):
        return self.features[:self.n_stem](x)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# -- random weights --------------------------------------------------------


def randomize(module, seed=0):
    """Random parameters and batch-norm statistics (frozen filters kept)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not p.requires_grad:
                continue
            if p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            elif name.endswith("weight"):  # BN gamma; BN0 uses |gamma|
                p.copy_(torch.rand(p.shape, generator=g) * 1.5 + 0.25)
                if "high" in name:
                    p.neg_()
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features,
                                                 generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features,
                                               generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
    module.eval()
    return module
