"""GPU benchmark (JAX backend): train-step images/s and stem ratios, one JSON.

Needs only keras, jax, numpy and keras_cmod (no TensorFlow). For every
model of {resnet18, resnet34, resnet50, alexnet} x {standard, twin, cmod,
blurpool, ablurpool (ResNet only)}, at 224x224 in `mixed_bfloat16` and
`float32`: images/s of `train_on_batch` (SGD with momentum, cross-entropy),
the first call of each model being that training step. The variants of one
architecture and precision are timed in interleaved rounds in this
process, so their ratios to the standard model are comparable. Then the
stem fwd+bwd (stem-only `train_on_batch`, batch 32 at 224): the Gabor
channels CMod vs RMax twin and the whole stems, for both families.

A time budget (`--budget-s`, default 270 s) keeps the run under 6 minutes:
groups run in priority order (the stems; the standard and CMod models of
each architecture in bfloat16, then in float32; then the other variants)
and a group that would not finish within the budget is listed under
"skipped" (`--archs`/`--dtypes` run the rest in another call).

    KERAS_BACKEND=jax python scripts/gpu_benchmark.py --out gpu.json
    JAX_PLATFORMS=cpu KERAS_BACKEND=jax python scripts/gpu_benchmark.py \\
        --smoke --out /tmp/x.json     # tiny sizes, CPU, under a minute
"""

import argparse
import json
import os
import sys
import time

