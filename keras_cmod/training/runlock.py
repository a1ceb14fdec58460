"""One writer per run folder: an exclusive lock on `RUN/.lock`.

`keras-cmod train --output RUN` (and `keras_cmod.training.train`) holds an
exclusive `flock` on `RUN/.lock` for the whole run. A second writer is
refused at once with `RunInUseError`, naming the folder and the process
that holds it. The lock belongs to the open file, so the kernel releases
it when its process ends, however it ends (SIGKILL, power loss of a
client on a network filesystem aside): a run killed mid-way never blocks
the rerun. The `.lock` file itself stays in the folder (removing it would
let two writers lock two different files); it holds the holder's pid,
host and start time, for the message.

Temporary files of dead writers (`.tmp-<pid>-*` and `*.tmp-<pid>`, files
or folders, anywhere under the run folder) are removed once the lock is
held: no other writer can be alive then.

Standard library only. Without `fcntl` (Windows) no lock is taken.
"""

import json
import logging
import os
import re
import shutil
import socket
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LOCK_FILE", "RunInUseError", "RunLock", "remove_stale_temp_files"]

logger = logging.getLogger("keras_cmod.training")

LOCK_FILE = ".lock"

#: Names of the temporary files the trainer writes (`.tmp-<pid>-NAME`,
#: `NAME.tmp-<pid>`); `_atomic` names (`.NAME.XXXXXXXX.tmp`) are not
#: matched: other commands (`evaluate --output RUN/...`) may be writing
#: them.
_TEMP_NAME = re.compile(r"^\.tmp-\d+-|\.tmp-\d+$")


class RunInUseError(OSError):
    """Another process holds the lock of the run folder."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def _holder(path):
    """What the lock file says about its holder (a dict, maybe empty)."""
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


class RunLock:
    """The exclusive lock of one run folder; `acquire()` or `with`.

    Args:
        directory: the run folder (created if missing).
    """

    def __init__(self, directory):
        self.directory = os.path.abspath(os.fspath(directory))
        self.path = os.path.join(self.directory, LOCK_FILE)
        self._fd = None

    def acquire(self):
        """Takes the lock, or raises `RunInUseError` at once.

        Raises:
            RunInUseError: another process holds it (the message names the
                folder and that process's pid).
        """
        if fcntl is None:  # pragma: no cover - Windows
            return self
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            holder = _holder(self.path)
            who = f"pid {holder['pid']}" if holder.get("pid") else (
                "another process")
            if holder.get("host") and holder["host"] != socket.gethostname():
                who += f" on {holder['host']}"
            if holder.get("started"):
                who += f", started {holder['started']}"
            raise RunInUseError(
                f"The run folder {self.directory!r} is in use by another "
                f"training process ({who}; lock file {self.path}). One "
                "process writes a run folder at a time: wait for it to "
                "finish (or stop it), or use another --output."
            ) from err
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode())
        self._fd = fd
        return self

    def release(self):
        """Releases the lock (the file stays); safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    @property
    def held(self):
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def remove_stale_temp_files(directory):
    """Removes the trainer's temporary files under `directory`.

    Call it with the run's lock held: every such file then belongs to a
    writer that died (killed during a checkpoint or the final save).
    Returns the paths removed.
    """
    removed = []
    if not os.path.isdir(directory):
        return removed
    for root, dirs, files in os.walk(directory):
        for name in list(dirs):
            if _TEMP_NAME.search(name):
                dirs.remove(name)
                path = os.path.join(root, name)
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        for name in files:
            if _TEMP_NAME.search(name):
                path = os.path.join(root, name)
                try:
                    os.remove(path)
                except OSError:
                    continue
                removed.append(path)
    if removed:
        logger.info("Removed %d temporary file(s) left by an interrupted "
                    "run in %s", len(removed), directory)
    return removed
