"""Talking to Kaggle through the official ``kaggle`` client, with one-line errors.

``kaggle`` authenticates when imported (and prints help when it finds no credentials),
so it is imported here, lazily and quietly. Every failure a user can fix (no
credentials, HTTP 401/403/404/429, server errors, no network, a stalled connection)
becomes a :class:`~kagdigits.errors.KagdigitsError` whose message names the fix. Every
request is bounded in time (:data:`TIMEOUT`). Credentials never appear in messages,
whichever source they came from (environment, ``kaggle.json``, an access token file),
and server text is cleaned of terminal control sequences before anyone prints it.
"""

import base64
import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path

from kagdigits.errors import KagdigitsError

COMPETITION = "digit-recognizer"
COMPETITION_URL = f"https://www.kaggle.com/competitions/{COMPETITION}"
TOKEN_URL = "https://www.kaggle.com/settings/api"
#: Seconds to wait for a connection to Kaggle and for each answer (kagglesdk sets none).
TIMEOUT = (15, 60)
#: Credentials seen so far (masked in every message), whatever their source.
_SECRETS = set()
_TERMINAL_CODES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing the screen
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -~]?"  # any other escape
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # other control characters (8-bit CSI too)


def strip_terminal_codes(text, keep_newlines=False):
    """``text`` without terminal escape sequences and control characters (tabs kept;
    newlines too with ``keep_newlines``, else they become spaces)."""
    text = _TERMINAL_CODES.sub("", str(text))
    return text if keep_newlines else text.replace("\n", " ")


def kaggle_json_path():
    """Where the ``kaggle`` client looks for ``kaggle.json`` (it fixes this at import time)."""
    folder = os.environ.get("KAGGLE_CONFIG_DIR")
    if not folder:
        folder = os.path.expanduser(os.path.join("~", ".kaggle"))
        if sys.platform.startswith("linux") and not os.path.exists(folder):
            base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
            folder = os.path.join(base, "kaggle")
    return Path(folder) / "kaggle.json"


def _credential_files():
    folder = kaggle_json_path().parent
    home = Path(os.path.expanduser("~/.kaggle"))
    token = os.environ.get("KAGGLE_API_TOKEN", "")  # a token, or the path of its file
    named = [Path(token)] if token and len(token) < 4096 and Path(token).is_file() else []
    return [kaggle_json_path(), *named, *(f / name for f in {folder, home}
                                          for name in ("access_token", "access_token.txt"))]


def check_permissions():
    """Warn (one line on stderr) about credential files other users can read."""
    if os.name == "nt":
        return
    for path in _credential_files():
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077:
                print(f"Warning: {path} can be read by other users of this machine; "
                      f"protect your Kaggle key with: chmod 600 {path}", file=sys.stderr)


def remember_secrets(*values):
    """Mask ``values`` (credentials) in every message from now on."""
    _SECRETS.update(str(v) for v in values if v and len(str(v)) >= 4)


def _file_secrets():
    """The key in ``kaggle.json`` and the access tokens in their files."""
    found = []
    for path in _credential_files():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            text = path.read_text().strip()
            found.append(json.loads(text).get("key") if path.suffix == ".json" else text)
    return found


def _remember_api_secrets(api):
    values = getattr(api, "config_values", None) or {}
    user, key = values.get("username"), values.get("key")
    remember_secrets(key, values.get("token"))
    if user and key:  # an echoed Authorization header
        remember_secrets(base64.b64encode(f"{user}:{key}".encode()).decode())


def connect():
    """An authenticated ``kaggle.api.KaggleApi``.

    Warns when a credentials file is readable by others; raises ``KagdigitsError``
    saying where credentials go when there are none.
    """
    check_permissions()
    remember_secrets(*_file_secrets())
    with contextlib.redirect_stdout(io.StringIO()):  # its import-time auth help
        from kaggle.api.kaggle_api_extended import KaggleApi
    api = KaggleApi()
    api.config = str(kaggle_json_path())
    api.config_dir = str(Path(api.config).parent)
    # VERBOSE=1 would make the client print request headers, i.e. the credentials.
    api.args = [arg for arg in api.args if arg == "--local"]
    with kaggle_errors(), contextlib.redirect_stdout(io.StringIO()):
        try:
            api.authenticate()
        except SystemExit:
            raise KagdigitsError(
                f"no Kaggle credentials found: create an API token at {TOKEN_URL} and save "
                f"the kaggle.json it gives you as {api.config} (chmod 600), or set "
                "KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)") from None
        finally:
            _remember_api_secrets(api)
    return api


