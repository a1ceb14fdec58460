"""HTTP side of the fake Hub: the request handler of `FakeHub`.

Kept apart from `fakehub.py` (the state and the test-facing API). See
that module for the list of endpoints.
"""

import base64
import dataclasses
import hashlib
import json
import socket
import urllib.parse
from http.server import BaseHTTPRequestHandler

USER = "tester"  # the account /api/whoami-v2 reports


def git_blob_sha1(data):
    """The git object id of a blob (what the Hub uses as a file's ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def resolve_revision(repo, revision):
    """Commit sha of a branch, tag, PR ref or sha; KeyError if unknown."""
    if revision in repo.branches:
        return repo.branches[revision]
    if revision in repo.tags:
        return repo.tags[revision]
    if revision in repo.commits:
        return revision
    raise KeyError(revision)


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request received by the fake Hub (tokens are never recorded)."""

    method: str
    path: str
    query: str
    authorized: bool
    range: str | None = None


class _HTTPError(Exception):
    def __init__(self, status, message, error_code=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}


class Handler(BaseHTTPRequestHandler):
    hub = None  # set on the subclass made by FakeHub.start()
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections end by themselves

    def log_message(self, format, *args):
        pass  # keep test output clean; requests are recorded instead

    # -- dispatch ---------------------------------------------------------

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        raw_path, _, query = self.path.partition("?")
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        hub = self.hub
        with hub._lock:
            hub._requests.append(
                RecordedRequest(
                    method,
                    raw_path,
                    query,
                    token is not None,
                    self.headers.get("Range"),
                )
            )
            if token:
                hub.tokens_seen.add(token)
        self._token = token
        self._query = urllib.parse.parse_qs(query)
        self._method = method
        body = b""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length)
        parts = [urllib.parse.unquote(p) for p in raw_path.split("/")[1:]]
        try:
            self._route(method, parts, body)
        except _HTTPError as err:
            self._send_error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, method, parts, body):
        if parts[:1] == ["api"]:
            rest = parts[1:]
            if method == "POST" and rest == ["repos", "create"]:
                return self._create_repo(body)
            if method == "POST" and rest == ["validate-yaml"]:
                return self._validate_yaml(body)
            if method == "GET" and rest == ["whoami-v2"]:
                return self._send_json(
                    {"name": USER, "type": "user", "orgs": []}
                )
            if len(rest) >= 3 and rest[0] == "models":
                repo_id = f"{rest[1]}/{rest[2]}"
                return self._repo_api(method, repo_id, rest[3:], body)
            raise _HTTPError(404, "Not found")
        if len(parts) >= 5 and parts[2] == "resolve" and method in (
            "GET",
            "HEAD",
        ):
            repo_id = f"{parts[0]}/{parts[1]}"
            return self._resolve_file(
                method, repo_id, parts[3], "/".join(parts[4:])
            )
        raise _HTTPError(404, "Not found")

    # -- helpers ----------------------------------------------------------

    def _authorized_for_write(self):
        expected = self.hub.token
        if self._token is None or (
            expected is not None and self._token != expected
        ):
            raise _HTTPError(
                401, "Invalid credentials in Authorization header"
            )

    def _repo(self, repo_id):
        repo = self.hub._repos.get(repo_id)
        can_read = repo is not None and (
            not repo.private
            or (
                self._token is not None
                and self.hub.token in (None, self._token)
            )
        )
        if not can_read:
            raise _HTTPError(
                404,
                "Repository not found",
                error_code="RepoNotFound",
            )
        return repo

    def _commit_for(self, repo, revision):
        try:
            return repo.commits[resolve_revision(repo, revision)]
        except KeyError:
            raise _HTTPError(
                404,
                f"Invalid rev id: {revision}",
                error_code="RevisionNotFound",
            ) from None

    def _send(self, status, body=b"", headers=None, content_type=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self._method != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, payload, status=200, headers=None):
        self._send(
            status,
            json.dumps(payload).encode(),
            headers=headers,
            content_type="application/json",
        )

    def _send_error(self, err):
        headers = dict(err.headers)
        # Header values must be one line of latin-1 text.
        one_line = " ".join(err.message.split())
        headers["X-Error-Message"] = one_line.encode(
            "latin-1", "replace").decode("latin-1")
        if err.error_code:
            headers["X-Error-Code"] = err.error_code
        self._send_json({"error": err.message}, err.status, headers)

    # -- endpoints --------------------------------------------------------

    def _create_repo(self, body):
        self._authorized_for_write()
        payload = json.loads(body or b"{}")
        if payload.get("type", "model") not in (None, "model"):
            raise _HTTPError(400, "only model repos are faked")
        name = payload["name"]
        org = payload.get("organization") or USER
        repo_id = f"{org}/{name}"
        url = {"url": f"{self.hub.endpoint}/{repo_id}", "name": repo_id}
        with self.hub._lock:
            if repo_id in self.hub._repos:
                return self._send_json(
                    {"error": "You already created this model repo", **url},
                    status=409,
                )
            self.hub.create_repo(repo_id, private=payload.get("private"))
        self._send_json(url)

    def _validate_yaml(self, body):
        import yaml  # a dependency of huggingface_hub

        content = json.loads(body or b"{}").get("content", "")
        errors = []
        if content.startswith("---"):
            end = content.find("\n---", 3)
            try:
                if end < 0:
                    raise ValueError("unterminated front matter")
                meta = yaml.safe_load(content[3:end])
                if meta is not None and not isinstance(meta, dict):
                    raise ValueError("front matter is not a mapping")
            except Exception as exc:  # yaml.YAMLError, ValueError
                errors.append({"message": f"Invalid YAML: {exc}"})
        if errors:
            raise _HTTPError(400, errors[0]["message"])
        self._send_json({"errors": [], "warnings": []})

    def _repo_api(self, method, repo_id, rest, body):
        hub = self.hub
        with hub._lock:
            repo = self._repo(repo_id)
            action = rest[0] if rest else None
            if method == "GET" and action in (None, "revision"):
                revision = rest[1] if len(rest) > 1 else "main"
                commit = self._commit_for(repo, revision)
                return self._send_json(
                    {
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": commit.sha,
                        "private": repo.private,
                        "siblings": [
                            {"rfilename": p} for p in sorted(commit.files)
                        ],
                    }
                )
            if method == "GET" and action == "tree" and len(rest) >= 2:
                return self._tree(repo, rest[1], "/".join(rest[2:]))
            if method == "GET" and action == "refs":
                return self._send_json(
                    {
                        "branches": [
                            {"name": b, "ref": f"refs/heads/{b}",
                             "targetCommit": s}
                            for b, s in repo.branches.items()
                            if not b.startswith("refs/")
                        ],
                        "tags": [
                            {"name": t, "ref": f"refs/tags/{t}",
                             "targetCommit": s}
                            for t, s in repo.tags.items()
                        ],
                        "converts": [],
                        "pullRequests": [
                            {"name": b, "ref": b, "targetCommit": s}
                            for b, s in repo.branches.items()
                            if b.startswith("refs/pr/")
                        ],
                    }
                )
            if action == "discussions":
                return self._discussions(method, repo, rest[1:], body)
            if method != "POST" or len(rest) < 2:
                raise _HTTPError(404, "Not found")
            self._authorized_for_write()
            revision = rest[1]
            if action == "preupload":
                self._commit_for(repo, revision)
                return self._preupload(repo, revision, body)
            if action == "commit":
                return self._commit(repo, revision, body)
            if action == "branch":
                return self._create_branch(repo, revision, body)
            if action == "tag":
                return self._create_tag(repo, revision, body)
        raise _HTTPError(404, "Not found")

    def _tree(self, repo, revision, folder):
        commit = self._commit_for(repo, revision)
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        recursive = self._query.get("recursive", ["false"])[0] in (
            "1",
            "true",
            "True",
        )
        entries, dirs = [], set()
        for path, data in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            rel = path[len(prefix):]
            if "/" in rel and not recursive:
                dirs.add(prefix + rel.split("/", 1)[0])
                continue
            entries.append(
                {
                    "type": "file",
                    "path": path,
                    "size": len(data),
                    "oid": git_blob_sha1(data),
                }
            )
        entries += [
            {"type": "directory", "path": d, "oid": "0" * 40, "size": 0}
            for d in sorted(dirs)
        ]
        self._send_json(entries)

    def _preupload(self, repo, revision, body):
        files = self.hub.files(repo.repo_id, revision)
        reply = []
        for item in json.loads(body)["files"]:
            path = item["path"]
            old = files.get(path)
            reply.append(
                {
                    "path": path,
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_sha1(old) if old is not None else None,
                }
            )
        self._send_json({"files": reply, "commitOid": None})

    def _commit(self, repo, revision, body):
        hub = self.hub
        create_pr = self._query.get("create_pr", ["0"])[0] == "1"
        lines = [json.loads(x) for x in body.splitlines() if x.strip()]
        header = next(
            (x["value"] for x in lines if x["key"] == "header"), {}
        )
        if revision not in repo.branches:
            if revision in repo.tags or revision in repo.commits:
                raise _HTTPError(400, f"Invalid revision {revision}: "
                                      "not a branch")
            raise _HTTPError(
                404,
                f"Invalid rev id: {revision}",
                error_code="RevisionNotFound",
            )
        parent = header.get("parentCommit")
        if parent and repo.branches[revision] != parent:
            raise _HTTPError(412, "A commit has happened since. "
                                  "Please refresh and try again.")
        files = dict(repo.commits[repo.branches[revision]].files)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise _HTTPError(400, "only base64 content is faked")
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                for path in [p for p in files if p.startswith(folder)]:
                    del files[path]
            elif key != "header":
                raise _HTTPError(400, f"{key} (LFS/Xet) is not faked; "
                                      "keep test files small")
        message = header.get("summary") or "update"
        pr_url = None
        branch, base = revision, repo.branches[revision]
        if create_pr:
            num = self._open_pr(repo, message, revision)
            branch = f"refs/pr/{num}"
            pr_url = f"{hub.endpoint}/{repo.repo_id}/discussions/{num}"
        sha = hub._new_commit(repo, files, base, message)
        repo.branches[branch] = sha
        self._send_json(
            {
                "success": True,
                "commitOid": sha,
                "commitUrl": f"{hub.endpoint}/{repo.repo_id}/commit/{sha}",
                "pullRequestUrl": pr_url,
            }
        )

    def _open_pr(self, repo, title, base="main"):
        num = len(repo.discussions) + 1
        repo.discussions[num] = {"title": title, "base": base}
        repo.branches[f"refs/pr/{num}"] = repo.branches[base]
        return num

    def _discussions(self, method, repo, rest, body):
        if method == "POST" and not rest:
            self._authorized_for_write()
            payload = json.loads(body or b"{}")
            if not payload.get("pullRequest"):
                raise _HTTPError(400, "only pull requests are faked")
            num = self._open_pr(repo, payload.get("title") or "PR")
            return self._send_json(
                {"num": num,
                 "url": f"{self.hub.endpoint}/{repo.repo_id}/discussions/"
                        f"{num}"}
            )
        if method == "GET" and len(rest) == 1 and rest[0].isdigit():
            pr = repo.discussions.get(int(rest[0]))
            if pr is None:
                raise _HTTPError(404, "Discussion not found")
            return self._send_json(
                {
                    "num": int(rest[0]),
                    "title": pr["title"],
                    "author": {"name": USER},
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "status": "draft",
                    "repo": {"name": repo.repo_id, "type": "model"},
                    "isPullRequest": True,
                    "events": [],
                    "changes": {"base": f"refs/heads/{pr['base']}"},
                    "filesWithConflicts": [],
                    "diff": "",
                }
            )
        raise _HTTPError(404, "Not found")

    def _create_branch(self, repo, branch, body):
        if branch in repo.branches:
            raise _HTTPError(409, f"Reference refs/heads/{branch} "
                                  "already exists")
        start = json.loads(body or b"{}").get("startingPoint") or "main"
        repo.branches[branch] = self._commit_for(repo, start).sha
        self._send_json({})

    def _create_tag(self, repo, revision, body):
        tag = json.loads(body or b"{}")["tag"]
        if tag in repo.tags:
            raise _HTTPError(409, f"Tag {tag} already exists")
        repo.tags[tag] = self._commit_for(repo, revision).sha
        self._send_json({})

    def _resolve_file(self, method, repo_id, revision, path):
        hub = self.hub
        with hub._lock:
            repo = self._repo(repo_id)
            commit = self._commit_for(repo, revision)
            data = commit.files.get(path)
        if data is None:
            raise _HTTPError(
                404,
                "Entry not found",
                error_code="EntryNotFound",
                headers={"X-Repo-Commit": commit.sha},
            )
        headers = {
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{git_blob_sha1(data)}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'inline; filename="{path}"',
        }
        status, start = 200, 0
        range_header = self.headers.get("Range")
        if method == "GET" and range_header:
            start = int(range_header.split("=", 1)[1].split("-", 1)[0])
            status = 206
            headers["Content-Range"] = (
                f"bytes {start}-{len(data) - 1}/{len(data)}"
            )
        chunk = data[start:]
        drop, after = (False, None)
        if method == "GET":
            drop, after = hub._take_drop(path)
        if not drop:
            return self._send(status, chunk, headers=headers,
                              content_type="application/octet-stream")
        # Announce the whole body, send part of it, then hang up.
        after = len(chunk) // 2 if after is None else min(after, len(chunk))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        self.wfile.write(chunk[:after])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
