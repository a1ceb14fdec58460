"""THE table of registered architectures and weight tags.

AlexNet and ResNet-18/34/50/101, in every variant of the paper:

| paper name | AlexNet | ResNet-D |
|---|---|---|
| CNN | `alexnet` | `resnetD` |
| WCNN (twin, RMax) | `alexnet_twin` | `resnetD_twin` |
| CWCNN (twin, CMod) | `alexnet_cmod` | `resnetD_cmod` |
| BlurCNN (Zhang) | `alexnet_blurpool` | `resnetD_blurpool` |
| BlurWCNN | `alexnet_blurpool_twin` | `resnetD_blurpool_twin` |
| CBlurWCNN | `alexnet_blurpool_cmod` | `resnetD_blurpool_cmod` |
| ABlurCNN (Zou) | - | `resnetD_ablurpool` |
| ABlurWCNN | - | `resnetD_ablurpool_twin` |
| CABlurWCNN | - | `resnetD_ablurpool_cmod` |

Tags: `in1k` (ImageNet-1k, 224x224, every name) and `cifar10` (the same
ImageNet-style nets with 10 classes on 32x32 inputs, ResNet-18/34 as in the
paper). No weights are published yet: `hf_hub_id` and `revision` stay
`None` until a release records them (scripts/release.py).
"""

from keras_cmod.zoo.registry import PretrainedCfg, register

PAPER_SUFFIX = {
    ("standard", "none"): "CNN",
    ("twin", "none"): "WCNN",
    ("cmod", "none"): "CWCNN",
    ("standard", "blurpool"): "BlurCNN",
    ("twin", "blurpool"): "BlurWCNN",
    ("cmod", "blurpool"): "CBlurWCNN",
    ("standard", "adaptive_blurpool"): "ABlurCNN",
    ("twin", "adaptive_blurpool"): "ABlurWCNN",
    ("cmod", "adaptive_blurpool"): "CABlurWCNN",
}
_AA_NAME = {"none": "", "blurpool": "_blurpool",
            "adaptive_blurpool": "_ablurpool"}
_STEM_NAME = {"standard": "", "twin": "_twin", "cmod": "_cmod"}

CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog",
                  "frog", "horse", "ship", "truck")


def _description(family, stem, antialias):
    kind = PAPER_SUFFIX[(stem, antialias)]
    parts = {
        "standard": "standard first layer (real convolution + max pooling)",
        "twin": "mathematical twin: Gabor channels from a fixed DT-CWPT with "
                "real convolution + max pooling (RMax)",
        "cmod": "mathematical twin with complex convolution + modulus (CMod) "
                "on the Gabor channels",
    }
    aa = {"none": "", "blurpool": "; Zhang's blur pooling (BlurPool)",
          "adaptive_blurpool": "; Zou's adaptive blur pooling"}
    return f"{family} {kind}: {parts[stem]}{aa[antialias]}."


def _register_all():
    families = [("alexnet", None)] + [("resnet", d) for d in (18, 34, 50,
                                                              101)]
    for family, depth in families:
        antialiases = ("none", "blurpool") if family == "alexnet" else (
            "none", "blurpool", "adaptive_blurpool")
        for antialias in antialiases:
            for stem in ("standard", "twin", "cmod"):
                base = family if depth is None else f"resnet{depth}"
                arch = base + _AA_NAME[antialias] + _STEM_NAME[stem]
                kwargs = {"stem": stem, "antialias": antialias}
                if depth is not None:
                    kwargs["depth"] = depth
                label = family if depth is None else f"ResNet-{depth}"
                desc = _description(label, stem, antialias)
                register(PretrainedCfg(
                    architecture=arch, tag="in1k", family=family,
                    model_kwargs=kwargs, description=desc,
                ))
                if depth in (18, 34):
                    register(PretrainedCfg(
                        architecture=arch, tag="cifar10", family=family,
                        model_kwargs=kwargs, input_size=(32, 32, 3),
                        crop_pct=32 / 36, num_classes=10,
                        dataset="cifar10", label_names=CIFAR10_LABELS,
                        description=desc + " CIFAR-10 (32x32, unmodified "
                        "ImageNet architecture, as in the paper).",
                    ))


_register_all()
