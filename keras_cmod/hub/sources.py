"""Parsing of model sources: Hub repo ids (with revisions) and local paths.

This is the seam the model registry calls: it turns the user's string into
`(kind, repo_id_or_path, revision)` without touching the network.
"""

import os
import pathlib
import re
from typing import NamedTuple

from keras_cmod.hub.errors import InvalidRepoIdError

__all__ = ["Source", "resolve_source", "validate_repo_id", "REPO_ID_FORM",
           "SOURCE_PREFIXES", "is_source"]

HUB = "hub"
LOCAL = "local"

_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO_ID_RE = re.compile(rf"{_PART}/{_PART}")
_HUB_PREFIXES = ("hf-hub:", "hf_hub:", "hf://")
_LOCAL_PREFIXES = ("local-dir:", "local:")
#: Every prefix that makes a string a weights source rather than a registry
#: name; `keras_cmod.zoo` and `keras_cmod.hub` both decide with it.
SOURCE_PREFIXES = _HUB_PREFIXES + _LOCAL_PREFIXES
_OTHER_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

REPO_ID_FORM = (
    "'<namespace>/<name>' (each part 1-96 characters among letters, digits, "
    "'-', '_' and '.', not starting or ending with '-' or '.', without "
    "'--' or '..', and not ending in '.git'), e.g. "
    "'keras-cmod/resnet34_cmod.imagenet'"
)
SOURCE_FORMS = (
    "'org/name[@revision]', 'hf-hub:org/name[@revision]', "
    "'hf://org/name[@revision]', 'local-dir:/path' or an existing local "
    "directory"
)


class Source(NamedTuple):
    """A parsed model source.

    Attributes:
        kind: `"hub"` or `"local"`.
        location: the repo id (`"org/name"`) or the local path.
        revision: branch, tag or commit sha for Hub sources, else `None`.
    """

    kind: str
    location: str
    revision: str | None


def validate_repo_id(repo_id):
    """Check that `repo_id` is a Hub model repo id `namespace/name`.

    Args:
        repo_id: the id to check.

    Returns:
        `repo_id`, unchanged.

    Raises:
        InvalidRepoIdError: (a `ValueError`) naming the id and the allowed
            form.
    """
    if not isinstance(repo_id, str) or not (
        _REPO_ID_RE.fullmatch(repo_id)
        and "--" not in repo_id
        and ".." not in repo_id
        and not repo_id.endswith(".git")
    ):
        raise InvalidRepoIdError(
            f"Invalid Hugging Face Hub repo id {repo_id!r}: expected "
            f"{REPO_ID_FORM}."
        )
    return repo_id


def _split_revision(text, revision, source):
    repo_id, sep, at_revision = text.partition("@")
    if sep and not at_revision:
        raise InvalidRepoIdError(
            f"Invalid source {source!r}: empty revision after '@' "
            "(expected 'org/name@revision', the revision being a branch, "
            "tag or commit sha)."
        )
    validate_repo_id(repo_id)
    at_revision = at_revision or None
    if at_revision and revision and at_revision != revision:
        raise InvalidRepoIdError(
            f"Conflicting revisions for {source!r}: '@{at_revision}' in the "
            f"source and revision={revision!r}."
        )
    revision = at_revision or revision
    if revision is not None and (
        not isinstance(revision, str)
        or not revision.strip()
        or any(c.isspace() for c in revision)
    ):
        raise InvalidRepoIdError(
            f"Invalid revision {revision!r} for {repo_id!r}: expected a "
            "branch, tag or commit sha."
        )
    return Source(HUB, repo_id, revision)


def _local(path, revision, source):
    if revision is not None:
        raise InvalidRepoIdError(
            f"revision={revision!r} given for the local source {source!r}: "
            "revisions only apply to Hub repos."
        )
    return Source(LOCAL, str(pathlib.Path(path).expanduser()), None)


def _looks_like_path(text):
    return (
        text.startswith(("/", "./", "../", "~", "\\"))
        or text in (".", "..")
        or text.endswith(".keras")
        or (os.sep != "/" and os.sep in text)
        or re.match(r"[A-Za-z]:[\\/]", text) is not None
    )


def is_source(name):
    """Whether `name` is a weights source (prefix, path) and not a name.

    Registry names (`resnet18_cmod.cifar10`) never contain `/` or `:`;
    sources start with one of `SOURCE_PREFIXES` or are paths
    (`os.PathLike`, `/abs`, `./rel`, `~`, `x.keras`, an existing folder).
    """
    if isinstance(name, (Source, os.PathLike)):
        return True
    if not isinstance(name, str) or not name:
        return False
    return (
        name.startswith(SOURCE_PREFIXES)
        or _looks_like_path(name)
        or "/" in name
        or os.path.isdir(os.path.expanduser(name))
    )


def resolve_source(source, revision=None):
    """Parse a model source into `(kind, repo_id_or_path, revision)`.

    Accepted forms:

    - `"org/name"` or `"org/name@rev"`: a Hub repo (`rev` = branch, tag or
      commit sha);
    - `"hf-hub:org/name[@rev]"` (timm) and `"hf://org/name[@rev]"` (Keras);
    - `"local-dir:/path"` (timm) or `"local:/path"`, a `pathlib.Path`, an
      absolute or `./`-relative path, a `.keras` file, or any string naming
      an existing directory (an existing directory wins over a repo id);
    - a `Source` tuple, e.g. `Source("hub", repo_id, sha)` from a registry.

    Nothing is downloaded and the network is not used.

    Args:
        source: the string (or path) to parse.
        revision: optional revision; it must agree with an `@rev` suffix.

    Returns:
        A `Source` named tuple `(kind, location, revision)` with `kind` in
        `{"hub", "local"}`.

    Raises:
        InvalidRepoIdError: (a `ValueError`) for malformed ids, empty or
            conflicting revisions, unsupported schemes or a revision given
            for a local path.
    """
    if isinstance(source, Source):  # already resolved (e.g. by the registry)
        if source.kind == HUB:
            if source.revision:
                location = f"{source.location}@{source.revision}"
            else:
                location = source.location
            return _split_revision(location, revision, source)
        return _local(source.location, revision, source)
    if isinstance(source, os.PathLike):
        return _local(os.fspath(source), revision, source)
    if not isinstance(source, str) or not source:
        raise InvalidRepoIdError(
            f"Invalid model source {source!r}: expected {SOURCE_FORMS}."
        )
    for prefix in _HUB_PREFIXES:
        if source.startswith(prefix):
            return _split_revision(source[len(prefix):], revision, source)
    for prefix in _LOCAL_PREFIXES:
        if source.startswith(prefix):
            path = source[len(prefix):]
            if not path:
                raise InvalidRepoIdError(
                    f"Invalid source {source!r}: empty path."
                )
            return _local(path, revision, source)
    if _OTHER_SCHEME_RE.match(source):
        raise InvalidRepoIdError(
            f"Unsupported model source {source!r}: expected {SOURCE_FORMS}."
        )
    if _looks_like_path(source) or os.path.isdir(
        os.path.expanduser(source)
    ):
        return _local(source, revision, source)
    try:
        return _split_revision(source, revision, source)
    except InvalidRepoIdError as exc:
        raise InvalidRepoIdError(
            f"{exc} Accepted model sources: {SOURCE_FORMS}."
        ) from None
