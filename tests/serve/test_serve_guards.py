"""kagdigits serve under hostile or careless clients, against a real uvicorn server on
loopback with real sockets: image work off the event loop, JSON bodies built to crash a
parser, aborted uploads and failures logged in one line, the Host header checked, slow or
silent connections closed, and the three kinds of /predict body in the OpenAPI schema
(issue 37, items 1, 6, 7, 8, 10; issue 34's /predict schema)."""

import json
import logging
import socket
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

pytest.register_assert_rewrite("tests.serve.serving")
import kagdigits.serve.app as app_module  # noqa: E402
from kagdigits.cli.main import main  # noqa: E402
from kagdigits.serve.app import create_app, open_socket  # noqa: E402
from kagdigits.serve.models import ServedModel  # noqa: E402
from tests.serve.serving import Running, call, png  # noqa: E402 (skips without the serve extra)

pytest_plugins = ["tests.serve.serving"]


def raw_request(url, data, timeout=10):
    """Send ``data`` on a new connection to ``url``'s server; ``(status, JSON body)``."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def get(url, host):
    """``GET /health`` with the Host header ``host`` (and Connection: close)."""
    return raw_request(url, f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close"
                            "\r\n\r\n".encode())


class Records(logging.Handler):
    """The records logged by uvicorn's server logger while in a ``with`` block; ``seen`` is
    set by the first one."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records, self.seen = [], threading.Event()

    def emit(self, record):
        self.records.append(record)
        self.seen.set()

    def lines(self):
        return sum(self.format(r).count("\n") + 1 for r in self.records)

    def __enter__(self):
        logging.getLogger("uvicorn.error").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("uvicorn.error").removeHandler(self)


@pytest.fixture
def blocked_reading(monkeypatch):
    """Image reading that waits for ``release`` (set at the end); ``entered`` counts the
    images being read, ``started`` is set when the first one is."""
    real = app_module.preprocess_image
    state = type("State", (), {})()
    state.started, state.release, state.entered = threading.Event(), threading.Event(), 0

    def reading(*args):
        state.entered += 1
        state.started.set()
        assert state.release.wait(30)
        return real(*args)

    monkeypatch.setattr(app_module, "preprocess_image", reading)
    yield state
    state.release.set()


def post_in_thread(url, data):
    answers = []
    thread = threading.Thread(target=lambda: answers.append(
        call(url + "/predict", data, "image/png")), daemon=True)
    thread.start()
    return thread, answers


# --- item 1: image work off the event loop, bounded ------------------------------------------

def test_health_answers_while_an_image_is_being_read(served, digits, blocked_reading):
    running = Running(create_app(served))
    try:
        thread, answers = post_in_thread(running.url, png(digits[0][0].reshape(28, 28)))
        assert blocked_reading.started.wait(30)
        start = time.perf_counter()
        assert call(running.url + "/health") == (200, {"status": "ok", "models": 2})
        assert time.perf_counter() - start < 5
        blocked_reading.release.set()
        thread.join(30)
        assert answers[0][0] == 200
    finally:
        blocked_reading.release.set()
        running.stop()


def test_images_read_at_once_are_bounded(served, digits, blocked_reading):
    running = Running(create_app(served, max_workers=1))
    try:
        posts = [post_in_thread(running.url, png(digits[0][i].reshape(28, 28)))
                 for i in range(3)]
        assert blocked_reading.started.wait(30)
        assert call(running.url + "/health")[0] == 200  # every request has arrived by now
        assert blocked_reading.entered == 1
        blocked_reading.release.set()
        for thread, answers in posts:
            thread.join(30)
            assert answers[0][0] == 200
        assert blocked_reading.entered == 3
    finally:
        blocked_reading.release.set()
        running.stop()


# --- item 6: JSON bodies built to crash a parser --------------------------------------------

