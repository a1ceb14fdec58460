"""save_pretrained / push_to_hub / from_pretrained against the fake Hub.

Everything goes through the real huggingface_hub client and real HTTP on
127.0.0.1 (STYLE decision 4); nothing in the client is mocked.
"""

import json
import os
import pathlib

import keras
import numpy as np
import pytest
from fakehub import git_blob_sha1
from hub_test_models import predict, tiny_model

import keras_cmod.hub as kh

REPO = "keras-cmod-test/tiny"
SHA_LEN = 40


def _push(model, hub_kw, repo=REPO, **kwargs):
    kw = {k: v for k, v in hub_kw.items() if k in ("endpoint", "token")}
    return kh.push_to_hub(model, repo, **kw, **kwargs)


def _cached_files(cache, name):
    return list(pathlib.Path(cache).rglob(name))


# -- save_pretrained ----------------------------------------------------------


def test_save_pretrained_layout_hashes_and_plain_keras_load(tmp_path):
    model = tiny_model(0)
    out = kh.save_pretrained(
        model,
        tmp_path / "tiny",
        pretrained_cfg={"architecture": "tiny", "input_size": (8,),
                        "mean": np.float32(0.5)},
        metrics={"top1": 12.5},
    )
    names = {p.name for p in out.iterdir() if p.is_file()}
    assert names == {
        "config.json", "metadata.json", "model.weights.h5",
        "pretrained_cfg.json", "README.md",
    }
    cfg = json.loads((out / "pretrained_cfg.json").read_text())
    weights_sha = kh.sha256_file(out / "model.weights.h5")
    assert cfg["weights_sha256"] == weights_sha
    assert cfg["files"]["model.weights.h5"]["sha256"] == weights_sha
    assert set(cfg["files"]) == {"config.json", "metadata.json",
                                 "model.weights.h5"}
    assert cfg["architecture"] == "tiny" and cfg["input_size"] == [8]
    assert cfg["mean"] == 0.5 and cfg["metrics"] == {"top1": 12.5}
    assert cfg["keras_version"] == keras.__version__
    # Only the final directory is left: the temp dir was renamed into place.
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]
    # The Keras-native part loads with plain Keras (safe_mode on).
    loaded = keras.saving.load_model(str(out), safe_mode=True)
    np.testing.assert_array_equal(predict(loaded), predict(model))


def test_save_pretrained_refuses_to_clobber_and_replaces_atomically(
    tmp_path,
):
    target = tmp_path / "tiny"
    kh.save_pretrained(tiny_model(0), target)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        kh.save_pretrained(tiny_model(1), target)
    second = tiny_model(1)
    kh.save_pretrained(second, target, overwrite=True)
    loaded = kh.from_pretrained(target)
    np.testing.assert_array_equal(predict(loaded), predict(second))
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


