"""Markdown tables from a benchmark result file, and the README update.

`render(result)` returns the Performance tables; `update_readme(path,
markdown)` replaces the text between the `BEGIN` and `END` markers of a
README (everything else stays as it is).
"""

import json
import os

from keras_cmod.benchmarks import common

BEGIN = "<!-- benchmark tables: begin (keras-cmod benchmark report) -->"
END = "<!-- benchmark tables: end -->"


def load(path):
    """Reads a result file written by `keras-cmod benchmark`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No benchmark result file at {path!r}: run `keras-cmod "
            f"benchmark --output {path}` first.")
    try:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path!r} is not a benchmark result file (JSON): "
                         f"{exc}") from None
    if not isinstance(result, dict) or not isinstance(
            result.get("results"), dict) or "pairs" not in result:
        raise ValueError(f"{path!r} is not a benchmark result file: it "
                         "needs the keys 'results', 'pairs' and 'runs'.")
    return result


def _backends(result):
    return [b for b in common.MODES if b in result["results"]]


def _cell(cell):
    if cell is None:
        return "not run"
    if "error" in cell:
        return "failed"
    text = f"{cell['median']:.2f} ({cell['min']:.2f}-{cell['max']:.2f})"
    if cell.get("met") is True:
        text += " yes"
    elif cell.get("met") is False:
        text += " **no**"
    return text


def _target(row):
    if row["target"] is None:
        return "-"
    sign = "<=" if row["metric"] == "time" else ">="
    return f"{sign} {row['target']:g}"


def _flags(machine):
    if "cpu_flags" not in machine:
        return ""
    avx512 = [f for f in machine["cpu_flags"] if f.startswith(("avx512",
                                                                "amx"))]
    return (f" ({', '.join(avx512)})" if avx512 else " (no AVX-512)")


def _versions(result, backend):
    for res in result["results"].get(backend, {}).values():
        v = res.get("versions")
        if v:
            lib = v.get("tensorflow") or v.get("jax")
            name = common.MODE_TITLES.get(v.get("mode", backend), backend)
            return f"{name} {lib}, Keras {v.get('keras')}"
    return backend


def render(result):
    """The Performance tables (markdown) of a result dict."""
    backends = _backends(result)
    lines = []
    for run in result.get("runs", []):
        m = run.get("machine", {})
        load_txt = ""
        if "loadavg_1m" in m:
            load_txt = (f", load average {m['loadavg_1m']:.1f} at the start, "
                        f"{m.get('loadavg_1m_end', float('nan')):.1f} at "
                        "the end")
            if max(m["loadavg_1m"], m.get("loadavg_1m_end") or 0) > 0.5 * (
                    m.get("cpu_count") or 1):
                load_txt += " (machine shared: noisy)"
        s = run.get("settings") or {}
        lines.append(
            f"- `{run.get('command') or 'keras-cmod benchmark'}`: "
            f"{m.get('date', '?')}, {m.get('cpu', m.get('machine', '?'))}"
            f"{_flags(m)}, "
            f"{m.get('cpu_count', '?')} cores{load_txt}; backends "
            f"{', '.join(run.get('backends', []))}; {s.get('repeats', '?')} "
            f"interleaved rounds after {s.get('warmup', '?')} warm-up step(s)"
            f"{' (quick mode: small sizes)' if run.get('quick') else ''}; "
            f"{run.get('wall_s', '?')} s."
            + (f" {run['note']}" if run.get("note") else ""))
    table = []
    for row in result["pairs"]:
        cells = [_cell(row.get(b)) for b in backends]
        if all(c == "not run" for c in cells):
            continue
        table.append("| " + " | ".join([row["label"], _target(row)]
                                       + cells) + " |")
    if table:
        head = ["comparison", "target"] + [_versions(result, b)
                                           for b in backends]
        lines += ["", "Ratios (median of the per-round ratios, min-max in "
                  "brackets); time ratios are candidate / baseline, "
                  "throughput ratios baseline time / candidate time. "
                  "Every process started each model with "
                  "`train_on_batch`.", "",
                  "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head), *table]
    lines += _absolute(result, backends)
    lines += _order(result)
    failures = _failures(result)
    if failures:
        lines += ["", "Failed groups:", ""] + failures
    return "\n".join(lines).rstrip() + "\n"


def _absolute(result, backends):
    rows = []
    for b in backends:
        for gid, res in result["results"][b].items():
            for r in res.get("rows", []):
                if "median_ms" not in r:
                    continue
                s = common.summarize(r["times_s"])
                rows.append(
                    f"| {b} | {r['kind']} | {r['name']} | {r['size']} | "
                    f"{r['batch_size']} | {r['median_ms']:.0f} "
                    f"({1e3 * s['min_s']:.0f}-{1e3 * s['max_s']:.0f}) | "
                    f"{r['images_per_s']:.1f} | {r['first_step_s']:.1f} |")
    if not rows:
        return []
    return ["", "Times per step (median, min-max; `stem`/`gabor`: a "
            "stem-only `train_on_batch`, forward + backward + update; "
            "`forward`: `predict_on_batch`; first step: trace + compile):",
            "", "| backend | kind | unit | size | batch | ms/step | "
            "images/s | first step s |", "|---|---|---|---|---|---|---|---|",
            *rows]


def _order(result):
    rows = result.get("order") or []
    if not rows:
        return []
    out = ["", "Call order: the op path of the training-mode forward pass "
           "traced after `fit` first vs after an eager call first (TF: graph "
           "op types, JAX: jaxpr primitives, with counts):", "",
           "| backend | model | same path | ops | differences (fit first / "
           "eager first) |", "|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['backend']} | - | failed | - | - |")
            continue
        diff = ", ".join(f"{k} {a}/{b}" for k, (a, b) in
                         r["diff_fit_vs_eager"].items()) or "-"
        same = "yes" if r["same_path"] else "**no**"
        out.append(f"| {r['backend']} | {r['name']} | {same} | {r['ops']} "
                   f"| {diff} |")
    return out


def _failures(result):
    out = []
    for b, groups in result["results"].items():
        for gid, res in groups.items():
            if "error" in res:
                first = str(res["error"]).strip().splitlines()[-1][:200]
                out.append(f"- {b} {gid}: {first}")
    return out


def update_readme(path, markdown):
    """Replaces the text between the markers of `path` with `markdown`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No README at {path!r}.")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise ValueError(
            f"{path!r} has no benchmark table markers: put the lines "
            f"{BEGIN!r} and {END!r} where the tables go.")
    new = text[: i + len(BEGIN)] + "\n\n" + markdown + "\n" + text[j:]
    common.write_text_atomic(path, new)
    return path
