"""Running a study: its fits on a parallel backend, then its results and report in a new folder."""

import time
from datetime import UTC, datetime
from pathlib import Path

from kagdigits import __version__
from kagdigits.errors import KagdigitsError
from kagdigits.studies.report import write_report
from kagdigits.studies.results import new_report_dir, save_study
from kagdigits.studies.runner import parallel_backend


class StudyInterrupted(KagdigitsError):
    """Ctrl-C during a study; the finished fits were saved (in ``folder``, if any)."""

    exit_code = 130

    def __init__(self, message, folder=None):
        super().__init__(message)
        self.folder = folder


def run_study(data, fits, make_study, *, kind, command, out="reports", backend="local",
              n_jobs=None, scheduler=None, verbose=1):
    """Run ``fits()`` (a generator of results) on a backend; save and report the results.

    Parameters
    ----------
    data : StudyData
    fits : callable
        Returns a generator of results, one per finished fit.
    make_study : callable
        ``make_study(results, info)`` turns the finished results into a
        :class:`~kagdigits.studies.results.Study`.
    kind : str
        ``"compare"`` or ``"grid"``: the new folder's suffix.
    command : str
        How the study was started, for the report.
    out : str or Path, default="reports"
        The folder that gets the new report folder.
    backend, n_jobs, scheduler
        See :func:`kagdigits.studies.runner.parallel_backend` (a ``scheduler`` means Dask).
    verbose : int, default=1
        1: say where the fits run.

    Returns the new report folder. After Ctrl-C the finished fits are saved and
    reported all the same, then :class:`StudyInterrupted` is raised.
    """
    backend = "dask" if scheduler else backend
    results, interrupted = [], None
    start = time.perf_counter()
    with parallel_backend(backend, n_jobs, scheduler) as where:
        if verbose:
            print(f"Running on {where}.")
        try:
            for result in fits():
                results.append(result)
        except KeyboardInterrupt:
            interrupted = f"stopped by Ctrl-C after {len(results)} finished fits"
    if not results:
        raise StudyInterrupted("interrupted before any fit finished; nothing was saved")
    info = {"command": command, "data": data.description,
            "n_train": len(data.y_train), "n_test": len(data.y_test),
            "image_shape": list(data.X_train.shape[1:]), "backend": where,
            "wall_seconds": time.perf_counter() - start,
            "created": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", "version": __version__,
            "interrupted": interrupted}
    study = make_study(results, info)
    folder = new_report_dir(Path(out), kind)
    save_study(folder, study)
    write_report(folder, study)
    if interrupted:
        raise StudyInterrupted(f"{interrupted}; their results and report are in {folder}/",
                               folder)
    return folder
