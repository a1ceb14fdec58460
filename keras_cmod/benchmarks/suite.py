"""The benchmark table: groups of units, one fresh process per group.

A *unit* is one thing timed: a whole training step (`train`), a stem-only
training step (`stem`: the model's layers up to `stem`; `gabor`: a twin
stem's Gabor channels alone), or a forward pass (`forward`, after one
training step). A *group* is the units compared with each other; each group
runs in its own interpreter (`keras_cmod.benchmarks.worker`), whose first
call on every model is `train_on_batch`, the order a user's `fit` gives. A
*pair* is a ratio with its target: candidate against a baseline of the
same group, from the per-round ratios of interleaved repeats (median and
range). The `order` groups build the same models twice more, once calling
them eagerly first and once fitting first, and compare the traced op paths.
"""

import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time

from keras_cmod.benchmarks import common

BACKENDS = common.MODES
SECTIONS = ("train", "stem", "forward", "order")


def _units(kind, names, size, batch_size):
    return [{"kind": kind, "name": n, "size": size, "batch_size": batch_size}
            for n in names]


# id, section, units, pairs: (label, kind, candidate, baseline, metric,
# target). metric "time": candidate time / baseline time, target is a
# maximum; "throughput": baseline time / candidate time, target a minimum.
GROUPS = [
    {"id": "train-resnet34", "section": "train",
     "units": _units("train", ["resnet34", "resnet34_cmod",
                               "resnet34_ablurpool"], 224, 8),
     "pairs": [
         ("train step: resnet34_cmod / resnet34 (224, batch 8)", "train",
          "resnet34_cmod", "resnet34", "time", 1.0),
         ("train step: resnet34_cmod / resnet34_ablurpool (224, batch 8)",
          "train", "resnet34_cmod", "resnet34_ablurpool", "time", 0.5),
     ]},
    {"id": "train-alexnet", "section": "train",
     "units": _units("train", ["alexnet", "alexnet_cmod", "alexnet_blurpool",
                               "alexnet_blurpool_cmod"], 224, 16),
     "pairs": [
         ("train step: alexnet_cmod / alexnet (224, batch 16)", "train",
          "alexnet_cmod", "alexnet", "time", 1.0),
         ("train step: alexnet_blurpool_cmod / alexnet_blurpool "
          "(224, batch 16)", "train", "alexnet_blurpool_cmod",
          "alexnet_blurpool", "time", 1.0),
     ]},
    {"id": "train-cifar", "section": "train",
     "units": _units("train", ["resnet18.cifar10", "resnet18_cmod.cifar10"],
                     32, 64),
     "pairs": [
         ("train step: resnet18_cmod.cifar10 / resnet18.cifar10 "
          "(32, batch 64)", "train", "resnet18_cmod.cifar10",
          "resnet18.cifar10", "time", 1.05),
     ]},
    {"id": "stem-resnet", "section": "stem",
     "units": _units("gabor", ["resnet/cmod", "resnet/rmax"], 224, 32)
     + _units("stem", ["resnet34", "resnet34_twin", "resnet34_cmod"],
              224, 32),
     "pairs": [
         ("stem fwd+bwd, Gabor channels: ResNet CMod / RMax twin", "gabor",
          "resnet/cmod", "resnet/rmax", "time", 0.6),
         ("stem fwd+bwd, whole stem: resnet34_cmod / resnet34", "stem",
          "resnet34_cmod", "resnet34", "time", 0.9),
         ("stem fwd+bwd, whole stem: resnet34_twin / resnet34", "stem",
          "resnet34_twin", "resnet34", "time", None),
     ]},
    {"id": "stem-alexnet", "section": "stem",
     "units": _units("gabor", ["alexnet/cmod", "alexnet/rmax"], 224, 32)
     + _units("stem", ["alexnet", "alexnet_twin", "alexnet_cmod"], 224, 32),
     "pairs": [
         ("stem fwd+bwd, Gabor channels: AlexNet CMod / RMax twin", "gabor",
          "alexnet/cmod", "alexnet/rmax", "time", 0.6),
         ("stem fwd+bwd, whole stem: alexnet_cmod / alexnet", "stem",
          "alexnet_cmod", "alexnet", "time", None),
         ("stem fwd+bwd, whole stem: alexnet_cmod / alexnet_twin", "stem",
          "alexnet_cmod", "alexnet_twin", "time", None),
     ]},
    {"id": "forward-resnet50", "section": "forward",
     "units": _units("forward", ["keras.applications.ResNet50", "resnet50",
                                 "resnet50_cmod"], 224, 8),
     "pairs": [
         ("forward: resnet50 vs keras.applications.ResNet50 (throughput, "
          "224, batch 8)", "forward", "resnet50",
          "keras.applications.ResNet50", "throughput", 0.95),
         ("forward: resnet50_cmod vs resnet50 (throughput)", "forward",
          "resnet50_cmod", "resnet50", "throughput", 1.0),
     ]},
    {"id": "order", "section": "order",
     "units": _units("train", ["resnet18_cmod.cifar10"], 32, 2)
     + _units("train", ["alexnet_cmod"], 224, 2),
     "pairs": []},
]

