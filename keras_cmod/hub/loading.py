"""Downloading and loading models from the Hub or a local directory.

Loading never lists a repo nor calls a metadata API (`model_info`, tree
listings): it downloads known file names with `hf_hub_download`, all pinned
to the commit that the first file resolved to. With a commit sha that is in
the cache, or with `local_files_only=True` / `HF_HUB_OFFLINE=1`, it makes no
HTTP request at all. Only `.json`, `.h5`, `.keras` and `.md` files are
downloaded, and models are loaded with Keras `safe_mode=True`.

`huggingface_hub` and `keras` are imported lazily, inside the functions.
"""

import glob
import logging
import os
import pathlib

from keras_cmod.hub import _deadline, errors
from keras_cmod.hub._common import (
    ALLOWED_SUFFIXES,
    CONFIG_FILE,
    LIBRARY_NAME,
    METADATA_FILE,
    PRETRAINED_CFG_FILE,
    README_FILE,
    SHA_RE,
    WEIGHTS_FILE,
    is_allowed,
    offline_mode,
    progress_bars,
    read_json,
    read_pretrained_cfg,
    reraise,
    sha256_file,
)
from keras_cmod.hub.sources import HUB, resolve_source, validate_repo_id
from keras_cmod.version import __version__

__all__ = ["download", "from_pretrained", "describe", "verify_files"]

logger = logging.getLogger(__name__)


def _commit_of(path):
    name = pathlib.Path(path).parent.name
    return name if SHA_RE.fullmatch(name) else None


class _Fetcher:
    """Download named files of one repo with hf_hub_download."""

    def __init__(self, repo_id, cache_dir, offline, token, endpoint,
                 asked_revision=None, timeout=None):
        self.repo_id = repo_id
        self.asked = asked_revision or "main"
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.offline = offline
        self.token = token
        self.endpoint = endpoint
        self.timeout = _deadline.resolve_timeout(timeout)

    def _where(self, revision):
        from huggingface_hub import constants

        endpoint = (self.endpoint or constants.ENDPOINT).rstrip("/")
        return f"{self.repo_id}@{revision or 'main'} ({endpoint})"

    def _incomplete_files(self):
        """Glob of the cache's temporary files of this repo's downloads."""
        from huggingface_hub import constants

        cache = self.cache_dir or constants.HF_HUB_CACHE
        folder = "models--" + self.repo_id.replace("/", "--")
        return os.path.join(glob.escape(os.fspath(cache)), folder, "blobs",
                            "*.incomplete")

    def _download(self, filename, revision):
        from huggingface_hub import hf_hub_download

        def call():
            return hf_hub_download(
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

        if self.offline:
            return call()  # no request: nothing to wait for
        return _deadline.run(
            call, timeout=self.timeout, what=f"download of {filename!r}",
            where=f"from {self._where(revision)}",
            watch=self._incomplete_files())

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
        )
        from huggingface_hub import errors as hf_errors

        if not is_allowed(filename):
            raise errors.UnsafeFileError(
                f"Refusing to download {filename!r} from {self.repo_id}: "
                f"only {', '.join(ALLOWED_SUFFIXES)} files are allowed."
            )
        if optional and self.cached(filename, revision) is _CACHED_NO_EXIST:
            return None, None  # known to be absent: no request needed
        try:
            path = self._download(filename, revision)
        except hf_errors.RemoteEntryNotFoundError as exc:
            if optional:
                headers = getattr(exc.response, "headers", {}) or {}
                return None, headers.get("X-Repo-Commit")
            reraise(exc, self.repo_id, revision, filename,
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
            answer = _http_error(exc)
            if answer is not None:
                # The Hub answered, with an error (to every try of a 5xx).
                status = getattr(answer.response, "status_code", None)
                if status in (401, 403):
                    reraise(answer, self.repo_id, revision, filename,
                            what=f"download of {filename!r}",
                            asked=self.asked)
                detail = getattr(answer, "server_message", None)
                tries = (", on every try" if status in (408, 429) or (
                    status or 0) >= 500 else "")
                raise errors.HubHTTPError(
                    f"The Hub answered {_deadline.status_text(status)} to "
                    f"the download of {filename!r} from "
                    f"{self._where(revision)}{tries}"
                    + (f": {detail}" if detail else "")
                    + ". The file is not in the cache. Try again later."
                ) from exc
            raise errors.HubConnectionError(
                f"Could not reach the Hub to download {filename!r} of "
                f"{self._where(revision)}, and it is not in the "
                "cache. Check the connection (or HF_ENDPOINT / endpoint=)."
            ) from exc
        except Exception as exc:
            reraise(exc, self.repo_id, revision, filename,
                    what=f"download of {filename!r}", asked=self.asked)
        return path, _commit_of(path)


def _http_error(exc):
    """The HTTP error answer behind a client error, or None."""
    from huggingface_hub import errors as hf_errors

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, hf_errors.HfHubHTTPError) and getattr(
            exc, "response", None
        ) is not None:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


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
            err = errors.HubIntegrityError(
                f"sha256 mismatch for {name!r} of {source}: {where} records "
                f"{expected}, the file has {actual}. The file is corrupt or "
                f"was tampered with; delete {os.path.realpath(path)} and "
                "download it again."
            )
            err.filename = name
            raise err
        checked[name] = actual
    return checked


