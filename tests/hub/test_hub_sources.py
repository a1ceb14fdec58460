"""Parsing of model sources (no network, no server)."""

import pathlib

import pytest

import keras_cmod.hub as kh
from keras_cmod.hub import Source


@pytest.mark.parametrize(
    "source, revision, expected",
    [
        ("org/repo", None, ("hub", "org/repo", None)),
        ("org/repo@v1.0", None, ("hub", "org/repo", "v1.0")),
        ("org/repo", "dev", ("hub", "org/repo", "dev")),
        ("org/repo@dev", "dev", ("hub", "org/repo", "dev")),
        ("hf://org/repo", None, ("hub", "org/repo", None)),
        ("hf://Org_1/re.po-2@" + "a" * 40, None,
         ("hub", "Org_1/re.po-2", "a" * 40)),
        ("hf-hub:org/repo@refs/pr/3", None, ("hub", "org/repo", "refs/pr/3")),
        ("hf_hub:org/repo", None, ("hub", "org/repo", None)),
        ("local-dir:/models/tiny", None, ("local", "/models/tiny", None)),
        ("local:/models/tiny", None, ("local", "/models/tiny", None)),
        ("/abs/path", None, ("local", "/abs/path", None)),
        ("model.keras", None, ("local", "model.keras", None)),
        (Source("hub", "org/repo", "abc"), None, ("hub", "org/repo", "abc")),
        (Source("hub", "org/repo", None), "abc", ("hub", "org/repo", "abc")),
    ],
)
def test_resolve_source_accepts_the_documented_forms(
    source, revision, expected
):
    assert tuple(kh.resolve_source(source, revision)) == expected


def test_paths_and_existing_directories_are_local(tmp_path, monkeypatch):
    assert kh.resolve_source(tmp_path) == ("local", str(tmp_path), None)
    (tmp_path / "org" / "repo").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    # An existing directory wins over the Hub repo of the same name.
    assert kh.resolve_source("org/repo").kind == "local"
    assert kh.resolve_source("hf-hub:org/repo").kind == "hub"
    assert kh.resolve_source(pathlib.Path("~")).location == str(
        pathlib.Path("~").expanduser()
    )


@pytest.mark.parametrize(
    "source",
    ["tiny", "a/b/c", "-org/x", "org-/x", "org--a/x", "org/x..y",
     "org/x.git", "org/", "/x"[1:] + "/", "org/a b", "o" * 97 + "/x",
     "hf-hub:tiny", "hf://a/b/c"],
)
def test_bad_repo_ids_name_the_id_and_the_allowed_form(source):
    with pytest.raises(kh.InvalidRepoIdError) as info:
        kh.resolve_source(source)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    repo_id = source.split(":", 1)[-1].removeprefix("//")
    assert repr(repo_id) in message
    assert "<namespace>/<name>" in message


@pytest.mark.parametrize(
    "source, revision, match",
    [
        ("org/repo@", None, "empty revision"),
        ("org/repo@v1", "v2", "Conflicting revisions"),
        ("org/repo", "a b", "Invalid revision"),
        ("local-dir:/x", "v1", "only apply to Hub repos"),
        ("local-dir:", None, "empty path"),
        ("gs://bucket/model", None, "Unsupported model source"),
        ("", None, "Invalid model source"),
        (None, None, "Invalid model source"),
    ],
)
def test_other_malformed_sources(source, revision, match):
    with pytest.raises(kh.InvalidRepoIdError, match=match):
        kh.resolve_source(source, revision)


def test_validate_repo_id():
    assert kh.validate_repo_id("keras-cmod/resnet34_cmod.imagenet") == (
        "keras-cmod/resnet34_cmod.imagenet"
    )
    with pytest.raises(ValueError, match="'resnet34'"):
        kh.validate_repo_id("resnet34")
