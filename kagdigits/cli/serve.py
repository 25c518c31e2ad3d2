"""Serve saved models on a draw-a-digit web page and an HTTP API (FastAPI on uvicorn).

The page (http://127.0.0.1:8000/ by default) reads what you draw with the mouse or a finger,
or an uploaded image, with every loaded model side by side. The API: POST /predict (an
image file, or JSON {"pixels": [784 grey levels 0..255]}), GET /models, GET /health; see
docs/serving.md. Without --load it serves the newest model trained: a finished run's
(runs/<run-id>/model.kd, named by its run id) or a .kd file in models/; if there is none it
first trains a LeNet-5 on the demo set and saves it as models/lenet5-demo.kd.
Binds 127.0.0.1 unless --host says otherwise, and answers only requests that name it by IP
address or as localhost or the --host given (add names with --allow-host). Needs the
serve extra: pip install -e ".[serve]" (make serve installs it).
"""

import argparse
import warnings
from pathlib import Path

from kagdigits.errors import KagdigitsError

HELP = "serve .kd models on a draw-a-digit web page and an HTTP API"


def port(text):
    """argparse type: a TCP port number 0..65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number 0..65535")
    return int(text)


def add_arguments(parser):
    parser.add_argument("--load", type=Path, action="append", default=[], metavar="PATH",
                        help="a .kd model to serve (repeat for several, shown side by side); "
                             "default: the newest in runs/*/model.kd and models/")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on, default 127.0.0.1 (this machine only)")
    parser.add_argument("--port", type=port, default=8000, help="port, default 8000 (0: any free)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a further name requests may give in their Host header (repeat "
                             "for several; * for any), e.g. this machine's name on the "
                             "network when --host 0.0.0.0; default: localhost, 127.0.0.1, "
                             "::1 and the --host given")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu or cuda; default auto")


def newest_trained(models_dir, runs_dir):
    """The newest ``.kd`` file in ``models_dir`` or of a finished run in ``runs_dir``, or
    ``None``."""
    from kagdigits.serve.models import newest_model

    found = [newest_model(models_dir), *Path(runs_dir).glob("*/model.kd")]
    return max((p for p in found if p is not None and p.is_file()),
               key=lambda p: p.stat().st_mtime, default=None)


def demo_estimate(device):
    """The estimate line of the demo LeNet-5 that ``serve`` trains when it has no model."""
    from kagdigits.files.demo import demo_arrays
    from kagdigits.models import LeNet5Classifier
    from kagdigits.models.estimate import estimate_line

    X, y, _, _ = demo_arrays()
    return estimate_line("lenet5", LeNet5Classifier(device=device), X, y)


def _model_paths(args):
    from kagdigits.runs.layout import RUNS_DIR
    from kagdigits.serve.models import DEMO_MODEL, MODELS_DIR, train_demo_model

    if args.load:
        return args.load
    newest = newest_trained(MODELS_DIR, RUNS_DIR)
    if newest is not None:
        print(f"No --load given: serving the newest trained model, {newest} (--load PATH "
              "chooses another)")
        return [newest]
    path = MODELS_DIR / DEMO_MODEL
    print(f"No --load given and no model in {RUNS_DIR}/ or {MODELS_DIR}/: training a LeNet-5 "
          f"on the demo set (4,000 MNIST digits) first, saved as {path} and served from then "
          "on.", flush=True)
    print(demo_estimate(args.device), flush=True)
    return [train_demo_model(path, device=args.device)]


def allowed_hosts(args):
    """The names a request's Host header may give, and a warning when ``--host`` lets other
    machines in."""
    from kagdigits.serve.guards import LOOPBACK_NAMES, is_address, is_loopback

    hosts = list(dict.fromkeys([*LOOPBACK_NAMES, args.host, *args.allow_host]))
    if not is_loopback(args.host):
        names = ", ".join(h for h in hosts if not is_address(h.strip("[]")))
        warnings.warn(f"listening on {args.host}, where other machines can reach the server: "
                      "it has no authentication and /models shows file paths; requests must "
                      f"name it by IP address or as {names} (add names with --allow-host)",
                      stacklevel=2)
    return hosts


def run(args):
    try:
        from kagdigits.serve.app import create_app, make_server, open_socket, url_of
        from kagdigits.serve.models import load_all
    except ImportError as exc:
        raise KagdigitsError(f"kagdigits serve needs the serve extra ({exc.name} is missing);"
                             ' install it with: pip install -e ".[serve]" (or make serve)'
                             ) from None

    hosts = allowed_hosts(args)
    sock = open_socket(args.host, args.port)  # a busy port is found before any training
    try:
        models = load_all(_model_paths(args), device=args.device)
    except BaseException:
        sock.close()
        raise
    names = ", ".join(f"{m.name} ({m.facts['model']})" for m in models)
    print(f"Serving {names} at {url_of(sock)} (Ctrl-C stops)", flush=True)
    try:
        make_server(create_app(models, allowed_hosts=hosts), sock).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down cleanly, then passes Ctrl-C on
        pass
    print("Stopped.")
