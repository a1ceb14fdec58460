"""Save, push, download and load Keras 3 models on the Hugging Face Hub.

Repo layout (what `save_pretrained` writes and `push_to_hub` uploads):

    config.json          Keras architecture  } exactly what
    model.weights.h5     Keras weights       } model.save(d, zipped=False)
    metadata.json        Keras version       } writes
    pretrained_cfg.json  our metadata: preprocessing, metrics, and the
                         sha256 + size of each Keras file (checked on load)
    README.md            the model card (never overwritten unless asked)

so plain `keras.saving.load_model("hf://org/repo")` loads our repos too.

Loading never lists a repo nor calls a metadata API (`model_info`, tree
listings): it downloads known file names with `hf_hub_download`, all pinned
to the commit that the first file resolved to. With a commit sha that is in
the cache, or with `local_files_only=True` / `HF_HUB_OFFLINE=1`, it makes no
HTTP request at all. Only `.json`, `.h5`, `.keras` and `.md` files are
downloaded, and models are loaded with Keras `safe_mode=True`.

`huggingface_hub` and `keras` are imported lazily, inside the functions.
"""

import contextlib
import dataclasses
import hashlib
import importlib
import json
import logging
import os
import pathlib
import posixpath
import re
import shutil
import tempfile
import uuid

from keras_cmod.hub import errors
from keras_cmod.hub.sources import HUB, resolve_source, validate_repo_id
from keras_cmod.version import __version__

__all__ = [
    "save_pretrained",
    "push_to_hub",
    "from_pretrained",
    "download",
    "describe",
    "verify_files",
    "read_pretrained_cfg",
    "sha256_file",
    "HubCommit",
]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
PRETRAINED_CFG_FILE = "pretrained_cfg.json"
README_FILE = "README.md"
ALLOWED_SUFFIXES = (".json", ".h5", ".keras", ".md")
FORMAT = "keras-cmod-hub/1"
LIBRARY_NAME = "keras-cmod"
DEFAULT_COMMIT_MESSAGE = "Upload model with keras-cmod"
_RESERVED_KEYS = (
    "format",
    "files",
    "weights_sha256",
    "keras_version",
    "keras_cmod_version",
)
_SHA_RE = re.compile(r"[0-9a-f]{40}")


class HubCommit(str):
    """The id (40-hex sha) of the commit made by `push_to_hub`.

    A `str`, with the details as attributes: `oid` (the same sha), `url`,
    `pr_url` (set with `create_pr=True`), `repo_id` and `revision`.
    """

    def __new__(cls, oid, *, url=None, pr_url=None, repo_id=None,
                revision=None):
        self = super().__new__(cls, oid)
        self.oid = str(oid)
        self.url = url
        self.pr_url = pr_url
        self.repo_id = repo_id
        self.revision = revision
        return self


# -- small helpers ------------------------------------------------------------


def sha256_file(path, chunk_size=1 << 20):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_allowed(name):
    norm = posixpath.normpath(name)
    return (
        not norm.startswith(("/", "../"))
        and norm != ".."
        and norm.lower().endswith(ALLOWED_SUFFIXES)
    )


def _env_true(name):
    return os.environ.get(name, "").strip().upper() in {
        "1",
        "ON",
        "YES",
        "TRUE",
    }


def _offline(local_files_only):
    """True if no request may be made (argument or HF_HUB_OFFLINE).

    huggingface_hub reads HF_HUB_OFFLINE once, at import; the environment is
    read again here so that setting it later is honoured too.
    """
    from huggingface_hub import constants

    return (
        bool(local_files_only)
        or constants.is_offline_mode()
        or _env_true("HF_HUB_OFFLINE")
    )


def _json_default(obj):
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


def _write_json(path, payload):
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default)
    pathlib.Path(path).write_text(text + "\n", encoding="utf-8")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def _as_dict(cfg):
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
    return _read_json(path) if path.is_file() else None


@contextlib.contextmanager
def _progress_bars(enabled):
    """Turn huggingface_hub's progress bars off inside the block if asked.

    The previous state is restored afterwards. HF_HUB_DISABLE_PROGRESS_BARS,
    when set, has priority (as in huggingface_hub) and is left alone.
    """
    if enabled:
        yield
        return
    from huggingface_hub import constants

    if constants.HF_HUB_DISABLE_PROGRESS_BARS is not None:
        yield
        return
    tqdm_module = importlib.import_module("huggingface_hub.utils.tqdm")
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


