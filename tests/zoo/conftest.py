"""Fixtures for the zoo's Hub tests: the loopback fake Hub (as tests/hub).

`fake_hub` starts `FakeHub` (tests/fakehub.py) on 127.0.0.1 for one
test. It requests `no_real_hub` (tests/conftest.py), which points
huggingface_hub's import-time
constants (endpoint, cache) at a closed loopback port and a temporary
folder, so a call that forgot `endpoint=` / `cache_dir=` fails at once
instead of reaching huggingface.co or ~/.cache. Not autouse: the other zoo
tests do not import huggingface_hub.

`published_table` restores the registry's shipped published-weights table
after a test that applied another one with `zoo.reload_published(path)`.
"""

import pytest
from fakehub import FakeHub

# The bearer token the fake Hub accepts for writes.
TOKEN = "hf_fake_write_token_0123456789"


@pytest.fixture
def fake_hub(no_real_hub):
    """A fresh, empty fake Hub; writes need the `TOKEN` bearer token."""
    with FakeHub(token=TOKEN) as hub:
        yield hub


@pytest.fixture
def hub_token():
    """The write token of `fake_hub`."""
    return TOKEN


@pytest.fixture
def hf_cache(tmp_path):
    """A private Hugging Face cache directory (`cache_dir=`)."""
    path = tmp_path / "hf_cache"
    path.mkdir()
    return path


@pytest.fixture
def published_table():
    """Re-applies the shipped published.json after the test."""
    from keras_cmod import zoo

    yield
    zoo.reload_published()
