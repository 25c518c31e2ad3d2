"""What the serving tests share: tiny saved models, a real uvicorn server on a free loopback
port (in a thread, stopped at the end), and a stdlib HTTP client. A pytest plugin:
``pytest_plugins = ["tests.serve.serving"]``."""

import io
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e .[serve]")

from PIL import Image  # noqa: E402

from kagdigits import MLP3Classifier  # noqa: E402
from kagdigits.runs.persist import save_model  # noqa: E402
from kagdigits.serve.app import create_app, make_server, open_socket, url_of  # noqa: E402
from kagdigits.serve.models import load_all  # noqa: E402
from tests.helpers import TINY  # noqa: E402


@pytest.fixture(scope="session")
def tiny_kd(tmp_path_factory, digits, lenet5_kd):
    """Two tiny saved models (the shared LeNet-5 and the MLP, 1 epoch on 300 digits):
    name -> path."""
    mlp = MLP3Classifier(**TINY).fit(*digits)
    return {"lenet5": lenet5_kd,
            "mlp": save_model(mlp, tmp_path_factory.mktemp("models") / "mlp.kd")}


class Running:
    """A uvicorn server serving ``app`` in a thread; ``url`` is its base address;
    ``options`` go to :func:`make_server`."""

    def __init__(self, app, **options):
        sock = open_socket("127.0.0.1", 0)  # bound now: requests queue until it accepts
        self.url = url_of(sock).rstrip("/")
        self.server = make_server(app, sock, **{"log_level": "warning", **options})
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the server did not stop"


@pytest.fixture(scope="session")
def served(tiny_kd):
    """The tiny models as served (``ServedModel`` s)."""
    return load_all(tiny_kd.values(), device="cpu")


@pytest.fixture(scope="session")
def server(served):
    """Base URL of a running server of the tiny models."""
    running = Running(create_app(served))
    yield running.url
    running.stop()


def call(url, body=None, content_type=None, method=None):
    """``(status, parsed JSON)`` of one HTTP request."""
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def png(array):
    """PNG bytes of a uint8 grey image."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(field, filename, data, content_type="image/png"):
    """``(body, content type)`` of a multipart form with one file."""
    boundary = "kagdigits-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def announce(url, path, n_bytes, content_type="image/png"):
    """``(status, parsed JSON)`` of a POST that announces ``n_bytes`` of body and, as curl
    does for large uploads, waits (``Expect: 100-continue``) before sending any of it."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: "
                      f"{content_type}\r\nContent-Length: {n_bytes}\r\nExpect: 100-continue"
                      "\r\n\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < _length(reply):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _length(reply):
    head = reply.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":")[1])
    return 1 << 30
