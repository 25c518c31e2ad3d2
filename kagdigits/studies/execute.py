"""Running a study from the command line: fits, then results and report in a new folder."""

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from kagdigits.errors import KagdigitsError
from kagdigits.studies.results import new_report_dir, save_study
from kagdigits.studies.runner import parallel_backend

#: Options not shown in a report's command line.
HIDDEN = ("command", "run", "debug")
#: Repeatable options: dest -> flag.
REPEATED = {"params": "--set", "grid": "--param"}


class StudyInterrupted(KagdigitsError):
    """Ctrl-C during a study; the finished fits were saved."""

    exit_code = 130


def command_line(args):
    """The full ``kagdigits`` command line (every option spelled out) that reruns ``args``."""
    import shlex

    words = ["kagdigits", args.command]
    for name, value in vars(args).items():
        if name in HIDDEN or value is None or value is False:
            continue
        if name in REPEATED:
            words += [w for item in value for w in (REPEATED[name], item)]
        else:
            words.append(f"--{name.replace('_', '-')}")
            if value is not True:
                words.append(str(value))
    return shlex.join(words)


def estimator_for(args, model, seed=0):
    """``model``'s estimator with ``--epochs``, ``--device`` and ``--set`` applied and checked;
    skorch's per-epoch table is off (``verbose=0``): studies show a progress bar instead."""
    from kagdigits.commands.common import build_estimator

    settings = argparse.Namespace(model=model, device=args.device, seed=seed,
                                  params=args.params, epochs=args.epochs)
    return build_estimator(settings, verbose=0)


def run_study(args, data, fits, make_study):
    """Run ``fits()`` (a generator of results) on the chosen backend; save and report them.

    ``make_study(results, info)`` turns the finished results into a
    :class:`~kagdigits.studies.results.Study`. After Ctrl-C the finished fits are
    saved and reported all the same, then :class:`StudyInterrupted` is raised.
    Returns the new report folder.
    """
    from kagdigits import __version__
    from kagdigits.studies.report import write_report

    backend = "dask" if args.scheduler else args.backend
    results, interrupted = [], None
    start = time.perf_counter()
    with parallel_backend(backend, args.n_jobs, args.scheduler) as where:
        print(f"Running on {where}.")
        try:
            for result in fits():
                results.append(result)
        except KeyboardInterrupt:
            interrupted = f"stopped by Ctrl-C after {len(results)} finished fits"
    if not results:
        raise StudyInterrupted("interrupted before any fit finished; nothing was saved")
    info = {"command": command_line(args), "data": data.description,
            "n_train": len(data.y_train), "n_test": len(data.y_test),
            "image_shape": list(data.X_train.shape[1:]), "backend": where,
            "wall_seconds": time.perf_counter() - start,
            "created": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", "version": __version__,
            "interrupted": interrupted}
    study = make_study(results, info)
    folder = new_report_dir(Path(args.out), args.command)
    save_study(folder, study)
    report = write_report(folder, study)
    print(f"Results and report: {folder}/ (rebuild with: kagdigits report {folder})")
    if interrupted:
        raise StudyInterrupted(f"{interrupted}; their results and report are in {folder}/")
    print(report)
    return folder
