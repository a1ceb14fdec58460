"""TrainConfig JSON round trip, validation (every field's bad values),
overrides, recipes, CLI parsing."""

import argparse
import filecmp
import importlib.util
import json
import os

import pytest
from sweep import rejects

from keras_cmod import zoo
from keras_cmod.training import cli
from keras_cmod.training.config import (
    TrainConfig,
    find_recipe,
    list_recipes,
    load_recipe,
    parse_overrides,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ZOO_RECIPES = os.path.join(REPO, "zoo", "recipes")
PACKAGED = os.path.join(REPO, "keras_cmod", "training", "recipes")


def test_json_round_trip(tmp_path):
    cfg = TrainConfig(model="resnet34_cmod.in1k", input_size=[64, 48],
                      model_kwargs={"blur_size": 5}, mixed_precision="bfloat16",
                      val_split=None, learning_rate=1)
    assert isinstance(cfg.validate().learning_rate, int)
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg.replace(learning_rate=1.0)
    assert isinstance(again.learning_rate, float)
    path = tmp_path / "c.json"
    cfg.save(path)
    assert TrainConfig.load(path) == again
    assert json.loads(path.read_text())["input_size"] == [64, 48]


def test_unknown_fields_are_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"'modle' \(did you mean 'model'"):
        TrainConfig.from_dict({"modle": "resnet18", "epochs": 3})
    with pytest.raises(ValueError, match="Unknown training config field"):
        TrainConfig().with_overrides(["no_such_field=1"])


# Values only `replace` sees in context (several fields together).
@pytest.mark.parametrize(
    "changes, match",
    [
        ({"epochs": 2.5}, "epochs"),
        ({"dataset": "cifar100"}, "Unknown dataset 'cifar100'"),
        ({"dataset": "folder:"}, "dataset"),
        ({"pretrained": True, "weights": "w.h5"}, "either"),
        ({"dataset": "folder:/data/x", "val_split": "train_minus_heldout"},
         "validation folder"),
    ],
)
def test_invalid_values(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig().replace(**changes)


BASE = dict(model="tiny_plain", dataset="synthetic", input_size=[8, 8],
            num_classes=4, epochs=1, steps_per_epoch=1, batch_size=4,
            val_split=None, synthetic_train_size=8)

# (changes, needles): every field's bad values, each error naming the
# field and the value or what is allowed.
CONFIGS = [
    ({"learning_rate": float("inf")}, ["learning_rate", "inf", "finite"]),
    ({"learning_rate": float("nan")}, ["learning_rate", "nan"]),
    ({"learning_rate": 0.0}, ["learning_rate", "> 0"]),
    ({"learning_rate": -1.0}, ["learning_rate", "-1.0"]),
    ({"learning_rate": "0.1"}, ["learning_rate", "'0.1'"]),
    ({"lr_gamma": 0.0}, ["lr_gamma", "> 0"]),
    ({"momentum": 1.0}, ["momentum", "[0, 1)"]),
    ({"momentum": float("-inf")}, ["momentum", "-inf"]),
    ({"weight_decay": float("nan")}, ["weight_decay", "nan"]),
    ({"batch_size": 0}, ["batch_size", ">= 1"]),
    ({"batch_size": 2.5}, ["batch_size", "2.5"]),
    ({"batch_size": True}, ["batch_size", "True"]),
    ({"epochs": 0}, ["epochs", ">= 1"]),
    ({"epochs": "10"}, ["epochs", "'10'"]),
    ({"steps_per_epoch": 0}, ["steps_per_epoch", ">= 1"]),
    ({"grad_accum_steps": -2}, ["grad_accum_steps", "-2"]),
    ({"input_size": [8, 0]}, ["input_size", "positive ints"]),
    ({"input_size": [8]}, ["input_size", "[height, width]"]),
    ({"num_classes": 0}, ["num_classes", ">= 1"]),
    ({"strategy": "gpu"}, ["strategy", "'tpu'"]),
    ({"mixed_precision": "fp16"}, ["mixed_precision", "'float16'"]),
    ({"lr_schedule": "cosine"}, ["lr_schedule", "'step'"]),
    ({"keep_checkpoints": 0}, ["keep_checkpoints", ">= 1"]),
    ({"seed": -1}, ["seed", ">= 0"]),
    ({"model_kwargs": [1]}, ["model_kwargs", "JSON object"]),
    ({"dataset": "cifar-10"}, ["cifar-10", "'cifar10'"]),
    ({"epochz": 3}, ["epochz", "epochs"]),
]


@pytest.mark.parametrize("changes,needles", CONFIGS)
def test_invalid_config_values(changes, needles, tmp_path):
    values = dict(BASE, **changes)
    rejects(lambda: TrainConfig.from_dict(values), (ValueError, TypeError),
            *needles, directory=tmp_path)


def test_parse_overrides():
    assert parse_overrides(["epochs=3", "val_split=null", "dataset=cifar10",
                            "input_size=[64,64]", "nesterov=true"]) == [
        ("epochs", 3), ("val_split", None), ("dataset", "cifar10"),
        ("input_size", [64, 64]), ("nesterov", True)]
    cfg = TrainConfig().with_overrides(
        ["model_kwargs.packet_penalty=[0,0.1,0.01]", "lr-gamma=0.5"])
    assert cfg.model_kwargs == {"packet_penalty": [0, 0.1, 0.01]}
    assert cfg.lr_gamma == 0.5
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["epochs"])
    with pytest.raises(ValueError, match="model_kwargs"):
        TrainConfig().with_overrides(["seed.x=1"])


