"""Saving a model as a Hub-ready directory, and pushing it to the Hub.

`huggingface_hub` and `keras` are imported lazily, inside the functions.
"""

import json
import logging
import os
import pathlib
import posixpath
import shutil
import tempfile
import uuid

from keras_cmod._atomic import naming_disk_errors
from keras_cmod.hub import _deadline, errors
from keras_cmod.hub._common import (
    ALLOWED_SUFFIXES,
    CONFIG_FILE,
    DEFAULT_COMMIT_MESSAGE,
    FORMAT,
    LIBRARY_NAME,
    METADATA_FILE,
    PRETRAINED_CFG_FILE,
    README_FILE,
    RESERVED_KEYS,
    WEIGHTS_FILE,
    as_dict,
    is_allowed,
    json_default,
    offline_mode,
    read_json,
    read_pretrained_cfg,
    reraise,
    sha256_file,
    write_json,
)
from keras_cmod.hub.sources import validate_repo_id
from keras_cmod.version import __version__

__all__ = ["save_pretrained", "push_to_hub", "HubCommit",
           "write_model_files"]

logger = logging.getLogger(__name__)


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
    name = _find_lambda(read_json(pathlib.Path(directory) / CONFIG_FILE))
    if name:
        raise ValueError(
            f"The model contains a Lambda layer ({name!r}); "
            "keras.saving.load_model(..., safe_mode=True), which keras-cmod "
            "uses to load Hub models, refuses to deserialize it. Replace it "
            "with a custom layer registered with "
            "@keras.saving.register_keras_serializable()."
        )


#: The files of a Keras unzipped model folder (`model.save(d,
#: zipped=False)`), pushed when the folder has no manifest.
_KERAS_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)


def _files_to_push(src):
    """The files of a model folder that `push_to_hub` uploads.

    Only the files its manifest (`pretrained_cfg.json`'s `files`) names,
    plus `pretrained_cfg.json` and the card `README.md`; for a folder
    without a manifest, Keras' own files (`config.json`,
    `model.weights.h5`, `metadata.json`, `assets/`) and the card. Anything
    else a folder may hold (a training run's `model.keras`, checkpoints,
    logs, temporary files of an interrupted write) is never uploaded.

    Raises:
        FileNotFoundError: a file the manifest names is missing.
        HubIntegrityError: a file does not match its recorded sha256 (a
            folder left half-written: it is not pushed).
        UnsafeFileError: the manifest names a file outside the allow-list.
    """
    from keras_cmod.hub.loading import verify_files

    cfg = read_pretrained_cfg(src)
    manifest = (cfg or {}).get("files") if isinstance(cfg, dict) else None
    if isinstance(manifest, dict) and manifest:
        names = sorted(manifest)
        for name in names:
            if not is_allowed(name) or "\\" in name:
                raise errors.UnsafeFileError(
                    f"{src / PRETRAINED_CFG_FILE} names {name!r}: only "
                    f"{', '.join(ALLOWED_SUFFIXES)} files inside the folder "
                    "are pushed."
                )
            if not (src / name).is_file():
                raise FileNotFoundError(
                    f"{src / PRETRAINED_CFG_FILE} names {name!r}, which is "
                    f"missing from {src}: the folder is incomplete; save it "
                    "again (keras_cmod.hub.save_pretrained)."
                )
        try:
            verify_files(src, cfg, {}, source=str(src))
        except errors.HubIntegrityError as exc:
            detail = str(exc).split(" The file is corrupt")[0]
            raise errors.HubIntegrityError(
                f"Not pushing {src}: its files do not match its manifest "
                f"({detail}). The folder was left half-written (a save that "
                "was interrupted) or changed by hand: save it again "
                "(keras_cmod.hub.save_pretrained, or rerun the training "
                "command) and push then."
            ) from None
        names.append(PRETRAINED_CFG_FILE)
    else:
        names = [n for n in _KERAS_FILES if (src / n).is_file()]
        assets = src / "assets"
        if assets.is_dir():
            names += sorted(p.relative_to(src).as_posix()
                            for p in assets.rglob("*") if p.is_file())
    if (src / README_FILE).is_file():
        names.append(README_FILE)
    return names


