"""``kagdigits submission --on kaggle``: the same training run on a Kaggle kernel's GPU.

The run gets a local run folder as a local run does, ``runs/<run-id>/``, holding::

    run.json        its settings and its kernel ("kaggle": id, URL, version, state)
    kernel/         what was pushed: kernel-metadata.json and the kernel's script
    kernel-output/  what the kernel wrote (its run folder, its submission, its log);
                    a new kernel-output-2/ ... each time it is downloaded again
    model.kd, result.json   copied from the kernel's run once it has finished

It pushes the kernel, shows its state while it runs (one line that updates) and, once
it has ended, downloads its output, copies the model into the run folder and the
submission into ``submissions/`` with its ledger row (the device: the kernel's GPU),
and prints the submission's path last. Ctrl-C or a dropped connection leaves the kernel
running: ``kagdigits submission --resume <run-id>`` waits for it again and downloads.
"""

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

from kagdigits.cli.args import shown_command
from kagdigits.errors import KagdigitsError
from kagdigits.runs.layout import DamagedFile, read_json

#: Seconds between two questions about the kernel's state.
POLL_SECONDS = 30
#: Options that only mean something on this machine: refused with --on kaggle.
LOCAL_ONLY = {"train": "--train", "test": "--test", "dry_run": "--dry-run"}
DEVICES = ("auto", "cuda", "cpu")


class KernelDetached(KagdigitsError):
    """Stopped waiting for a kernel (Ctrl-C, a dropped connection); it runs on."""

    exit_code = 130


def kaggle_run_info(run_dir):
    """The ``"kaggle"`` part of the run.json of ``run_dir`` (``None``: a local run)."""
    try:
        info = read_json(Path(run_dir) / "run.json")
    except DamagedFile:
        return None
    return info.get("kaggle") if isinstance(info, dict) else None


def resumed_run(run_id):
    """The folder of the Kaggle run ``--resume run_id`` continues, or ``None`` (a local
    run, or none). ``latest`` names it when the newest resumable ``submission`` run trains
    on Kaggle."""
    from kagdigits.cli.training import LATEST
    from kagdigits.runs.listing import list_runs
    from kagdigits.runs.rundir import find_run_dir

    if run_id is None:
        return None
    if run_id == LATEST:
        waiting = [r for r in list_runs() if r.state in ("unfinished", "on Kaggle")
                   and _command(r.path) == "submission"]
        return waiting[-1].path if waiting and waiting[-1].state == "on Kaggle" else None
    try:
        run_dir = find_run_dir(run_id)
    except KagdigitsError:
        return None
    return run_dir if kaggle_run_info(run_dir) is not None else None


def _command(run_dir):
    try:
        return read_json(Path(run_dir) / "run.json")["config"]["command"]
    except (DamagedFile, KeyError, TypeError):
        return None


def _write_info(run_dir, **kaggle):
    from kagdigits.files.atomic import atomic_write

    path = Path(run_dir) / "run.json"
    info = json.loads(path.read_text())
    info["kaggle"] = {**info.get("kaggle", {}), **kaggle}
    with atomic_write(path, overwrite=True) as f:
        json.dump(info, f, indent=1)


def check_options(args):
    """Refuse, in one line, what has no meaning for a run on Kaggle."""
    given = [flag for name, flag in LOCAL_ONLY.items() if getattr(args, name, None)]
    if given:
        raise KagdigitsError(f"{given[0]} is for runs on this machine; a Kaggle kernel trains "
                             "on the competition's files, attached to it: drop "
                             f"{given[0]} or --on kaggle")
    if args.device.split(":")[0] not in DEVICES:
        raise KagdigitsError(f"--device {args.device}: on Kaggle use auto (the kernel's GPU), "
                             "cuda or cpu")


def new_config(args):
    """The run's :class:`~kagdigits.runs.config.RunConfig`, its model and parameters checked
    here (on the CPU) before anything is pushed."""
    from kagdigits.cli.training import build_estimator, check_submission_out, run_config
    from kagdigits.kaggle.kernels import check_accelerator

    check_options(args)
    check_accelerator(args.accelerator)
    config, _ = run_config(args, out=args.out)
    check_submission_out(config.out or "submissions")
    build_estimator(dataclasses.replace(config, device="cpu"))
    return config