def download(repo_id, revision=None, *, cache_dir=None,
             local_files_only=False, token=None, endpoint=None,
             progress=True, timeout=None):
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
        progress: show huggingface_hub's download progress bars (their
            previous state is restored afterwards; HF_HUB_DISABLE_PROGRESS_BARS,
            when set, has priority).
        timeout: seconds each file's download may go without progress (no
            answer from the server, error answers and their retries, a
            transfer receiving nothing) before `HubTimeoutError`. Defaults
            to `KERAS_CMOD_HUB_TIMEOUT`, else 60.

    Returns:
        `pathlib.Path` of the snapshot directory, named by the commit sha.

    Raises:
        InvalidRepoIdError, HubRepositoryNotFoundError,
        HubRevisionNotFoundError, HubFileNotFoundError, HubNotCachedError,
        HubConnectionError, HubTimeoutError, HubHTTPError, HubAccessError,
        HubIntegrityError (the file that does not match is removed from
        the cache: the next call downloads it again), UnsafeFileError.
    """
    validate_repo_id(repo_id)
    rev = revision or "main"
    fetcher = _Fetcher(repo_id, cache_dir, offline_mode(local_files_only),
                       token, endpoint, asked_revision=rev, timeout=timeout)
    with progress_bars(progress):
        cfg_path, commit = fetcher.fetch(PRETRAINED_CFG_FILE, rev,
                                         optional=True)
        config_path = None
        if commit is None:
            config_path, commit = fetcher.fetch(CONFIG_FILE, rev)
        pin = commit or rev
        cfg = read_json(cfg_path) if cfg_path else None
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
    try:
        verify_files(snapshot, cfg or {}, card or {},
                     source=f"{repo_id}@{commit or rev}")
    except errors.HubIntegrityError as exc:
        raise _evict(exc, snapshot) from None
    return snapshot


def _evict(exc, snapshot):
    """Removes a cached file that failed its sha256 check; the error.

    The snapshot's entry (a link into `blobs/`, or a copy) and the blob it
    points to are removed, so that the next call downloads the file again
    instead of failing on the same bytes.
    """
    name = getattr(exc, "filename", None)
    entry = pathlib.Path(snapshot) / name if name else None
    if entry is None or not os.path.lexists(entry):
        return exc
    blob = os.path.realpath(entry)
    removed = []
    for path in dict.fromkeys((blob, os.fspath(entry))):
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    if not removed:
        return exc
    message = str(exc).split(" The file is corrupt")[0]
    return errors.HubIntegrityError(
        f"{message} The file was corrupt in the cache or changed on the "
        f"server; it was removed from the cache ({blob}), so the next call "
        "downloads it again."
    )


def local_model_path(location):
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
                    progress=True, compile=False, custom_objects=None,
                    timeout=None):
    """Load a Keras model from the Hub or from a local directory.

    Args:
        source: `"org/name[@rev]"`, `"hf://org/name[@rev]"`,
            `"hf-hub:org/name[@rev]"`, `"local-dir:/path"`, a local
            directory (written by `save_pretrained` or
            `model.save(dir, zipped=False)`) or a `.keras` file.
        revision: branch, tag or commit sha (or use `@rev`). Pin a commit
            sha for reproducible loads.
        cache_dir, local_files_only, token, endpoint, progress, timeout:
            see `download`.
        compile: restore the training configuration too.
        custom_objects: passed to `keras.saving.load_model`.

    Returns:
        The `keras.Model`, loaded with `safe_mode=True` after the recorded
        sha256 hashes were checked. Its `pretrained_cfg` attribute is a
        plain dict: the repo's `pretrained_cfg.json` (`{}` if it has none),
        plus, for Hub loads, `hf_hub_id` and `revision` (the commit sha
        actually loaded).

    Raises:
        See `download`; also `FileNotFoundError` for a missing local
        directory.
    """
    import keras

    kind, location, rev = resolve_source(source, revision)
    extra = {}
    if kind == HUB:
        path = download(location, rev, cache_dir=cache_dir,
                        local_files_only=local_files_only, token=token,
                        endpoint=endpoint, progress=progress,
                        timeout=timeout)
        extra = {"hf_hub_id": location, "revision": path.name}
    else:
        path = local_model_path(location)
    if path.is_dir():
        from keras_cmod.hub.saving import check_model_config

        check_model_config(path / CONFIG_FILE)  # names a corrupt file
    model = keras.saving.load_model(
        str(path), custom_objects=custom_objects, compile=compile,
        safe_mode=True,
    )
    cfg = (read_pretrained_cfg(path) if path.is_dir() else None) or {}
    # object.__setattr__: a plain dict, outside Keras' attribute tracking
    # (it is metadata, never saved with the model's weights or config).
    object.__setattr__(model, "pretrained_cfg", {**cfg, **extra})
    return model


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
             token=None, endpoint=None, timeout=None):
    """Describe a model source without downloading its weights.

    Fetches only the small JSON files (`pretrained_cfg.json`,
    `config.json`); in offline mode it reports what the cache holds.

    Args:
        source: a Hub source or local directory (see `resolve_source`); the
            registry resolves its names to `(repo_id, revision)` first.
        revision, cache_dir, local_files_only, token, endpoint, timeout:
            see `download`.

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
        fetcher = _Fetcher(location, cache_dir, offline_mode(local_files_only),
                           token, endpoint, asked_revision=rev,
                           timeout=timeout)
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
        info["config"] = _config_summary(read_json(config_path))
    if cfg_path:
        cfg = read_json(cfg_path)
        info["metrics"] = cfg.get("metrics")
        info["weights_sha256"] = cfg.get("weights_sha256")
        info["keras_version"] = cfg.get("keras_version")
        info["pretrained_cfg"] = {
            k: v for k, v in cfg.items() if k not in ("files", "metrics")
        }
    return info
