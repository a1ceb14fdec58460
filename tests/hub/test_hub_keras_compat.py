"""Keras' own `hf://` path and `HF_HUB_OFFLINE=1`, in fresh processes.

huggingface_hub reads `HF_ENDPOINT`, `HF_HOME` and `HF_HUB_OFFLINE` once,
when it is imported (they become `huggingface_hub.constants`), and
`keras.saving.load_model("hf://...")` takes no endpoint argument. Setting
the variables from inside this pytest process would come too late, so these
tests run a small script in a subprocess with the environment set before
anything is imported, exactly as a user's shell would. Each costs one
TensorFlow import (a few seconds).
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hub_test_models import TOKEN, predict, tiny_model

import keras_cmod.hub as kh

pytestmark = pytest.mark.slow

REPO = "keras-cmod-test/tiny"
HERE = pathlib.Path(__file__).resolve().parent


def _run(script, tmp_path, **env_vars):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGING"))
    }
    env.update(
        HF_HUB_DISABLE_TELEMETRY="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=os.pathsep.join(
            [str(HERE), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep),
        **env_vars,
    )
    proc = subprocess.run(
        [sys.executable, str(path), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_keras_hf_uri_loads_our_repo_and_we_load_keras_pushes(
    fake_hub, tmp_path
):
    model = tiny_model(0)
    kh.push_to_hub(model, REPO, endpoint=fake_hub.endpoint, token=TOKEN)
    script = """
        import pathlib, sys
        import keras
        import numpy as np
        import hub_test_models  # registers TinyModulus

        out = pathlib.Path(sys.argv[1])
        # 1. Plain Keras loads a repo pushed by keras_cmod.hub.
        model = keras.saving.load_model("hf://keras-cmod-test/tiny")
        np.save(out / "ours.npy", hub_test_models.predict(model))
        # 2. Keras pushes a repo of its own; the parent loads it with us.
        other = hub_test_models.tiny_model(3)
        other.save("hf://keras-cmod-test/keras-pushed")
        np.save(out / "theirs.npy", hub_test_models.predict(other))
    """
    _run(
        script,
        tmp_path,
        HF_ENDPOINT=fake_hub.endpoint,
        HF_HOME=str(tmp_path / "hf_home"),
        HF_TOKEN=TOKEN,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "ours.npy"),
                                  predict(model))
    # Keras used the HF cache under HF_HOME, through our endpoint.
    assert (tmp_path / "hf_home/hub/models--keras-cmod-test--tiny").is_dir()
    assert fake_hub.count(path_contains="/api/models/keras-cmod-test/tiny")

    keras_files = fake_hub.files("keras-cmod-test/keras-pushed")
    assert "pretrained_cfg.json" not in keras_files
    loaded = kh.from_pretrained(
        "hf://keras-cmod-test/keras-pushed",
        endpoint=fake_hub.endpoint,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    np.testing.assert_array_equal(predict(loaded),
                                  np.load(tmp_path / "theirs.npy"))


def test_hf_hub_offline_env_loads_cached_revisions_with_zero_requests(
    fake_hub, tmp_path
):
    model = tiny_model(0)
    commit = kh.push_to_hub(model, REPO, endpoint=fake_hub.endpoint,
                            token=TOKEN)
    cache = tmp_path / "cache"
    kh.from_pretrained(REPO, endpoint=fake_hub.endpoint, cache_dir=cache,
                       progress=False)
    fake_hub.reset_requests()
    script = f"""
        import json, pathlib, sys
        import numpy as np
        import hub_test_models
        from huggingface_hub import constants
        import keras_cmod.hub as kh

        out = pathlib.Path(sys.argv[1])
        cache = out / "cache"
        assert constants.HF_HUB_OFFLINE is True  # read at import
        pinned = kh.from_pretrained("hf-hub:{REPO}@{commit}",
                                    cache_dir=cache)
        branch = kh.from_pretrained("{REPO}", cache_dir=cache)
        np.save(out / "pinned.npy", hub_test_models.predict(pinned))
        np.save(out / "branch.npy", hub_test_models.predict(branch))
        try:
            kh.from_pretrained("{REPO}-uncached", cache_dir=cache)
        except kh.HubNotCachedError as exc:
            (out / "error.json").write_text(json.dumps(str(exc)))
    """
    _run(
        script,
        tmp_path,
        HF_HUB_OFFLINE="1",
        # Requests, if any leaked, would reach the fake Hub and be counted.
        HF_ENDPOINT=fake_hub.endpoint,
        HF_HOME=str(tmp_path / "hf_home"),
    )
    assert fake_hub.count() == 0, fake_hub.requests
    np.testing.assert_array_equal(np.load(tmp_path / "pinned.npy"),
                                  predict(model))
    np.testing.assert_array_equal(np.load(tmp_path / "branch.npy"),
                                  predict(model))
    error = json.loads((tmp_path / "error.json").read_text())
    assert f"{REPO}-uncached" in error and "HF_HUB_OFFLINE" in error
