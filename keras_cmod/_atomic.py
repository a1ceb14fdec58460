"""Atomic file writes with normal permissions (standard library only).

A reader of a file written here sees the old content or the new one, never
a part: the data goes to a temporary file in the destination folder (same
file system), is flushed and fsync'ed, and is renamed over the destination
with `os.replace`. The temporary file is removed on every failure path,
`KeyboardInterrupt` included.

The file gets the mode a plain `open(path, "w")` would give it,
`0o666 & ~umask`, not the `0o600` of `tempfile.mkstemp`.

    write_bytes(path, data)
    write_text(path, text)
    write_json(path, obj)
    with atomic_path("model.keras") as tmp:   # for writers that need a name
        model.save(tmp)

A full disk, an exceeded quota or file-size limit (`ENOSPC`, `EDQUOT`,
`EFBIG`) is re-raised as an `OSError` of the same errno that names the file
being written and says that the previous file is intact
(`naming_disk_errors`).
"""

import contextlib
import errno
import json
import os
import tempfile

__all__ = [
    "atomic_path",
    "default_mode",
    "disk_full_error",
    "is_disk_full",
    "naming_disk_errors",
    "write_bytes",
    "write_json",
    "write_text",
]

#: errno values of "the disk cannot take this file".
DISK_FULL_ERRNOS = frozenset(
    code for code in (getattr(errno, "ENOSPC", None),
                      getattr(errno, "EDQUOT", None),
                      getattr(errno, "EFBIG", None)) if code is not None
)
# Some writers (HDF5, TensorFlow) report the errno only in their text.
_DISK_FULL_TEXTS = ("no space left on device", "disk quota exceeded",
                    "file too large", "errno = 28", "errno = 27",
                    "errno = 122")


def is_disk_full(exc):
    """True for an error of a full disk, quota or file-size limit."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return isinstance(exc, (OSError, RuntimeError)) and any(
        t in text for t in _DISK_FULL_TEXTS)


def _errno_of(exc):
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return exc.errno
    text = str(exc).lower()
    if "quota" in text or "errno = 122" in text:
        return getattr(errno, "EDQUOT", errno.ENOSPC)
    if "too large" in text or "errno = 27" in text:
        return errno.EFBIG
    return errno.ENOSPC


def disk_full_error(exc, path, what=None):
    """An `OSError` (errno kept) naming `path`, for a disk-full `exc`."""
    code = _errno_of(exc)
    if code == errno.EFBIG:
        reason = "File too large (a file-size limit was reached)"
        fix = "Raise the limit (ulimit -f) or write elsewhere"
    else:
        reason = os.strerror(code)
        fix = "Free some space and try again"
    what = f"writing {what}" if what else "writing"
    return OSError(code, f"{reason} while {what}; nothing was replaced, the "
                         f"previous file (if any) is intact. {fix}",
                   os.fspath(path))


@contextlib.contextmanager
def naming_disk_errors(path, what=None):
    """Re-raises a disk-full error inside the block naming `path`.

    The new `OSError` keeps the errno (`ENOSPC`, `EDQUOT` or `EFBIG`), has
    `path` as its `filename`, and chains the original error.
    """
    try:
        yield
    except Exception as exc:
        if not is_disk_full(exc) or (
            isinstance(exc, OSError) and getattr(exc, "_keras_cmod_named",
                                                 False)
        ):
            raise
        err = disk_full_error(exc, path, what)
        err._keras_cmod_named = True
        raise err from exc


def default_mode():
    """`0o666 & ~umask`: the mode `open(path, "w")` gives a new file."""
    # The umask can only be read by setting it; set it back at once.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _folder_of(path):
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"Cannot write {path!r}: it is a directory; give a file name."
        )
    return path, folder


def _make_folder(folder):
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(
            f"Cannot create the folder {folder!r}: a file of that name "
            "(or above it) exists."
        ) from None


@contextlib.contextmanager
def atomic_path(path, *, suffix=None, make_dirs=True):
    """Yields a temporary path; on success it is renamed to `path`.

    For writers that need a file name (`model.save`, `savefig`): write to
    the yielded path inside the `with` block. If the block raises, or
    writes nothing, the temporary file is removed and `path` is left as it
    was.

    Args:
        path: destination file.
        suffix: ending of the temporary name (some writers pick the format
            from it, e.g. `".keras"`). Defaults to the destination's
            extension.
        make_dirs: create missing parent folders. Defaults to True.

    Yields:
        The temporary path (str), in the destination folder. It does not
        exist yet when the block starts.

    Raises:
        IsADirectoryError: `path` is a folder.
        NotADirectoryError: a parent of `path` is a regular file.
        FileNotFoundError: the folder is missing and `make_dirs` is False.
        FileNotFoundError: the block wrote nothing at the yielded path.
    """
    path, folder = _folder_of(path)
    if make_dirs:
        _make_folder(folder)
    base = os.path.basename(path)
    if suffix is None:
        suffix = (".weights.h5" if base.endswith(".weights.h5")
                  else os.path.splitext(base)[1])
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=suffix or "",
                               dir=folder)
    os.close(fd)
    # The writer gets a free name: some refuse to overwrite a file.
    os.unlink(tmp)
    try:
        with naming_disk_errors(path):
            yield tmp
            if not os.path.exists(tmp):
                raise FileNotFoundError(
                    f"Nothing was written for {path!r} (expected a file at "
                    f"the temporary path {tmp!r})."
                )
            if os.path.isfile(tmp):
                os.chmod(tmp, default_mode())
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return None


def _remove(tmp):
    try:
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            os.unlink(tmp)
    except OSError:  # pragma: no cover - best effort on the error path
        pass


def write_bytes(path, data, *, make_dirs=True):
    """Writes `data` (bytes) to `path` atomically; returns the path (str).

    Raises:
        TypeError: `data` is not bytes-like.
        IsADirectoryError / NotADirectoryError / PermissionError: the
            destination cannot be written (nothing is left behind).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"`data` must be bytes. Received: {type(data).__name__}"
        )
    path, folder = _folder_of(path)
    if make_dirs:
        _make_folder(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp", dir=folder)
    try:
        with naming_disk_errors(path):
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, default_mode())
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