# ------------------------------------------------------------------ recipes
def _variant(arch):
    return arch.split("_", 1)[1] if "_" in arch else ""


def test_recipes_follow_the_paper_protocol():
    names = list_recipes()
    assert len(names) == 33  # 6 AlexNet + 9 ResNet-34 (ImageNet), 18 CIFAR
    for name in names:
        cfg = load_recipe(name)
        arch, tag = name.split(".")
        assert cfg.model == name
        assert zoo.get_pretrained_cfg(cfg.model).name == name
        assert (cfg.momentum, cfg.weight_decay, cfg.lr_gamma) == (
            0.9, 1e-4, 0.1)
        assert cfg.mixed_precision is None and cfg.lr_schedule == "step"
        assert (cfg.train_split, cfg.val_split) == (
            "train_minus_heldout", "heldout")
        twin = "twin" in arch or "cmod" in arch
        zou = "ablurpool" in arch
        if tag == "in1k":
            assert (cfg.dataset, cfg.epochs, cfg.lr_step_epochs) == (
                "imagenet2012", 90, 30)
            assert cfg.learning_rate == (0.01 if arch.startswith("alexnet")
                                         else 0.1)
            assert (cfg.batch_size, cfg.grad_accum_steps) == (
                (128, 2) if zou else (256, 1))
        else:
            assert (cfg.dataset, cfg.epochs, cfg.lr_step_epochs) == (
                "cifar10", 300, 100)
            assert (cfg.learning_rate, cfg.batch_size,
                    cfg.grad_accum_steps) == (0.1, 256, 1)
        if arch.startswith("alexnet") and twin:
            assert cfg.model_kwargs == {
                "packet_penalty": [0.0, 0.0041, 0.00032]}
        else:
            assert cfg.model_kwargs == {}


def test_packaged_recipes_are_the_zoo_recipes():
    # keras_cmod/training/recipes links to zoo/recipes in a checkout and is
    # a copy of it in a built wheel: either way the same files.
    zoo_files = sorted(os.listdir(ZOO_RECIPES))
    assert zoo_files == sorted(os.listdir(PACKAGED))
    match, mismatch, errors = filecmp.cmpfiles(
        ZOO_RECIPES, PACKAGED, zoo_files, shallow=False)
    assert not mismatch and not errors, (
        f"run `python scripts/make_recipes.py`: {mismatch + errors}")


