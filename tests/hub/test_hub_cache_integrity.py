"""A cached file changed on disk is evicted, and downloaded again.

The fault is real: the bytes of a file in the Hugging Face cache are
overwritten after a successful download. The next load must fail with
the integrity error and remove that file from the cache, so that the
following load downloads it again from the (loopback) Hub and works.
"""

import os
import pathlib

import numpy as np
import pytest
from hub_test_models import predict, tiny_model

import keras_cmod.hub as kh

REPO = "keras-cmod-test/cache"


def _cached(cache, name):
    return [p for p in pathlib.Path(cache).rglob(name)
            if "snapshots" in p.parts]


@pytest.mark.parametrize("name", ["model.weights.h5", "config.json"])
def test_a_tampered_cache_file_is_evicted_then_fetched_again(
        name, fake_hub, hub_kw):
    model = tiny_model(0)
    commit = kh.push_to_hub(model, REPO, endpoint=hub_kw["endpoint"],
                            token=hub_kw["token"])
    source = f"{REPO}@{commit}"
    kh.from_pretrained(source, **hub_kw)
    (entry,) = _cached(hub_kw["cache_dir"], name)
    blob = pathlib.Path(os.path.realpath(entry))
    good = blob.read_bytes()
    middle = len(good) // 2
    flipped = bytes(b ^ 0xFF for b in good[middle:middle + 16])
    blob.write_bytes(good[:middle] + flipped + good[middle + 16:])

    fake_hub.reset_requests()
    with pytest.raises(kh.HubIntegrityError) as caught:
        kh.from_pretrained(source, **hub_kw)
    assert fake_hub.count() == 0  # pinned and cached: no request made
    message = str(caught.value)
    assert repr(name) in message and "removed from the cache" in message
    assert str(blob) in message and "downloads it again" in message
    assert not blob.exists() and not os.path.lexists(entry)

    loaded = kh.from_pretrained(source, **hub_kw)
    np.testing.assert_array_equal(predict(loaded), predict(model))
    assert fake_hub.count("GET", f"/{name}") == 1  # downloaded again
    assert blob.read_bytes() == good


def test_a_local_folder_is_never_modified(tmp_path):
    folder = kh.save_pretrained(tiny_model(0), tmp_path / "m")
    tiny_model(1).save_weights(str(folder / "model.weights.h5"))
    changed = (folder / "model.weights.h5").read_bytes()
    with pytest.raises(kh.HubIntegrityError, match="model.weights.h5"):
        kh.from_pretrained(folder)
    assert (folder / "model.weights.h5").read_bytes() == changed
