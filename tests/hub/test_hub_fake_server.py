"""The fake Hub itself, driven by the real huggingface_hub client.

Other test folders reuse `FakeHub` (tests/fakehub.py); this pins down
the endpoints it serves.
"""

import pytest
from fakehub import FakeHub, git_blob_sha1
from hub_test_models import TOKEN
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub import errors as hf_errors


def test_client_round_trip_refs_and_errors(fake_hub, tmp_path):
    api = HfApi(endpoint=fake_hub.endpoint, token=TOKEN)
    url = api.create_repo("org/plain")
    assert url.repo_id == "org/plain"
    api.create_repo("org/plain", exist_ok=True)  # 409 accepted
    with pytest.raises(hf_errors.HfHubHTTPError):
        api.create_repo("org/plain")
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "a.json").write_text('{"v": 1}')
    first = api.upload_folder(repo_id="org/plain",
                              folder_path=tmp_path / "up").oid
    (tmp_path / "up" / "a.json").write_text('{"v": 2}')
    second = api.upload_folder(repo_id="org/plain",
                               folder_path=tmp_path / "up").oid
    assert first != second and len(first) == 40
    assert api.model_info("org/plain").sha == second
    api.create_tag("org/plain", tag="v1", revision=first)
    refs = api.list_repo_refs("org/plain")
    assert [t.target_commit for t in refs.tags] == [first]
    assert sorted(api.list_repo_files("org/plain")) == [
        ".gitattributes", "a.json"]
    assert api.file_exists("org/plain", "a.json")
    assert not api.file_exists("org/plain", "b.json")

    cache = tmp_path / "cache"
    for revision, value in (("v1", b'{"v": 1}'), (first, b'{"v": 1}'),
                            ("main", b'{"v": 2}')):
        path = hf_hub_download("org/plain", "a.json", revision=revision,
                               cache_dir=cache, endpoint=fake_hub.endpoint)
        assert open(path, "rb").read() == value
    snap = snapshot_download("org/plain", cache_dir=cache,
                             endpoint=fake_hub.endpoint)
    assert snap.endswith(second)
    assert fake_hub.files("org/plain", "v1")["a.json"] == b'{"v": 1}'
    assert git_blob_sha1(b"Hello, World!") == (
        "b45ef6fec89518d314f546fd6c3025367b721684"  # `git hash-object`
    )

    errors = [
        (hf_errors.RepositoryNotFoundError, "org/none", "a.json", None),
        (hf_errors.RevisionNotFoundError, "org/plain", "a.json", "nope"),
        (hf_errors.RemoteEntryNotFoundError, "org/plain", "b.json", None),
    ]
    for error, repo, name, revision in errors:
        with pytest.raises(error):
            hf_hub_download(repo, name, revision=revision, cache_dir=cache,
                            endpoint=fake_hub.endpoint)


def test_private_repos_and_write_auth(fake_hub, tmp_path):
    fake_hub.create_repo("org/secret", private=True)
    fake_hub.commit("org/secret", {"a.json": b"{}"})
    kw = {"cache_dir": tmp_path, "endpoint": fake_hub.endpoint}
    with pytest.raises(hf_errors.RepositoryNotFoundError):
        hf_hub_download("org/secret", "a.json", **kw)
    assert hf_hub_download("org/secret", "a.json", token=TOKEN, **kw)
    with pytest.raises(hf_errors.HfHubHTTPError) as info:
        HfApi(endpoint=fake_hub.endpoint, token="hf_wrong").create_repo(
            "org/other")
    assert info.value.response.status_code == 401
    assert not fake_hub.has_repo("org/other")
    assert {r.authorized for r in fake_hub.requests} == {True, False}


def test_fake_hub_stops_cleanly():
    hub = FakeHub().start()
    endpoint = hub.endpoint
    hub.stop()
    assert endpoint.startswith("http://127.0.0.1:")
