"""A fake Kaggle API server on loopback, driven by the real ``kaggle`` client in tests.

It implements what kaggle 2.2.4 / kagglesdk call for a competition (JSON POSTs to
``/v1/competitions.CompetitionApiService/<Method>``; ``/api/v1/...`` too):

- ``StartSubmissionUpload`` -> ``{token, createUrl}``; ``PUT <createUrl>`` stores the bytes;
- ``CreateSubmission`` (the token must have been uploaded) -> ``{message, ref}``;
- ``GetSubmissionLimits`` -> the day's counts; ``ListSubmissions`` -> the submissions so far;
- ``DownloadDataFiles`` -> a 302 redirect to ``/files/<competition>.zip``, served by GET.

API calls need HTTP Basic auth with the fake's username and key (else a 401 JSON error
like Kaggle's); ``fail(method, status, message)`` makes one method answer an error, and
``stall(method)`` makes it never answer (a stalled connection), until the fake stops.
Every request is recorded (method, path, headers, body bytes) so tests can check what
the client sent, and uploads are kept byte for byte.
"""

import base64
import json
import os
import threading
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SERVICE = "competitions.CompetitionApiService"


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def api_method(self):
        """``CreateSubmission`` etc. for API calls, else ``None``."""
        prefix = f"/v1/{SERVICE}/"
        path = self.path.removeprefix("/api")
        return path[len(prefix):] if path.startswith(prefix) else None

    def json(self):
        return json.loads(self.body or b"{}")