def check_model_config(path):
    """Refuses a `config.json` that is not a serialized Keras model.

    Raises:
        FileNotFoundError: no such file.
        ValueError: invalid JSON, or e.g. a training config at that name.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No {path.name} in {path.parent}.")
    config = read_json(path)
    if not (isinstance(config, dict) and "class_name" in config
            and isinstance(config.get("config"), dict)):
        raise ValueError(
            f"{path} is not a Keras model config (no class_name/config): "
            "the folder is not a loadable model (write one with "
            "keras_cmod.hub.save_pretrained(model, dir) or "
            "model.save(dir, zipped=False))."
        )
    return config


def _check_loads(staging, src):
    """The staged folder must load back (before any Hub request)."""
    import keras

    try:
        keras.saving.load_model(str(staging), compile=False, safe_mode=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"{src} does not load as a Keras model ({type(exc).__name__}: "
            f"{first[:300]}); refusing to push it."
        ) from None


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
           if k not in RESERVED_KEYS}
    cfg.update(as_dict(pretrained_cfg))
    if metrics is not None:
        cfg["metrics"] = metrics
    files = _manifest(directory)
    if WEIGHTS_FILE not in files:
        raise FileNotFoundError(f"{directory} has no {WEIGHTS_FILE}")
    keras_version = None
    metadata = pathlib.Path(directory) / METADATA_FILE
    if metadata.is_file():
        keras_version = read_json(metadata).get("keras_version")
    cfg.update(
        format=FORMAT,
        files=files,
        weights_sha256=files[WEIGHTS_FILE]["sha256"],
        keras_version=keras_version,
        keras_cmod_version=__version__,
    )
    # Plain JSON types from here on (numpy values, tuples, paths converted).
    return json.loads(json.dumps(cfg, default=json_default))


def _write_card(directory, cfg, model_card, model=None, repo_id=None):
    from keras_cmod.hub.model_card import generate_model_card

    if isinstance(model_card, str):
        text = model_card
    else:
        text = generate_model_card(
            cfg, repo_id=repo_id, model=model, **as_dict(model_card)
        )
    (pathlib.Path(directory) / README_FILE).write_text(text, encoding="utf-8")


def _save_keras_files(model, folder):
    """`keras.saving.save_model(model, folder, zipped=False)`, by plain writes.

    Keras writes the same files (`config.json`, `metadata.json`,
    `model.weights.h5`, `assets/`) into a `.keras` archive, building the
    HDF5 weights in memory; they are unpacked here with Python writes. (When
    HDF5 itself writes to a disk that fills up, it cannot close the file
    and the process crashes at exit; a plain write fails with an `OSError`
    that names the file.)
    """
    import zipfile

    import keras

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / ".model.keras"
    try:
        keras.saving.save_model(model, str(archive))
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = posixpath.normpath(info.filename)
                if info.is_dir() or name.startswith(("/", "../")):
                    continue
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    finally:
        archive.unlink(missing_ok=True)


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


def save_pretrained(model, directory, *, pretrained_cfg=None, metrics=None,
                    model_card=None, overwrite=False, repo_id=None):
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
        repo_id: the Hub repo the directory is meant for, named in the
            card's loading examples (`keras-cmod push` keeps that card).

    Returns:
        `pathlib.Path` of the directory.

    Raises:
        FileExistsError: `directory` is not empty and `overwrite` is False.
        ValueError: the model contains a `Lambda` layer.
    """
    if repo_id is not None:
        validate_repo_id(repo_id)
    return _save(model, directory, pretrained_cfg=pretrained_cfg,
                 metrics=metrics, model_card=model_card, overwrite=overwrite,
                 repo_id=repo_id)


def _save(model, directory, *, pretrained_cfg, metrics, model_card,
          overwrite, repo_id=None):
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
        with naming_disk_errors(directory, "the model folder"):
            _save_keras_files(model, tmp)
            _check_safe_mode_loadable(tmp)
            own = getattr(model, "pretrained_cfg", None)
            cfg = _build_pretrained_cfg(tmp, own if isinstance(own, dict)
                                        else None, pretrained_cfg, metrics)
            write_json(tmp / PRETRAINED_CFG_FILE, cfg)
            _write_card(tmp, cfg, model_card, model=model, repo_id=repo_id)
        _replace_dir(tmp, directory, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def write_model_files(model, directory, *, pretrained_cfg=None):
    """Writes the model-folder files into an existing folder (a run).

    `config.json`, `model.weights.h5`, `metadata.json` (Keras' unzipped
    format) and `pretrained_cfg.json` (the model's own `pretrained_cfg`
    updated with `pretrained_cfg`, plus the sha256 of each file), each
    renamed into place from a temporary folder inside `directory` that is
    removed on every path. The folder is then a model folder:
    `keras_cmod.zoo.load("local-dir:DIR")`, `from_pretrained(DIR)` and
    `keras-cmod push DIR org/repo` accept it. Other files are left alone.

    Returns:
        The list of paths written.
    """
    directory = pathlib.Path(directory)
    # `.tmp-<pid>-`: the name a training run removes when a writer died.
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-model-",
                                        dir=directory))
    try:
        with naming_disk_errors(directory / WEIGHTS_FILE, "the model files"):
            _save_keras_files(model, tmp)
            own = getattr(model, "pretrained_cfg", None)
            cfg = _build_pretrained_cfg(tmp, own if isinstance(own, dict)
                                        else None, pretrained_cfg, None)
            write_json(tmp / PRETRAINED_CFG_FILE, cfg)
        written = []
        # The weights first and the manifest last: a crash in between
        # leaves a folder whose manifest does not vouch for new files.
        for name in (WEIGHTS_FILE, CONFIG_FILE, METADATA_FILE,
                     PRETRAINED_CFG_FILE):
            if (tmp / name).is_file():
                os.replace(tmp / name, directory / name)
                written.append(directory / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    check_model_config(src / CONFIG_FILE)
    names = _files_to_push(src)
    staging.mkdir(parents=True)
    for rel in names:
        if not is_allowed(rel):
            logger.warning("Not uploading %s: only %s files are pushed", rel,
                           ", ".join(ALLOWED_SUFFIXES))
            continue
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, target)
    _check_safe_mode_loadable(staging)
    _check_loads(staging, src)
    old_cfg = read_pretrained_cfg(staging)
    # The manifest is always recomputed from the files actually pushed.
    cfg = _build_pretrained_cfg(staging, old_cfg, pretrained_cfg, metrics)
    write_json(staging / PRETRAINED_CFG_FILE, cfg)
    if model_card is not None or not (staging / README_FILE).is_file():
        _write_card(staging, cfg, model_card, repo_id=repo_id)


