"""A fake Kaggle API server on loopback, driven by the real ``kaggle`` client in tests.

It implements what kaggle 2.2.4 / kagglesdk call for a competition (JSON POSTs to
``/v1/competitions.CompetitionApiService/<Method>``; ``/api/v1/...`` too):

- ``StartSubmissionUpload`` -> ``{token, createUrl}``; ``PUT <createUrl>`` stores the bytes;
- ``CreateSubmission`` (the token must have been uploaded) -> ``{message, ref}``;
- ``GetSubmissionLimits`` -> the day's counts; ``ListSubmissions`` -> the submissions so far;
- ``DownloadDataFiles`` -> a 302 redirect to ``/files/<competition>.zip``, served by GET;

and what it calls for a kernel (``/v1/kernels.KernelsApiService/<Method>``; see
:class:`Kernel`):

- ``SaveKernel`` -> ``{ref, url, versionNumber}``, and the kernel RUNS the script text it
  received, in a temporary folder laid out like a Kaggle kernel (``input/digit-recognizer``
  with ``kernel_input``'s files, ``working/`` for the output), with the Python of
  ``kernel_python`` and no network, unless ``kernel_outcome`` says how it ends instead;
- ``GetKernelSessionStatus`` -> ``{status, failureMessage}`` (``QUEUED`` while
  ``hold_kernels()`` holds it, ``RUNNING``, then ``COMPLETE`` or ``ERROR``);
- ``ListKernelSessionOutput`` -> the files the run wrote (``/kernel-output/...`` URLs,
  served by GET) and its log, as Kaggle's JSON list of stream entries;
- ``GetAcceleratorQuotaStatistics`` -> ``gpu_quota``.

API calls need HTTP Basic auth with the fake's username and key (else a 401 JSON error
like Kaggle's); ``fail(method, status, message)`` makes one method answer an error, and
``stall(method)`` makes it never answer (a stalled connection), until the fake stops.
Every request is recorded (method, path, headers, body bytes) so tests can check what
the client sent, and uploads are kept byte for byte.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SERVICE = "competitions.CompetitionApiService"
KERNELS = "kernels.KernelsApiService"
#: kagglesdk's ApiSaveKernelRequest fields (kernels_api_service.py): what the client may send.
SAVE_KERNEL_FIELDS = {
    "id", "slug", "newTitle", "text", "language", "kernelType", "datasetDataSources",
    "kernelDataSources", "competitionDataSources", "categoryIds", "isPrivate", "enableGpu",
    "enableInternet", "dockerImagePinningType", "modelDataSources", "enableTpu",
    "sessionTimeoutSeconds", "priority", "dockerImage", "kernelExecutionType", "machineShape"}


@dataclass
class Kernel:
    """A kernel the fake was pushed: its last ``SaveKernel`` body and its run."""

    slug: str
    request: dict
    version: int = 1
    status: str = "QUEUED"
    failure: str | None = None
    log: list | None = None
    folder: str | None = None
    thread: threading.Thread | None = None
    process: subprocess.Popen | None = None


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def api_method(self):
        """``CreateSubmission``, ``SaveKernel`` etc. for API calls, else ``None``."""
        path = self.path.removeprefix("/api")
        for service in (SERVICE, KERNELS):
            if path.startswith(prefix := f"/v1/{service}/"):
                return path[len(prefix):]
        return None

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
        self.kernels = {}  # "user/slug" -> Kernel
        self.kernel_python = None  # the Python that runs pushed scripts
        self.kernel_input = {}  # file name -> bytes in input/digit-recognizer/
        self.kernel_outcome = None  # (status, log text, failure, {output name: bytes})
        self.push_answer = {}  # fields added to SaveKernel's answer ("error", ...)
        self.gpu_quota = {"timeUsed": "3600s", "totalTimeAllowed": "108000s"}
        self._held = threading.Event()  # set: new kernels stay QUEUED
        self._root = tempfile.mkdtemp(prefix="fake-kaggle-kernels-")
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
        with self._lock:  # no kernel starts its process after this
            self._release.set()
        self._held.clear()
        for kernel in self.kernels.values():
            if kernel.process is not None and kernel.process.poll() is None:
                kernel.process.kill()
            if kernel.thread is not None:
                kernel.thread.join()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        shutil.rmtree(self._root, ignore_errors=True)

    def hold_kernels(self):
        """Keep kernels pushed from now on QUEUED until :meth:`release_kernels`."""
        self._held.set()

    def release_kernels(self):
        """Let the held kernels run."""
        self._held.clear()

    def wait_kernels(self):
        """Block until every kernel's run has ended (for tests that check its files)."""
        for kernel in self.kernels.values():
            if kernel.thread is not None:
                kernel.thread.join()

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
        if method == "GET" and path.startswith("/kernel-output/"):
            data = self._output_file(path.removeprefix("/kernel-output/"))
            if data is None:
                return _send(h, 404, b"not found", "text/plain")
            return _send(h, 200, data, "application/octet-stream",
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


    # -- kernels --

    def _api_GetAcceleratorQuotaStatistics(self, h, data):  # noqa: N802
        return _json(h, 200, {"gpuQuota": self.gpu_quota,
                              "quotaRefreshTime": "2030-01-06T00:00:00Z"})

    def _api_SaveKernel(self, h, data):  # noqa: N802
        unknown = set(data) - SAVE_KERNEL_FIELDS
        slug = data.get("slug") or ""
        if unknown or not data.get("text") or slug.split("/")[0] != self.username:
            return _json(h, 400, {"code": 400, "message": f"bad request {sorted(unknown)}"})
        previous = self.kernels.get(slug)
        kernel = Kernel(slug, data, previous.version + 1 if previous else 1)
        self.kernels[slug] = kernel
        if not self.push_answer:  # a push answered with an error or a refusal runs nothing
            kernel.thread = threading.Thread(target=self._run_kernel, args=(kernel,),
                                             daemon=True)
            kernel.thread.start()
        return _json(h, 200, {"ref": f"/code/{slug}", "url": f"{self.url}/code/{slug}",
                              "versionNumber": kernel.version, "kernelId": 7,
                              **self.push_answer})

    def _kernel(self, data):
        return self.kernels.get(f"{data.get('userName')}/{data.get('kernelSlug')}")

    def _api_GetKernelSessionStatus(self, h, data):  # noqa: N802
        kernel = self._kernel(data)
        if kernel is None:
            return _json(h, 404, {"code": 404, "message": "Kernel not found"})
        answer = {"status": kernel.status}
        if kernel.failure:
            answer["failureMessage"] = kernel.failure
        return _json(h, 200, answer)

    def _api_ListKernelSessionOutput(self, h, data):  # noqa: N802
        kernel = self._kernel(data)
        if kernel is None:
            return _json(h, 404, {"code": 404, "message": "Kernel not found"})
        files = []
        if kernel.folder:
            working = os.path.join(kernel.folder, "working")
            for parent, _, names in os.walk(working):
                for name in sorted(names):
                    rel = os.path.relpath(os.path.join(parent, name), working)
                    files.append({"fileName": rel,
                                  "url": f"{self.url}/kernel-output/{kernel.slug}/{rel}"})
        return _json(h, 200, {"files": files, "log": json.dumps(kernel.log or [])})

    def _output_file(self, rest):
        user, slug, rel = (rest.split("/", 2) + ["", ""])[:3]
        kernel = self.kernels.get(f"{user}/{slug}")
        if kernel is None or not kernel.folder:
            return None
        working = os.path.realpath(os.path.join(kernel.folder, "working"))
        path = os.path.realpath(os.path.join(working, rel))
        if not path.startswith(working + os.sep) or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def _run_kernel(self, kernel):
        """Run the pushed script as Kaggle would (or end as ``kernel_outcome`` says)."""
        while self._held.is_set() and not self._release.is_set():
            self._release.wait(0.05)
        if self._release.is_set():  # the fake stopped first: the kernel never runs
            return
        folder = tempfile.mkdtemp(prefix=f"v{kernel.version}-", dir=self._root)
        data_dir = os.path.join(folder, "input", "digit-recognizer")
        working = os.path.join(folder, "working")
        os.makedirs(data_dir)
        os.makedirs(working)
        for name, content in self.kernel_input.items():
            with open(os.path.join(data_dir, name), "wb") as f:
                f.write(content)
        kernel.folder = folder
        kernel.status = "RUNNING"
        if self.kernel_outcome is not None:
            status, text, failure, outputs = self.kernel_outcome
            for name, content in outputs.items():
                os.makedirs(os.path.dirname(os.path.join(working, name)), exist_ok=True)
                with open(os.path.join(working, name), "wb") as f:
                    f.write(content)
            kernel.log = [{"stream_name": "stdout", "time": 0.1, "data": text}]
            kernel.status, kernel.failure = status, failure
            return
        script = os.path.join(folder, "script.py")
        with open(script, "w", encoding="utf-8") as f:
            f.write(kernel.request["text"])
        env = {"PATH": os.environ.get("PATH", ""), "HOME": folder, "PIP_NO_INDEX": "1",
               "KAGDIGITS_INPUT": data_dir, "KAGDIGITS_WORKING": working,
               # no network: any HTTP(S) request goes to a port where nothing listens
               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
               "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
        with self._lock:
            if self._release.is_set():  # the fake is stopping
                return
            kernel.process = subprocess.Popen(
                [self.kernel_python, script], cwd=working, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace")
        start, log = time.monotonic(), []
        for line in kernel.process.stdout:
            log.append({"stream_name": "stdout", "time": time.monotonic() - start,
                        "data": line})
        code = kernel.process.wait()
        kernel.log = log
        kernel.status = "COMPLETE" if code == 0 else "ERROR"
        kernel.failure = None if code == 0 else f"The script exited with code {code}"


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

