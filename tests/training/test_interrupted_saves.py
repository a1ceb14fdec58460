"""A run killed while it saves the trained model: nothing partial published.

The run is SIGKILLed at a chosen moment of its final save (fault_driver.py):
after `model.keras` is written to its temporary name, after the model
folder files are written to their temporary folder, or between moving the
new weights into place and moving the manifest. The rerun must finish with
the weights of an uninterrupted run and remove the dead writer's files, and
`push` must upload only the files the model folder's manifest names.
"""

import json
import os
import signal

import numpy as np
import pytest
from fakehub import FakeHub
from test_run_lock import run_fault, temp_files
from training_utils import load_weights, tail, tiny_args

import keras_cmod.hub as kh

pytestmark = pytest.mark.slow

TOKEN = "hf_fake_write_token_0123456789"
MODEL_FILES = {"config.json", "metadata.json", "model.weights.h5"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Final weights of the uninterrupted run."""
    folder = tmp_path_factory.mktemp("reference")
    done = run_fault(tiny_args(folder / "run", "--deterministic"),
                     "--dump-weights", folder / "weights.npz")
    assert done.returncode == 0, tail(done)
    return load_weights(folder / "weights.npz")


@pytest.mark.parametrize("where,left", [
    ("final-save", ".tmp-{pid}-model.keras"),
    ("model-files", ".tmp-{pid}-model-"),
])
def test_a_run_killed_in_its_final_save(where, left, reference, tmp_path):
    run = tmp_path / "run"
    killed = run_fault(tiny_args(run, "--deterministic"), "--kill-in", where)
    assert killed.returncode == -signal.SIGKILL, tail(killed)
    pid = json.loads((run / ".lock").read_text())["pid"]
    leftovers = temp_files(run)
    assert leftovers and all(n.startswith(left.format(pid=pid))
                             for n in leftovers), leftovers
    assert not (run / "metrics.json").exists()

    rerun = run_fault(tiny_args(run, "--deterministic"),
                      "--dump-weights", tmp_path / "resumed.npz")
    assert rerun.returncode == 0, tail(rerun)
    assert temp_files(run) == []
    for a, b in zip(load_weights(tmp_path / "resumed.npz"), reference,
                    strict=True):
        np.testing.assert_array_equal(a, b)

    # A stray temporary file (a writer killed with no rerun since) is not
    # published either: push sends what the manifest names.
    (run / ".tmp-4242-model.keras").write_bytes(b"partial")
    with FakeHub(token=TOKEN) as hub:
        kh.push_to_hub(run, "me/run", endpoint=hub.endpoint, token=TOKEN)
        files = hub.files("me/run")
    assert set(files) == MODEL_FILES | {
        "pretrained_cfg.json", "README.md", ".gitattributes"}, set(files)
    manifest = json.loads(files["pretrained_cfg.json"])["files"]
    assert set(manifest) == MODEL_FILES


def test_a_torn_model_folder_is_not_pushed(tmp_path):
    run = tmp_path / "run"
    first = run_fault(tiny_args(run, "--deterministic", epochs=1))
    assert first.returncode == 0, tail(first)
    old_manifest = (run / "pretrained_cfg.json").read_bytes()
    # One more epoch, killed after the new weights moved into place and
    # before the manifest did.
    torn = run_fault(tiny_args(run, "--deterministic", epochs=2),
                     "--kill-in", "model-files-move")
    assert torn.returncode == -signal.SIGKILL, tail(torn)
    assert (run / "pretrained_cfg.json").read_bytes() == old_manifest
    with FakeHub(token=TOKEN) as hub:
        with pytest.raises(kh.HubIntegrityError, match="model.weights.h5"):
            kh.push_to_hub(run, "me/run", endpoint=hub.endpoint,
                           token=TOKEN)
        assert hub.count() == 0  # refused before any request
        # The rerun completes the folder; then it is pushed.
        rerun = run_fault(tiny_args(run, "--deterministic", epochs=2))
        assert rerun.returncode == 0, tail(rerun)
        kh.push_to_hub(run, "me/run", endpoint=hub.endpoint, token=TOKEN)
        pushed = hub.files("me/run")
    assert pushed["model.weights.h5"] == (run / "model.weights.h5"
                                          ).read_bytes()
    assert os.path.getsize(run / "model.weights.h5") > 0
