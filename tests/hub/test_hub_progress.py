"""Download progress bars: huggingface_hub's, off with progress=False."""

import importlib

import pytest
from hub_test_models import tiny_model
from huggingface_hub.utils import (
    are_progress_bars_disabled,
    disable_progress_bars,
    enable_progress_bars,
)

import keras_cmod.hub as kh

REPO = "keras-cmod-test/tiny"


@pytest.fixture
def bars_visible(monkeypatch):
    """Show bars although stderr is not a TTY, whatever the environment."""
    from huggingface_hub import constants

    tqdm_module = importlib.import_module("huggingface_hub.utils.tqdm")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr(tqdm_module, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setenv("TQDM_POSITION", "-1")  # tqdm: force-enable bars
    enable_progress_bars()
    yield
    enable_progress_bars()


def _load(hub_kw, cache, progress):
    kw = dict(hub_kw, cache_dir=cache, progress=progress)
    return kh.from_pretrained(REPO, **kw)


def test_progress_flag_controls_bars_and_restores_state(
    fake_hub, hub_kw, tmp_path, capsys, bars_visible
):
    kh.push_to_hub(tiny_model(0), REPO, endpoint=hub_kw["endpoint"],
                   token=hub_kw["token"])
    capsys.readouterr()

    _load(hub_kw, tmp_path / "quiet", progress=False)
    assert "model.weights.h5" not in capsys.readouterr().err
    assert not are_progress_bars_disabled()  # previous state restored

    _load(hub_kw, tmp_path / "loud", progress=True)
    err = capsys.readouterr().err
    assert "model.weights.h5" in err and "100%" in err

    # Bars the user disabled stay disabled after a progress=False call.
    disable_progress_bars()
    _load(hub_kw, tmp_path / "quiet2", progress=False)
    assert are_progress_bars_disabled()
    _load(hub_kw, tmp_path / "quiet3", progress=True)
    assert "model.weights.h5" not in capsys.readouterr().err
