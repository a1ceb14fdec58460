"""Benchmark 4: our ResNet-50 forward vs keras.applications.ResNet50.

Same batch, same process; both as a fraction of this machine's measured
dense matmul throughput (float32 FLOP/s of a large square matmul).
ResNet-50 forward = 4.09 GMACs = 8.18 GFLOPs per 224x224 image (MACs
counted by `keras_cmod.evaluation.model_macs` on our model).
"""

import keras
import numpy as np
from keras import ops

from keras_cmod import zoo
from keras_cmod.benchmarks import common


def matmul_flops(n=2048, repeats=5, warmup=2):
    a = ops.convert_to_tensor(np.random.rand(n, n).astype("float32"))
    step, _ = common.make_step(lambda x: ops.matmul(x, x), [],
                               backward=False)
    t = common.time_step(step, a, repeats, warmup)
    return 2 * n**3 / t["median_s"], t


def run(batch_size=8, repeats=5, warmup=2, log=print):
    from keras_cmod.evaluation import model_macs

    x = ops.convert_to_tensor(
        np.random.rand(batch_size, 224, 224, 3).astype("float32"))
    flops_s, _ = matmul_flops()
    log(f"  dense matmul: {flops_s / 1e9:.1f} GFLOP/s")
    models = {
        "keras.applications.ResNet50": keras.applications.ResNet50(
            weights=None),
        "keras_cmod resnet50": zoo.create_model("resnet50"),
        "keras_cmod resnet50_cmod": zoo.create_model("resnet50_cmod"),
    }
    macs = model_macs(models["keras_cmod resnet50"])["total"]
    rows = []
    for name, model in models.items():
        step, _ = common.make_step(lambda v, m=model: m(v, training=False),
                                   [], backward=False)
        t = common.time_step(step, x, repeats, warmup)
        ips = batch_size / t["median_s"]
        frac = ips * 2 * macs / flops_s
        rows.append({"model": name, "images_per_s": round(ips, 2),
                     "iqr_ms": round(1e3 * t["iqr_s"], 1),
                     "fraction_of_matmul_flops": round(frac, 3)})
        log(f"  {name:30s} {ips:7.2f} img/s  {100 * frac:5.1f}% of matmul")
    by = {r["model"]: r["images_per_s"] for r in rows}
    return {
        "benchmark": "resnet50", "batch_size": batch_size,
        "matmul_gflops": round(flops_s / 1e9, 2),
        "resnet50_gmacs": round(macs / 1e9, 3), "rows": rows,
        "ratios": {
            "ours / keras.applications (throughput)": round(
                by["keras_cmod resnet50"]
                / by["keras.applications.ResNet50"], 3),
            "resnet50_cmod / resnet50 (throughput)": round(
                by["keras_cmod resnet50_cmod"] / by["keras_cmod resnet50"],
                3),
        },
    }
