"""`keras-cmod push / pull / info`, called in-process."""

import argparse
import json
import pathlib

import pytest
from hub_test_models import TOKEN, tiny_model

import keras_cmod.cli
import keras_cmod.hub as kh
from keras_cmod.hub import cli as hub_cli

REPO = "keras-cmod-test/cli"


def _call(*argv):
    parser = argparse.ArgumentParser(prog="keras-cmod")
    hub_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture
def saved(tmp_path):
    return kh.save_pretrained(
        tiny_model(0), tmp_path / "model",
        pretrained_cfg={"architecture": "tiny", "input_size": [8]},
        metrics={"top1": 42.0},
    )


def test_push_pull_info(fake_hub, saved, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the CLI never takes a token
    ep = fake_hub.endpoint
    cache = tmp_path / "cache"

    assert _call("push", saved, REPO, "--endpoint", ep,
                 "--commit-message", "from the CLI") == 0
    commit = fake_hub.head(REPO)
    assert capsys.readouterr().out.strip() == f"pushed {REPO}@{commit}"

    assert _call("pull", f"{REPO}@{commit}", "--cache-dir", cache,
                 "--endpoint", ep, "--no-progress") == 0
    snapshot = pathlib.Path(capsys.readouterr().out.strip())
    assert snapshot.name == commit
    assert (snapshot / "model.weights.h5").is_file()

    fake_hub.reset_requests()
    assert _call("pull", f"hf-hub:{REPO}@{commit}", "--cache-dir", cache,
                 "--local-files-only") == 0
    assert pathlib.Path(capsys.readouterr().out.strip()) == snapshot
    assert fake_hub.count() == 0

    assert _call("info", REPO, "--endpoint", ep, "--cache-dir", cache) == 0
    out = capsys.readouterr().out
    assert f"Hub repo {REPO}" in out and f"commit {commit}" in out
    assert "cached:         yes" in out and "Functional 'tiny_0'" in out
    assert '"top1": 42.0' in out and '"architecture": "tiny"' in out

    assert _call("info", REPO, "--revision", commit, "--cache-dir",
                 tmp_path / "empty", "--local-files-only", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cached"] is False and info["config"] is None

    assert _call("info", saved, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "local" and info["metrics"] == {"top1": 42.0}


def test_push_options(fake_hub, saved, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    ep = fake_hub.endpoint
    assert _call("push", saved, REPO, "--endpoint", ep, "--private",
                 "--revision", "dev") == 0
    assert fake_hub.head(REPO, "dev") in capsys.readouterr().out
    assert _call("push", saved, REPO, "--endpoint", ep, "--create-pr") == 0
    assert "pull request: " in capsys.readouterr().out
    assert fake_hub.head(REPO, "refs/pr/1")


def test_errors_are_one_line_through_the_main_cli(
    fake_hub, saved, tmp_path, capsys, monkeypatch
):
    assert "keras_cmod.hub.cli" in keras_cmod.cli._COMMAND_MODULES
    ep = fake_hub.endpoint
    cases = [
        (["pull", "keras-cmod-test/nope", "--endpoint", ep, "--cache-dir",
          tmp_path], "'keras-cmod-test/nope' not found"),
        (["pull", "a/b/c"], "'a/b/c'"),
        (["pull", f"{REPO}@v1", "--local-files-only", "--cache-dir",
          tmp_path], "offline mode is on"),
        (["push", tmp_path, REPO, "--endpoint", ep], "not a Keras model"),
        # A wrong token: PermissionError, turned into a CommandError.
        (["push", saved, REPO, "--endpoint", ep], "HTTP 401"),
    ]
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_value")
    for argv, expected in cases:
        assert keras_cmod.cli.main([str(a) for a in argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"keras-cmod {argv[0]}: error: "), err
        assert expected in err and "Traceback" not in err
        assert "hf_wrong_token_value" not in err
