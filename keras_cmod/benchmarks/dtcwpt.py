"""Benchmark 3: the DT-CWPT as a separable cascade vs one dense conv.

The same kept packets (ResNet twin: 16 of 32 at J=2; AlexNet twin: 94 of
128 at J=3), at the RMax stride `m` (real parts) and the CMod stride `2m`
(complex), computed by `DTCWPT2D` (cascade / fused / auto) and by one
convolution with the dense equivalent kernels (`S x S`, S = 30 or 66).
Forward pass of a batch of one-channel images; median over repeats.
"""

import numpy as np
from keras import ops

from keras_cmod import wavelets
from keras_cmod.benchmarks import common
from keras_cmod.layers import DTCWPT2D


def dense_kernel(depth, packets, output_mode):
    k = wavelets.dtcwpt_kernels(depth)[list(packets)]
    parts = [k.real, k.imag] if output_mode == "complex" else [k.real]
    stacked = np.stack(parts, axis=1).reshape(-1, *k.shape[1:])
    return np.transpose(stacked, (1, 2, 0))[:, :, None, :].astype("float32")


def run(batch_size=32, size=224, repeats=5, warmup=2, log=print):
    rng = np.random.default_rng(0)
    rows = []
    for name, sel in (("resnet", wavelets.RESNET_PACKETS),
                      ("alexnet", wavelets.ALEXNET_PACKETS)):
        m = 2 ** (sel.depth - 1)
        pad = wavelets.dtcwpt_padding(sel.depth, m)
        x = rng.uniform(0, 1, (batch_size, size + 2 * pad, size + 2 * pad,
                               1)).astype("float32")
        x = ops.convert_to_tensor(x)
        for mode, stride in (("real", m), ("complex", 2 * m)):
            kernel = ops.convert_to_tensor(
                dense_kernel(sel.depth, sel.packets, mode))
            fns = {
                "dense": lambda x, k=kernel, s=stride: ops.conv(
                    x, k, strides=s, padding="valid"),
            }
            for impl in ("cascade", "fused", "auto"):
                layer = DTCWPT2D(sel.depth, stride, output_mode=mode,
                                 packets=list(sel.packets), padding=0,
                                 implementation=impl)
                layer.build(x.shape)
                fns[impl] = layer
            ref = None
            for impl, fn in fns.items():
                step, _ = common.make_step(fn, [], backward=False)
                out = np.asarray(step(x)[0] if isinstance(step(x), list)
                                 else step(x))
                if ref is None:
                    ref = out
                err = float(np.abs(out - ref).max() / np.abs(ref).max())
                t = common.time_step(step, x, repeats, warmup)
                rows.append({"family": name, "output": mode,
                             "stride": stride, "implementation": impl,
                             "time_ms": round(1e3 * t["median_s"], 2),
                             "iqr_ms": round(1e3 * t["iqr_s"], 2),
                             "rel_err_vs_dense": f"{err:.1e}"})
                log(f"  {name:8s} {mode:8s} {impl:8s} "
                    f"{rows[-1]['time_ms']:9.1f} ms")
    speedups = {}
    for name in ("resnet", "alexnet"):
        for mode in ("real", "complex"):
            sel = [r for r in rows if r["family"] == name
                   and r["output"] == mode]
            dense = next(r for r in sel if r["implementation"] == "dense")
            auto = next(r for r in sel if r["implementation"] == "auto")
            speedups[f"{name}/{mode}: dense / auto"] = round(
                dense["time_ms"] / auto["time_ms"], 2)
    return {"benchmark": "dtcwpt", "batch_size": batch_size, "size": size,
            "repeats": repeats, "rows": rows, "speedups": speedups}