JSON_ATTACKS = {
    "nested 100,000 deep": (b'{"pixels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                            "nested too deeply"),
    "5,000-digit integer": (b'{"pixels": [' + b"1" * 5000 + b"]}", "integer of 5,000 digits"),
    "310-digit integer among ones": (
        ('{"pixels": [' + "1, " * 783 + "1" * 310 + "]}").encode(), "integer of 310 digits"),
    "negative 400-digit integer": (
        ('{"pixels": [' + "0, " * 783 + "-" + "9" * 400 + "]}").encode(), "400 digits"),
    "float overflowing to infinity": (
        ('{"pixels": [' + "0, " * 783 + "1e400]}").encode(), "NaN or infinite"),
    "deep scale": (b'{"pixels": [1], "scale": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                   "nested too deeply"),
}


@pytest.mark.parametrize("case", JSON_ATTACKS, ids=list(JSON_ATTACKS))
def test_json_built_to_crash_the_parser_gets_a_400_line(server, digits, case):
    body, words = JSON_ATTACKS[case]
    with Records() as log:
        status, answer = call(server + "/predict", body, "application/json")
    assert status == 400 and words in answer["error"] and "\n" not in answer["error"]
    assert not log.records
    assert call(server + "/predict", png(digits[0][2].reshape(28, 28)), "image/png")[0] == 200


# --- item 7: one log line, not a traceback ---------------------------------------------------

class Broken:
    """An estimator whose prediction fails (a bug, a device gone)."""

    def predict_proba(self, images):
        raise RuntimeError("the device is gone\nsecond line")


def test_a_failing_request_is_one_log_line_and_a_json_500(digits):
    broken = ServedModel("broken", Path("broken.kd"), Broken(), list(range(10)),
                         {"model": "broken"})
    running = Running(create_app([broken]))
    try:
        with Records() as log:
            status, answer = call(running.url + "/predict", png(digits[0][0].reshape(28, 28)),
                                  "image/png")
            assert status == 500
            assert answer == {"error": "internal error (RuntimeError); the server goes on "
                                       "serving"}
        assert log.lines() == 1 and log.records[0].exc_info is None
        assert log.records[0].getMessage() == (
            "POST /predict: internal error (RuntimeError: the device is gone second line); "
            "the server goes on serving")
        assert call(running.url + "/health")[0] == 200
    finally:
        running.stop()


def test_uploads_aborted_mid_body_log_one_line_each(served):
    running = Running(create_app(served), log_level="info")
    parts = urlsplit(running.url)
    try:
        assert call(running.url + "/health")[0] == 200  # started: its start-up lines are out
        with Records() as log:
            for _ in range(3):
                log.seen.clear()
                with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
                    sock.sendall(f"POST /predict HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                                 "Content-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
                                 .encode() + b"\0" * 1000)
                assert log.seen.wait(10)
        assert call(running.url + "/health")[0] == 200
        messages = [r.getMessage() for r in log.records]
        assert messages == ["POST /predict: the client went away before sending the whole "
                            "request"] * 3
        assert log.lines() == 3 and all(r.exc_info is None for r in log.records)
    finally:
        running.stop()


# --- item 8: the Host header, the binding warning, slow and silent connections ---------------

@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "127.0.0.1:1",
                                  "[::1]:8000", "10.1.2.3:8000", "[fe80::1]"])
def test_loopback_names_and_addresses_are_answered(server, host):
    assert get(server, host) == (200, {"status": "ok", "models": 2})


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example",
                                  "127.0.0.1.nip.io", "localhost:8000@evil.example"])
def test_other_host_names_are_refused(server, host):
    status, answer = get(server, host)
    assert status == 400 and "\n" not in answer["error"]
    assert answer["error"].startswith("the Host header names '")
    assert answer["error"].endswith("which is not this server (127.0.0.1, ::1, localhost); "
                                    "open it by one of those names, or start it with "
                                    "--allow-host NAME")


def test_the_page_itself_is_refused_to_another_host(server):
    parts = urlsplit(server)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: rebound.example\r\nConnection: close\r\n\r\n")
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.1 400") and b"<canvas" not in reply


def test_allowed_hosts_can_be_added_or_opened(served):
    for hosts, answered, refused in ((["box.lan"], "box.lan:8000", "evil.example"),
                                     (["*"], "evil.example", None)):
        running = Running(create_app(served, allowed_hosts=hosts))
        try:
            assert get(running.url, answered)[0] == 200
            if refused:
                assert get(running.url, refused)[0] == 400
        finally:
            running.stop()


