"""Fixtures for the Hub tests: a loopback fake Hub and a private HF cache.

`fake_hub` starts `FakeHub` from tests/fakehub.py (a ThreadingHTTPServer on
127.0.0.1, port 0, in a daemon thread) for one test and stops it after.
The real huggingface_hub client talks to it over TCP: pass
`endpoint=fake_hub.endpoint` per call, or, for code that cannot take an
endpoint (Keras' `hf://` loader), set `HF_ENDPOINT` in a subprocess before
huggingface_hub is imported (see test_hub_keras_compat.py).

To reuse these fixtures in other test folders (e.g. tests/zoo), move them to
tests/conftest.py or import them there:
`from fakehub import FakeHub`.
"""

import pytest
from fakehub import FakeHub
from hub_test_models import TOKEN


@pytest.fixture(autouse=True)
def _no_real_hub(no_real_hub):
    """Every Hub test runs away from huggingface.co (tests/conftest.py)."""
    yield


@pytest.fixture
def fake_hub():
    """A fresh, empty fake Hub; writes need the `TOKEN` bearer token."""
    with FakeHub(token=TOKEN) as hub:
        yield hub


@pytest.fixture
def hf_cache(tmp_path):
    """A private Hugging Face cache directory (`cache_dir=`)."""
    path = tmp_path / "hf_cache"
    path.mkdir()
    return path


@pytest.fixture
def hub_kw(fake_hub, hf_cache):
    """Keyword arguments pointing keras_cmod.hub at the fake Hub."""
    return {
        "endpoint": fake_hub.endpoint,
        "token": TOKEN,
        "cache_dir": hf_cache,
        "progress": False,
    }