def _secrets():
    names = ("KAGGLE_KEY", "KAGGLE_API_TOKEN")
    env = {os.environ[name] for name in names if len(os.environ.get(name, "")) >= 4}
    return sorted(env | _SECRETS, key=len, reverse=True)  # a longer one first


def redact(text):
    """Server text for printing: one line (at most 300 characters), terminal control
    sequences removed, every known credential masked."""
    text = re.sub(r"\s+", " ", strip_terminal_codes(text)).strip()
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text[:300]


def _server_message(response):
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return redact(message or response.reason or "no details")


def http_error_message(status, detail):
    """The one-line message for an HTTP ``status`` answer."""
    said = f"Kaggle answered HTTP {status} ({detail})"
    if status == 401:
        return (f"{said}: your Kaggle credentials were rejected; create a new API "
                f"token at {TOKEN_URL} and replace {kaggle_json_path()} (or KAGGLE_USERNAME "
                "and KAGGLE_KEY)")
    if status == 403:
        return (f"{said}: accept the competition rules at {COMPETITION_URL}/rules "
                "with the account whose API token you use, then retry")
    if status == 404:
        return f"{said}: check that {COMPETITION_URL} is open to you, then retry"
    if status == 429:
        return f"{said}: too many requests or no submissions left today; retry later"
    if status >= 500:
        return f"{said}: a problem on Kaggle's side; retry in a few minutes"
    return f"{said}; check the message and retry"


@contextlib.contextmanager
def bounded_requests():
    """While active, every ``requests`` call without a timeout gets :data:`TIMEOUT`
    (kagglesdk and the kaggle client open sessions of their own and set none)."""
    from requests.adapters import HTTPAdapter

    send = HTTPAdapter.send

    def bounded_send(adapter, request, *args, **kwargs):
        if not args and kwargs.get("timeout") is None:
            kwargs["timeout"] = TIMEOUT
        return send(adapter, request, *args, **kwargs)

    HTTPAdapter.send = bounded_send
    try:
        yield
    finally:
        HTTPAdapter.send = send


def _timed_out(exc):
    """The one-line error for a request that ran out of time, or ``None``."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    connect, read = TIMEOUT
    if isinstance(exc, requests.ConnectTimeout):
        said = f"could not connect to Kaggle within {connect} s"
    elif isinstance(exc, requests.Timeout) or (
            exc.args and isinstance(exc.args[0], ReadTimeoutError)):
        said = f"Kaggle did not answer within {read} s"
    else:
        return None
    return KagdigitsError(f"{said}; check your internet connection (and HTTPS_PROXY if you "
                          "use a proxy), then retry (`kagdigits submissions` shows what "
                          "Kaggle received)")


@contextlib.contextmanager
def kaggle_errors():
    """Bound every request in time (:func:`bounded_requests`) and turn the ``requests``
    errors raised inside into one-line ``KagdigitsError``s."""
    import requests

    try:
        with bounded_requests():
            yield
    except requests.HTTPError as exc:
        if exc.response is None:
            raise KagdigitsError(f"the request to Kaggle failed: {redact(exc)}; retry") from exc
        raise KagdigitsError(http_error_message(
            exc.response.status_code, _server_message(exc.response))) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _timed_out(exc) or KagdigitsError(
            f"cannot reach Kaggle ({type(exc).__name__}); check your internet "
            "connection (and HTTPS_PROXY if you use a proxy), then retry") from exc
    except requests.RequestException as exc:
        raise KagdigitsError(f"the request to Kaggle failed: {redact(exc)}; retry") from exc