QUICK = {"size": 64, "batch_size": 2, "cifar_batch_size": 4, "repeats": 2,
         "warmup": 1, "min_sample_s": 0.0}
DEFAULT = {"repeats": 5, "warmup": 2, "min_sample_s": 0.3}


def select_groups(sections=None, patterns=None):
    """The groups of `sections`, optionally filtered by id glob patterns."""
    sections = list(sections or SECTIONS)
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        raise ValueError(f"Unknown benchmark section(s) {bad}; choose from "
                         f"{list(SECTIONS)}.")
    groups = [g for g in GROUPS if g["section"] in sections]
    if patterns:
        groups = [g for g in groups
                  if any(fnmatch.fnmatchcase(g["id"], p) for p in patterns)]
        if not groups:
            raise ValueError(
                f"No benchmark group matches {list(patterns)}; groups: "
                f"{[g['id'] for g in GROUPS]}")
    return groups


def group_spec(group, quick=False, repeats=None, warmup=None,
               min_sample_s=None, batch_scale=None, size=None):
    """The JSON a worker receives (sizes, batches and repeats resolved)."""
    settings = dict(QUICK if quick else DEFAULT)
    for key, value in (("repeats", repeats), ("warmup", warmup),
                       ("min_sample_s", min_sample_s)):
        if value is not None:
            settings[key] = value
    units = []
    for u in group["units"]:
        u = dict(u)
        if quick:
            if u["size"] > 64:
                u["size"] = settings["size"]
                u["batch_size"] = min(u["batch_size"], settings["batch_size"])
            else:
                u["batch_size"] = min(u["batch_size"],
                                      settings["cifar_batch_size"])
        if size and u["size"] > 64:
            u["size"] = size  # the ImageNet-size units
        if batch_scale:
            u["batch_size"] = max(1, int(round(u["batch_size"] * batch_scale)))
        units.append(u)
    kind = "order" if group["section"] == "order" else "timed"
    return {"id": group["id"], "kind": kind, "units": units,
            "repeats": settings["repeats"], "warmup": settings["warmup"],
            "min_sample_s": settings["min_sample_s"]}


def run_worker(spec, backend, timeout, log=print):
    """Runs one group in a fresh interpreter; returns its result dict (or
    `{"error": ...}` when the process failed or ran past `timeout`)."""
    env = dict(os.environ, **common.MODE_ENV[backend])
    if backend == "tensorflow":  # the machine's own choice
        env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if backend == "jax":
        env.setdefault("JAX_PLATFORMS", "cpu")
    with tempfile.TemporaryDirectory(prefix="keras-cmod-bench-") as tmp:
        spec_path = os.path.join(tmp, "spec.json")
        out_path = os.path.join(tmp, "out.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        cmd = [sys.executable, "-m", "keras_cmod.benchmarks.worker",
               spec_path, out_path]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"ran past the {timeout} s timeout"}
        for line in proc.stdout.splitlines():
            log(line)
        if proc.returncode != 0 or not os.path.exists(out_path):
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            return {"error": f"exit status {proc.returncode}: {tail}"}
        with open(out_path, encoding="utf-8") as f:
            result = json.load(f)
        result["process_s"] = time.perf_counter() - t0
        return result


def pair_rows(results):
    """Every pair of every group measured: ratios with spread and target."""
    rows = []
    for group in GROUPS:
        for label, kind, cand, base, metric, target in group["pairs"]:
            row = {"group": group["id"], "label": label, "metric": metric,
                   "target": target, "candidate": cand, "baseline": base}
            for backend, by_group in results.items():
                res = by_group.get(group["id"])
                if res is None:
                    continue
                cell = _pair_cell(res, kind, cand, base, metric, target)
                row[backend] = cell
            rows.append(row)
    return rows