def test_save_pretrained_rejects_lambda_and_leaves_nothing(tmp_path):
    inputs = keras.Input((8,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="Lambda layer.*'double'"):
        kh.save_pretrained(model, tmp_path / "lam")
    assert list(tmp_path.iterdir()) == []


# -- push then load -----------------------------------------------------------


def test_push_then_load_gives_identical_predictions(fake_hub, hub_kw):
    model = tiny_model(0)
    commit = _push(model, hub_kw, metrics={"top1": 10.0})
    assert isinstance(commit, str) and len(commit) == SHA_LEN
    assert commit == fake_hub.head(REPO) == commit.oid
    assert commit.url.endswith(f"/{REPO}/commit/{commit}")
    files = fake_hub.files(REPO)
    assert {"config.json", "metadata.json", "model.weights.h5",
            "pretrained_cfg.json", "README.md"} <= set(files)
    assert fake_hub.tokens_seen == {hub_kw["token"]}
    # The generated card names the repo in its loading examples.
    assert f"hf-hub:{REPO}@" in files["README.md"].decode()

    for source in (f"hf-hub:{REPO}@{commit}", REPO, f"hf://{REPO}"):
        loaded = kh.from_pretrained(source, **hub_kw)
        np.testing.assert_array_equal(predict(loaded), predict(model))
        assert loaded.get_layer("modulus").__class__.__name__ == (
            "TinyModulus"
        )
        assert loaded.pretrained_cfg["metrics"] == {"top1": 10.0}
        assert loaded.pretrained_cfg["hf_hub_id"] == REPO
        assert loaded.pretrained_cfg["revision"] == commit
    # The attached cfg is plain metadata: the model still saves and loads.
    loaded.save(hub_kw["cache_dir"] / "again.keras")


def test_load_never_lists_the_repo_or_calls_metadata_apis(fake_hub, hub_kw):
    _push(tiny_model(0), hub_kw)
    fake_hub.reset_requests()
    kh.from_pretrained(REPO, **hub_kw)
    paths = [r.path for r in fake_hub.requests]
    assert paths and all("/resolve/" in p for p in paths), paths
    assert not any(p.startswith("/api/") for p in paths)
    # Only files of the allow-list were fetched.
    assert all(p.endswith((".json", ".h5", ".keras", ".md")) for p in paths)


def test_second_version_moves_main_but_first_stays_loadable_by_sha(
    fake_hub, hub_kw
):
    first, second = tiny_model(0), tiny_model(1)
    sha1 = _push(first, hub_kw, commit_message="v1")
    sha2 = _push(second, hub_kw, commit_message="v2")
    assert sha1 != sha2 and fake_hub.head(REPO) == sha2

    old = kh.from_pretrained(f"{REPO}@{sha1}", **hub_kw)
    new = kh.from_pretrained(REPO, **hub_kw)
    pinned_new = kh.from_pretrained(REPO, revision=sha2, **hub_kw)
    np.testing.assert_array_equal(predict(old), predict(first))
    np.testing.assert_array_equal(predict(new), predict(second))
    np.testing.assert_array_equal(predict(pinned_new), predict(second))
    assert not np.allclose(predict(first), predict(second))


def test_push_to_branch_and_pull_request(fake_hub, hub_kw):
    base = _push(tiny_model(0), hub_kw)
    dev_model, pr_model = tiny_model(1), tiny_model(2)
    dev = _push(dev_model, hub_kw, revision="dev")
    assert fake_hub.head(REPO, "dev") == dev
    assert fake_hub.head(REPO) == base  # main untouched

    pr = _push(pr_model, hub_kw, create_pr=True)
    assert pr.pr_url.endswith(f"/{REPO}/discussions/1")
    assert fake_hub.head(REPO) == base
    loaded = kh.from_pretrained(f"{REPO}@refs/pr/1", **hub_kw)
    np.testing.assert_array_equal(predict(loaded), predict(pr_model))
    loaded = kh.from_pretrained(f"{REPO}@dev", **hub_kw)
    np.testing.assert_array_equal(predict(loaded), predict(dev_model))


def test_push_a_saved_directory_refreshes_the_manifest(
    fake_hub, hub_kw, tmp_path
):
    # A plain Keras directory (no pretrained_cfg.json) can be pushed too.
    model = tiny_model(0, custom=False)
    model.save(tmp_path / "plain", zipped=False)
    commit = _push(tmp_path / "plain", hub_kw,
                   pretrained_cfg={"license": "mit"})
    cfg = json.loads(fake_hub.files(REPO, commit)["pretrained_cfg.json"])
    assert cfg["license"] == "mit"
    weights = fake_hub.files(REPO, commit)["model.weights.h5"]
    import hashlib

    assert cfg["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    loaded = kh.from_pretrained(f"{REPO}@{commit}", **hub_kw)
    np.testing.assert_array_equal(predict(loaded), predict(model))


def test_existing_readme_is_kept_unless_asked(fake_hub, hub_kw):
    fake_hub.create_repo(REPO)
    custom = b"---\nlicense: mit\n---\n# Hand-written card\n"
    fake_hub.commit(REPO, {"README.md": custom})
    commit = _push(tiny_model(0), hub_kw)
    files = fake_hub.files(REPO, commit)
    assert files["README.md"] == custom
    assert "model.weights.h5" in files

    commit = _push(tiny_model(0), hub_kw, overwrite_model_card=True)
    card = fake_hub.files(REPO, commit)["README.md"].decode()
    assert card != custom.decode() and "library_name: keras" in card


# -- offline ------------------------------------------------------------------


def test_offline_load_from_cache_makes_zero_requests(
    fake_hub, hub_kw, monkeypatch
):
    model = tiny_model(0)
    commit = _push(model, hub_kw)
    # Warm the cache through the branch: that also records refs/main.
    kh.from_pretrained(REPO, **hub_kw)
    fake_hub.reset_requests()

    offline = kh.from_pretrained(f"hf-hub:{REPO}@{commit}",
                                 local_files_only=True, **hub_kw)
    np.testing.assert_array_equal(predict(offline), predict(model))
    # A branch resolves through the cached ref, still without a request.
    kh.from_pretrained(REPO, local_files_only=True, **hub_kw)
    # Online but pinned to a cached commit: nothing to ask the Hub either.
    kh.from_pretrained(REPO, revision=commit, **hub_kw)
    # HF_HUB_OFFLINE set after huggingface_hub was imported is honoured
    # too (the import-time case runs in a subprocess elsewhere).
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    kh.from_pretrained(f"{REPO}@{commit}", **hub_kw)
    assert fake_hub.count() == 0, fake_hub.requests


def test_offline_and_not_cached_is_a_clear_error(fake_hub, hub_kw):
    commit = _push(tiny_model(0), hub_kw)
    fake_hub.reset_requests()
    with pytest.raises(kh.HubNotCachedError) as info:
        kh.from_pretrained(f"{REPO}@{commit}", local_files_only=True,
                           **hub_kw)
    message = str(info.value)
    assert REPO in message and "config.json" in message
    assert "offline" in message and isinstance(info.value, FileNotFoundError)
    assert fake_hub.count() == 0


# -- errors -------------------------------------------------------------------


def test_missing_repo_revision_and_file_give_clear_errors(fake_hub, hub_kw):
    with pytest.raises(kh.HubRepositoryNotFoundError,
                       match="'keras-cmod-test/nope' not found"):
        kh.from_pretrained("keras-cmod-test/nope", **hub_kw)

    _push(tiny_model(0), hub_kw)
    with pytest.raises(kh.HubRevisionNotFoundError) as info:
        kh.from_pretrained(REPO, revision="v9", **hub_kw)
    assert "'v9'" in str(info.value) and REPO in str(info.value)
    assert isinstance(info.value, FileNotFoundError)

    # A repo without weights: the missing file is named.
    fake_hub.create_repo("keras-cmod-test/empty")
    fake_hub.commit("keras-cmod-test/empty", {"config.json": b"{}"})
    with pytest.raises(kh.HubFileNotFoundError) as info:
        kh.from_pretrained("keras-cmod-test/empty", **hub_kw)
    message = str(info.value)
    assert "'model.weights.h5'" in message
    assert "keras-cmod-test/empty" in message and "'main'" in message


def test_manifest_asking_for_a_disallowed_file_is_refused(fake_hub, hub_kw):
    commit = _push(tiny_model(0), hub_kw)
    cfg = json.loads(fake_hub.files(REPO, commit)["pretrained_cfg.json"])
    cfg["files"]["evil.pkl"] = {"sha256": "0" * 64, "size": 1}
    fake_hub.commit(REPO, {"pretrained_cfg.json": json.dumps(cfg).encode(),
                           "evil.pkl": b"x"})
    with pytest.raises(kh.UnsafeFileError, match="evil.pkl"):
        kh.from_pretrained(REPO, **hub_kw)
    assert fake_hub.count(path_contains="evil.pkl") == 0


@pytest.mark.parametrize(
    "source",
    ["tiny", "a/b/c", "-org/x", "org--a/x", "org/x.git", "org/", "org/a b",
     "hf-hub:org/x@", "gs://bucket/x"],
)
def test_bad_repo_ids_are_rejected_before_any_request(
    source, fake_hub, hub_kw
):
    with pytest.raises(ValueError) as info:
        kh.from_pretrained(source, **hub_kw)
    assert isinstance(info.value, kh.InvalidRepoIdError)
    assert repr(source.split(":", 1)[-1].split("@")[0]) in str(info.value) \
        or repr(source) in str(info.value)
    assert "org/name" in str(info.value) or "<namespace>/<name>" in str(
        info.value
    )
    with pytest.raises(kh.InvalidRepoIdError, match="<namespace>/<name>"):
        kh.push_to_hub(tiny_model(0), "a/b/c", endpoint=hub_kw["endpoint"])
    assert fake_hub.count() == 0


def test_wrong_token_is_refused_and_never_printed(
    fake_hub, hub_kw, capsys, caplog
):
    import logging

    caplog.set_level(logging.DEBUG)
    secret = "hf_not_the_right_token_SECRET"
    with pytest.raises(kh.HubAccessError) as info:
        kh.push_to_hub(tiny_model(0), REPO, endpoint=hub_kw["endpoint"],
                       token=secret)
    assert secret in fake_hub.tokens_seen  # it was sent, as a header
    out, err = capsys.readouterr()
    for text in (str(info.value), repr(info.value), out, err, caplog.text):
        assert secret not in text
    # A successful push does not print or log it either.
    _push(tiny_model(0), hub_kw)
    out, err = capsys.readouterr()
    for text in (out, err, caplog.text):
        assert hub_kw["token"] not in text


# -- integrity ----------------------------------------------------------------


def test_sha256_mismatch_on_the_hub_is_detected(fake_hub, hub_kw, tmp_path):
    _push(tiny_model(0), hub_kw)
    # Swap in other (valid) weights, leaving pretrained_cfg.json stale.
    other = tmp_path / "other.weights.h5"
    tiny_model(1).save_weights(str(other))
    fake_hub.commit(REPO, {"model.weights.h5": other.read_bytes()})
    with pytest.raises(kh.HubIntegrityError) as info:
        kh.from_pretrained(REPO, **hub_kw)
    message = str(info.value)
    assert "'model.weights.h5'" in message and "pretrained_cfg.json" in message
    assert REPO in message and kh.sha256_file(other) in message
    assert isinstance(info.value, ValueError)


def test_sha256_mismatch_in_a_local_directory_is_detected(tmp_path):
    out = kh.save_pretrained(tiny_model(0), tmp_path / "m")
    tiny_model(1).save_weights(str(out / "model.weights.h5"))
    with pytest.raises(kh.HubIntegrityError, match="model.weights.h5"):
        kh.from_pretrained(out)


def test_sha256_recorded_in_the_card_is_verified(tmp_path):
    model = tiny_model(0, custom=False)
    plain = tmp_path / "plain"
    model.save(plain, zipped=False)
    card = "---\nlibrary_name: keras\nweights_sha256: {}\n---\n# card\n"
    (plain / "README.md").write_text(card.format("ab" * 32))
    with pytest.raises(kh.HubIntegrityError, match="README.md"):
        kh.from_pretrained(plain)
    sha = kh.sha256_file(plain / "model.weights.h5")
    (plain / "README.md").write_text(card.format(sha))
    loaded = kh.from_pretrained(f"local-dir:{plain}")
    np.testing.assert_array_equal(predict(loaded), predict(model))


# -- broken transfers ---------------------------------------------------------


def test_dropped_connection_once_is_resumed(fake_hub, hub_kw):
    model = tiny_model(0)
    _push(model, hub_kw)
    fake_hub.drop_connection("model.weights.h5", times=1)
    loaded = kh.from_pretrained(REPO, **hub_kw)
    np.testing.assert_array_equal(predict(loaded), predict(model))
    gets = [r for r in fake_hub.requests
            if r.method == "GET" and r.path.endswith("model.weights.h5")]
    assert len(gets) == 2  # the client retried the broken transfer


def test_dropped_connection_leaves_no_corrupt_file_and_retry_works(
    fake_hub, hub_kw
):
    model = tiny_model(0)
    commit = _push(model, hub_kw)
    expected = fake_hub.files(REPO)["model.weights.h5"]
    # Every attempt breaks (the client retries 5 times, 1 s apart).
    fake_hub.drop_connection("model.weights.h5", times=100, after_bytes=0)
    with pytest.raises(kh.HubConnectionError) as info:
        kh.from_pretrained(REPO, **hub_kw)
    assert "model.weights.h5" in str(info.value) and REPO in str(info.value)
    assert isinstance(info.value, ConnectionError)
    cache = hub_kw["cache_dir"]
    assert _cached_files(cache, "model.weights.h5") == []
    assert list(pathlib.Path(cache).rglob("*.incomplete")) == []
    blobs = [p for p in pathlib.Path(cache).rglob("blobs/*")]
    assert git_blob_sha1(expected) not in {p.name for p in blobs}

    fake_hub.drop_connection("model.weights.h5", times=0)
    loaded = kh.from_pretrained(f"{REPO}@{commit}", **hub_kw)
    np.testing.assert_array_equal(predict(loaded), predict(model))
    (cached,) = _cached_files(cache, "model.weights.h5")
    assert pathlib.Path(os.path.realpath(cached)).read_bytes() == expected
