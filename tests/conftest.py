import os
import time

# Quiet TensorFlow's C++ logging; must be set before tensorflow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Never let a test reach the real Hub by accident.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--run_large",
        action="store_true",
        default=False,
        help="run tests marked `large` (full-size models, long runs)",
    )
    parser.addoption(
        "--run_network",
        action="store_true",
        default=False,
        help="run tests marked `network` (the real Hugging Face Hub)",
    )


def pytest_collection_modifyitems(config, items):
    try:
        import keras

        has_gpu = keras.backend.backend() == "jax" and any(
            d.platform == "gpu" for d in __import__("jax").devices()
        )
    except Exception:  # pragma: no cover
        has_gpu = False
    skip_network = pytest.mark.skip(reason="needs --run_network")
    skip_gpu = pytest.mark.skip(reason="needs an accelerator")
    kept, large = [], []
    for item in items:
        if "large" in item.keywords and not config.getoption("--run_large"):
            large.append(item)
            continue
        kept.append(item)
        if "network" in item.keywords and not config.getoption(
            "--run_network"
        ):
            item.add_marker(skip_network)
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)
    # `large` tests (full-size models everywhere) are opt-in: deselected,
    # not skipped, so that neither tier lists them.
    if large:
        config.hook.pytest_deselected(items=large)
        items[:] = kept


def pytest_configure(config):
    # Full float32 matmuls on accelerators (no TF32), as Keras' own tests do.
    import keras

    if keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)


# Keras' global state as `set_random_seed` and `set_dtype_policy` leave it:
# a test that added anything else built layers, models or variables.
_IDLE_KERAS_STATE = {"nnx_enabled", "global_random_seed",
                     "global_seed_generator", "dtype_policy"}


@pytest.fixture(autouse=True)
def _seed_and_clear():
    """Deterministic seeds, and a clean Keras session after every test
    that used one.

    `clear_session()` costs a garbage collection (a quarter of a second
    to two seconds with TensorFlow loaded): skipped after numpy-only
    tests, and the collection itself is left to Python after tests that
    took less than 5 s (they built no large model).
    """
    import keras
    from keras.src.backend.common import global_state

    keras.utils.set_random_seed(0)
    np.random.seed(0)
    start = time.perf_counter()
    yield
    keras.config.set_dtype_policy("float32")
    used = set(vars(global_state.GLOBAL_STATE_TRACKER)) - _IDLE_KERAS_STATE
    if used:
        heavy = time.perf_counter() - start > 5.0
        keras.backend.clear_session(free_memory=heavy)


@pytest.fixture(scope="session")
def data_dir():
    return os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture
def no_real_hub(monkeypatch, tmp_path):
    """Keep a test away from huggingface.co and the home cache.

    huggingface_hub reads HF_ENDPOINT / HF_HUB_CACHE at import time; a call
    that forgot `endpoint=` / `cache_dir=` would go to huggingface.co and
    ~/.cache. Point those import-time constants at a closed loopback port
    and a temporary cache instead, so such a call fails at once, visibly.
    This redirects; it does not mock any client code.
    """
    from huggingface_hub import constants

    dead = "http://127.0.0.1:9"  # discard port: connection refused
    monkeypatch.setattr(constants, "ENDPOINT", dead)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        dead + "/{repo_id}/resolve/{revision}/{filename}",
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