def write_text(path, text, *, encoding="utf-8", newline=None,
               make_dirs=True):
    """Writes `text` (str) to `path` atomically; returns the path (str).

    `newline` follows `open`: `None` translates "\\n" to the platform's line
    ending, `""` writes the text unchanged.
    """
    if not isinstance(text, str):
        raise TypeError(
            f"`text` must be a str. Received: {type(text).__name__}"
        )
    if newline is None and os.linesep != "\n":  # pragma: no cover
        text = text.replace("\n", os.linesep)
    return write_bytes(path, text.encode(encoding), make_dirs=make_dirs)


def write_json(path, obj, *, indent=2, sort_keys=False, make_dirs=True):
    """Writes `obj` as strict JSON (no NaN) atomically; returns the path.

    Raises:
        ValueError: `obj` holds NaN or infinite floats.
        TypeError: `obj` holds values JSON cannot encode.
    """
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys,
                      allow_nan=False)
    return write_text(path, text + "\n", make_dirs=make_dirs)


def check_writable_path(path, flag, folder=False):
    """Checks, creating nothing, that `path` can be written later.

    The nearest existing ancestor must be a writable folder (missing
    folders are created when the results are written), and `path` itself
    must not be a folder (a file) or a file (`folder=True`).

    Raises:
        IsADirectoryError / NotADirectoryError / PermissionError: naming
            `path` and the flag.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if folder:
        if os.path.exists(path) and not os.path.isdir(path):
            raise NotADirectoryError(
                f"{flag} {path!r} is a file; give a folder."
            )
    elif os.path.isdir(path):
        raise IsADirectoryError(
            f"{flag} {path!r} is a directory; give a file."
        )
    parent = path if folder and os.path.isdir(path) else os.path.dirname(
        path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(
            f"{flag} {path!r} cannot be created: {parent!r} is a file, not "
            "a folder."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{flag} {path!r} cannot be written: no write permission in "
            f"{parent!r}."
        )
    return path