def _find_lambda(node, path="model"):
    """Name of a Lambda layer in a serialized Keras config, or None."""
    if isinstance(node, dict):
        cls = node.get("class_name")
        module = str(node.get("module") or "")
        if cls == "__lambda__" or (
            cls == "Lambda" and module.startswith("keras")
        ):
            return (node.get("config") or {}).get("name") or path
        for key, value in node.items():
            found = _find_lambda(value, f"{path}.{key}")
            if found:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _find_lambda(value, f"{path}[{i}]")
            if found:
                return found
    return None


def _check_safe_mode_loadable(directory):
    name = _find_lambda(_read_json(pathlib.Path(directory) / CONFIG_FILE))
    if name:
        raise ValueError(
            f"The model contains a Lambda layer ({name!r}); "
            "keras.saving.load_model(..., safe_mode=True), which keras-cmod "
            "uses to load Hub models, refuses to deserialize it. Replace it "
            "with a custom layer registered with "
            "@keras.saving.register_keras_serializable()."
        )


def _manifest(directory):
    """{relative posix path: {"sha256", "size"}} of the Keras files."""
    directory = pathlib.Path(directory)
    files = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if not path.is_file() or rel in (PRETRAINED_CFG_FILE, README_FILE):
            continue
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return files


def _build_pretrained_cfg(directory, base_cfg, pretrained_cfg, metrics):
    cfg = {k: v for k, v in (base_cfg or {}).items()
           if k not in _RESERVED_KEYS}
    cfg.update(_as_dict(pretrained_cfg))
    if metrics is not None:
        cfg["metrics"] = metrics
    files = _manifest(directory)
    if WEIGHTS_FILE not in files:
        raise FileNotFoundError(f"{directory} has no {WEIGHTS_FILE}")
    keras_version = None
    metadata = pathlib.Path(directory) / METADATA_FILE
    if metadata.is_file():
        keras_version = _read_json(metadata).get("keras_version")
    cfg.update(
        format=FORMAT,
        files=files,
        weights_sha256=files[WEIGHTS_FILE]["sha256"],
        keras_version=keras_version,
        keras_cmod_version=__version__,
    )
    # Plain JSON types from here on (numpy values, tuples, paths converted).
    return json.loads(json.dumps(cfg, default=_json_default))


def _write_card(directory, cfg, model_card, model=None, repo_id=None):
    from keras_cmod.hub.model_card import generate_model_card

    if isinstance(model_card, str):
        text = model_card
    else:
        text = generate_model_card(
            cfg, repo_id=repo_id, model=model, **_as_dict(model_card)
        )
    (pathlib.Path(directory) / README_FILE).write_text(text, encoding="utf-8")


def _replace_dir(src, dst, overwrite):
    """Move the finished `src` into place at `dst` (same file system)."""
    if not dst.exists():
        os.rename(src, dst)
        return
    if not dst.is_dir():
        raise FileExistsError(f"{dst} exists and is not a directory")
    if not any(dst.iterdir()):
        dst.rmdir()
        os.rename(src, dst)
        return
    if not overwrite:
        raise FileExistsError(
            f"{dst} exists and is not empty; pass overwrite=True to "
            "replace it"
        )
    backup = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(dst, backup)
    try:
        os.rename(src, dst)
    except BaseException:
        os.rename(backup, dst)
        raise
    shutil.rmtree(backup, ignore_errors=True)


# -- saving and pushing -------------------------------------------------------


