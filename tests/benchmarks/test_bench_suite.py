"""The benchmark table: group specs, ratios, report rendering, a quick run.

Timings are never asserted; only the structure of the results and that
ratios are positive and finite.
"""

import json
import math
import os

import keras
import numpy as np
import pytest
from sweep import rejects

from keras_cmod.benchmarks import common, report, suite, worker


def _timed(rows):
    return {"rows": [
        {"kind": k, "name": n, "size": 224, "batch_size": 8,
         "steps_per_sample": 1, "times_s": t,
         "median_ms": 1e3 * float(np.median(t)), "iqr_ms": 0.0,
         "images_per_s": 8 / float(np.median(t)), "first_step_s": 1.0,
         "first_fit_s": None}
        for k, n, t in rows],
        "versions": {"backend": "tensorflow", "tensorflow": "2.x",
                     "keras": "3.x"}}


def _fake_result():
    results = {"tensorflow": {
        "train-resnet34": _timed([
            ("train", "resnet34", [1.0, 2.0, 1.0]),
            ("train", "resnet34_cmod", [0.9, 1.8, 1.2]),
            ("train", "resnet34_ablurpool", [2.0, 4.0, 2.0])]),
        "forward-resnet50": _timed([
            ("forward", "keras.applications.ResNet50", [1.0, 1.0]),
            ("forward", "resnet50", [0.5, 2.0]),
            ("forward", "resnet50_cmod", [0.5, 2.0])]),
        "order/fit": {"rows": [{"name": "m", "size": 32,
                                "op_path": {"Conv2D": 2, "Reshape": 3}}]},
        "order/eager": {"rows": [{"name": "m", "size": 32,
                                  "op_path": {"Conv2D": 2}}]},
        "stem-resnet": {"error": "exit status 1: boom"},
    }}
    return {"results": results, "runs": [{
        "command": "keras-cmod benchmark", "quick": False, "note": None,
        "backends": ["tensorflow"], "wall_s": 1.0,
        "settings": {"repeats": 3, "warmup": 1},
        "machine": {"date": "2026-12-01", "cpu": "CPU", "cpu_count": 2,
                    "loadavg_1m": 3.0, "loadavg_1m_end": 2.0}}],
        "pairs": suite.pair_rows(results), "order": suite.order_rows(results)}


def test_pairs_are_per_round_ratios_with_spread():
    pairs = {p["group"].split("-")[0] + ":" + p["candidate"] + "/"
             + p["baseline"]: p for p in _fake_result()["pairs"]}
    cell = pairs["train:resnet34_cmod/resnet34"]["tensorflow"]
    assert cell["median"] == pytest.approx(0.9)
    assert (cell["min"], cell["max"]) == pytest.approx((0.9, 1.2))
    assert cell["met"] is True  # target <= 1.0
    assert pairs["train:resnet34_cmod/resnet34_ablurpool"]["tensorflow"][
        "met"] is True
    # Throughput ratio: baseline time / candidate time, target a minimum.
    fwd = pairs["forward:resnet50/keras.applications.ResNet50"]["tensorflow"]
    assert (fwd["min"], fwd["max"]) == pytest.approx((0.5, 2.0))
    assert "error" in pairs["stem:resnet/cmod/resnet/rmax"]["tensorflow"]
    assert "tensorflow" not in pairs["train:alexnet_cmod/alexnet"]


def test_order_rows_name_the_differing_ops():
    (row,) = _fake_result()["order"]
    assert row["same_path"] is False
    assert row["diff_fit_vs_eager"] == {"Reshape": [3, 0]}


def test_render_and_readme_update(tmp_path):
    md = report.render(_fake_result())
    assert "| train step: resnet34_cmod / resnet34 (224, batch 8) | <= 1 |"\
        " 0.90 (0.90-1.20) yes |" in md
    assert "machine shared" in md
    assert "| tensorflow | m | **no** | 5 | Reshape 3/0 |" in md
    assert "tensorflow stem-resnet: exit status 1: boom" in md
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n## Performance\nintro\n{report.BEGIN}\nold\n"
                      f"{report.END}\n## Next\nkept\n")
    report.update_readme(readme, md)
    text = readme.read_text()
    assert "old" not in text and md in text
    assert text.startswith("# x\n## Performance\nintro\n")
    assert text.endswith(f"{report.END}\n## Next\nkept\n")
    assert sorted(os.listdir(tmp_path)) == ["README.md"]


