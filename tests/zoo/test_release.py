"""scripts/release.py end to end, against the loopback fake Hub.

Nothing is trained: a randomly initialised `resnet18_cmod.cifar10`, saved
with `save_pretrained`, is evaluated on three photos, pushed, and recorded
in temporary copies of zoo/results.csv and keras_cmod/zoo/published.json
(the repository's own files are never modified).
"""

import csv
import datetime
import hashlib
import importlib.util
import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from keras_cmod import hub, zoo

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "resnet18_cmod.cifar10"
REPO = "keras-cmod-test/resnet18_cmod-cifar10"


def _load_release():
    spec = importlib.util.spec_from_file_location(
        "keras_cmod_release_script", ROOT / "scripts" / "release.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release = _load_release()


@pytest.fixture
def photos(tmp_path):
    data = pytest.importorskip("skimage.data")
    root = tmp_path / "photos"
    for cls, image in (("cat", data.chelsea()), ("airplane",
                                                 data.astronaut()),
                       ("ship", data.coffee())):
        (root / cls).mkdir(parents=True)
        small = tf.image.resize(image, (96, 96), antialias=True)
        png = tf.io.encode_png(tf.cast(tf.round(small), tf.uint8))
        (root / cls / "photo.png").write_bytes(png.numpy())
    return root


@pytest.fixture
def zoo_copy(tmp_path):
    """Temporary copies of zoo/results.csv and published.json."""
    zoo_dir = tmp_path / "zoo"
    zoo_dir.mkdir()
    shutil.copy(ROOT / "zoo" / "results.csv", zoo_dir / "results.csv")
    published = tmp_path / "published.json"
    shutil.copy(ROOT / "keras_cmod" / "zoo" / "published.json", published)
    return zoo_dir, published


@pytest.fixture
def repo_files():
    """The repository's own zoo files must be unchanged by the tests."""
    paths = [ROOT / "zoo" / "results.csv", ROOT / "zoo" / "README.md",
             ROOT / "keras_cmod" / "zoo" / "published.json"]
    before = {p: p.read_bytes() for p in paths}
    yield
    assert {p: p.read_bytes() for p in paths} == before


def _weights(model):
    return {layer.name: layer.get_weights() for layer in model.layers
            if layer.weights}


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        for x, y in zip(wa[name], wb[name]):
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.slow
def test_release_end_to_end(fake_hub, hub_token, hf_cache, photos, zoo_copy,
                            tmp_path, monkeypatch, capsys, published_table,
                            repo_files):
    monkeypatch.setenv("HF_TOKEN", hub_token)  # never on the command line
    zoo_dir, published = zoo_copy
    trained = zoo.create_model(NAME)
    model_dir = hub.save_pretrained(trained, tmp_path / "trained",
                                    pretrained_cfg=trained.pretrained_cfg)

    rc = release.main([
        str(model_dir), NAME, REPO, "--dataset", f"folder:{photos}",
        "--metrics", "accuracy,consistency,kl", "--num-images", "3",
        "--endpoint", fake_hub.endpoint, "--zoo-dir", str(zoo_dir),
        "--published-json", str(published), "--no-progress",
        "--results-json", str(tmp_path / "eval.json"),
    ])
    out = capsys.readouterr()
    assert rc == 0, out.err
    sha = fake_hub.head(REPO)
    assert f"pushed {REPO}@{sha}" in out.out

    # What was pushed: weights, pretrained_cfg with metrics, the card.
    files = fake_hub.files(REPO, sha)
    weights_sha256 = hashlib.sha256(files["model.weights.h5"]).hexdigest()
    pushed_cfg = json.loads(files["pretrained_cfg.json"])
    assert pushed_cfg["name"] == NAME and pushed_cfg["hf_hub_id"] == REPO
    assert pushed_cfg["weights_sha256"] == weights_sha256
    card = files["README.md"].decode()
    assert "Top-1 accuracy (%)" in card and "Consistency" in card
    assert "library_name: keras" in card

    # results.csv: one row with repo, sha and metrics.
    with open(zoo_dir / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == list(release.COLUMNS)
    assert row["name.tag"] == NAME and row["dataset"] == "folder"
    assert row["hf_repo"] == REPO and row["revision"] == sha
    assert int(row["params"]) == trained.count_params()
    assert int(row["macs"]) > 0
    for key in ("top1", "top5", "consistency", "mean_kl"):
        float(row[key])
    assert row["git_sha"]
    today = datetime.datetime.now(datetime.timezone.utc).date()
    assert row["date"] == today.isoformat()
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    summary = evaluation["metrics"]["summary"]
    assert float(row["top1"]) == pytest.approx(summary["top1"], abs=1e-4)

    # published.json: the registry entry.
    table = json.loads(published.read_text())
    assert set(table) == {NAME}
    entry = table[NAME]
    assert entry["hf_hub_id"] == REPO and entry["revision"] == sha
    assert entry["weights_sha256"] == weights_sha256
    assert entry["metrics"]["consistency"] == pytest.approx(
        summary["consistency"])
    assert entry["metrics"]["consistency_reference"] == "R18C"
    assert entry["metrics"]["num_images"] == 3

    readme = (zoo_dir / "README.md").read_text()
    assert readme.splitlines()[0] == "code lives in keras_cmod/zoo"
    assert f"`{NAME}`" in readme and sha in readme

    # A second version lands on main; the registry still pins the first.
    other = zoo.create_model(NAME)
    other.set_weights([w + 1.0 for w in other.get_weights()])
    second = hub.push_to_hub(other, REPO, endpoint=fake_hub.endpoint,
                             token=hub_token)
    assert second != sha and fake_hub.head(REPO) == second

    assert zoo.list_models(pretrained=True) == []
    zoo.reload_published(published)
    assert zoo.list_models(pretrained=True) == [NAME]
    cfg = zoo.get_pretrained_cfg(NAME)
    assert (cfg.hf_hub_id, cfg.revision) == (REPO, sha)
    assert zoo.get_pretrained_cfg("resnet18_cmod").name == NAME  # default

    fake_hub.reset_requests()
    loaded = zoo.load(NAME, endpoint=fake_hub.endpoint, cache_dir=hf_cache,
                      progress=False)
    resolved = [r.path for r in fake_hub.requests if "/resolve/" in r.path]
    assert resolved and all(f"/resolve/{sha}/" in p for p in resolved)
    assert loaded.pretrained_cfg["revision"] == sha
    _assert_same_weights(loaded, trained)
    snapshots = list(hf_cache.glob("models--*/snapshots/*"))
    assert [p.name for p in snapshots] == [sha]

    # Releasing the same name again replaces its row and entry.
    rows = release.upsert_row(rows, dict(row, revision=second))
    assert [r["revision"] for r in rows] == [second]


def test_dry_run_pushes_and_writes_nothing(fake_hub, photos, zoo_copy,
                                           tmp_path, capsys, repo_files):
    zoo_dir, published = zoo_copy
    before = {p: p.read_bytes() for p in (zoo_dir / "results.csv",
                                          published)}
    model = zoo.create_model(NAME)
    keras_file = tmp_path / "trained.keras"
    model.save(keras_file)
    rc = release.main([
        str(keras_file), NAME, REPO, "--dataset", f"folder:{photos}",
        "--metrics", "accuracy", "--num-images", "1", "--dry-run",
        "--endpoint", fake_hub.endpoint, "--zoo-dir", str(zoo_dir),
        "--published-json", str(published), "--no-progress",
    ])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "dry run: nothing pushed, nothing written" in out.out
    assert not fake_hub.has_repo(REPO) and fake_hub.count() == 0
    assert {p: p.read_bytes() for p in before} == before
    assert not (zoo_dir / "README.md").exists()


@pytest.mark.parametrize(
    "name, repo, message",
    [
        ("resnet18_cmod", REPO, "must include the weights tag"),
        ("resnet18_cmod.in22k", REPO, "Unknown tag"),
        (NAME, "not a repo id", "Invalid Hugging Face Hub repo id"),
    ],
)
def test_bad_arguments_fail_in_one_line(tmp_path, capsys, name, repo,
                                        message):
    rc = release.main([str(tmp_path / "missing"), name, repo,
                       "--zoo-dir", str(tmp_path / "zoo"),
                       "--published-json", str(tmp_path / "p.json")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert err.startswith("release.py: error: ")


def test_published_table_is_validated(tmp_path, published_table):
    bad = tmp_path / "published.json"
    bad.write_text(json.dumps({NAME: {"hf_hub_id": REPO,
                                      "revision": "main"}}))
    with pytest.raises(ValueError, match="40-hex commit sha"):
        zoo.reload_published(bad)
    bad.write_text(json.dumps({"resnet18_cmod.in22k": {
        "hf_hub_id": REPO, "revision": "0" * 40}}))
    with pytest.raises(ValueError, match="not a registered model tag"):
        zoo.reload_published(bad)
    assert zoo.list_models(pretrained=True) == []  # nothing was applied
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert zoo.reload_published(empty) == {}
    assert zoo.reload_published(tmp_path / "missing.json") == {}
