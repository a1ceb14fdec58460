"""`keras-cmod benchmark` run by a user: `--quick` is quick, and results go
to `./benchmark_results/` (or `--output`), never into the source tree."""

import hashlib
import json
import pathlib
import subprocess
import sys
import time

import keras
import pytest

from keras_cmod.benchmarks import cli as bench_cli
from keras_cmod.benchmarks import suite
from keras_cmod.cli import main

REPO = pathlib.Path(__file__).resolve().parents[2]
TRACKED = REPO / "benchmarks" / "results" / "benchmarks.json"


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() \
        else None


@pytest.fixture
def fake_suite(monkeypatch):
    """Records what the CLI asks `run_suite` for, and runs nothing."""
    calls = []

    def run_suite(**kwargs):
        calls.append(kwargs)
        out = {"results": {b: {} for b in kwargs["backends"]}, "runs": [],
               "pairs": [], "order": []}
        kwargs["on_group"](out)
        return out

    monkeypatch.setattr(suite, "run_suite", run_suite)
    return calls


def test_the_default_output_is_a_folder_of_the_current_directory(
        tmp_path, monkeypatch, fake_suite, capsys):
    monkeypatch.chdir(tmp_path)
    before = _digest(TRACKED)
    assert main(["benchmark", "--quick"]) == 0
    written = tmp_path / "benchmark_results" / "benchmarks.json"
    assert json.loads(written.read_text())["results"]
    assert f"wrote {bench_cli.DEFAULT_OUTPUT}" in capsys.readouterr().out
    assert _digest(TRACKED) == before
    assert not pathlib.Path(bench_cli.DEFAULT_OUTPUT).is_absolute()
    # The folder is ignored by git in a clone.
    assert "benchmark_results/" in (REPO / ".gitignore").read_text()


def test_quick_runs_one_group_on_the_current_backend(
        tmp_path, monkeypatch, fake_suite):
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "--quick"]) == 0
    (call,) = fake_suite
    assert call["quick"] is True
    assert call["backends"] == [keras.config.backend()]
    assert call["patterns"] == list(bench_cli.QUICK_GROUPS)
    assert len(suite.select_groups(None, call["patterns"])) == 1


def test_quick_keeps_what_the_user_names(tmp_path, monkeypatch, fake_suite):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "mine" / "r.json"
    assert main(["benchmark", "stem", "--quick", "--backend", "jax",
                 "tensorflow", "--output", str(out)]) == 0
    (call,) = fake_suite
    assert call["backends"] == ["jax", "tensorflow"]
    assert call["patterns"] is None and call["sections"] == ["stem"]
    assert out.is_file()
    assert not (tmp_path / "benchmark_results").exists()


def test_the_maintainers_script_writes_the_tracked_results(monkeypatch):
    seen = []
    monkeypatch.setattr("keras_cmod.cli.main",
                        lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr(sys, "argv", ["run.py", "train"])
    code = (REPO / "benchmarks" / "run.py").read_text()
    with pytest.raises(SystemExit):
        exec(compile(code, "run.py", "exec"),
             {"__name__": "__main__",
              "__file__": str(REPO / "benchmarks" / "run.py")})
    assert seen == [["benchmark", "train", "--output", str(TRACKED)]]


@pytest.mark.slow
def test_a_real_quick_run_takes_about_a_minute(tmp_path):
    before = _digest(TRACKED)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "keras_cmod.cli", "benchmark", "--quick"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(
        (tmp_path / "benchmark_results" / "benchmarks.json").read_text())
    (backend,) = result["results"]
    assert list(result["results"][backend]) == ["train-cifar"]
    assert "error" not in result["results"][backend]["train-cifar"]
    assert _digest(TRACKED) == before
    # About a minute on 2 CPU cores; generous for a loaded machine.
    assert wall < 240, wall