class FakeKaggle:
    """The fake server; ``url`` is its endpoint once started."""

    def __init__(self, username="kagdigits-tester", key="fake-key-0123456789abcdef"):
        self.username, self.key = username, key
        self.requests = []
        self.uploads = {}  # token -> bytes received by PUT
        self.started = {}  # token -> StartSubmissionUpload request
        self.submissions = []  # ApiSubmission dicts, newest first
        self.files = {}  # name -> bytes served under /files/
        self.failures = {}  # API method or "PUT" -> (status, message)
        self.public_score = "0.98765"
        self.submit_message = "Successfully submitted to Digit Recognizer"
        self.stalled = set()  # API methods, "PUT" or "GET" that never answer
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def fail(self, method, status, message):
        """Make API ``method`` (or ``"PUT"``, the upload) answer HTTP ``status``."""
        self.failures[method] = (status, message)

    def stall(self, method):
        """Make API ``method`` (or ``"PUT"``, ``"GET"``) accept the request and never answer."""
        self.stalled.add(method)

    def run(self, capsys, *argv):
        """Run ``kagdigits *argv`` in-process; return (exit code, stdout, stderr).

        Fails if the fake's key shows anywhere in the output.
        """
        from kagdigits.cli.main import main

        code = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        assert self.key not in out + err
        return code, out, err

    @staticmethod
    def go_offline(monkeypatch):
        """Point the client at a loopback port where nothing listens (the network is down)."""
        import socket

        from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setitem(_env_to_endpoint, KaggleEnv.PROD, f"http://127.0.0.1:{port}")

    def api_calls(self):
        """The API methods called so far, in order."""
        return [r.api_method for r in self.requests if r.api_method]

    # -- request handling (runs in the server's threads) --

    def handle(self, h, method):
        body = _read_body(h)
        request = Request(method, h.path, dict(h.headers), body)
        with self._lock:
            self.requests.append(request)
        path = h.path.split("?")[0]
        if {method, request.api_method} & self.stalled:
            self._release.wait()  # until the fake stops; the client must give up first
            return None
        if method == "GET" and path.startswith("/files/"):
            data = self.files.get(path.removeprefix("/files/"))
            if data is None:
                return _send(h, 404, b"not found", "text/plain")
            return _send(h, 200, data, "application/zip",
                         {"Last-Modified": formatdate(usegmt=True)})
        if method == "PUT" and path.startswith("/upload/"):
            if "PUT" in self.failures:
                status, message = self.failures["PUT"]
                return _send(h, status, message.encode(), "text/plain")
            self.uploads[path.removeprefix("/upload/")] = body
            return _send(h, 200, b"", "text/plain")
        api = request.api_method
        if method != "POST" or api is None:
            return _send(h, 404, b"not found", "text/plain")
        if api in self.failures:  # whatever the credentials
            status, message = self.failures[api]
            return _json(h, status, {"code": status, "message": message})
        if h.headers.get("Authorization") != self._basic_auth():
            return _json(h, 401, {"code": 401, "message": "Unauthenticated"})
        handler = getattr(self, f"_api_{api}", None)
        if handler is None:
            return _json(h, 404, {"code": 404, "message": f"no method {api}"})
        return handler(h, request.json())

    def _basic_auth(self):
        token = base64.b64encode(f"{self.username}:{self.key}".encode()).decode()
        return f"Basic {token}"

    def _api_StartSubmissionUpload(self, h, data):  # noqa: N802
        token = f"blob-{len(self.started) + 1}"
        self.started[token] = data
        return _json(h, 200, {"token": token, "createUrl": f"{self.url}/upload/{token}"})

    def _api_CreateSubmission(self, h, data):  # noqa: N802
        token = data.get("blobFileTokens", "")
        if token not in self.uploads:
            return _json(h, 400, {"code": 400, "message": "the file was never uploaded"})
        ref = 40_000_001 + len(self.submissions)
        self.submissions.insert(0, {
            "ref": ref, "date": "2024-05-01T10:00:00.000Z",
            "description": data.get("submissionDescription", ""),
            "fileName": self.started[token]["fileName"], "status": "COMPLETE",
            "publicScore": self.public_score, "totalBytes": len(self.uploads[token])})
        return _json(h, 200, {"message": self.submit_message, "ref": ref})

    def _api_GetSubmissionLimits(self, h, data):  # noqa: N802
        n = len(self.submissions)
        return _json(h, 200, {"numToday": n, "numTotal": n, "numAllowedNow": max(0, 5 - n)})

    def _api_ListSubmissions(self, h, data):  # noqa: N802
        size = data.get("pageSize") or 20
        return _json(h, 200, {"submissions": self.submissions[:size]})

    def _api_DownloadDataFiles(self, h, data):  # noqa: N802
        name = f"{data.get('competitionName')}.zip"
        return _send(h, 302, b"", "text/plain",
                     {"Location": f"{self.url}/files/{name}?signature=fake"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        self.server.fake.handle(self, "GET")

    def do_POST(self):  # noqa: N802
        self.server.fake.handle(self, "POST")

    def do_PUT(self):  # noqa: N802
        self.server.fake.handle(self, "PUT")

    def log_message(self, *args):
        pass


def _read_body(h):
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while size := int(h.rfile.readline().split(b";")[0], 16):
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
        h.rfile.readline()
        return b"".join(chunks)
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))


def _send(h, status, body, content_type, headers=None):
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.end_headers()
    h.wfile.write(body)


def _json(h, status, payload):
    _send(h, status, json.dumps(payload).encode(), "application/json")


@pytest.fixture
def fake_kaggle(tmp_path, monkeypatch):
    """A started :class:`FakeKaggle` the real ``kaggle`` client talks to.

    The test runs in ``tmp_path`` (the working directory) with an empty ``HOME``, no
    ``KAGGLE_*`` settings but ``KAGGLE_USERNAME``/``KAGGLE_KEY`` matching the fake, and
    kagglesdk's production endpoint pointed at the fake.
    """
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    server = FakeKaggle().start()
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("KAGGLE_") or name.lower().endswith("_proxy") or name in (
                "VERBOSE", "VERBOSE_OUTPUT", "XDG_CONFIG_HOME"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("KAGGLE_USERNAME", server.username)
    monkeypatch.setenv("KAGGLE_KEY", server.key)
    monkeypatch.setitem(_env_to_endpoint, KaggleEnv.PROD, server.url)
    monkeypatch.chdir(tmp_path)
    yield server
    server.stop()

