"""Writes the paper's training recipes as TrainConfig JSON files.

    python scripts/make_recipes.py          # write zoo/recipes
    python scripts/make_recipes.py --check  # exit 1 if a file is stale

One recipe per registry name the paper trained, named
`<architecture>.<tag>.json`:

- ImageNet (`.in1k`): the 6 AlexNet variants (lr 0.01) and the 9
  ResNet-34 variants (lr 0.1); 90 epochs, StepLR(30, 0.1), batch 256. The
  Zou (adaptive blur pooling) models use batch 128 x gradient accumulation
  2, as the reference (`batch_accum=2`). The AlexNet twins add the
  packet-selection penalty (lambdas 0, 4.1e-3, 3.2e-4).
- CIFAR-10 (`.cifar10`): the 9 variants of ResNet-18 and ResNet-34; 300
  epochs, StepLR(100, 0.1), lr 0.1, batch 256, no accumulation.

Common: SGD momentum 0.9, coupled weight decay 1e-4 on all parameters,
float32, training on the training set minus the paper's held-out split,
validation on the held-out split every epoch.

The JSON files are written to `zoo/recipes/` (the reviewed record).
`keras_cmod/training/recipes` is a symbolic link to that folder, so the
same files ship as package data and an installed package finds them by
name; tests/training/test_training_config.py checks both views agree.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_cmod.training.config import TrainConfig  # noqa: E402

OUT_DIRS = (os.path.join(ROOT, "zoo", "recipes"),)

ALEXNET_PENALTY = [0.0, 0.0041, 0.00032]

# (stem, antialias) -> (paper name, reference run code without prefix)
VARIANTS = {
    ("standard", "none"): ("CNN", ""),
    ("twin", "none"): ("WCNN", "wy"),
    ("cmod", "none"): ("CWCNN", "wy_mod"),
    ("standard", "blurpool"): ("BlurCNN", "zh3"),
    ("twin", "blurpool"): ("BlurWCNN", "zh3wy"),
    ("cmod", "blurpool"): ("CBlurWCNN", "zh3wy_mod"),
    ("standard", "adaptive_blurpool"): ("ABlurCNN", "zo3"),
    ("twin", "adaptive_blurpool"): ("ABlurWCNN", "zo3wy"),
    ("cmod", "adaptive_blurpool"): ("CABlurWCNN", "zo3wy_mod"),
}
_AA = {"none": "", "blurpool": "_blurpool", "adaptive_blurpool": "_ablurpool"}
_STEM = {"standard": "", "twin": "_twin", "cmod": "_cmod"}


def _run_id(prefix, code, suffix):
    base, _, mod = code.partition("_")
    return f"{prefix}{base}{suffix}" + (f"_{mod}" if mod else "")


def recipes():
    """`{file stem: TrainConfig}` for every paper configuration."""
    out = {}
    for family, depth, tag in (("alexnet", None, "in1k"),
                               ("resnet", 34, "in1k"),
                               ("resnet", 18, "cifar10"),
                               ("resnet", 34, "cifar10")):
        for (stem, aa), (paper, code) in VARIANTS.items():
            if family == "alexnet" and aa == "adaptive_blurpool":
                continue  # the paper runs Zou's pooling on ResNet only
            base = "alexnet" if family == "alexnet" else f"resnet{depth}"
            arch = base + _AA[aa] + _STEM[stem]
            imagenet = tag == "in1k"
            if imagenet:
                prefix = "A" if family == "alexnet" else "R"
                run = _run_id(prefix, code, "I")
                table = "Table I"
            else:
                run = _run_id(f"R{depth}", code, "C")
                table = "Table II"
            zou = aa == "adaptive_blurpool" and imagenet
            values = dict(
                model=f"{arch}.{tag}",
                model_kwargs=(
                    {"packet_penalty": ALEXNET_PENALTY}
                    if family == "alexnet" and stem != "standard" else {}
                ),
                dataset="imagenet2012" if imagenet else "cifar10",
                train_split="train_minus_heldout",
                val_split="heldout",
                epochs=90 if imagenet else 300,
                batch_size=128 if zou else 256,
                grad_accum_steps=2 if zou else 1,
                learning_rate=0.01 if family == "alexnet" else 0.1,
                momentum=0.9,
                weight_decay=1e-4,
                lr_schedule="step",
                lr_step_epochs=30 if imagenet else 100,
                lr_gamma=0.1,
                mixed_precision=None,
                checkpoint_every_steps=2000 if imagenet else 0,
                notes=(
                    f"{paper} {base if family == 'resnet' else 'AlexNet'} "
                    f"({table}); reference run {run} "
                    "(hubert-leterme/wcnn)."
                    + (" Gradient accumulation 2 x 128, as the reference."
                       if zou else "")
                    + (" Packet-selection penalty (paper eq. 23)."
                       if family == "alexnet" and stem != "standard" else "")
                ),
            )
            out[f"{arch}.{tag}"] = TrainConfig.from_dict(values)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that the files are up to date")
    args = parser.parse_args(argv)
    stale = []
    table = recipes()
    for out_dir in OUT_DIRS:
        os.makedirs(out_dir, exist_ok=True)
        for name, cfg in table.items():
            path = os.path.join(out_dir, f"{name}.json")
            text = cfg.to_json() + "\n"
            old = open(path).read() if os.path.exists(path) else None
            if old != text:
                stale.append(path)
                if not args.check:
                    with open(path, "w") as f:
                        f.write(text)
        extra = sorted(set(os.listdir(out_dir))
                       - {f"{n}.json" for n in table})
        for name in extra:
            if name.endswith(".json"):
                stale.append(os.path.join(out_dir, name) + " (unknown)")
    if args.check:
        for path in stale:
            print(f"stale: {path}")
        return 1 if stale else 0
    print(f"wrote {len(stale)} file(s); {len(table)} recipes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