def test_recipe_files_match_the_generator():
    spec = importlib.util.spec_from_file_location(
        "make_recipes", os.path.join(REPO, "scripts", "make_recipes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, cfg in module.recipes().items():
        with open(os.path.join(ZOO_RECIPES, f"{name}.json")) as f:
            assert f.read() == cfg.to_json() + "\n", name


def test_find_recipe_by_name_underscore_name_and_path(tmp_path):
    path = find_recipe("resnet18_cmod.cifar10")
    assert path.endswith("resnet18_cmod.cifar10.json")
    assert find_recipe("resnet18_cmod_cifar10") == path
    own = tmp_path / "mine.json"
    own.write_text(TrainConfig(epochs=7).to_json())
    assert find_recipe(str(own)) == str(own)
    assert load_recipe(str(own)).epochs == 7
    with pytest.raises(FileNotFoundError, match="resnet18_cmod.cifar10"):
        find_recipe("resnet18_cmd.cifar10")
    with pytest.raises(FileNotFoundError, match="not found"):
        find_recipe(str(tmp_path / "missing.json"))


def test_recipe_with_unknown_field_fails_before_any_work(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    values = TrainConfig().to_dict()
    values["warmup_epochs"] = 5
    bad.write_text(json.dumps(values))
    with pytest.raises(ValueError, match="warmup_epochs"):
        load_recipe(str(bad))
    out = tmp_path / "run"
    rc = cli.main(["train", "--recipe", str(bad), "--output", str(out)])
    assert rc == 2
    assert "warmup_epochs" in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------------- CLI
def _parse(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli.register(sub)
    return parser.parse_args(["train"] + argv)


def test_register_adds_the_train_command():
    args = _parse(["--recipe", "resnet18.cifar10", "--output", "x"])
    assert args.func is cli.run_train
    assert args.command == "train"


def test_config_precedence_recipe_flags_set():
    args = _parse([
        "--recipe", "alexnet_cmod.in1k", "--epochs", "3", "--lr", "0.5",
        "--batch-size", "64", "--val-split", "none",
        "--mixed-precision", "float16", "--deterministic",
        "--input-size", "64x48", "--set", "epochs=4",
        "--set", "model_kwargs.packet_penalty=[0,0,0.1]",
    ])
    cfg = cli.config_from_args(args)
    recipe = load_recipe("alexnet_cmod.in1k")
    assert cfg.epochs == 4  # --set wins over the flag
    assert cfg.learning_rate == 0.5 and cfg.batch_size == 64
    assert cfg.val_split is None and cfg.mixed_precision == "float16"
    assert cfg.deterministic is True and cfg.input_size == [64, 48]
    assert cfg.model_kwargs == {"packet_penalty": [0, 0, 0.1]}
    # Untouched fields come from the recipe, not from the defaults.
    assert cfg.dataset == recipe.dataset == "imagenet2012"
    assert cfg.lr_step_epochs == 30
    cfg = cli.config_from_args(_parse(["--recipe", "alexnet_cmod.in1k",
                                       "--mixed-precision", "none"]))
    assert cfg == recipe


def test_print_config_and_list_recipes(capsys):
    assert cli.main(["train", "--recipe", "resnet34_cmod.in1k",
                     "--epochs", "5", "--print-config"]) == 0
    printed = TrainConfig.from_json(capsys.readouterr().out)
    assert printed == load_recipe("resnet34_cmod.in1k").replace(epochs=5)
    assert cli.main(["train", "--list-recipes"]) == 0
    assert "resnet18_cmod.cifar10" in capsys.readouterr().out.split()


def test_output_is_required(capsys):
    assert cli.main(["train", "--model", "resnet18.cifar10"]) == 2
    assert "--output" in capsys.readouterr().err
