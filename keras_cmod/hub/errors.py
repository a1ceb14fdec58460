"""Exceptions raised by `keras_cmod.hub`.

Every error from the Hub client is translated into one of these, with a
message that names the repo, the revision and the file concerned. They also
derive from the matching built-in exception (`FileNotFoundError`,
`ValueError`, `ConnectionError`, `PermissionError`, `OSError`), so callers
may catch either. Messages never contain the access token.
"""

__all__ = [
    "HubError",
    "InvalidRepoIdError",
    "HubNotFoundError",
    "HubRepositoryNotFoundError",
    "HubRevisionNotFoundError",
    "HubFileNotFoundError",
    "HubNotCachedError",
    "HubConnectionError",
    "HubTimeoutError",
    "HubAccessError",
    "HubHTTPError",
    "HubIntegrityError",
    "UnsafeFileError",
]


class HubError(Exception):
    """Base class of the errors raised by `keras_cmod.hub`."""

    def __str__(self):
        # OSError subclasses would print "[Errno ...]" for some arguments.
        return str(self.args[0]) if self.args else ""


class InvalidRepoIdError(HubError, ValueError):
    """A repo id or source string that is not of an accepted form."""


class HubNotFoundError(HubError, FileNotFoundError):
    """Something asked for does not exist (remotely or in the cache)."""


class HubRepositoryNotFoundError(HubNotFoundError):
    """The repo does not exist, or is private/gated and no valid token."""


class HubRevisionNotFoundError(HubNotFoundError):
    """The repo exists but the branch, tag or commit does not."""


class HubFileNotFoundError(HubNotFoundError):
    """The revision exists but the file is not in it."""


class HubNotCachedError(HubNotFoundError):
    """Offline (`local_files_only=True` / `HF_HUB_OFFLINE=1`), not cached."""


class HubConnectionError(HubError, ConnectionError):
    """The Hub could not be reached or the transfer broke off."""


class HubTimeoutError(HubConnectionError, TimeoutError):
    """A Hub operation made no progress within its deadline.

    The deadline: `timeout=`, `--timeout`, or `KERAS_CMOD_HUB_TIMEOUT`
    (seconds; default 60).
    """


class HubAccessError(HubError, PermissionError):
    """The Hub refused the request (401/403): missing or bad token."""


class HubHTTPError(HubError, OSError):
    """Any other HTTP error answered by the Hub."""


class HubIntegrityError(HubError, ValueError):
    """A downloaded file does not match the sha256 recorded for it."""


class UnsafeFileError(HubError, ValueError):
    """A repo asks for a file type outside the download allow-list."""