def push_to_hub(model, repo_id, *, revision=None, private=None,
                create_pr=False, commit_message=DEFAULT_COMMIT_MESSAGE,
                token=None, endpoint=None, model_card=None,
                pretrained_cfg=None, metrics=None,
                overwrite_model_card=False, timeout=None):
    """Upload a model to a Hub repo (created if needed) in one commit.

    Args:
        model: a Keras model, or the path of a directory written by
            `save_pretrained` (or `model.save(dir, zipped=False)`).
        repo_id: `"org/name"`.
        revision: branch to commit to (created from `main` if missing).
            Defaults to `main`.
        private: visibility if the repo is created (an existing repo keeps
            its visibility).
        create_pr: open a pull request against `main` (with no `revision`)
            instead of committing.
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
        timeout: seconds each request of the push may go without progress
            (no answer, or error answers and their retries) before
            `HubTimeoutError`; the upload gets one more second per MiB it
            sends. Defaults to `KERAS_CMOD_HUB_TIMEOUT`, else 60. A push
            given up on during the upload may still land: look at the repo
            before pushing again.

    Returns:
        `HubCommit`: the commit sha (a `str`) with `.url`, `.pr_url`,
        `.repo_id`, `.revision`.

    Raises:
        InvalidRepoIdError: bad `repo_id`.
        HubAccessError, HubRepositoryNotFoundError, HubConnectionError,
        HubTimeoutError, HubHTTPError: the Hub refused or could not be
        reached.
    """
    validate_repo_id(repo_id)
    timeout = _deadline.resolve_timeout(timeout)
    if offline_mode(False):
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
        where = f"to {repo_id}@{revision or 'main'} ({api.endpoint})"

        def bounded(step, fn, extra_seconds=0.0):
            return _deadline.run(fn, timeout=timeout, what=f"push ({step})",
                                 where=where, extra_seconds=extra_seconds)

        size = sum(p.stat().st_size for p in staging.rglob("*")
                   if p.is_file())
        try:
            bounded("creating the repo", lambda: api.create_repo(
                repo_id, private=private, exist_ok=True))
            if revision not in (None, "main") and not revision.startswith(
                "refs/"
            ):
                bounded(f"creating branch {revision!r}",
                        lambda: api.create_branch(repo_id, branch=revision,
                                                  exist_ok=True))
            keep_card = not overwrite_model_card and bounded(
                f"looking for {README_FILE}", lambda: api.file_exists(
                    repo_id, README_FILE, revision=revision))
            if keep_card:
                logger.info(
                    "%s already has a %s: kept (pass "
                    "overwrite_model_card=True to replace it)",
                    repo_id,
                    README_FILE,
                )
            info = bounded("uploading the files", lambda: api.upload_folder(
                repo_id=repo_id,
                folder_path=staging,
                revision=revision,
                create_pr=create_pr,
                commit_message=commit_message,
                allow_patterns=[f"*{s}" for s in ALLOWED_SUFFIXES],
                ignore_patterns=[README_FILE] if keep_card else None,
            ), extra_seconds=size / (1 << 20))
        except Exception as exc:
            reraise(exc, repo_id, revision, None, what=what)
    return HubCommit(info.oid, url=info.commit_url, pr_url=info.pr_url,
                     repo_id=repo_id, revision=revision or "main")
