"""The dependency direction of the package, enforced on the source.

wavelets (numpy) -> layers (keras.ops) -> models (keras) -> zoo -> ...;
TensorFlow only in data/ and training/ at module level (lazily, inside
functions, in the tools that measure TensorFlow itself).
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "keras_cmod"


def imports(path, top_level_only=False):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def files(package):
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package,allowed", [
    ("wavelets", {"numpy", "math", "importlib", "keras_cmod.wavelets"}),
    # `dataclasses`: the twin stem's table of family numbers. No `os`: the
    # ops a layer runs never depend on the environment.
    ("layers", {"keras", "numpy", "dataclasses", "keras_cmod.wavelets",
                "keras_cmod.layers"}),
    ("models", {"keras", "numpy", "keras_cmod.errors", "keras_cmod.layers",
                "keras_cmod.models"}),
])
def test_core_imports_only_what_it_may(package, allowed):
    for path in files(package):
        for name in imports(path):
            ok = any(name == a or name.startswith(a + ".") for a in allowed)
            assert ok, f"{path.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("package", ["zoo", "hub", "evaluation", "convert",
                                     "benchmarks"])
def test_no_module_level_tensorflow_outside_data_and_training(package):
    for path in files(package):
        for name in imports(path, top_level_only=True):
            top = name.split(".")[0]
            assert top not in {"tensorflow", "tensorflow_datasets"}, (
                f"{path.relative_to(ROOT)} imports {name} at module level")


def test_models_never_import_the_zoo():
    for package in ("layers", "models", "wavelets"):
        for path in files(package):
            for name in imports(path):
                assert not name.startswith(("keras_cmod.zoo",
                                            "keras_cmod.hub",
                                            "keras_cmod.data",
                                            "keras_cmod.training"))


@pytest.mark.slow
def test_import_keras_cmod_is_light():
    # (Keras itself already imports huggingface_hub and matplotlib stubs.)
    code = ("import sys, keras_cmod; "
            "print(any(m.startswith(('tensorflow_datasets', "
            "'keras_cmod.data', 'keras_cmod.training', 'keras_cmod.hub')) "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_one_unknown_argument_error():
    """The models and the registry raise the same class: one `except`
    catches a misspelt argument wherever it is checked."""
    import keras_cmod.errors
    from keras_cmod import zoo
    from keras_cmod.models import heads

    assert zoo.UnknownArgumentError is keras_cmod.errors.UnknownArgumentError
    assert heads.UnknownArgumentError is keras_cmod.errors.UnknownArgumentError
    try:
        zoo.create_model("resnet18.cifar10", blur_sze=5)
    except keras_cmod.errors.UnknownArgumentError as exc:
        assert "blur_sze" in str(exc)
    else:  # pragma: no cover - the failure
        raise AssertionError("blur_sze was accepted")
