"""Talking to Kaggle through the official ``kaggle`` client, with one-line errors.

``kaggle`` authenticates when imported (and prints help when it finds no credentials),
so it is imported here, lazily and quietly. Every failure a user can fix (no
credentials, HTTP 401/403/404/429, server errors, no network) becomes a
:class:`~kagdigits.errors.KagdigitsError` whose message names the fix; credentials never
appear in those messages.
"""

import contextlib
import io
import os
import re
import sys
from pathlib import Path

from kagdigits.errors import KagdigitsError

COMPETITION = "digit-recognizer"
COMPETITION_URL = f"https://www.kaggle.com/competitions/{COMPETITION}"
TOKEN_URL = "https://www.kaggle.com/settings/api"


def kaggle_json_path():
    """Where the ``kaggle`` client looks for ``kaggle.json`` (it fixes this at import time)."""
    folder = os.environ.get("KAGGLE_CONFIG_DIR")
    if not folder:
        folder = os.path.expanduser(os.path.join("~", ".kaggle"))
        if sys.platform.startswith("linux") and not os.path.exists(folder):
            base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
            folder = os.path.join(base, "kaggle")
    return Path(folder) / "kaggle.json"


def connect():
    """An authenticated ``kaggle.api.KaggleApi``.

    Raises ``KagdigitsError`` saying where credentials go when there are none.
    """
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
    return api


def _secrets():
    names = ("KAGGLE_KEY", "KAGGLE_API_TOKEN")
    return [os.environ[name] for name in names if len(os.environ.get(name, "")) >= 4]


def redact(text):
    """``text`` on one line (at most 300 characters) with any credential masked."""
    text = re.sub(r"\s+", " ", str(text)).strip()
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
def kaggle_errors():
    """Turn the ``requests`` errors raised inside into one-line ``KagdigitsError``s."""
    import requests

    try:
        yield
    except requests.HTTPError as exc:
        if exc.response is None:
            raise KagdigitsError(f"the request to Kaggle failed: {redact(exc)}; retry") from exc
        raise KagdigitsError(http_error_message(
            exc.response.status_code, _server_message(exc.response))) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise KagdigitsError(
            f"cannot reach Kaggle ({type(exc).__name__}); check your internet "
            "connection (and HTTPS_PROXY if you use a proxy), then retry") from exc
    except requests.RequestException as exc:
        raise KagdigitsError(f"the request to Kaggle failed: {redact(exc)}; retry") from exc
