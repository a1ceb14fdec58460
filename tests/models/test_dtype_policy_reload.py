"""Mixed precision survives `model.save` / `keras.saving.load_model`.

A model created under `mixed_float16` is rebuilt by `from_config` in a
process whose global policy is float32: every layer must come back with the
policy it was saved with (as `keras.applications.ResNet50`'s do), and the
logits must be the same.
"""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_cmod import zoo

CASES = [
    ("resnet18_cmod.cifar10", {}),
    ("alexnet_cmod", {"input_shape": (64, 64, 3), "num_classes": 5}),
]


@pytest.fixture
def mixed_float16():
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    yield
    keras.config.set_dtype_policy(saved)


def _policies(model):
    return {layer.path or layer.name: layer.dtype_policy.name
            for layer in model._flatten_layers(include_self=True,
                                               recursive=True)}


@pytest.mark.parametrize("name,kwargs", CASES)
def test_policies_and_logits_survive_a_reload_under_float32(
        name, kwargs, mixed_float16, tmp_path):
    model = zoo.create_model(name, **kwargs)
    before = _policies(model)
    assert model.dtype_policy.name == "mixed_float16"
    # Every layer but the float32 logits computes in float16.
    assert sorted(set(before.values())) == ["float32", "mixed_float16"]
    assert list(before.values()).count("mixed_float16") > 10
    size = model.input_shape[1]
    x = np.random.RandomState(0).rand(2, size, size, 3).astype("float32")
    logits = np.asarray(model(x, training=False))
    path = tmp_path / "m.keras"
    model.save(path)

    keras.config.set_dtype_policy("float32")  # as in a fresh process
    again = keras.saving.load_model(path)
    assert _policies(again) == before
    np.testing.assert_array_equal(np.asarray(again(x, training=False)),
                                  logits)
    # Saved again from the reloaded model: still mixed precision.
    assert again.get_config()["dtype"]["config"]["name"] == "mixed_float16"


def test_an_explicit_dtype_wins_over_the_global_policy(mixed_float16):
    model = zoo.create_model("resnet18.cifar10", dtype="float32")
    assert set(_policies(model).values()) == {"float32"}
    # The global policy is left as it was.
    assert keras.config.dtype_policy().name == "mixed_float16"


_SAVE = textwrap.dedent("""
    import sys

    import keras
    import numpy as np

    from keras_cmod import zoo

    keras.config.set_dtype_policy("mixed_float16")
    model = zoo.create_model("resnet18_cmod.cifar10")
    model.compile(optimizer="sgd", loss=keras.losses.
                  SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.RandomState(0)
    x = rng.rand(4, 32, 32, 3).astype("float32")
    model.fit(x, np.arange(4) % 10, epochs=1, batch_size=4, verbose=0)
    model.save(sys.argv[1] + "/m.keras")
    np.save(sys.argv[1] + "/x.npy", x)
    np.save(sys.argv[1] + "/y.npy", np.asarray(model(x, training=False)))
""")

_LOAD = textwrap.dedent("""
    import json
    import sys

    import keras
    import numpy as np

    import keras_cmod  # registers the classes load_model needs

    model = keras.saving.load_model(sys.argv[1] + "/m.keras")
    x = np.load(sys.argv[1] + "/x.npy")
    y = np.load(sys.argv[1] + "/y.npy")
    print(json.dumps({
        "policies": sorted(layer.dtype_policy.name for layer in
                           model._flatten_layers(include_self=True,
                                                 recursive=True)),
        "max_diff": float(np.abs(np.asarray(model(x, training=False))
                                 - y).max()),
    }))
""")


@pytest.mark.slow
def test_fit_save_then_load_in_a_fresh_process(tmp_path):
    def run(code):
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    run(_SAVE)
    result = json.loads(run(_LOAD).strip().splitlines()[-1])
    policies = result["policies"]
    assert policies.count("float32") == 1  # the logits layer
    assert set(policies) == {"float32", "mixed_float16"}
    assert len(policies) > 70
    assert result["max_diff"] == 0.0
