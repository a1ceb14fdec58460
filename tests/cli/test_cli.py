import subprocess
import sys

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