def save_pretrained(model, directory, *, pretrained_cfg=None, metrics=None,
                    model_card=None, overwrite=False):
    """Save a Keras model as a Hub-ready directory.

    Writes the Keras-native unzipped layout (`config.json`,
    `model.weights.h5`, `metadata.json`, as `model.save(d, zipped=False)`
    does), `pretrained_cfg.json` (your `pretrained_cfg` plus `metrics`, the
    sha256 and size of each Keras file, the Keras and keras-cmod versions)
    and a generated `README.md` model card. Everything is written to a
    temporary directory next to `directory` and renamed into place, so a
    crash never leaves a half-written model behind.

    Args:
        model: a Keras 3 model. Custom layers must be registered
            (`@keras.saving.register_keras_serializable`); `Lambda` layers
            are refused because `safe_mode=True` loading rejects them.
        directory: where to write.
        pretrained_cfg: dict (or object with `to_dict()`) of preprocessing
            and provenance (`architecture`, `tag`, `input_size`, `mean`,
            `std`, `crop_pct`, `interpolation`, `num_classes`, `license`,
            `dataset`...).
        metrics: evaluation results for the card and `pretrained_cfg.json`
            (see `keras_cmod.hub.model_card`).
        model_card: README text (`str`), or a dict of overrides for
            `generate_model_card` (`model_name`, `description`, ...).
        overwrite: replace `directory` if it exists and is not empty.

    Returns:
        `pathlib.Path` of the directory.

    Raises:
        FileExistsError: `directory` is not empty and `overwrite` is False.
        ValueError: the model contains a `Lambda` layer.
    """
    return _save(model, directory, pretrained_cfg=pretrained_cfg,
                 metrics=metrics, model_card=model_card, overwrite=overwrite)


def _save(model, directory, *, pretrained_cfg, metrics, model_card,
          overwrite, repo_id=None):
    import keras

    directory = pathlib.Path(directory).expanduser().absolute()
    if directory.exists() and (
        not directory.is_dir() or (any(directory.iterdir()) and not overwrite)
    ):
        raise FileExistsError(
            f"{directory} exists and is not an empty directory; pass "
            "overwrite=True to replace it"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp",
                         dir=directory.parent)
    )
    try:
        keras.saving.save_model(model, str(tmp), zipped=False)
        _check_safe_mode_loadable(tmp)
        cfg = _build_pretrained_cfg(tmp, None, pretrained_cfg, metrics)
        _write_json(tmp / PRETRAINED_CFG_FILE, cfg)
        _write_card(tmp, cfg, model_card, model=model, repo_id=repo_id)
        _replace_dir(tmp, directory, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _stage_directory(src, staging, pretrained_cfg, metrics, model_card,
                     repo_id):
    """Copy a saved model directory for upload, refreshing its metadata."""
    src = pathlib.Path(src).expanduser()
    if not (src / CONFIG_FILE).is_file() or not (src / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(
            f"{src} is not a Keras model directory: it needs {CONFIG_FILE} "
            f"and {WEIGHTS_FILE} (write one with "
            "keras_cmod.hub.save_pretrained(model, dir) or "
            "model.save(dir, zipped=False))"
        )
    staging.mkdir(parents=True)
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src).as_posix()
        if not path.is_file():
            continue
        if not _is_allowed(rel):
            logger.warning("Not uploading %s: only %s files are pushed", rel,
                           ", ".join(ALLOWED_SUFFIXES))
            continue
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    _check_safe_mode_loadable(staging)
    old_cfg = read_pretrained_cfg(staging)
    # The manifest is always recomputed from the files actually pushed.
    cfg = _build_pretrained_cfg(staging, old_cfg, pretrained_cfg, metrics)
    _write_json(staging / PRETRAINED_CFG_FILE, cfg)
    if model_card is not None or not (staging / README_FILE).is_file():
        _write_card(staging, cfg, model_card, repo_id=repo_id)


def push_to_hub(model, repo_id, *, revision=None, private=None,
                create_pr=False, commit_message=DEFAULT_COMMIT_MESSAGE,
                token=None, endpoint=None, model_card=None,
                pretrained_cfg=None, metrics=None,
                overwrite_model_card=False):
    """Upload a model to a Hub repo (created if needed) in one commit.

    Args:
        model: a Keras model, or the path of a directory written by
            `save_pretrained` (or `model.save(dir, zipped=False)`).
        repo_id: `"org/name"`.
        revision: branch to commit to (created from `main` if missing).
            Defaults to `main`.
        private: visibility if the repo is created (an existing repo keeps
            its visibility).
        create_pr: open a pull request instead of committing to the branch.
        commit_message: the commit summary.
        token: Hub token; defaults to `HF_TOKEN` / the saved login. It is
            never printed or logged.
        endpoint: Hub URL (mirrors, tests); defaults to `HF_ENDPOINT`.
        model_card: README text or dict of card overrides (see
            `save_pretrained`).
        pretrained_cfg: dict merged into `pretrained_cfg.json`.
        metrics: evaluation results for the card and `pretrained_cfg.json`.
        overwrite_model_card: replace a README.md that already exists in the
            repo. By default an existing card is kept.

    Returns:
        `HubCommit`: the commit sha (a `str`) with `.url`, `.pr_url`,
        `.repo_id`, `.revision`.

    Raises:
        InvalidRepoIdError: bad `repo_id`.
        HubAccessError, HubRepositoryNotFoundError, HubConnectionError,
        HubHTTPError: the Hub refused or could not be reached.
    """
    validate_repo_id(repo_id)
    if _offline(False):
        raise errors.HubConnectionError(
            f"Cannot push to {repo_id!r}: Hub offline mode is on "
            "(HF_HUB_OFFLINE=1)."
        )
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token, library_name=LIBRARY_NAME,
                library_version=__version__)
    with tempfile.TemporaryDirectory(prefix="keras_cmod_push_") as tmp:
        staging = pathlib.Path(tmp) / "repo"
        if isinstance(model, (str, os.PathLike)):
            _stage_directory(model, staging, pretrained_cfg, metrics,
                             model_card, repo_id)
        else:
            _save(model, staging, pretrained_cfg=pretrained_cfg,
                  metrics=metrics, model_card=model_card, overwrite=False,
                  repo_id=repo_id)
        what = f"push to {repo_id}"
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision not in (None, "main") and not revision.startswith(
                "refs/"
            ):
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            keep_card = not overwrite_model_card and api.file_exists(
                repo_id, README_FILE, revision=revision
            )
            if keep_card:
                logger.info(
                    "%s already has a %s: kept (pass "
                    "overwrite_model_card=True to replace it)",
                    repo_id,
                    README_FILE,
                )
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=staging,
                revision=revision,
                create_pr=create_pr,
                commit_message=commit_message,
                allow_patterns=[f"*{s}" for s in ALLOWED_SUFFIXES],
                ignore_patterns=[README_FILE] if keep_card else None,
            )
        except Exception as exc:
            _reraise(exc, repo_id, revision, None, what=what)
    return HubCommit(info.oid, url=info.commit_url, pr_url=info.pr_url,
                     repo_id=repo_id, revision=revision or "main")


