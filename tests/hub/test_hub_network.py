"""Against the real Hugging Face Hub: opt-in with `pytest --run_network`.

The first test needs nothing but the network. The round trip also needs a
token with write access in HF_TOKEN and a namespace to write to in
KERAS_CMOD_TEST_NAMESPACE; it pushes a private repo and deletes it after.
"""

import os
import uuid

import numpy as np
import pytest
from hub_test_models import predict, tiny_model

import keras_cmod.hub as kh

pytestmark = pytest.mark.network

ENDPOINT = "https://huggingface.co"
# Read at import: the autouse fixture of conftest.py clears HF_TOKEN.
WRITE_TOKEN = os.environ.get("HF_TOKEN")
NAMESPACE = os.environ.get("KERAS_CMOD_TEST_NAMESPACE")


def test_real_hub_missing_repo_is_a_clear_error(tmp_path):
    repo = f"keras-cmod-tests/does-not-exist-{uuid.uuid4().hex[:8]}"
    with pytest.raises(kh.HubRepositoryNotFoundError, match=repo):
        kh.from_pretrained(repo, endpoint=ENDPOINT, cache_dir=tmp_path,
                           progress=False)


@pytest.mark.skipif(
    not (WRITE_TOKEN and NAMESPACE),
    reason="needs HF_TOKEN (write) and KERAS_CMOD_TEST_NAMESPACE",
)
def test_real_hub_push_then_load_by_sha_and_offline(tmp_path):
    from huggingface_hub import HfApi

    repo = f"{NAMESPACE}/keras-cmod-ci-{uuid.uuid4().hex[:8]}"
    model = tiny_model(0)
    kw = {"endpoint": ENDPOINT, "token": WRITE_TOKEN}
    try:
        commit = kh.push_to_hub(model, repo, private=True, **kw)
        loaded = kh.from_pretrained(f"hf-hub:{repo}@{commit}",
                                    cache_dir=tmp_path, progress=False, **kw)
        np.testing.assert_array_equal(predict(loaded), predict(model))
        offline = kh.from_pretrained(f"{repo}@{commit}", cache_dir=tmp_path,
                                     local_files_only=True)
        np.testing.assert_array_equal(predict(offline), predict(model))
    finally:
        HfApi(**kw).delete_repo(repo, missing_ok=True)
