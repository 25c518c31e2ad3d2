"""The web application of ``kagdigits serve`` (FastAPI) and its uvicorn server.

Routes: ``GET /`` the draw-a-digit page (plain HTML/JS/CSS shipped in ``static/``),
``POST /predict`` (an image file: raw body or multipart ``file`` field; or JSON
``{"pixels": [784 grey levels]}``), ``GET /models`` and ``GET /health``. Every error is a
4xx (or 500) JSON ``{"error": "<one line>"}``; no request value reaches a file path.
Images are decoded and read in worker threads, at most ``max_workers`` at once, so that
the server keeps answering while it works; :mod:`~kagdigits.serve.guards` checks the Host
header, keeps failed requests to one log line and closes connections that send no request.
"""

import json
import socket
from importlib.resources import files

import anyio
import numpy as np
import uvicorn
from anyio.to_thread import run_sync
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from kagdigits.errors import InputError, KagdigitsError
from kagdigits.serve.guards import (
    HEADER_TIMEOUT,
    IDLE_TIMEOUT,
    LOOPBACK_NAMES,
    AllowedHosts,
    QuietErrors,
    TimedH11Protocol,
    error_response,
)
from kagdigits.serve.preprocess import (
    MAX_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    parse_int,
    pixels_from_json,
    preprocess_image,
)

STATIC = files("kagdigits.serve") / "static"
IMAGE_TYPES = ("image/", "application/octet-stream")
#: How many images are decoded and read at once (the others wait their turn).
MAX_WORKERS = 2


class RequestError(Exception):
    """A request the API refuses: HTTP ``status`` and a one-line ``message``."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request, max_bytes):
    """The request body, refusing (413) more than ``max_bytes`` before reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise RequestError(413, f"the upload has {int(declared):,} bytes, more than the "
                                f"{max_bytes:,} accepted; send a smaller image")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestError(413, f"the upload is larger than the {max_bytes:,} bytes "
                                    "accepted; send a smaller image")
    return bytes(body)


def _reject_constant(name):
    raise InputError(f"the JSON holds {name}, which is not a number; send grey levels 0..255")


def parse_json(body):
    """The 28x28 image of a JSON request body (see :func:`pixels_from_json`)."""
    try:
        payload = json.loads(body, parse_constant=_reject_constant, parse_int=parse_int)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"the body is not valid JSON ({exc}); send "
                         '{"pixels": [784 numbers 0..255]}') from None
    except RecursionError:
        raise InputError('the JSON is nested too deeply to read; send {"pixels": [784 numbers '
                         '0..255]}') from None
    return pixels_from_json(payload)


async def form_file(request, body):
    """The bytes of the one uploaded file of a multipart body."""
    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10,
                                                         max_part_size=len(body) + 1)
    except Exception as exc:  # python-multipart and starlette raise several kinds
        raise InputError(f"the multipart form could not be read ({exc}); send one image "
                         "in a field named file") from None
    uploads = [v for v in form.values() if hasattr(v, "read")]
    if not uploads:
        raise InputError("the form holds no file; send one image in a field named file")
    return await uploads[0].read()


async def request_image(request, max_bytes, max_pixels, max_side, limiter):
    """The 28x28 uint8 digit a ``POST /predict`` request stands for. The body is read (and
    its size checked) here; parsing and decoding it run in a worker thread under
    ``limiter``, off the event loop."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/json", "multipart/form-data") and not kind.startswith(
            IMAGE_TYPES):
        raise RequestError(415, f"unsupported content type {kind or '(none)'!r}; send an image "
                                "(image/png, ...), a multipart form, or application/json")
    body = await read_body(request, max_bytes)
    if not body:
        raise InputError("the request body is empty; send an image file or JSON "
                         '{"pixels": [784 numbers 0..255]}')
    if kind == "application/json":
        return await run_sync(parse_json, body, limiter=limiter)
    if kind == "multipart/form-data":
        body = await form_file(request, body)
    return await run_sync(preprocess_image, body, max_pixels, max_side, limiter=limiter)


#: ``POST /predict``'s three kinds of body, for the OpenAPI schema (the route reads the body
#: itself, so that its size is checked before anything parses it).
PREDICT_BODY = {
    "required": True,
    "description": "One digit: an image file (PNG, JPEG, GIF, BMP or WebP; a drawing or a "
                   "photo, laid out as MNIST was before it is read), sent as the body or as "
                   "the field `file` of a multipart form; or JSON pixels, used as given.",
    "content": {
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": "the image file"}}}},
        "application/json": {"schema": {
            "type": "object", "required": ["pixels"],
            "properties": {
                "pixels": {"type": "array", "minItems": 784, "maxItems": 784,
                           "items": {"type": "number", "minimum": 0},
                           "description": "28x28 grey levels row by row, ink high (a row "
                                          "of Kaggle's CSVs); 0..255 unless scale is 1"},
                "scale": {"type": "integer", "enum": [255, 1], "default": 255,
                          "description": "255: pixels are grey levels 0..255; 1: pixels "
                                         "are 0..1 (the ONNX export's input)"}}},
            "example": {"pixels": [0] * 140 + ([0] * 14 + [255] + [0] * 13) * 18
                        + [0] * 140}},  # a "1": a stroke down the middle
    },
}


def predict_all(models, image):
    """Each model's label and probabilities for the uint8 28x28 ``image``."""
    batch = image[None, None]
    results = []
    for model in models:
        proba = model.predict_proba(batch)[0].astype(float)
        results.append({"name": model.name, "model": model.facts["model"],
                        "label": model.classes[int(np.argmax(proba))],
                        "classes": model.classes, "probabilities": proba.round(6).tolist()})
    return results