# -- error translation --------------------------------------------------------


def _reraise(exc, repo_id, revision, filename, *, what, asked=None):
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


# -- downloading --------------------------------------------------------------


def _commit_of(path):
    name = pathlib.Path(path).parent.name
    return name if _SHA_RE.fullmatch(name) else None


class _Fetcher:
    """Download named files of one repo with hf_hub_download."""

    def __init__(self, repo_id, cache_dir, offline, token, endpoint,
                 asked_revision=None):
        self.repo_id = repo_id
        self.asked = asked_revision or "main"
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.offline = offline
        self.token = token
        self.endpoint = endpoint

    def cached(self, filename, revision):
        from huggingface_hub import try_to_load_from_cache

        return try_to_load_from_cache(
            self.repo_id, filename, cache_dir=self.cache_dir,
            revision=revision,
        )

    def fetch(self, filename, revision, optional=False):
        """(local path or None, commit sha or None)."""
        from huggingface_hub import (
            _CACHED_NO_EXIST,  # public sentinel of try_to_load_from_cache
            hf_hub_download,
        )
        from huggingface_hub import errors as hf_errors

        if not _is_allowed(filename):
            raise errors.UnsafeFileError(
                f"Refusing to download {filename!r} from {self.repo_id}: "
                f"only {', '.join(ALLOWED_SUFFIXES)} files are allowed."
            )
        if optional and self.cached(filename, revision) is _CACHED_NO_EXIST:
            return None, None  # known to be absent: no request needed
        try:
            path = hf_hub_download(
                self.repo_id,
                filename,
                revision=revision,
                cache_dir=self.cache_dir,
                local_files_only=self.offline,
                token=self.token,
                endpoint=self.endpoint,
                library_name=LIBRARY_NAME,
                library_version=__version__,
            )
        except hf_errors.RemoteEntryNotFoundError as exc:
            if optional:
                headers = getattr(exc.response, "headers", {}) or {}
                return None, headers.get("X-Repo-Commit")
            _reraise(exc, self.repo_id, revision, filename,
                     what=f"download of {filename!r}", asked=self.asked)
        except hf_errors.LocalEntryNotFoundError as exc:
            if self.offline:
                if optional:
                    return None, None
                cache = self.cache_dir or "the default Hugging Face cache"
                raise errors.HubNotCachedError(
                    f"{filename!r} of {self.repo_id}@{revision or 'main'} is "
                    f"not in {cache}, and offline mode is on "
                    "(local_files_only=True or HF_HUB_OFFLINE=1). Download "
                    "it once online, e.g. `keras-cmod pull "
                    f"{self.repo_id}@{revision or 'main'}`."
                ) from exc
            raise errors.HubConnectionError(
                f"Could not reach the Hub to download {filename!r} of "
                f"{self.repo_id}@{revision or 'main'}, and it is not in the "
                "cache. Check the connection (or HF_ENDPOINT / endpoint=)."
            ) from exc
        except Exception as exc:
            _reraise(exc, self.repo_id, revision, filename,
                     what=f"download of {filename!r}", asked=self.asked)
        return path, _commit_of(path)