def _pair_cell(res, kind, cand, base, metric, target):
    if "error" in res:
        return {"error": res["error"]}
    by = {(r["kind"], r["name"]): r for r in res["rows"]}
    a, b = by.get((kind, cand)), by.get((kind, base))
    if a is None or b is None:
        return {"error": f"{cand} or {base} not measured"}
    if metric == "time":
        stats = common.ratio_stats(a["times_s"], b["times_s"])
        met = None if target is None else stats["median"] <= target
    else:
        stats = common.ratio_stats(b["times_s"], a["times_s"])
        met = None if target is None else stats["median"] >= target
    stats["met"] = met
    return stats


def order_rows(results):
    """Fit-first against eager-first op paths, per backend and model."""
    rows = []
    for backend, by_group in results.items():
        fit, eager = by_group.get("order/fit"), by_group.get("order/eager")
        if fit is None or eager is None:
            continue
        if "error" in fit or "error" in eager:
            rows.append({"backend": backend, "error": (fit.get("error")
                                                       or eager["error"])})
            continue
        paths = {r["name"]: r["op_path"] for r in eager["rows"]}
        for r in fit["rows"]:
            other = paths.get(r["name"], {})
            ops = sorted(set(r["op_path"]) | set(other))
            diff = {op: [r["op_path"].get(op, 0), other.get(op, 0)]
                    for op in ops
                    if r["op_path"].get(op, 0) != other.get(op, 0)}
            rows.append({"backend": backend, "name": r["name"],
                         "size": r["size"], "same_path": not diff,
                         "ops": sum(r["op_path"].values()),
                         "diff_fit_vs_eager": diff})
    return rows


def run_suite(backends=("tensorflow", "jax"), sections=None, patterns=None,
              quick=False, repeats=None, warmup=None, min_sample_s=None,
              timeout=1800, command=None, note=None, previous=None,
              batch_scale=None, size=None, on_group=None, log=print):
    """Runs the selected groups on each backend; returns the result dict.

    `previous` (a result dict) is updated in place of starting empty, so
    that runs of single sections or backends add up to one table.
    `on_group(result)`, when given, is called after every group with the
    result so far (the CLI writes it, so an interrupted run keeps the
    groups it finished).
    """
    bad = [b for b in backends if b not in BACKENDS]
    if bad:
        raise ValueError(f"Unknown backend(s) {bad}; choose from "
                         f"{list(BACKENDS)}.")
    if len(set(backends)) != len(backends):
        raise ValueError(f"A backend is named twice: {list(backends)}")
    for name, value in (("repeats", repeats), ("warmup", warmup)):
        if value is not None and (not isinstance(value, int) or value < 0
                                  or (name == "repeats" and value < 1)):
            raise ValueError(f"{name} must be an integer >= "
                             f"{1 if name == 'repeats' else 0}. "
                             f"Received: {name}={value!r}")
    if batch_scale is not None and not batch_scale > 0:
        raise ValueError(f"batch_scale must be > 0. Received: {batch_scale}")
    if size is not None and (not isinstance(size, int) or size < 63):
        raise ValueError(f"size must be an integer >= 63 (AlexNet's "
                         f"minimum). Received: size={size!r}")
    groups = select_groups(sections, patterns)
    out = previous or {"results": {}, "runs": []}
    started = time.perf_counter()
    machine = common.machine_description()
    for backend in backends:
        by_group = out["results"].setdefault(backend, {})
        for group in groups:
            spec = group_spec(group, quick, repeats, warmup, min_sample_s,
                              batch_scale, size)
            firsts = ("fit", "eager") if spec["kind"] == "order" else (None,)
            for first in firsts:
                key = group["id"] if first is None else f"order/{first}"
                if first is not None:
                    spec = dict(spec, id=key, first_call=first)
                log(f"== {backend}: {key}")
                by_group[key] = run_worker(spec, backend, timeout, log)
                if "error" in by_group[key]:
                    log(f"  error: {by_group[key]['error']}")
                if on_group is not None:
                    out["pairs"] = pair_rows(out["results"])
                    out["order"] = order_rows(out["results"])
                    on_group(out)
    machine["loadavg_1m_end"] = common.machine_description().get(
        "loadavg_1m")
    out["runs"].append({
        "command": command, "machine": machine, "quick": quick,
        "note": note, "backends": list(backends),
        "groups": [g["id"] for g in groups],
        "batch_scale": batch_scale, "size": size,
        "settings": {k: v for k, v in group_spec(
            groups[0], quick, repeats, warmup, min_sample_s).items()
            if k in ("repeats", "warmup", "min_sample_s")},
        "wall_s": round(time.perf_counter() - started, 1),
    })
    out["pairs"] = pair_rows(out["results"])
    out["order"] = order_rows(out["results"])
    return out
