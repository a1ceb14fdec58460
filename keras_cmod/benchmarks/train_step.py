"""Benchmark 2: images/s of a full training step, per zoo model.

One SGD step (momentum 0.9) of `model.fit`-equivalent work: forward,
cross-entropy, backward, update, compiled, on random images at 224 (the
ImageNet models) and at 32 (CIFAR-10 setting, 10 classes). All models of
one size run in the same process; compare ratios within a run.
"""

import keras
import numpy as np

from keras_cmod import zoo
from keras_cmod.benchmarks import common

RESNET_VARIANTS = ("", "_twin", "_cmod", "_blurpool", "_blurpool_cmod",
                   "_ablurpool", "_ablurpool_cmod")
ALEXNET_VARIANTS = ("", "_twin", "_cmod", "_blurpool", "_blurpool_twin",
                    "_blurpool_cmod")


def model_names(depths=(18, 34, 50), alexnet=True):
    names = [f"resnet{d}{v}" for d in depths for v in RESNET_VARIANTS]
    if alexnet:
        names += [f"alexnet{v}" for v in ALEXNET_VARIANTS]
    return names


def train_images_per_s(name, size, batch_size, repeats, warmup):
    num_classes = 10 if size <= 64 else 1000
    model = zoo.create_model(name, num_classes=num_classes,
                             input_shape=(size, size, 3))
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch_size, size, size, 3)).astype("float32")
    y = rng.integers(0, num_classes, batch_size)
    times = []
    for i in range(warmup + repeats):
        t = common.time.perf_counter()
        model.train_on_batch(x, y)
        if i >= warmup:
            times.append(common.time.perf_counter() - t)
    s = common.summarize(times)
    return batch_size / s["median_s"], s


def run(names=None, sizes=(224, 32), batch_size=None, repeats=5, warmup=2,
        log=print):
    names = names or model_names()
    rows = []
    for size in sizes:
        bs = batch_size or (16 if size >= 128 else 64)
        for name in names:
            if name.startswith("alexnet") and size < 63:
                continue  # AlexNet needs >= 63 px; the paper's CIFAR is R18/34
            ips, s = train_images_per_s(name, size, bs, repeats, warmup)
            rows.append({"model": name, "size": size, "batch_size": bs,
                         "images_per_s": round(ips, 1),
                         "iqr_ms": round(1e3 * s["iqr_s"], 1)})
            log(f"  {name:28s} {size:4d}px  {ips:8.1f} img/s")
            keras.backend.clear_session()
    return {"benchmark": "train_step", "repeats": repeats, "rows": rows,
            "ratios": ratios(rows)}


def ratios(rows):
    by = {(r["model"], r["size"]): r["images_per_s"] for r in rows}
    out = {}
    for (name, size), ips in by.items():
        for base in ("", "_ablurpool"):
            if not name.endswith("_cmod"):
                continue
            arch = name[: -len("_cmod")]
            ref = (arch + base) if base else arch
            if base and arch.endswith("_ablurpool"):
                continue
            if (ref, size) in by:
                # time ratio = throughput(ref) / throughput(cmod)
                out[f"{name} vs {ref} @{size} (time)"] = round(
                    by[(ref, size)] / ips, 3)
    return out