def _card_metadata(directory):
    from keras_cmod.hub.model_card import read_model_card_metadata

    path = pathlib.Path(directory) / README_FILE
    if not path.is_file():
        return None
    try:
        return read_model_card_metadata(path)
    except ValueError as exc:
        logger.warning("Ignoring the unreadable model card: %s", exc)
        return None


def _recorded_hashes(pretrained_cfg, card_metadata):
    """[(file, sha256, where recorded)] to check."""
    checks = []
    if pretrained_cfg:
        for name, entry in sorted((pretrained_cfg.get("files") or {}).items()):
            if isinstance(entry, dict) and entry.get("sha256"):
                checks.append((name, entry["sha256"], PRETRAINED_CFG_FILE))
        if pretrained_cfg.get("weights_sha256"):
            checks.append((WEIGHTS_FILE, pretrained_cfg["weights_sha256"],
                           PRETRAINED_CFG_FILE))
    if not checks and card_metadata:
        # Only a fallback: a kept card may be older than the weights, while
        # pretrained_cfg.json is rewritten by every push.
        nested = card_metadata.get("keras_cmod") or {}
        sha = card_metadata.get("weights_sha256") or (
            nested.get("weights_sha256") if isinstance(nested, dict) else None
        )
        if sha:
            checks.append((WEIGHTS_FILE, str(sha), README_FILE))
    return checks


def verify_files(directory, pretrained_cfg=None, card_metadata=None, *,
                 source=None):
    """Check downloaded files against the sha256 recorded for them.

    Hashes come from `pretrained_cfg["files"]` / `["weights_sha256"]`, or,
    when `pretrained_cfg.json` records none, from the card's front matter
    (`weights_sha256`, or `keras_cmod: {weights_sha256}`).

    Args:
        directory: the model directory.
        pretrained_cfg: its parsed `pretrained_cfg.json` (read if `None`).
        card_metadata: its parsed card front matter (read if `None`).
        source: how to name the model in messages.

    Returns:
        {file: sha256} of the files checked (empty if nothing recorded).

    Raises:
        HubIntegrityError: (a `ValueError`) on a mismatch, naming the file,
            both hashes and where the expected one was recorded.
        HubFileNotFoundError: a recorded file is missing.
    """
    directory = pathlib.Path(directory)
    if pretrained_cfg is None:
        pretrained_cfg = read_pretrained_cfg(directory)
    if card_metadata is None:
        card_metadata = _card_metadata(directory)
    source = source or str(directory)
    checked = {}
    for name, expected, where in _recorded_hashes(pretrained_cfg,
                                                  card_metadata):
        path = directory / name
        if not path.is_file():
            raise errors.HubFileNotFoundError(
                f"{name!r} is recorded in {where} of {source} but missing "
                f"from {directory}."
            )
        actual = checked.get(name) or sha256_file(path)
        if actual != expected.lower():
            raise errors.HubIntegrityError(
                f"sha256 mismatch for {name!r} of {source}: {where} records "
                f"{expected}, the file has {actual}. The file is corrupt or "
                f"was tampered with; delete {os.path.realpath(path)} and "
                "download it again."
            )
        checked[name] = actual
    return checked


