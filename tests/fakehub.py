"""A loopback fake of the Hugging Face Hub, for tests.

`FakeHub` is a small `http.server.ThreadingHTTPServer` on 127.0.0.1 that
speaks the HTTP endpoints the real `huggingface_hub` client (2.x) calls for
pushing and pulling model repos.
The real client and `keras.saving.load_model("hf://...")` talk to it over
TCP, so tests exercise the real request/response code paths; nothing in
`huggingface_hub` is mocked.

What it implements (model repos only):

| request | reply |
|---|---|
| `POST /api/repos/create` | 200 `{"url"}`; 409 if the repo exists |
| `POST /api/validate-yaml` | parses the README front matter (400 if bad) |
| `POST /api/models/{repo}/preupload/{rev}` | every file `"regular"` |
| `POST /api/models/{repo}/commit/{rev}` | NDJSON commit; `create_pr=1` |
| `POST /api/models/{repo}/branch/{b}` / `.../tag/{rev}` | new ref; 409 |
| `POST /api/models/{repo}/discussions` (`pullRequest`) | a draft PR |
|  | on `refs/pr/{n}`; `GET .../discussions/{n}` describes it |
| `HEAD`/`GET /{repo}/resolve/{rev}/{path}` | bytes, ETag, X-Repo-Commit, |
|  | `Range: bytes=N-` (206) |
| `GET /api/models/{repo}[/revision/{rev}]` | `{"id", "sha", "siblings"}` |
| `GET /api/models/{repo}/tree/{rev}[/{dir}]` | `[{"type", "path", ...}]` |
| `GET /api/models/{repo}/refs` | branches, tags, PRs |
| `GET /api/whoami-v2` | a fixed user |
| anything else | plain 404 |

Missing repos, revisions and files get 404 with the `X-Error-Code` header
the client maps to its exceptions (`RepoNotFound`, `RevisionNotFound`,
`EntryNotFound`). Commit ids are real: the sha1 of the commit's tree, parent
and message, like git. Branches move; old commits stay resolvable by sha.
Every request is recorded (`requests`, `count()`), so a test can assert that
a code path made no request at all. `drop_connection(filename, ...)` makes
the next GET(s) of a file send part of the body and then close the socket.

Uploads are all "regular" (base64 inside the commit call): the LFS / Xet
transfer protocols are not emulated, so keep test payloads small (KB).

Example:
    >>> with FakeHub() as hub:              # doctest: +SKIP
    ...     api = HfApi(endpoint=hub.endpoint, token="hf_test")
    ...     api.create_repo("org/tiny")
"""

import dataclasses
import hashlib
import itertools
import threading
from http.server import ThreadingHTTPServer

from fakehub_http import (
    Handler,
    RecordedRequest,
    git_blob_sha1,
    resolve_revision,
)

__all__ = ["FakeHub", "RecordedRequest", "git_blob_sha1"]

_GITATTRIBUTES = (
    b"*.h5 filter=lfs diff=lfs merge=lfs -text\n"
    b"*.keras filter=lfs diff=lfs merge=lfs -text\n"
)


@dataclasses.dataclass
class _Commit:
    sha: str
    files: dict
    parent: str | None
    message: str


@dataclasses.dataclass
class _Repo:
    repo_id: str
    private: bool
    commits: dict = dataclasses.field(default_factory=dict)
    branches: dict = dataclasses.field(default_factory=dict)
    tags: dict = dataclasses.field(default_factory=dict)
    discussions: dict = dataclasses.field(default_factory=dict)


class FakeHub:
    """A fake Hugging Face Hub served on `127.0.0.1` from memory.

    Args:
        token: if a string, write requests (create, commit, branch, PR)
            must carry `Authorization: Bearer <token>`, and private repos
            are readable only with it. `None` accepts any token; writes
            still need one, as on the real Hub.

    Attributes:
        endpoint: the base URL to pass as `endpoint=` / `HF_ENDPOINT`.
        requests: list of `RecordedRequest`, in arrival order.
        tokens_seen: set of bearer tokens received (for tests that check a
            token was forwarded; never printed).
    """

    def __init__(self, token=None):
        self.token = token
        self._lock = threading.RLock()
        self._repos = {}
        self._requests = []
        self._drops = {}
        self._seq = itertools.count()
        self.tokens_seen = set()
        self._server = None
        self._thread = None

    # -- life cycle -------------------------------------------------------

    def start(self):
        handler = type("BoundHandler", (Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-hf-hub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def endpoint(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- request log and fault injection ----------------------------------

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def reset_requests(self):
        with self._lock:
            self._requests.clear()

    def count(self, method=None, path_contains=None):
        """Number of recorded requests matching `method` / a path part."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and (path_contains is None or path_contains in r.path)
        )

    def drop_connection(self, filename, times=1, after_bytes=None):
        """Make the next `times` GETs of `filename` break mid-body.

        The server sends the status line and headers (with the full
        `Content-Length`), then `after_bytes` bytes of the body (default:
        half of it), then closes the connection.
        """
        with self._lock:
            self._drops[filename] = [times, after_bytes]

    def _take_drop(self, filename):
        with self._lock:
            entry = self._drops.get(filename)
            if not entry or entry[0] <= 0:
                return False, None
            entry[0] -= 1
            return True, entry[1]

    # -- direct state access (test setup / assertions) ---------------------

    def create_repo(self, repo_id, private=False):
        """Create `repo_id` with an initial commit, as the Hub does."""
        with self._lock:
            if repo_id in self._repos:
                raise ValueError(f"repo exists: {repo_id}")
            repo = _Repo(repo_id=repo_id, private=bool(private))
            self._repos[repo_id] = repo
            sha = self._new_commit(
                repo,
                {".gitattributes": _GITATTRIBUTES},
                parent=None,
                message="initial commit",
            )
            repo.branches["main"] = sha
            return repo

    def commit(self, repo_id, files, *, branch="main", message="update",
               delete=()):
        """Commit `files` ({path: bytes}) on `branch`; returns the sha."""
        with self._lock:
            repo = self._repos[repo_id]
            base = repo.branches[branch]
            new_files = dict(repo.commits[base].files)
            for path in delete:
                new_files.pop(path, None)
            new_files.update(files)
            sha = self._new_commit(repo, new_files, base, message)
            repo.branches[branch] = sha
            return sha

    def files(self, repo_id, revision="main"):
        """{path: bytes} of a revision (branch, tag, PR ref or sha)."""
        with self._lock:
            repo = self._repos[repo_id]
            return dict(repo.commits[resolve_revision(repo, revision)].files)

    def head(self, repo_id, branch="main"):
        with self._lock:
            return self._repos[repo_id].branches[branch]

    def has_repo(self, repo_id):
        with self._lock:
            return repo_id in self._repos

    # -- internals --------------------------------------------------------

    def _new_commit(self, repo, files, parent, message):
        tree = "".join(
            f"{path}\0{git_blob_sha1(data)}\n"
            for path, data in sorted(files.items())
        )
        # The sequence number plays the role of git's commit timestamp.
        body = (
            f"tree {hashlib.sha1(tree.encode()).hexdigest()}\n"
            f"parent {parent}\nseq {next(self._seq)}\n\n{message}"
        )
        sha = hashlib.sha1(body.encode()).hexdigest()
        repo.commits[sha] = _Commit(sha, dict(files), parent, message)
        return sha