def test_quick_specs_shrink_sizes_and_keep_the_table():
    ids = [g["id"] for g in suite.GROUPS]
    assert len(ids) == len(set(ids))
    for group in suite.GROUPS:
        spec = suite.group_spec(group, quick=True)
        assert spec["repeats"] == 2
        assert all(u["size"] <= 64 and u["batch_size"] <= 4
                   for u in spec["units"])
        names = {(u["kind"], u["name"]) for u in group["units"]}
        for _, kind, cand, base, _, _ in group["pairs"]:
            assert {(kind, cand), (kind, base)} <= names
    full = suite.group_spec(suite.GROUPS[0])
    assert full["units"][0]["size"] == 224 and full["repeats"] == 5
    cifar = next(g for g in suite.GROUPS if g["id"] == "train-cifar")
    spec = suite.group_spec(cifar, size=128, batch_scale=0.5)
    assert [(u["size"], u["batch_size"]) for u in spec["units"]] == [
        (32, 32), (32, 32)]
    spec = suite.group_spec(suite.GROUPS[0], size=128, batch_scale=0.5)
    assert spec["units"][0]["size"] == 128
    assert spec["units"][0]["batch_size"] == 4


@pytest.mark.parametrize("call,exc,needles", [
    (lambda d: suite.select_groups(["trian"]), ValueError, ["trian", "stem"]),
    (lambda d: suite.select_groups(None, ["nope*"]), ValueError,
     ["nope*", "train-cifar"]),
    (lambda d: suite.run_suite(backends=["torch"]), ValueError,
     ["torch", "jax"]),
    (lambda d: suite.run_suite(repeats=0), ValueError, ["repeats", "0"]),
    (lambda d: suite.run_suite(size=32), ValueError, ["size", "32", "63"]),
    (lambda d: suite.run_suite(batch_scale=-1), ValueError,
     ["batch_scale", "-1"]),
    (lambda d: report.load(os.path.join(d, "missing.json")),
     FileNotFoundError, ["missing.json"]),
    (lambda d: report.update_readme(os.path.join(d, "R.md"), "x"),
     FileNotFoundError, ["R.md"]),
    (lambda d: common.ratio_stats([1.0], [1.0, 2.0]), ValueError,
     ["same", "length"]),
])
def test_bad_input_is_named(tmp_path, call, exc, needles):
    rejects(lambda: call(str(tmp_path)), exc, *needles, directory=tmp_path)


def test_report_rejects_files_that_are_not_results(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("{not json")
    rejects(lambda: report.load(bad), ValueError, "r.json", "JSON")
    bad.write_text(json.dumps({"rows": []}))
    rejects(lambda: report.load(bad), ValueError, "results")
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    rejects(lambda: report.update_readme(readme, "x"), ValueError,
            "markers", directory=tmp_path)
    assert readme.read_text() == "no markers\n"


def test_op_path_counts_the_traced_ops():
    inp = keras.Input((8, 8, 3))
    model = keras.Model(inp, keras.layers.Conv2D(2, 3)(inp))
    x = np.zeros((1, 8, 8, 3), "float32")
    path = worker.op_path(model, x)
    assert path == worker.op_path(model, x)
    assert sum(path.values()) > 0
    assert any("conv" in op.lower() for op in path)


@pytest.mark.slow
def test_quick_run_in_a_fresh_process(tmp_path):
    seen = []
    out = suite.run_suite(backends=["tensorflow"], patterns=["train-cifar"],
                          quick=True, log=lambda m: None,
                          on_group=lambda r: seen.append(
                              sorted(r["results"]["tensorflow"])))
    assert seen == [["train-cifar"]]
    res = out["results"]["tensorflow"]["train-cifar"]
    assert "error" not in res, res
    assert [r["name"] for r in res["rows"]] == ["resnet18.cifar10",
                                               "resnet18_cmod.cifar10"]
    for r in res["rows"]:
        assert len(r["times_s"]) == 2 and r["batch_size"] == 4
    (pair,) = [p for p in out["pairs"] if p["group"] == "train-cifar"]
    cell = pair["tensorflow"]
    for key in ("median", "min", "max"):
        assert math.isfinite(cell[key]) and cell[key] > 0
    assert cell["min"] <= cell["median"] <= cell["max"]
    assert out["runs"][0]["quick"] is True
    path = common.write_json(out, tmp_path / "r.json")
    assert "train step: resnet18_cmod.cifar10" in report.render(
        report.load(path))


@pytest.mark.parametrize("args,needles", [
    (["trian"], ["trian", "report"]),
    (["report", "train"], ["report", "train"]),
    (["train", "--timeout", "0"], ["--timeout", "0"]),
    (["train", "--readme", "nope.md"], ["nope.md"]),
    (["report", "--output", "missing.json"], ["missing.json"]),
])
def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys, args,
                                 needles):
    from keras_cmod.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]
    for needle in needles:
        assert needle in err[0]
    assert os.listdir(tmp_path) == []


def test_cli_report_writes_the_readme(tmp_path, capsys):
    from keras_cmod.cli import main

    path = common.write_json(_fake_result(), tmp_path / "r.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"{report.BEGIN}\n{report.END}\n")
    assert main(["benchmark", "report", "--output", path]) == 0
    assert "resnet34_cmod / resnet34" in capsys.readouterr().out
    assert main(["benchmark", "report", "--output", path, "--readme",
                 str(readme)]) == 0
    assert "resnet34_cmod / resnet34" in readme.read_text()