def create_app(models, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, max_side=MAX_SIDE,
               allowed_hosts=LOOPBACK_NAMES, max_workers=MAX_WORKERS):
    """The FastAPI application serving ``models`` (a list of
    :class:`~kagdigits.serve.models.ServedModel`).

    Parameters
    ----------
    models : list of ServedModel
    max_bytes : int, default=MAX_BYTES
        Largest request body accepted (413 above it).
    max_pixels : int, default=MAX_PIXELS
        Largest decoded image, width x height (400 above it).
    max_side : int, default=MAX_SIDE
        Longest side of a decoded image (400 above it).
    allowed_hosts : sequence of str, default=LOOPBACK_NAMES
        Names a request's Host header may give (400 otherwise); ``"*"``: any.
    max_workers : int, default=MAX_WORKERS
        How many request bodies are parsed and decoded at once, in worker threads.
    """
    # Swagger UI (/docs) loads its scripts from a CDN; the schema alone stays at /openapi.json.
    app = FastAPI(title="kagdigits", summary="Read handwritten digits with kagdigits models",
                  docs_url=None, redoc_url=None)
    app.add_middleware(QuietErrors)
    app.add_middleware(AllowedHosts, hosts=allowed_hosts)
    limiter = anyio.CapacityLimiter(max_workers)

    @app.exception_handler(RequestError)
    async def refused(request, exc):
        return error_response(exc.status, exc.message)

    @app.exception_handler(KagdigitsError)
    async def bad_input(request, exc):
        return error_response(400, " ".join(str(exc).split()))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        return error_response(exc.status_code, f"{exc.detail}: {request.method} "
                                               f"{request.url.path}")

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        return error_response(422, "the request does not match the API; see /openapi.json")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    async def health():
        """Whether the server is up, and how many models it serves."""
        return {"status": "ok", "models": len(models)}

    @app.get("/models")
    async def list_models():
        """The served models and the facts their ``.kd`` files hold."""
        return {"models": [{"name": m.name, **m.facts} for m in models]}

    @app.post("/predict", openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(request: Request):
        """Read one digit: an image file (raw body or multipart field ``file``; laid out as
        MNIST was) or JSON ``{"pixels": [784 grey levels 0..255]}`` (used as given; add
        ``"scale": 1`` for values 0..1). Returns the 784 grey levels the models saw and each
        model's label and probabilities."""
        image = await request_image(request, max_bytes, max_pixels, max_side, limiter)
        results = await run_sync(predict_all, models, image)
        return {"image": image.ravel().tolist(), "predictions": results}

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def open_socket(host="127.0.0.1", port=8000):
    """A listening TCP socket on ``host``:``port`` (0: any free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise KagdigitsError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose "
                             "another port or host") from None
    return sock


def url_of(sock):
    """``http://host:port/`` of a listening socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(app, sock, log_level="info", header_timeout=HEADER_TIMEOUT,
                idle_timeout=IDLE_TIMEOUT):
    """A uvicorn server for ``app``; ``server.run(sockets=[sock])`` serves until Ctrl-C or
    until ``server.should_exit`` is set. A connection is closed when its request headers take
    more than ``header_timeout`` seconds, or when it stays idle ``idle_timeout`` seconds
    after a response."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            access_log=log_level == "info", http=TimedH11Protocol,
                            timeout_keep_alive=idle_timeout)
    config.header_timeout = header_timeout
    return uvicorn.Server(config)