def download(repo_id, revision=None, *, cache_dir=None,
             local_files_only=False, token=None, endpoint=None,
             progress=True):
    """Download a model repo's files into the Hugging Face cache.

    Fetches, by name and with `hf_hub_download` (no listing, no
    `model_info`): `pretrained_cfg.json` (if the repo has one) and the
    files its manifest names, else `config.json`, `model.weights.h5` and
    `metadata.json`; `README.md` only when no hash is recorded elsewhere.
    All files come from the one commit that the first file resolved to, even
    if the branch moves meanwhile. Recorded sha256 hashes are verified.

    Args:
        repo_id: `"org/name"`.
        revision: branch, tag or commit sha; `None` means `main`.
        cache_dir: Hugging Face cache directory (default: `HF_HUB_CACHE`).
        local_files_only: make no request; use only the cache. Also on when
            `HF_HUB_OFFLINE=1`.
        token: Hub token (default: `HF_TOKEN` / the saved login).
        endpoint: Hub URL (default: `HF_ENDPOINT` / huggingface.co).
        progress: show huggingface_hub's download progress bars.

    Returns:
        `pathlib.Path` of the snapshot directory, named by the commit sha.

    Raises:
        InvalidRepoIdError, HubRepositoryNotFoundError,
        HubRevisionNotFoundError, HubFileNotFoundError, HubNotCachedError,
        HubConnectionError, HubAccessError, HubIntegrityError,
        UnsafeFileError.
    """
    validate_repo_id(repo_id)
    rev = revision or "main"
    fetcher = _Fetcher(repo_id, cache_dir, _offline(local_files_only), token,
                       endpoint, asked_revision=rev)
    with _progress_bars(progress):
        cfg_path, commit = fetcher.fetch(PRETRAINED_CFG_FILE, rev,
                                         optional=True)
        config_path = None
        if commit is None:
            config_path, commit = fetcher.fetch(CONFIG_FILE, rev)
        pin = commit or rev
        cfg = _read_json(cfg_path) if cfg_path else None
        names = sorted((cfg or {}).get("files") or {})
        if not names:
            names = [CONFIG_FILE, WEIGHTS_FILE]
        for name in names:
            path, _ = fetcher.fetch(name, pin)
            if name == CONFIG_FILE:
                config_path = path
        if cfg is None:
            fetcher.fetch(METADATA_FILE, pin, optional=True)
        if config_path is None:
            config_path, _ = fetcher.fetch(CONFIG_FILE, pin)
        snapshot = pathlib.Path(config_path).parent
        card = None
        if not _recorded_hashes(cfg, None):
            card_path, _ = fetcher.fetch(README_FILE, pin, optional=True)
            card = _card_metadata(snapshot) if card_path else None
    verify_files(snapshot, cfg or {}, card or {},
                 source=f"{repo_id}@{commit or rev}")
    return snapshot


# -- loading ------------------------------------------------------------------


def _local_model_path(location):
    path = pathlib.Path(location)
    if path.is_file() and path.suffix == ".keras":
        return path
    if not path.is_dir():
        raise FileNotFoundError(
            f"Local model directory {str(path)!r} does not exist."
        )
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(
            f"{str(path)!r} has no {CONFIG_FILE}: not a Keras model "
            "directory (write one with keras_cmod.hub.save_pretrained)."
        )
    verify_files(path)
    return path


