"""Bad input on every `keras-cmod` sub-command: one error line, exit 2.

This file owns that behaviour for every command; the command modules'
own test files test what the commands do.

Each case runs `keras_cmod.cli.main(ARGV)` in-process (a few through a
real `keras-cmod` subprocess) and asserts: exit status 2, exactly one
`error:` line on stderr naming the offending file or value, no traceback,
and nothing left in the output location the command was pointed at.
"""

import os
import shutil
import struct
import zipfile

import numpy as np
import pytest
from sweep import cli, one_error_line, snapshot

from keras_cmod import cli as kcli

MODEL = "resnet18_cmod.cifar10"


# -- files ------------------------------------------------------------------


def _png_bytes(size=40, seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return tf.io.encode_png(image).numpy()


def _jpeg_bytes(size=40, seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return tf.io.encode_jpeg(image).numpy()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Bad and good inputs, made once for the module."""
    import h5py

    root = tmp_path_factory.mktemp("sweep_cli_inputs")
    f = {}
    # A regular file, to put output paths under.
    f["file"] = root / "a_file"
    f["file"].write_text("not a folder\n")
    f["empty_dir"] = root / "empty_dir"
    f["empty_dir"].mkdir()

    # HDF5 weights: a truncated real file, and garbage with the suffix.
    good_h5 = root / "good.h5"
    with h5py.File(good_h5, "w") as h5:
        h5.create_dataset("x", data=np.arange(20000, dtype="float32"))
    data = good_h5.read_bytes()
    f["truncated_h5"] = root / "truncated.weights.h5"
    f["truncated_h5"].write_bytes(data[: len(data) // 3])
    f["garbage_h5"] = root / "garbage.weights.h5"
    f["garbage_h5"].write_bytes(b"this is not an HDF5 file" * 10)

    # State dicts: a good .npz, a corrupt and a truncated one, a .pt of
    # garbage, a truncated .safetensors.
    f["good_npz"] = root / "good.npz"
    np.savez(f["good_npz"], **{"conv1.weight": np.zeros((4, 3, 3, 3),
                                                        "float32")})
    raw = f["good_npz"].read_bytes()
    f["truncated_npz"] = root / "truncated.npz"
    f["truncated_npz"].write_bytes(raw[: len(raw) // 2])
    f["corrupt_npz"] = root / "corrupt.npz"
    f["corrupt_npz"].write_bytes(b"PK\x03\x04" + b"\x00garbage" * 20)
    f["garbage_pt"] = root / "garbage.pt"
    f["garbage_pt"].write_bytes(b"\x80\x02garbage" * 10)
    header = b'{"w": {"dtype": "F32", "shape": [100], ' \
             b'"data_offsets": [0, 400]}}'
    f["truncated_st"] = root / "truncated.safetensors"
    f["truncated_st"].write_bytes(struct.pack("<Q", len(header)) + header
                                  + b"\x00" * 40)

    # JSON: corrupt, and not UTF-8.
    f["corrupt_json"] = root / "corrupt.json"
    f["corrupt_json"].write_text('{"vertical": 1.0, ')
    f["latin1_json"] = root / "latin1.json"
    f["latin1_json"].write_bytes(b'{"notes": "\xe9t\xe9"}')

    # A model folder whose config.json is corrupt.
    f["bad_model_dir"] = root / "bad_model"
    f["bad_model_dir"].mkdir()
    (f["bad_model_dir"] / "config.json").write_text("{not json")
    (f["bad_model_dir"] / "model.weights.h5").write_bytes(
        f["garbage_h5"].read_bytes())

    # Image folders: one photo is a JPEG cut after its header.
    good = _png_bytes()
    f["trunc_jpeg_dir"] = root / "trunc_jpeg"
    for cls in ("cat", "dog"):
        (f["trunc_jpeg_dir"] / cls).mkdir(parents=True)
        (f["trunc_jpeg_dir"] / cls / "ok.png").write_bytes(good)
    jpeg = _jpeg_bytes()
    f["trunc_jpeg"] = f["trunc_jpeg_dir"] / "dog" / "broken.jpg"
    f["trunc_jpeg"].write_bytes(jpeg[: len(jpeg) // 3])
    f["demo_trunc_dir"] = root / "demo_trunc"
    f["demo_trunc_dir"].mkdir()
    (f["demo_trunc_dir"] / "broken.jpg").write_bytes(
        _jpeg_bytes(96)[:200])
    return f


@pytest.fixture
def out(tmp_path):
    """The output location of one case (does not exist yet)."""
    return tmp_path / "out"


@pytest.fixture(autouse=True)
def _offline_hub(tmp_path, monkeypatch):
    # huggingface_hub reads HF_HUB_OFFLINE once, when first imported:
    # import it before setting the variable and patch its constant, so that
    # offline mode does not outlive this file's tests.
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _run(argv, capsys):
    argv = [str(a) for a in argv]
    try:
        rc = kcli.main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    return rc, capsys.readouterr().err


def _check(rc, err, needles):
    assert rc == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err[-3000:]
    for needle in needles:
        assert str(needle).lower() in lines[0].lower(), lines[0]
    return lines[0]


def _fill(template, files, out):
    """Replaces `{name}` placeholders with fixture paths."""
    table = {k: str(v) for k, v in files.items()}
    table["out"] = str(out)
    return [str(t).format(**table) for t in template]


def _sweep(argv, needles, files, out, capsys, watch=None):
    argv = _fill(argv, files, out)
    needles = _fill(needles, files, out)
    watch = out if watch is None else watch
    before = snapshot(watch)
    existed = os.path.exists(watch)
    rc, err = _run(argv, capsys)
    line = _check(rc, err, needles)
    if not existed:
        assert not os.path.exists(watch), (
            f"{watch} was left behind: {sorted(snapshot(watch))}")
    else:
        assert snapshot(watch) == before, sorted(snapshot(watch) - before)
    return line


# -- cases --------------------------------------------------------------------
# (argv, needles): `{name}` is a path of the `files` fixture, `{out}` the
# case's output location (checked to be left as it was).

LIST_INFO_PULL_PUSH = [
    (["list", "--bogus-flag"], ["--bogus-flag"]),
    (["list", "--tags=yes"], ["--tags", "yes"]),
    (["info", "resnt34_cmod"], ["resnt34_cmod"]),
    (["info", "local-dir:{out}"], ["{out}"]),
    (["info", "{bad_model_dir}"], ["config.json"]),
    (["pull", "org/missing-repo", "--local-files-only"],
     ["org/missing-repo"]),
    (["pull", "not a repo id!"], ["not a repo id!"]),
    (["pull", "local-dir:{out}"], ["{out}"]),
    (["push", "{out}", "org/repo"], ["{out}"]),
    (["push", "{file}", "org/repo"], ["{file}"]),
    (["push", "{empty_dir}", "org/repo"], ["{empty_dir}"]),
    (["push", "{empty_dir}", "bad repo id!"], ["bad repo id!"]),
]

DEMO = [
    (["demo", "--repeats", "0", "--output", "{out}"], ["--repeats", "0"]),
    (["demo", "--batch-size", "0", "--output", "{out}"],
     ["--batch-size", "0"]),
    (["demo", "--repeats", "x", "--output", "{out}"], ["--repeats", "'x'"]),
    (["demo", "--images", "{out}/none", "--output", "{out}"],
     ["{out}/none"]),
    (["demo", "--images", "{empty_dir}", "--output", "{out}"],
     ["No images", "{empty_dir}"]),
    (["demo", "--images", "{demo_trunc_dir}", "--output", "{out}"],
     ["broken.jpg"]),
    (["demo", "--output", "{file}/sub"], ["{file}"]),
]

TRAIN_BASE = ["train", "--model", MODEL, "--dataset", "synthetic",
              "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2"]

TRAIN = [
    (["train", "--model", MODEL], ["--output"]),
    (["train", "--model", "resnt18_cmod", "--output", "{out}"],
     ["resnt18_cmod"]),
    ([*TRAIN_BASE, "--set", "learning_rate=-1", "--output", "{out}"],
     ["learning_rate", "-1"]),
    ([*TRAIN_BASE, "--set", "learning_rate=Infinity", "--output", "{out}"],
     ["learning_rate", "inf"]),
    ([*TRAIN_BASE, "--set", "bogus_field=1", "--output", "{out}"],
     ["bogus_field"]),
    ([*TRAIN_BASE, "--set", "model_kwargs.blur_sze=5", "--output",
      "{out}"], ["blur_sze"]),
    ([*TRAIN_BASE, "--epochs", "0", "--output", "{out}"], ["epochs", "0"]),
    ([*TRAIN_BASE, "--input-size", "8", "--output", "{out}"], ["8"]),
    ([*TRAIN_BASE, "--strategy", "tpu", "--output", "{out}"], ["tpu"]),
    ([*TRAIN_BASE, "--weights", "{truncated_h5}", "--output", "{out}"],
     ["truncated.weights.h5"]),
    ([*TRAIN_BASE, "--weights", "{out}/none.weights.h5", "--output",
      "{out}/run"], ["none.weights.h5"]),
    ([*TRAIN_BASE, "--output", "{file}"], ["{file}"]),
    ([*TRAIN_BASE, "--output", "{file}/run"], ["{file}"]),
    (["train", "--recipe", "no_such_recipe", "--output", "{out}"],
     ["no_such_recipe"]),
    (["train", "--recipe", "{corrupt_json}", "--output", "{out}"],
     ["corrupt.json"]),
    (["train", "--recipe", "{latin1_json}", "--output", "{out}"],
     ["latin1.json"]),
    (["train", "--model", MODEL, "--dataset", "folder:{trunc_jpeg_dir}",
      "--val-split", "none", "--epochs", "1", "--batch-size", "3",
      "--input-size", "32", "--num-classes", "2", "--output", "{out}"],
     ["broken.jpg"]),
]

EVAL_BASE = ["evaluate", MODEL, "--random-weights", "--dataset",
             "folder:{trunc_jpeg_dir}", "--num-images", "1"]

EVALUATE = [
    (["evaluate", MODEL, "--random-weights", "--dataset", "bogus_set",
      "--output", "{out}/r.json"], ["bogus_set"]),
    ([*EVAL_BASE, "--metrics", "nope", "--output", "{out}/r.json"],
     ["nope"]),
    (["evaluate", MODEL, "--random-weights", "--dataset",
      "folder:{trunc_jpeg_dir}", "--num-images", "0", "--output",
      "{out}/r.json"], ["--num-images", "0"]),
    ([*EVAL_BASE, "--batch-size", "0", "--output", "{out}/r.json"],
     ["--batch-size", "0"]),
    ([*EVAL_BASE, "--max-shift", "0", "--output", "{out}/r.json"],
     ["--max-shift", "0"]),
    ([*EVAL_BASE, "--num-classes", "0", "--output", "{out}/r.json"],
     ["--num-classes", "0"]),
    ([*EVAL_BASE, "--output", "{file}/r.json"], ["{file}"]),
    ([*EVAL_BASE, "--output", "{empty_dir}"], ["{empty_dir}"]),
    ([*EVAL_BASE, "--plots", "{file}", "--output", "{out}/r.json"],
     ["--plots", "{file}"]),
    ([*EVAL_BASE, "--weights", "x.weights.h5", "--output", "{out}/r.json"],
     ["--weights", "--random-weights"]),
    (["evaluate", MODEL, "--weights", "{out}/none.weights.h5", "--dataset",
      "folder:{trunc_jpeg_dir}", "--output", "{out}/r.json"],
     ["none.weights.h5"]),
    (["evaluate", MODEL, "--weights", "{truncated_h5}", "--dataset",
      "folder:{trunc_jpeg_dir}", "--output", "{out}/r.json"],
     ["truncated.weights.h5"]),
    (["evaluate", MODEL, "--weights", "{garbage_h5}", "--dataset",
      "folder:{trunc_jpeg_dir}", "--output", "{out}/r.json"],
     ["garbage.weights.h5"]),
    (["evaluate", "local-dir:{bad_model_dir}", "--dataset",
      "folder:{trunc_jpeg_dir}", "--output", "{out}/r.json"],
     ["{bad_model_dir}"]),
    (["evaluate", "resnt18_cmod", "--random-weights", "--dataset",
      "folder:{trunc_jpeg_dir}", "--output", "{out}/r.json"],
     ["resnt18_cmod"]),
    ([*EVAL_BASE, "--metrics", "consistency", "--reference", "XYZ",
      "--output", "{out}/r.json"], ["XYZ"]),
    ([*EVAL_BASE, "--metrics", "consistency", "--reference",
      "{corrupt_json}", "--output", "{out}/r.json"], ["corrupt.json"]),
    ([*EVAL_BASE, "--split", "train", "--output", "{out}/r.json"],
     ["--split", "train"]),
    (["evaluate", MODEL, "--random-weights", "--dataset", "folder:",
      "--output", "{out}/r.json"], ["folder:"]),
    (["evaluate", MODEL, "--random-weights", "--dataset",
      "folder:{trunc_jpeg_dir}", "--metrics", "accuracy", "--output",
      "{out}/r.json", "--allow-small-images"], ["broken.jpg"]),
]

CONVERT = [
    (["convert", "{good_npz}", "resnet18_cmod", "{out}/w.txt"], ["w.txt"]),
    (["convert", "{out}/none.npz", "resnet18_cmod", "{out}/w.weights.h5"],
     ["none.npz"]),
    (["convert", "{corrupt_npz}", "resnet18_cmod", "{out}/w.weights.h5"],
     ["corrupt.npz"]),
    (["convert", "{truncated_npz}", "resnet18_cmod", "{out}/w.weights.h5"],
     ["truncated.npz"]),
    (["convert", "{garbage_pt}", "resnet18_cmod", "{out}/w.weights.h5"],
     ["garbage.pt"]),
    (["convert", "{truncated_st}", "resnet18_cmod", "{out}/w.weights.h5"],
     ["truncated.safetensors"]),
    (["convert", "{good_npz}", "resnt18_cmod", "{out}/w.weights.h5"],
     ["resnt18_cmod"]),
    (["convert", "{good_npz}", "resnet18_cmod", "{file}/w.weights.h5"],
     ["{file}"]),
    (["convert", "{good_npz}", "resnet18_cmod", "{out}/w.weights.h5",
      "--num-classes", "0"], ["--num-classes", "0"]),
    (["convert", "{good_npz}", "resnet18_cmod", "{out}/w.weights.h5",
      "--input-size", "0"], ["--input-size", "0"]),
]

BENCHMARK = [
    (["benchmark", "nope", "--output", "{out}"], ["nope"]),
    (["benchmark", "stem", "--repeats", "0", "--output", "{out}"],
     ["repeats=0", ">= 1"]),
    (["benchmark", "stem", "--output", "{file}/sub"], ["{file}"]),
]

CASES = (LIST_INFO_PULL_PUSH + DEMO + TRAIN + EVALUATE + CONVERT
         + BENCHMARK)


def _ids(cases):
    return [f"{argv[0]}-{i}-" + "_".join(n.strip("{}-") for n in needles)
            for i, (argv, needles) in enumerate(cases)]


@pytest.mark.parametrize("argv,needles", CASES, ids=_ids(CASES))
def test_bad_input_is_one_error_line(argv, needles, files, out, capsys,
                                     monkeypatch):
    if argv[0] == "push":
        # Online, towards a closed loopback port: the local folder must be
        # refused before any request.
        from huggingface_hub import constants

        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        monkeypatch.setenv("HF_TOKEN", "hf_fake")
    _sweep(argv, needles, files, out, capsys)


def test_unknown_command_is_one_error_line(capsys):
    rc, err = _run(["evalute", "x"], capsys)
    _check(rc, err, ["evalute", "evaluate"])


# -- real processes ---------------------------------------------------------

# (tests/cli/test_cli.py runs one more: a failing command in a process
# without TF_CPP_MIN_LOG_LEVEL, whose stderr is that one line.)
SUBPROCESS = [
    ([*EVAL_BASE, "--output", "{file}/r.json"], ["{file}"]),
    ([*TRAIN_BASE, "--output", "{file}"], ["{file}"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv,needles", SUBPROCESS, ids=_ids(SUBPROCESS))
def test_bad_input_in_a_process(argv, needles, files, out):
    argv = _fill(argv, files, out)
    # Level 3 as the CLI's default: TensorFlow's E-level lines (which
    # contain "error:") would otherwise count as error lines.
    proc = cli(argv, timeout=300, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 2, proc.stderr[-3000:]
    one_error_line(proc, *_fill(needles, files, out))
    assert not os.path.exists(out)


def test_nothing_is_left_when_a_run_folder_is_refused(files, tmp_path,
                                                      capsys):
    """A nested --output whose parents are missing: all of it is gone."""
    target = tmp_path / "a" / "b" / "run"
    rc, err = _run([*TRAIN_BASE, "--strategy", "tpu", "--output", target],
                   capsys)
    _check(rc, err, ["tpu"])
    assert not (tmp_path / "a").exists()


def test_an_existing_output_folder_is_kept(files, tmp_path, capsys):
    """The CLI removes only folders it created itself."""
    target = tmp_path / "existing"
    target.mkdir()
    (target / "mine.txt").write_text("user data\n")
    rc, err = _run([*TRAIN_BASE, "--set", "learning_rate=-1", "--output",
                    target], capsys)
    _check(rc, err, ["learning_rate"])
    assert (target / "mine.txt").read_text() == "user data\n"
    shutil.rmtree(target)


def test_zip_errors_are_expected_failures():
    assert kcli.error_message(zipfile.BadZipFile("File is not a zip file"))