def start(api, config, args):
    """A new run folder with its kernel folder, pushed; return the run folder."""
    from slugify import slugify

    from kagdigits.files.atomic import atomic_write
    from kagdigits.kaggle import kernels
    from kagdigits.kaggle.bundle import build_wheels, version_ranges
    from kagdigits.kaggle.kernel_script import (
        kernel_metadata,
        remote_command,
        script_text,
        write_kernel_folder,
    )
    from kagdigits.models import get_model_class
    from kagdigits.registry import model_kind
    from kagdigits.runs.layout import new_run_dir

    kernels.check_gpu_quota(api)
    run_dir = new_run_dir(prefix=config.model)
    try:
        title = f"kagdigits {run_dir.name}"
        kernel = f"{api.config_values['username']}/{slugify(title)}"
        info = {"config": dataclasses.asdict(config), "data": None, "hardware": None,
                "source": "kaggle", "kind": model_kind(get_model_class(config.model)),
                "kaggle": {"kernel": kernel, "accelerator": args.accelerator,
                           "state": "pushing"}}
        with atomic_write(run_dir / "run.json") as f:
            json.dump(info, f, indent=1)
        wheels_dir = run_dir / "kernel-wheels"
        wheels = build_wheels(wheels_dir)
        command = remote_command(config, proba=args.proba)
        folder = write_kernel_folder(run_dir / "kernel",
                                     kernel_metadata(kernel, title, args.accelerator),
                                     script_text(run_dir.name, command, wheels,
                                                 version_ranges(wheels[0])))
        shutil.rmtree(wheels_dir)
        print(f"Pushing {folder}/ to Kaggle: kagdigits {' '.join(command)} on the "
              f"competition's data, GPU {args.accelerator or '(Kaggle default)'}", flush=True)
        try:
            url, version = kernels.push(api, folder, args.accelerator)
        except KeyboardInterrupt:  # the push may have reached Kaggle: keep the run
            raise KernelDetached("stopped while pushing; the kernel may be on Kaggle: see "
                                 "https://www.kaggle.com/code or come back with: "
                                 + shown_command(f"submission --resume {run_dir.name}",
                                                 "submission")) from None
    except KernelDetached:
        raise
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing runs on Kaggle
        raise
    _write_info(run_dir, url=url, version=version, state="pushed", proba=bool(args.proba))
    print(f"Kernel: {url} (version {version})")
    return run_dir


def pause():
    """Wait :data:`POLL_SECONDS` before asking Kaggle again."""
    time.sleep(POLL_SECONDS)