def from_pretrained(source, *, revision=None, cache_dir=None,
                    local_files_only=False, token=None, endpoint=None,
                    progress=True, compile=False, custom_objects=None):
    """Load a Keras model from the Hub or from a local directory.

    Args:
        source: `"org/name[@rev]"`, `"hf://org/name[@rev]"`,
            `"hf-hub:org/name[@rev]"`, `"local-dir:/path"`, a local
            directory (written by `save_pretrained` or
            `model.save(dir, zipped=False)`) or a `.keras` file.
        revision: branch, tag or commit sha (or use `@rev`). Pin a commit
            sha for reproducible loads.
        cache_dir, local_files_only, token, endpoint, progress: see
            `download`.
        compile: restore the training configuration too.
        custom_objects: passed to `keras.saving.load_model`.

    Returns:
        The `keras.Model`, loaded with `safe_mode=True` after the recorded
        sha256 hashes were checked.

    Raises:
        See `download`; also `FileNotFoundError` for a missing local
        directory.
    """
    import keras

    kind, location, rev = resolve_source(source, revision)
    if kind == HUB:
        path = download(location, rev, cache_dir=cache_dir,
                        local_files_only=local_files_only, token=token,
                        endpoint=endpoint, progress=progress)
    else:
        path = _local_model_path(location)
    return keras.saving.load_model(
        str(path), custom_objects=custom_objects, compile=compile,
        safe_mode=True,
    )


def _config_summary(config):
    inner = config.get("config") if isinstance(config, dict) else None
    inner = inner if isinstance(inner, dict) else {}
    layers = inner.get("layers")
    return {
        "class_name": config.get("class_name"),
        "registered_name": config.get("registered_name"),
        "module": config.get("module"),
        "name": inner.get("name"),
        "num_layers": len(layers) if isinstance(layers, list) else None,
    }


def describe(source, revision=None, *, cache_dir=None, local_files_only=False,
             token=None, endpoint=None):
    """Describe a model source without downloading its weights.

    Fetches only the small JSON files (`pretrained_cfg.json`,
    `config.json`); in offline mode it reports what the cache holds.

    Args:
        source: a Hub source or local directory (see `resolve_source`); the
            registry resolves its names to `(repo_id, revision)` first.
        revision, cache_dir, local_files_only, token, endpoint: see
            `download`.

    Returns:
        A dict with `kind`, `location`, `revision` (asked for), `commit`
        (resolved sha, if known), `cached` (weights in the cache),
        `local_dir`, `config` (class and name of the model), `metrics`,
        `weights_sha256`, `keras_version` and `pretrained_cfg`.
    """
    kind, location, rev = resolve_source(source, revision)
    info = {"kind": kind, "location": location, "revision": rev,
            "commit": None, "cached": None, "local_dir": None,
            "config": None, "pretrained_cfg": None, "metrics": None,
            "weights_sha256": None, "keras_version": None}
    if kind == HUB:
        fetcher = _Fetcher(location, cache_dir, _offline(local_files_only),
                           token, endpoint, asked_revision=rev)
        pin = rev or "main"
        cfg_path, commit = fetcher.fetch(PRETRAINED_CFG_FILE, pin,
                                         optional=True)
        try:
            config_path, commit2 = fetcher.fetch(CONFIG_FILE, commit or pin)
        except errors.HubNotCachedError:
            config_path, commit2 = None, None
        commit = commit or commit2
        info["commit"] = commit
        weights = fetcher.cached(WEIGHTS_FILE, commit or pin)
        info["cached"] = isinstance(weights, str)
        directory = pathlib.Path(config_path).parent if config_path else None
    else:
        directory = pathlib.Path(location)
        if not (directory / CONFIG_FILE).is_file():
            raise FileNotFoundError(
                f"{location!r} is not a Keras model directory (no "
                f"{CONFIG_FILE})."
            )
        config_path = directory / CONFIG_FILE
        cfg_path = directory / PRETRAINED_CFG_FILE
        cfg_path = cfg_path if cfg_path.is_file() else None
        info["cached"] = (directory / WEIGHTS_FILE).is_file()
    if directory is not None:
        info["local_dir"] = str(directory)
    if config_path:
        info["config"] = _config_summary(_read_json(config_path))
    if cfg_path:
        cfg = _read_json(cfg_path)
        info["metrics"] = cfg.get("metrics")
        info["weights_sha256"] = cfg.get("weights_sha256")
        info["keras_version"] = cfg.get("keras_version")
        info["pretrained_cfg"] = {
            k: v for k, v in cfg.items() if k not in ("files", "metrics")
        }
    return info
