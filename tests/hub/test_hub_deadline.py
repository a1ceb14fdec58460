"""A bounded wait on the Hub: a server that stalls or fails is given up on.

Real loopback servers inject the faults: one accepts connections and
never answers, one answers HTTP 500 to everything, and a fake Hub sends a
file's body slowly but steadily. The real huggingface_hub client talks to
them over TCP.
"""

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from fakehub import FakeHub
from fakehub_http import Handler
from hub_test_models import TOKEN, predict, tiny_model

import keras_cmod.cli
import keras_cmod.hub as kh
from keras_cmod.hub import _deadline

REPO = "keras-cmod-test/deadline"


@contextlib.contextmanager
def stalling_server():
    """Accepts every connection and never reads or answers."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connections.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", connections
    finally:
        stop.set()
        thread.join(5)
        for connection in connections:
            connection.close()
        server.close()


class _Failing(BaseHTTPRequestHandler):
    """HTTP 500 to every request (with a message, as the Hub sends)."""

    protocol_version = "HTTP/1.1"
    requests = None  # a list, set per server

    def log_message(self, format, *args):
        pass

    def _answer(self):
        self.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"error": "the storage backend is down"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Message", "the storage backend is down")
        self.send_header("Retry-After", "0")  # keep the client's retries fast
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = _answer


@contextlib.contextmanager
def failing_server():
    handler = type("Failing", (_Failing,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _PacedHandler(Handler):
    """Sends the body of `model.weights.h5` in pieces, `pause` s apart."""

    pieces = 5
    pause = 0.4

    def _send(self, status, body=b"", headers=None, content_type=None):
        if not (self._method == "GET" and self.path.endswith(
                "/model.weights.h5") and len(body) > self.pieces):
            return super()._send(status, body, headers, content_type)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = -(-len(body) // self.pieces)
        for start in range(0, len(body), step):
            self.wfile.write(body[start:start + step])
            self.wfile.flush()
            time.sleep(self.pause)


class PacedHub(FakeHub):
    """The fake Hub, with slow but steady downloads of the weights."""

    def start(self):
        handler = type("BoundPaced", (_PacedHandler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self


def _elapsed(fn):
    start = time.monotonic()
    with pytest.raises(Exception) as info:
        fn()
    return time.monotonic() - start, info.value


# -- a server that never answers ----------------------------------------------


def test_a_stalled_hub_is_given_up_on_at_the_deadline(hf_cache):
    with stalling_server() as (endpoint, connections):
        waited, err = _elapsed(lambda: kh.from_pretrained(
            REPO, endpoint=endpoint, cache_dir=hf_cache, progress=False,
            timeout=1.5))
    assert connections, "the client never connected"
    assert isinstance(err, kh.HubTimeoutError), repr(err)
    assert isinstance(err, TimeoutError) and isinstance(err, ConnectionError)
    assert 1.4 < waited < 8, waited
    message = str(err)
    for part in (REPO, "'pretrained_cfg.json'", endpoint, "deadline 1.5 s",
                 "no answer", "KERAS_CMOD_HUB_TIMEOUT"):
        assert part in message, (part, message)
    assert list(hf_cache.rglob("*.incomplete")) == []


def test_the_deadline_comes_from_the_environment(hf_cache, monkeypatch):
    monkeypatch.setenv("KERAS_CMOD_HUB_TIMEOUT", "1")
    with stalling_server() as (endpoint, _):
        waited, err = _elapsed(lambda: kh.download(
            REPO, endpoint=endpoint, cache_dir=hf_cache, progress=False))
    assert isinstance(err, kh.HubTimeoutError), repr(err)
    assert "deadline 1 s" in str(err) and waited < 8, (waited, err)


def test_pull_from_a_stalled_hub_ends_in_one_error_line(hf_cache, capsys):
    with stalling_server() as (endpoint, _):
        start = time.monotonic()
        code = keras_cmod.cli.main([
            "pull", REPO, "--endpoint", endpoint, "--cache-dir",
            str(hf_cache), "--no-progress", "--timeout", "1"])
        waited = time.monotonic() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and waited < 8, (code, waited)
    assert len(err) == 1 and err[0].startswith("keras-cmod pull: error:")
    assert REPO in err[0] and "deadline 1 s" in err[0], err


def test_push_to_a_stalled_hub_is_given_up_on(tmp_path):
    with stalling_server() as (endpoint, _):
        waited, err = _elapsed(lambda: kh.push_to_hub(
            tiny_model(0), REPO, endpoint=endpoint, token=TOKEN,
            timeout=1))
    assert isinstance(err, kh.HubTimeoutError), repr(err)
    assert waited < 8, waited
    assert "push (creating the repo) to " + REPO in str(err), str(err)


# -- a server that answers 500 ------------------------------------------------


def test_a_hub_answering_500_is_named_at_the_deadline(hf_cache):
    with failing_server() as (endpoint, requests):
        waited, err = _elapsed(lambda: kh.from_pretrained(
            REPO, endpoint=endpoint, cache_dir=hf_cache, progress=False,
            timeout=1.5))
    assert requests, "no request reached the server"
    assert isinstance(err, kh.HubTimeoutError), repr(err)
    assert waited < 8, waited
    message = str(err)
    assert "HTTP 500 (Internal Server Error)" in message, message
    assert "Could not reach" not in message and REPO in message


def test_push_to_a_hub_answering_500_says_so(tmp_path):
    with failing_server() as (endpoint, requests):
        waited, err = _elapsed(lambda: kh.push_to_hub(
            tiny_model(0), REPO, endpoint=endpoint, token=TOKEN,
            timeout=1.5))
    assert requests and waited < 8, (requests, waited)
    assert isinstance(err, kh.HubError), repr(err)
    assert "HTTP 500" in str(err) and REPO in str(err), str(err)


@pytest.mark.slow
def test_a_persistent_500_says_what_the_server_answered(hf_cache):
    # A deadline longer than the client's retries (1 s apart here).
    with failing_server() as (endpoint, requests):
        waited, err = _elapsed(lambda: kh.download(
            REPO, endpoint=endpoint, cache_dir=hf_cache, progress=False,
            timeout=60))
    assert len(requests) > 1 and waited < 40, (len(requests), waited)
    assert isinstance(err, kh.HubHTTPError), repr(err)
    message = str(err)
    assert "HTTP 500 (Internal Server Error)" in message, message
    assert "on every try" in message and "'pretrained_cfg.json'" in message
    assert "Could not reach" not in message


# -- progress is not a stall --------------------------------------------------


def test_a_slow_but_steady_download_is_not_cut_off(hf_cache):
    model = tiny_model(0)
    with PacedHub(token=TOKEN) as hub:
        commit = kh.push_to_hub(model, REPO, endpoint=hub.endpoint,
                                token=TOKEN)
        start = time.monotonic()
        loaded = kh.from_pretrained(f"{REPO}@{commit}",
                                    endpoint=hub.endpoint,
                                    cache_dir=hf_cache, progress=False,
                                    timeout=1)
        took = time.monotonic() - start
    # The weights took longer than the deadline, arriving all along.
    assert took > 1.5, took
    np.testing.assert_array_equal(predict(loaded), predict(model))


# -- the setting --------------------------------------------------------------


def test_the_deadline_setting_is_checked(monkeypatch, capsys):
    assert _deadline.resolve_timeout(None) == 60.0
    assert _deadline.resolve_timeout(2) == 2.0
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="> 0"):
            _deadline.resolve_timeout(bad)
    with pytest.raises(TypeError, match="number of seconds"):
        _deadline.resolve_timeout("10")
    monkeypatch.setenv("KERAS_CMOD_HUB_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="KERAS_CMOD_HUB_TIMEOUT='soon'"):
        kh.download(REPO, progress=False)
    monkeypatch.setenv("KERAS_CMOD_HUB_TIMEOUT", "7.5")
    assert _deadline.resolve_timeout(None) == 7.5
    with pytest.raises(SystemExit):
        keras_cmod.cli.main(["pull", REPO, "--timeout", "0"])
    assert "--timeout" in capsys.readouterr().err