def _elapsed(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{seconds:02d}s"


class StatusLine:
    """One line of the kernel's state: rewritten in place on a terminal, else printed
    when the state changes."""

    def __init__(self):
        self.tty = sys.stdout.isatty()
        self.shown = None

    def show(self, text, state):
        if self.tty:
            print(f"\r{text:<70}", end="", flush=True)
        elif state != self.shown:
            print(text, flush=True)
        self.shown = state

    def end(self):
        if self.tty and self.shown is not None:
            print()


def wait(api, run_dir, kaggle):
    """Wait until the kernel has ended; its state and Kaggle's failure message."""
    import requests

    from kagdigits.kaggle.kernels import ENDED, state

    hint = ("it keeps running on Kaggle; come back with: "
            + shown_command(f"submission --resume {Path(run_dir).name}", "submission"))
    print(f"Waiting for the kernel (Ctrl-C stops waiting; {hint})", flush=True)
    line, started = StatusLine(), time.monotonic()
    try:
        while True:
            try:
                now, failure = state(api, kaggle["kernel"])
            except KagdigitsError as exc:
                if isinstance(exc.__cause__, requests.RequestException | OSError):
                    raise KernelDetached(f"lost the connection to Kaggle ({exc}); {hint}"
                                         ) from None
                raise
            line.show(f"Kaggle: {now} ({_elapsed(time.monotonic() - started)} since "
                      "attached)", now)
            if now in ENDED:
                return now, failure
            pause()
    except KeyboardInterrupt:
        raise KernelDetached(f"stopped waiting for {kaggle.get('url') or kaggle['kernel']}; "
                             f"{hint}") from None
    finally:
        line.end()


def _log_tail(log):
    """The last line a kernel's log holds (Kaggle's log is JSON: a list of
    ``{"stream_name", "time", "data"}``; else plain text)."""
    from kagdigits.kaggle.api import redact

    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    try:
        entries = json.loads(text)
        text = "".join(e.get("data", "") for e in entries if isinstance(e, dict))
    except (ValueError, AttributeError, TypeError):
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    return redact(lines[-1]) if lines else None


def _copy_new(source, target):
    """Copy ``source`` to ``target``, which must not exist (nothing local is replaced)."""
    from kagdigits.files.atomic import atomic_write

    with open(source, "rb") as src, atomic_write(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def download(api, run_dir, kaggle):
    """Download the kernel's output into a new ``kernel-output*/`` folder of ``run_dir``;
    ``(folder, manifest or None, log or None)``."""
    from kagdigits.files.atomic import create_unique
    from kagdigits.kaggle import kernels
    from kagdigits.kaggle.kernel_script import MANIFEST

    folder = create_unique(run_dir, "kernel-output")
    try:
        files = [Path(f) for f in kernels.download(api, kaggle["kernel"], folder)]
    except (KagdigitsError, KeyboardInterrupt) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        said = f"could not download the kernel's output ({exc})" if isinstance(
            exc, KagdigitsError) else "stopped the download"
        raise KernelDetached(f"{said}; it stays on Kaggle: come back with: " + shown_command(
            f"submission --resume {Path(run_dir).name}", "submission")) from None
    logs = [f for f in files if f.suffix == ".log" and f.parent == folder]
    print(f"Kernel output: {folder}/ ({len(files)} files)")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = None
    return folder, manifest if isinstance(manifest, dict) else None, logs[0] if logs else None


def _inside(folder, relative):
    """``folder/relative`` when that is a file inside ``folder``, else ``None``."""
    if not relative:
        return None
    path = (folder / str(relative)).resolve()
    return path if path.is_relative_to(folder.resolve()) and path.is_file() else None


def collect(run_dir, config, folder, manifest, log):
    """Copy the model into ``run_dir`` and the submission into its folder with its ledger
    row; return the submission's local path."""
    from kagdigits.files.atomic import create_unique, utc_timestamp
    from kagdigits.files.proba import proba_path
    from kagdigits.kaggle.ledger import append_row, file_entry, find_row, ledger_path, utc_now

    last = (manifest or {}).get("last_line") or (log and _log_tail(log)) or "no output"
    remote = _inside(folder, (manifest or {}).get("submission"))
    if remote is None:
        raise KagdigitsError(f"the kernel ended without a submission (its last line: {last}); "
                             f"its log is {log or 'not there'}: fix what it says and start a "
                             "new run")
    model = _inside(folder, manifest.get("model"))
    if model is not None:
        _copy_new(model, run_dir / "model.kd")
        result = model.parent / "result.json"
        if result.is_file():
            _copy_new(result, run_dir / "result.json")
    out = Path(config.out or "submissions")
    local = create_unique(out, f"{config.model}-{utc_timestamp()}", ".csv",
                          create=lambda path: _copy_new(remote, path))
    if proba_path(remote).is_file():
        print(f"Probabilities: {_copy_new(proba_path(remote), proba_path(local))}")
    row = find_row(ledger_path(remote.parent), remote) or {}
    ledger = ledger_path(out)
    try:
        append_row(ledger, **{**row, "file": file_entry(ledger, local), "written_at": utc_now(),
                              "kaggle_ref": "", "uploaded_at": "", "message": "",
                              "public_score": ""})
    except KagdigitsError as exc:
        print(f"The submission is written: {local}; it has no row in {ledger}", flush=True)
        raise KagdigitsError(f"{local} was written, but the ledger was not updated: {exc}"
                             ) from exc
    if manifest.get("summary"):
        print(f"{manifest['summary']} (on Kaggle: {row.get('device') or 'its GPU'})")
    if model is not None:
        kept = run_dir / "model.kd"
        print(f"Model: {kept} (use with: {shown_command(f'predict --load {kept}')})")
    print(local)
    return local


def finish(api, run_dir, config, kaggle):
    """Wait for the kernel of ``run_dir``, then download and collect its output."""
    from kagdigits.runs.layout import lock_run

    lock = lock_run(run_dir)
    try:
        ended, failure = wait(api, run_dir, kaggle)
        folder, manifest, log = download(api, run_dir, kaggle)
        if ended != "complete":
            _write_info(run_dir, state=ended)
            last = (manifest or {}).get("last_line") or (log and _log_tail(log)) or failure
            what = "was cancelled" if ended == "cancelled" else "failed"
            raise KagdigitsError(f"the kernel {what} on Kaggle: {last or 'no message'}; its "
                                 f"log is {log or 'not there'} (see {kaggle.get('url')})")
        collect(run_dir, config, folder, manifest, log)
        _write_info(run_dir, state="complete")
    finally:
        lock.release()


def run(args):
    """``kagdigits submission --on kaggle``, or ``--resume`` of such a run."""
    from kagdigits.kaggle.api import connect
    from kagdigits.runs.rundir import RunDir

    if args.resume is not None:
        run_dir = resumed_run(args.resume)
        if run_dir is None:
            raise KagdigitsError(f"run {args.resume} trains on this machine, not on Kaggle; "
                                 "resume it without --on kaggle")
        with RunDir.open(run_dir) as run:  # finished or damaged: one line
            config = run.config
        api = connect()
        kaggle = kaggle_run_info(run_dir)
        print(f"Re-attaching to run {run_dir.name} on Kaggle: {kaggle.get('url')}")
    else:
        config = new_config(args)
        api = connect()
        run_dir = start(api, config, args)
        kaggle = kaggle_run_info(run_dir)
    finish(api, run_dir, config, kaggle)
    return 0
