import os
import subprocess
import sys

import pytest

from keras_cmod import __version__, cli


def test_version_and_help(capsys):
    try:
        cli.main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out
    assert cli.main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_list(capsys):
    assert cli.main(["list", "resnet18*cmod"]) == 0
    out = capsys.readouterr().out.split()
    assert out == ["resnet18_ablurpool_cmod", "resnet18_blurpool_cmod",
                   "resnet18_cmod"]


@pytest.mark.slow
def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "keras_cmod.cli",
                          "--version"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and __version__ in out.stdout


def test_info_on_a_registry_name(capsys):
    assert cli.main(["info", "resnet34_cmod"]) == 0
    out = capsys.readouterr().out
    assert "resnet34_cmod.in1k" in out and "none published" in out
    assert cli.main(["info", "resnet18_cmod.cifar10", "--json"]) == 0
    assert '"num_classes": 10' in capsys.readouterr().out


# -- light start-up ---------------------------------------------------------

LIGHT = """
import sys
from keras_cmod import cli
for argv in (["--help"], ["--version"], [], ["list"], ["train", "--help"],
             ["convert", "--help"], ["info", "--help"]):
    try:
        cli.main(argv)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print("HEAVY", sorted(m for m in ("tensorflow", "keras", "jax")
                      if m in sys.modules))
import keras_cmod
from keras_cmod import layers
print("LAYERS", keras_cmod.layers.CModConv2D.__name__,
      layers is keras_cmod.layers, "keras" in sys.modules)
# Keras imported after the package: `keras.saving.load_model` must find the
# registered layers and models, as before the package was lazy.
import keras
print("REGISTERED", all(keras.saving.get_registered_object(name)
                        is not None for name in (
    "keras_cmod>ResNet", "keras_cmod>AlexNet", "keras_cmod>CModConv2D")))
"""


@pytest.mark.slow
def test_help_and_version_import_neither_tensorflow_nor_keras():
    proc = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "HEAVY []" in lines, proc.stdout[-3000:]
    # The lazy package still gives its sub-packages on first access.
    assert "LAYERS CModConv2D True True" in lines
    assert "REGISTERED True" in lines


def test_the_help_table_matches_the_command_modules():
    full = cli.build_parser()
    action = full._subparsers._group_actions[0]
    helps = {a.dest: a.help for a in action._choices_actions}
    assert set(helps) == set(cli.COMMANDS)
    for name, (module, help_text) in cli.COMMANDS.items():
        assert helps[name] == help_text, name
        assert module in cli._COMMAND_MODULES
        assert action.choices[name].get_default("func").__module__ == module


def test_a_command_imports_only_its_module(capsys):
    parser = cli.build_parser("list")
    action = parser._subparsers._group_actions[0]
    assert action.choices["list"].get_default("func") is not None
    assert action.choices["evaluate"].get_default("func") is None


# -- TensorFlow's start-up log ------------------------------------------------

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR",
    "I0000 00:00:1796161766.945735    5242 port.cc:153] oneDNN custom "
    "operations are on.",
    "E0000 00:00:1796161806.652998    5500 cuda_platform.cc:52] failed "
    "call to cuInit: INTERNAL: CUDA error",
    "To enable the following instructions: AVX2 FMA, in other operations, "
    "rebuild TensorFlow with the appropriate compiler flags.",
]


@pytest.mark.parametrize("line", NOISE)
def test_startup_lines_are_recognised(line):
    assert cli._is_startup_noise(line)


@pytest.mark.parametrize("line", [
    "UserWarning: something the user must see",
    "keras-cmod evaluate: error: No class sub-folders",
    "I0000 is not how an absl line looks",
])
def test_other_lines_are_kept(line):
    assert not cli._is_startup_noise(line)


def test_the_quiet_import_keeps_what_is_not_startup_noise(tmp_path, capfd):
    import importlib.util

    path = tmp_path / "noisy_module.py"
    path.write_text(
        "import os, sys\n"
        f"os.write(2, ({NOISE[1]!r} + '\\n').encode())\n"
        "os.write(2, b'a real warning\\n')\n"
        "print('python-level line', file=sys.stderr)\n"
        "VALUE = 42\n"
    )
    spec = importlib.util.spec_from_file_location("noisy_module", path)
    module = importlib.util.module_from_spec(spec)
    cli._quiet(lambda: spec.loader.exec_module(module))
    assert module.VALUE == 42
    err = capfd.readouterr().err
    assert "a real warning" in err and "python-level line" in err
    assert "oneDNN" not in err


def _env_without_log_level():
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


@pytest.mark.slow
def test_a_cli_process_prints_no_tensorflow_startup_log(tmp_path):
    env = _env_without_log_level()
    # Control: without the CLI, this TensorFlow does print those lines.
    plain = subprocess.run(
        [sys.executable, "-c", "import tensorflow as tf; tf.constant(1.0)"],
        capture_output=True, text=True, timeout=300, env=env)
    assert any(cli._is_startup_noise(line)
               for line in plain.stderr.splitlines()), plain.stderr
    # The CLI builds a model (TensorFlow loaded, ops run), then fails on
    # the empty image folder: its stderr is that one line and nothing else.
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "keras_cmod.cli", "evaluate",
         "resnet18_cmod.cifar10", "--random-weights", "--dataset",
         f"folder:{empty}", "--output", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, proc.stderr  # the random-weights warning too
    assert lines[0].startswith("warning: RANDOM WEIGHTS")
    assert lines[1].startswith("keras-cmod evaluate: error: ")
    assert str(empty) in lines[1]


# -- expected failures and bugs ----------------------------------------------


@pytest.mark.parametrize("exc,needles", [
    (FileNotFoundError(2, "No such file or directory", "/data/x.h5"),
     ["No such file or directory", "/data/x.h5"]),
    (PermissionError(13, "Permission denied", "/root/out.json"),
     ["Permission denied", "/root/out.json"]),
    (IsADirectoryError(21, "Is a directory", "/tmp"), ["/tmp"]),
    (OSError("Unable to synchronously open file (truncated file)"),
     ["truncated file"]),
    (ValueError("line one\nline two"), ["line one line two"]),
    (TypeError("`momentum` must be a float. Received: momentum='0.9'"),
     ["momentum='0.9'"]),
    (KeyError("Unknown model 'resnt18'; did you mean 'resnet18'?"),
     ["resnt18"]),
])
def test_expected_failures_become_one_line(exc, needles):
    message = cli.error_message(exc)
    assert message is not None and "\n" not in message
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize("exc", [
    KeyError("name"), AttributeError("x"), RuntimeError("bug"),
    IndexError("list index out of range"), ZeroDivisionError(),
])
def test_bugs_are_not_expected_failures(exc):
    assert cli.error_message(exc) is None


def test_a_bug_keeps_its_traceback(monkeypatch):
    from keras_cmod.zoo import cli as zoo_cli

    def broken(args):
        raise RuntimeError("a bug in a command")

    monkeypatch.setattr(zoo_cli, "_run", broken)
    with pytest.raises(RuntimeError, match="a bug in a command"):
        cli.main(["list"])
