"""scripts/gpu_benchmark.py in its smoke mode, on the JAX CPU backend, with
TensorFlow made unimportable (the GPU machine has none)."""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

# Every test runs the script in a fresh process.
pytestmark = pytest.mark.slow

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / \
    "gpu_benchmark.py"

NO_TF = """
import importlib.abc, runpy, sys
class NoTF(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
            raise ImportError("TensorFlow is not installed here: " + name)
sys.meta_path.insert(0, NoTF())
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_smoke_mode_writes_one_json_without_tensorflow(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", NO_TF, str(SCRIPT), "--smoke", "--out",
         str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.listdir(tmp_path) == ["gpu.json"]
    result = json.loads(out.read_text())
    assert result["tensorflow_imported"] is False
    assert result["machine"]["backend"] == "jax"
    assert result["skipped"] == []
    core = "train-resnet18-mixed_bfloat16-core"
    assert set(result["groups"]) == {"stems", core}
    train = result["groups"][core]
    assert train["dtype"] == "mixed_bfloat16"
    assert [r["name"] for r in train["rows"]] == ["resnet18", "resnet18_cmod"]
    for group in result["groups"].values():
        assert "error" not in group, group.get("error")
        assert group["ratios"]
        for r in group["rows"]:
            assert r["images_per_s"] > 0 and len(r["times_s"]) == 2
        for stats in group["ratios"].values():
            assert math.isfinite(stats["median"]) and stats["median"] > 0
    assert "resnet18_cmod / resnet18" in train["ratios"]
    (cmod,) = [r for r in result["train"] if r["model"] == "resnet18_cmod"]
    assert cmod["dtype"] == "mixed_bfloat16" and cmod["same_group"]
    assert math.isfinite(cmod["time_vs_standard"])
    assert cmod["time_vs_standard"] > 0


def test_refuses_another_backend(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out",
         str(tmp_path / "x.json")], capture_output=True, text=True,
        timeout=120, env=env)
    assert proc.returncode != 0
    assert "JAX backend" in proc.stderr and "tensorflow" in proc.stderr
    assert os.listdir(tmp_path) == []


def test_the_full_plan_covers_every_model_in_both_precisions():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--list"],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, KERAS_BACKEND="jax"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = json.loads(proc.stdout)
    trained = {(u["name"], dtype) for _, dtype, units in plan
               for u in units if u["kind"] == "train"}
    names = [f"{a}{v}" for a in ("resnet18", "resnet34", "resnet50")
             for v in ("", "_twin", "_cmod", "_blurpool", "_ablurpool")]
    names += [f"alexnet{v}" for v in ("", "_twin", "_cmod", "_blurpool")]
    assert trained == {(n, d) for n in names
                       for d in ("mixed_bfloat16", "float32")}
    assert plan[0][0] == "stems"
    assert all(u["size"] == 224 for _, _, units in plan for u in units)