def closed_within(url, data, seconds):
    """Whether the server closes a connection that sent ``data`` within ``seconds``."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=seconds) as sock:
        sock.sendall(data)
        try:
            while sock.recv(65536):
                pass
        except TimeoutError:
            return False
    return True


def test_silent_slow_and_idle_connections_are_closed(served):
    running = Running(create_app(served), header_timeout=0.3, idle_timeout=0.3)
    host = urlsplit(running.url).netloc
    try:
        assert closed_within(running.url, b"", 10)
        assert closed_within(running.url, f"GET /health HTTP/1.1\r\nHost: {host}\r\n".encode(),
                             10)
        # a whole request, then nothing: answered, then closed as idle
        assert closed_within(running.url, f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n"
                                          .encode(), 10)
        # a whole request, then half of a second one
        assert closed_within(running.url, f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n"
                                          "GET /health HTTP/1.1\r\n".encode(), 10)
        assert call(running.url + "/health")[0] == 200
    finally:
        running.stop()


def test_a_request_sent_in_time_is_answered(served):
    running = Running(create_app(served), header_timeout=5)
    parts = urlsplit(running.url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            for piece in (b"GET /health HTTP/1.1\r\n", f"Host: {parts.netloc}\r\n".encode(),
                          b"Connection: close\r\n\r\n"):
                sock.sendall(piece)
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
        assert reply.startswith(b"HTTP/1.1 200")
    finally:
        running.stop()


def serve_args(*argv):
    from kagdigits.cli.main import build_parser

    return build_parser().parse_args(["serve", *argv])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "box.lan"])
def test_listening_beyond_loopback_is_warned_about(host):
    from kagdigits.cli.serve import allowed_hosts

    with pytest.warns(UserWarning, match=f"listening on {host}, where other machines can reach "
                                         "the server: it has no authentication and /models "
                                         "shows file paths; requests must name it by IP "
                                         "address or as localhost") as caught:
        hosts = allowed_hosts(serve_args("--host", host, "--allow-host", "box.lan"))
    assert len(caught) == 1 and "(add names with --allow-host)" in str(caught[0].message)
    assert {"localhost", "127.0.0.1", "::1", host, "box.lan"} == set(hosts)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_listening_on_loopback_is_not_warned_about(host):
    from kagdigits.cli.serve import allowed_hosts

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert host in allowed_hosts(serve_args("--host", host))


# --- item 10: a busy port is found before the demo model is trained -------------------------

def test_a_busy_port_is_found_before_training_the_demo_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    taken = open_socket("127.0.0.1", 0)
    try:
        start = time.perf_counter()
        code = main(["serve", "--port", str(taken.getsockname()[1]), "--device", "cpu"])
    finally:
        taken.close()
    out, err = capsys.readouterr()
    assert code == 2 and "cannot listen on 127.0.0.1:" in err
    assert "training a LeNet-5" not in out and not (tmp_path / "models").exists()
    assert time.perf_counter() - start < 10


# --- issue 34: the three kinds of /predict body in the OpenAPI schema -----------------------

def test_the_openapi_schema_documents_the_three_kinds_of_predict_body(server):
    status, schema = call(server + "/openapi.json")
    assert status == 200
    body = schema["paths"]["/predict"]["post"]["requestBody"]
    assert body["required"] is True
    content = body["content"]
    assert set(content) == {"image/*", "application/octet-stream", "multipart/form-data",
                            "application/json"}
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]
    pixels = content["application/json"]["schema"]["properties"]
    assert pixels["pixels"]["minItems"] == pixels["pixels"]["maxItems"] == 784
    assert pixels["scale"]["enum"] == [255, 1]
    example = content["application/json"]["example"]
    status, answer = call(server + "/predict", json.dumps(example).encode(), "application/json")
    assert status == 200 and len(answer["predictions"]) == 2


def test_the_body_size_is_still_checked_before_it_is_parsed(served):
    """A JSON body over the cap is refused by its size, not read by the JSON parser."""
    running = Running(create_app(served, max_bytes=1000))
    try:
        body = json.dumps({"pixels": np.zeros(784, int).tolist()}).encode() + b" " * 2000
        status, answer = call(running.url + "/predict", body, "application/json")
        assert status == 413 and "more than the 1,000 accepted" in answer["error"]
    finally:
        running.stop()
