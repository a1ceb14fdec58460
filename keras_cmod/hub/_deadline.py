"""A bounded wait on every Hub operation.

huggingface_hub retries a request that times out or gets a 5xx answer
(a metadata request up to 6 times, 60 s each), so a server that accepts
the connection and never answers can hold a caller for minutes. Every
request keras-cmod makes (each file of a download, each step of a push)
therefore runs under a deadline: `run(fn, ...)` calls `fn` in a daemon
thread and gives up when the operation has made no progress for `timeout`
seconds, retries included. Progress is a successful HTTP answer, or bytes
of its body arriving (read from the network, or written to a download's
temporary file); an error answer (a 500, say) is not. A download that
keeps receiving data is never cut off; a server that stalls, or fails
every try, is given up on after `timeout` seconds.

The deadline is `timeout=` where an API takes it, else the environment
variable `KERAS_CMOD_HUB_TIMEOUT` (seconds), else `DEFAULT_TIMEOUT` (60 s).
The thread given up on is left to end by itself (it is a daemon: it never
holds the process at exit); an httpx request hook stops its further tries.
The answers seen (status codes) are recorded through an httpx response
hook on huggingface_hub's shared client, so that the error says what the
server answered.
"""

import glob
import http
import math
import os
import threading
import time

from keras_cmod.hub import errors

__all__ = ["DEFAULT_TIMEOUT", "ENV_VAR", "resolve_timeout", "run",
           "status_text"]

ENV_VAR = "KERAS_CMOD_HUB_TIMEOUT"
DEFAULT_TIMEOUT = 60.0

_local = threading.local()
_hooks_lock = threading.Lock()


def resolve_timeout(timeout=None):
    """The deadline in seconds: `timeout`, else the environment, else 60.

    Raises:
        ValueError: not a number of seconds > 0 (`math.inf`: no deadline).
    """
    where = "timeout"
    if timeout is None:
        raw = os.environ.get(ENV_VAR, "").strip()
        if not raw:
            return DEFAULT_TIMEOUT
        where = ENV_VAR
        try:
            timeout = float(raw)
        except ValueError:
            raise ValueError(
                f"{ENV_VAR}={raw!r} is not a number of seconds (e.g. 60)."
            ) from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"{where} must be a number of seconds. Received: "
            f"{type(timeout).__name__}"
        )
    if not timeout > 0:  # also NaN
        raise ValueError(
            f"{where} must be a number of seconds > 0 (math.inf for no "
            f"deadline). Received: {timeout!r}"
        )
    return float(timeout)


def status_text(code):
    try:
        return f"HTTP {code} ({http.HTTPStatus(code).phrase})"
    except ValueError:
        return f"HTTP {code}"


class _GivenUp(Exception):
    """Raised in a request of an operation the caller gave up on."""


class _Operation:
    def __init__(self):
        self.given_up = False
        self.progress_at = time.monotonic()
        self.answers = []  # status codes >= 400, in order

    def answered(self, status):
        if status >= 400:
            self.answers.append(status)
        else:
            self.progress_at = time.monotonic()


def _on_request(request):
    op = getattr(_local, "op", None)
    if op is not None and op.given_up:
        raise _GivenUp("keras-cmod gave up on this Hub operation")


def _on_response(response):
    op = getattr(_local, "op", None)
    if op is None:
        return
    op.answered(response.status_code)
    if response.status_code < 400:
        _count_body(response, op)


def _count_body(response, op):
    """Every piece of the body read from the network is progress."""
    from huggingface_hub.utils import httpx

    stream = getattr(response, "stream", None)
    if not isinstance(stream, httpx.SyncByteStream):
        return

    class Counting(httpx.SyncByteStream):
        def __iter__(self):
            for chunk in stream:
                op.progress_at = time.monotonic()
                yield chunk

        def close(self):
            stream.close()

    response.stream = Counting()


def _install_hooks():
    """Adds the hooks to huggingface_hub's shared client (once)."""
    try:
        from huggingface_hub.utils import get_session

        client = get_session()
        with _hooks_lock:
            hooks = client.event_hooks
            if _on_request in hooks.get("request", []):
                return
            client.event_hooks = {
                "request": [*hooks.get("request", []), _on_request],
                "response": [*hooks.get("response", []), _on_response],
            }
    except Exception:  # pragma: no cover - another client: no hooks
        pass


def _sizes(pattern):
    if not pattern:
        return None
    out = {}
    for path in glob.glob(pattern):
        try:
            out[path] = os.path.getsize(path)
        except OSError:
            pass
    return out


def run(fn, *, timeout, what, where, watch=None, extra_seconds=0.0):
    """Calls `fn()` and returns its result, or gives up.

    Args:
        fn: the Hub call (no arguments).
        timeout: seconds without progress before giving up.
        what: the operation, for the message ("download of 'x.json'").
        where: the repo (and revision, endpoint), with its preposition
            ("from org/name@main (https://...)"), for the message.
        watch: a glob of the download's temporary files; their growth is
            progress.
        extra_seconds: added to the first wait (an upload's time to send).

    Raises:
        HubTimeoutError: no progress for `timeout` seconds (naming `what`,
            `where`, the time waited and the error answers seen).
        Whatever `fn` raises.
    """
    _install_hooks()
    op = _Operation()
    box = {}
    done = threading.Event()

    def target():
        _local.op = op
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller (or dropped)
            box["error"] = exc
        finally:
            _local.op = None
            done.set()

    start = time.monotonic()
    op.progress_at = start + extra_seconds
    sizes = _sizes(watch)
    thread = threading.Thread(target=target, daemon=True,
                              name="keras-cmod-hub")
    thread.start()
    try:
        while not done.is_set():
            now = time.monotonic()
            left = timeout - (now - op.progress_at)
            if left <= 0:
                raise _timeout_error(op, now - start, timeout, what, where)
            done.wait(min(left, 0.25) if math.isfinite(left) else 0.25)
            if watch:
                new = _sizes(watch)
                if new != sizes and any(new.get(p, -1) > sizes.get(p, -1)
                                        for p in new):
                    op.progress_at = time.monotonic()
                sizes = new
    except BaseException:
        op.given_up = True  # its next request stops it
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def _timeout_error(op, waited, timeout, what, where):
    if not op.answers:
        answers = " The server sent no answer."
    elif len(set(op.answers)) == 1:
        answers = (f" The server answered {status_text(op.answers[0])} to "
                   f"each of the {len(op.answers)} tries.")
    else:
        answers = (f" The last of the server's {len(op.answers)} error "
                   f"answers was {status_text(op.answers[-1])}.")
    return errors.HubTimeoutError(
        f"Gave up on the {what} {where} after {waited:.1f} s without "
        f"progress (deadline {timeout:g} s).{answers} Try again later, or "
        f"set a longer deadline: timeout= (--timeout on the command line) "
        f"or {ENV_VAR}=SECONDS (default {DEFAULT_TIMEOUT:g})."
    )
