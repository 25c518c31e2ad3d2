"""Kaggle kernels through the official client: push a kernel folder, read its state,
download its output; every failure a user can fix as one line naming the fix.

The client's calls are kagglesdk's ``KernelsApiService`` methods ``SaveKernel``,
``GetKernelSessionStatus``, ``ListKernelSessionOutput`` (then a GET of each file's URL)
and ``GetAcceleratorQuotaStatistics``.
"""

import contextlib
import io
import re
from datetime import timedelta

from kagdigits.errors import KagdigitsError
from kagdigits.kaggle.api import COMPETITION_URL, _server_message, kaggle_errors, redact

SETTINGS_URL = "https://www.kaggle.com/settings"
#: The kernel's states, from kagglesdk's ``KernelWorkerStatus``, as words.
STATES = {"QUEUED": "queued", "NEW_SCRIPT": "queued", "RUNNING": "running",
          "COMPLETE": "complete", "ERROR": "error", "CANCEL_REQUESTED": "cancelled",
          "CANCEL_ACKNOWLEDGED": "cancelled"}
#: States after which the kernel does no more.
ENDED = ("complete", "error", "cancelled")
_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9]{1,40}")


def check_accelerator(name):
    """Raise unless ``name`` (``--accelerator``) can be a Kaggle GPU's machine shape
    (``None``: the client's default). Which shapes exist is Kaggle's to say; a TPU is
    refused here, since the models train with CUDA."""
    if name is None:
        return
    if not _SHAPE.fullmatch(name):
        raise KagdigitsError(f"--accelerator {name!r} is not a Kaggle accelerator name; give "
                             "one such as NvidiaTeslaT4 (see `kaggle kernels push --help`), or "
                             "leave it out for Kaggle's default GPU")
    if name.lower().startswith("tpu"):
        raise KagdigitsError(f"--accelerator {name} is a TPU, but kagdigits trains with CUDA; "
                             "choose a GPU such as NvidiaTeslaT4, or leave it out")


def _accelerator_error(said, accelerator):
    return KagdigitsError(f"Kaggle does not know the accelerator {accelerator or '(default)'} "
                          f"({said}); choose one it offers, such as NvidiaTeslaT4, or leave "
                          "--accelerator out")


def _quota_error(said):
    return KagdigitsError(f"no GPU time left on Kaggle ({said}); wait until the weekly quota "
                          f"refreshes (see {SETTINGS_URL}), or train here without --on kaggle")


def _refusal(said, accelerator=None):
    """The one-line error of a push Kaggle refused with ``said``."""
    words = said.lower()
    if "quota" in words:
        return _quota_error(said)
    if "machine" in words or "accelerator" in words:
        return _accelerator_error(said, accelerator)
    if "competition" in words or "rules" in words:
        return KagdigitsError(f"Kaggle cannot attach the competition's data to the kernel "
                              f"({said}); accept the rules at {COMPETITION_URL}/rules with "
                              "this account, then push again")
    if "phone" in words or "verif" in words:
        return KagdigitsError(f"Kaggle refused the kernel ({said}); GPU kernels need a "
                              f"phone-verified account: verify it at {SETTINGS_URL}, then "
                              "push again")
    return KagdigitsError(f"Kaggle refused the kernel push ({said}); fix what it names, then "
                          "push again")


@contextlib.contextmanager
def kernel_errors(accelerator=None):
    """:func:`~kagdigits.api.kaggle_errors` with the kernel calls' own words for the
    HTTP answers that mean something else here (400, 403, 404, 429)."""
    import requests

    try:
        with kaggle_errors():
            yield
    except KagdigitsError as exc:
        cause = exc.__cause__
        if not isinstance(cause, requests.HTTPError) or cause.response is None:
            raise
        status = cause.response.status_code
        said = f"HTTP {status}: {_server_message(cause.response)}"
        if status == 400:
            raise _refusal(said, accelerator) from cause
        if status == 403:
            raise KagdigitsError(
                f"Kaggle refused the kernel ({said}); GPU kernels need a phone-verified "
                f"account ({SETTINGS_URL}) that has accepted the rules at "
                f"{COMPETITION_URL}/rules; fix that, then push again") from cause
        if status == 404:
            raise KagdigitsError(f"Kaggle has no such kernel ({said}); check the run's kernel "
                                 "in its run.json, or push a new one") from cause
        if status == 429:
            raise _quota_error(said) from cause
        raise


def _hours(delta):
    return delta.total_seconds() / 3600 if isinstance(delta, timedelta) else None


def check_gpu_quota(api):
    """Raise when the account's weekly GPU quota is used up; say nothing when Kaggle does
    not answer the question (the push then finds out)."""
    try:
        with kaggle_errors(), contextlib.redirect_stdout(io.StringIO()):
            answer = api.quota_view()
    except (KagdigitsError, ValueError, AttributeError):
        return
    quota = getattr(answer, "gpu_quota", None)
    total, used = _hours(getattr(quota, "total_time_allowed", None)), _hours(
        getattr(quota, "time_used", None))
    reserved = _hours(getattr(quota, "time_reserved", None)) or 0
    if total and used is not None and used + reserved >= total:
        refresh = getattr(answer, "quota_refresh_time", None)
        when = f", refreshed {refresh:%Y-%m-%d %H:%M} UTC" if refresh else ""
        raise _quota_error(f"{used:.1f} of {total:.1f} GPU hours used this week{when}")


def push(api, folder, accelerator=None):
    """Push the kernel folder ``folder`` and start it; return ``(url, version)``."""
    with kernel_errors(accelerator), contextlib.redirect_stdout(io.StringIO()):
        try:
            answer = api.kernels_push(str(folder), acc=accelerator)
        except ValueError as exc:
            raise KagdigitsError(f"the kaggle client refused the kernel folder {folder} "
                                 f"({redact(exc)}); report this as a kagdigits bug") from None
    if answer is None:
        raise KagdigitsError("Kaggle gave no answer to the kernel push; retry")
    if answer.error:
        raise _refusal(redact(answer.error), accelerator)
    if answer.invalid_competition_sources:
        raise _refusal(f"competition sources refused: "
                       f"{', '.join(map(redact, answer.invalid_competition_sources))}")
    return redact(answer.url or ""), answer.version_number


def state(api, kernel):
    """``(state, failure message)`` of the latest session of ``kernel`` (``user/slug``):
    one of :data:`STATES`' words and Kaggle's message (``None`` if none)."""
    with kernel_errors():
        try:
            answer = api.kernels_status(kernel)
        except ValueError as exc:
            raise KagdigitsError(f"Kaggle does not let this account see the kernel {kernel} "
                                 f"({redact(exc)[:120]}); use the credentials of the account "
                                 "that pushed it") from None
    status = getattr(answer.status, "name", str(answer.status))
    word = STATES.get(status.removeprefix("KERNEL_WORKER_STATUS_"), status.lower())
    return word, redact(answer.failure_message) if answer.failure_message else None


def download(api, kernel, folder):
    """Download the output files and the log of ``kernel`` into the empty folder
    ``folder``; return their paths."""
    with kernel_errors(), contextlib.redirect_stdout(io.StringIO()):
        try:
            files, _ = api.kernels_output(kernel, str(folder), force=True, quiet=True)
        except ValueError as exc:
            raise KagdigitsError(f"the output of the kernel {kernel} cannot be downloaded "
                                 f"({redact(exc)[:160]}); see it on Kaggle") from None
    return files
