"""Constants and helpers shared by `saving` and `loading`.

Repo layout (what `save_pretrained` writes and `push_to_hub` uploads):

    config.json          Keras architecture  } exactly what
    model.weights.h5     Keras weights       } model.save(d, zipped=False)
    metadata.json        Keras version       } writes
    pretrained_cfg.json  our metadata: preprocessing, metrics, and the
                         sha256 + size of each Keras file (checked on load)
    README.md            the model card (never overwritten unless asked)

so plain `keras.saving.load_model("hf://org/repo")` loads our repos too.
"""

import contextlib
import dataclasses
import hashlib
import importlib
import json
import os
import pathlib
import posixpath
import re

from keras_cmod.hub import errors

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
PRETRAINED_CFG_FILE = "pretrained_cfg.json"
README_FILE = "README.md"
ALLOWED_SUFFIXES = (".json", ".h5", ".keras", ".md")
FORMAT = "keras-cmod-hub/1"
LIBRARY_NAME = "keras-cmod"
DEFAULT_COMMIT_MESSAGE = "Upload model with keras-cmod"
RESERVED_KEYS = (
    "format",
    "files",
    "weights_sha256",
    "keras_version",
    "keras_cmod_version",
)
SHA_RE = re.compile(r"[0-9a-f]{40}")


def sha256_file(path, chunk_size=1 << 20):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_allowed(name):
    norm = posixpath.normpath(name)
    return (
        not norm.startswith(("/", "../"))
        and norm != ".."
        and norm.lower().endswith(ALLOWED_SUFFIXES)
    )


def env_true(name):
    return os.environ.get(name, "").strip().upper() in {
        "1",
        "ON",
        "YES",
        "TRUE",
    }


def offline_mode(local_files_only):
    """True if no request may be made (argument or HF_HUB_OFFLINE).

    huggingface_hub reads HF_HUB_OFFLINE once, at import; the environment is
    read again here so that setting it later is honoured too.
    """
    from huggingface_hub import constants

    return (
        bool(local_files_only)
        or constants.is_offline_mode()
        or env_true("HF_HUB_OFFLINE")
    )


def json_default(obj):
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(
        f"pretrained_cfg/metrics value {obj!r} of type "
        f"{type(obj).__name__} is not JSON-serialisable"
    )


def write_json(path, payload):
    text = json.dumps(payload, indent=2, sort_keys=True, default=json_default)
    pathlib.Path(path).write_text(text + "\n", encoding="utf-8")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def as_dict(cfg):
    if cfg is None:
        return {}
    if hasattr(cfg, "to_dict"):
        return dict(cfg.to_dict())
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    return dict(cfg)


def read_pretrained_cfg(directory):
    """The `pretrained_cfg.json` of a model directory, or `None`."""
    path = pathlib.Path(directory) / PRETRAINED_CFG_FILE
    return read_json(path) if path.is_file() else None


@contextlib.contextmanager
def progress_bars(enabled):
    """Turn huggingface_hub's progress bars off inside the block if asked.

    The previous state is restored afterwards. HF_HUB_DISABLE_PROGRESS_BARS,
    when set, has priority (as in huggingface_hub) and is left alone.
    """
    if enabled:
        yield
        return
    tqdm_module = importlib.import_module("huggingface_hub.utils.tqdm")
    if getattr(tqdm_module, "HF_HUB_DISABLE_PROGRESS_BARS", None) is not None:
        yield
        return
    states = getattr(tqdm_module, "progress_bar_states", None)
    saved = dict(states) if isinstance(states, dict) else None
    was_disabled = tqdm_module.are_progress_bars_disabled()
    tqdm_module.disable_progress_bars()
    try:
        yield
    finally:
        if saved is not None:
            states.clear()
            states.update(saved)
        elif not was_disabled:
            tqdm_module.enable_progress_bars()


def reraise(exc, repo_id, revision, filename, *, what, asked=None):
    """Raise the `keras_cmod.hub.errors` equivalent of a client error.

    `asked` is the revision the user asked for when `revision` is the
    commit it resolved to.
    """
    from huggingface_hub import errors as hf_errors
    from huggingface_hub.utils import httpx

    rev = revision or "main"
    where = f"{repo_id}@{rev}"
    shown = repr(rev)
    if asked and asked != rev:
        shown = f"{asked!r} (commit {rev})"
    if isinstance(exc, errors.HubError):
        raise exc
    if isinstance(exc, hf_errors.GatedRepoError):
        raise errors.HubAccessError(
            f"Hub repository {repo_id!r} is gated: accept its conditions on "
            f"the Hub and use a token with access ({what})."
        ) from exc
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        raise errors.HubRepositoryNotFoundError(
            f"Hub repository {repo_id!r} not found ({what}): it does not "
            "exist, or it is private and no valid token was given."
        ) from exc
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        raise errors.HubRevisionNotFoundError(
            f"Revision {rev!r} not found in Hub repository {repo_id!r} "
            f"({what}): no such branch, tag or commit."
        ) from exc
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        raise errors.HubFileNotFoundError(
            f"File {filename!r} not found in Hub repository {repo_id!r} at "
            f"revision {shown}."
        ) from exc
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = getattr(exc.response, "status_code", None)
        detail = getattr(exc, "server_message", None)
        detail = f": {detail}" if detail else ""
        if status in (401, 403):
            raise errors.HubAccessError(
                f"The Hub refused {what} (HTTP {status}{detail}): check the "
                "token (HF_TOKEN, `hf auth login` or token=)."
            ) from exc
        raise errors.HubHTTPError(
            f"Hub request failed ({what}, {where}): HTTP {status}{detail}"
        ) from exc
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        raise errors.HubNotCachedError(
            f"{what}: Hub offline mode is on and {where} is not cached."
        ) from exc
    if isinstance(exc, (httpx.TransportError, hf_errors.FileMetadataError)):
        tail = " Nothing partial was kept in the cache;" if filename else ""
        raise errors.HubConnectionError(
            f"Could not complete {what} ({where}): {exc}.{tail} Try again."
        ) from exc
    if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
        raise errors.HubConnectionError(
            f"Download of {filename!r} from {where} was incomplete; nothing "
            "partial was kept in the cache; try again."
        ) from exc
    raise exc