RESNET_VARIANTS = ("", "_twin", "_cmod", "_blurpool", "_ablurpool")
ALEXNET_VARIANTS = ("", "_twin", "_cmod", "_blurpool")
ARCHS = ("resnet18", "alexnet", "resnet34", "resnet50")
DTYPES = ("mixed_bfloat16", "float32")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None,
                   help="JSON path (default $OUT/gpu_benchmark.json, else "
                        "./gpu_benchmark.json)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and few models (checks the script runs)")
    p.add_argument("--list", action="store_true",
                   help="print the planned groups as JSON and exit")
    p.add_argument("--batch-size", type=int, default=64,
                   help="train-step batch (default 64)")
    p.add_argument("--stem-batch-size", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--budget-s", type=float, default=270.0)
    p.add_argument("--dtypes", nargs="+", default=list(DTYPES),
                   choices=DTYPES)
    p.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    args = p.parse_args(argv)
    for name in ("batch_size", "stem_batch_size", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.size < 63:
        p.error(f"--size must be >= 63 (AlexNet's minimum); got {args.size}")
    if args.budget_s <= 0:
        p.error(f"--budget-s must be > 0; got {args.budget_s}")
    return args


def out_path(args):
    if args.out:
        return args.out
    return os.path.join(os.environ.get("OUT") or ".", "gpu_benchmark.json")


def groups(args):
    """(id, dtype, spec) in priority order."""
    size, bs, sbs = args.size, args.batch_size, args.stem_batch_size

    def units(kind, names, size, batch):
        return [{"kind": kind, "name": n, "size": size, "batch_size": batch}
                for n in names]

    out = []
    stems = (units("gabor", ["resnet/cmod", "resnet/rmax", "alexnet/cmod",
                             "alexnet/rmax"], size, sbs)
             + units("stem", ["resnet34", "resnet34_twin", "resnet34_cmod",
                              "alexnet", "alexnet_twin", "alexnet_cmod"],
                     size, sbs))
    if args.smoke:
        stems = stems[:2]
    out.append(("stems", "float32", stems))
    # The standard and CMod models of every architecture first (bfloat16,
    # then float32), then the other variants: a run cut short by the budget
    # still has the main ratio of each architecture.
    for core in (True, False):
        for dtype in args.dtypes:
            if args.smoke and (dtype == "float32" or not core):
                continue  # smoke: the stems in float32, 2 ResNet-18s in bf16
            for arch in args.archs:
                if args.smoke and arch != "resnet18":
                    continue
                variants = (ALEXNET_VARIANTS if arch == "alexnet"
                            else RESNET_VARIANTS)
                variants = [v for v in variants
                            if (v in ("", "_cmod")) == core]
                kind = "core" if core else "other"
                out.append((f"train-{arch}-{dtype}-{kind}", dtype,
                            units("train", [arch + v for v in variants],
                                  size, bs)))
    return out


def train_table(result_groups):
    """Every trained model: images/s and its time ratio to the standard
    model of the same architecture and precision (same group when both are
    in a `core` group; otherwise a ratio of medians across groups)."""
    rows = []
    by = {}
    for gid, res in result_groups.items():
        for r in res.get("rows", []):
            if r["kind"] == "train":
                by[(r["name"], res["dtype"])] = (gid, r)
    for (name, dtype), (gid, r) in by.items():
        arch = name.split("_")[0]
        row = {"model": name, "dtype": dtype, "group": gid,
               "images_per_s": r["images_per_s"],
               "median_ms": r["median_ms"]}
        base = by.get((arch, dtype))
        if base is not None and name != arch:
            row["time_vs_standard"] = r["median_ms"] / base[1]["median_ms"]
            row["same_group"] = base[0] == gid
        rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        args.size, args.batch_size, args.stem_batch_size = 64, 2, 2
        args.repeats, args.warmup = 2, 1
    if args.list:
        print(json.dumps(groups(args), indent=1))
        return 0
    path = out_path(args)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise SystemExit(f"error: the folder of --out {path!r} does not "
                         "exist")
    backend = os.environ.setdefault("KERAS_BACKEND", "jax")
    if backend != "jax":
        raise SystemExit(f"error: this script runs on the JAX backend; "
                         f"KERAS_BACKEND={backend!r}")
    t_start = time.perf_counter()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isdir(os.path.join(root, "keras_cmod")):
        sys.path.insert(0, root)  # run from a checkout, not installed
    import jax
    import keras

    from keras_cmod.benchmarks import common, worker

    result = {
        "script": "scripts/gpu_benchmark.py",
        "command": " ".join(["python", "scripts/gpu_benchmark.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "machine": dict(common.machine_description(),
                        **common.backend_versions()),
        "settings": {k: getattr(args, k) for k in (
            "smoke", "size", "batch_size", "stem_batch_size", "repeats",
            "warmup", "budget_s", "dtypes", "archs")},
        "groups": {}, "skipped": [],
    }
    durations = []
    for gid, dtype, units in groups(args):
        elapsed = time.perf_counter() - t_start
        # Estimate: the slowest model so far, times this group's models.
        guess = max(durations, default=0.0) * len(units)
        if durations and elapsed + guess > args.budget_s:
            result["skipped"].append(
                {"group": gid, "reason": f"time budget ({elapsed:.0f} s "
                 f"used of {args.budget_s:.0f} s)"})
            continue
        print(f"== {gid}", flush=True)
        t = time.perf_counter()
        keras.config.set_dtype_policy(dtype)
        try:
            spec = {"id": gid, "units": units, "repeats": args.repeats,
                    "warmup": args.warmup,
                    "min_sample_s": 0.0 if args.smoke else 0.3,
                    "on_device": True}
            res = worker.run_timed(spec, log=lambda m: print(m, flush=True))
        except Exception as exc:  # recorded; the other groups still run
            res = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        finally:
            keras.config.set_dtype_policy("float32")
            keras.backend.clear_session()
        res["dtype"] = dtype
        res["wall_s"] = time.perf_counter() - t
        if "rows" in res:
            res["ratios"] = ratios(res["rows"])
        result["groups"][gid] = res
        durations.append(res["wall_s"] / len(units))
        common.write_json(result, path)  # a killed run keeps these groups
    result["train"] = train_table(result["groups"])
    result["wall_s"] = time.perf_counter() - t_start
    result["jax_devices"] = [str(d) for d in jax.devices()]
    result["tensorflow_imported"] = "tensorflow" in sys.modules
    common.write_json(result, path)
    print(f"wrote {path} ({result['wall_s']:.0f} s; skipped "
          f"{len(result['skipped'])} group(s))")
    return 0


def ratios(rows):
    """Time ratios within a group: each train variant / the standard model;
    stems: CMod / RMax (Gabor channels), twin and CMod / standard."""
    from keras_cmod.benchmarks import common

    by = {(r["kind"], r["name"]): r["times_s"] for r in rows}
    out = {}
    for (kind, name), times in by.items():
        if kind == "train":
            arch = name.split("_")[0]
            if name != arch and ("train", arch) in by:
                out[f"{name} / {arch}"] = common.ratio_stats(
                    times, by[("train", arch)])
        elif kind == "gabor" and name.endswith("/cmod"):
            base = ("gabor", name.replace("/cmod", "/rmax"))
            if base in by:
                out[f"Gabor channels {name} / {base[1]}"] = (
                    common.ratio_stats(times, by[base]))
        elif kind == "stem" and "_" in name:
            base = ("stem", name.split("_")[0])
            if base in by:
                out[f"stem {name} / {base[1]}"] = common.ratio_stats(
                    times, by[base])
    return out


if __name__ == "__main__":
    sys.exit(main())
