"""Running many fits in parallel on a joblib backend (local processes or Dask), with progress."""

import contextlib
import logging
import os

from kagdigits.errors import KagdigitsError


@contextlib.contextmanager
def parallel_backend(backend="local", n_jobs=None, scheduler=None):
    """Route joblib (and so scikit-learn) work to ``backend``; yield a one-line description.

    Parameters
    ----------
    backend : {"local", "dask"}, default="local"
        ``"local"``: ``n_jobs`` processes on this machine (joblib's loky; 1 runs the fits
        in this process). ``"dask"``: the workers of a Dask cluster through joblib's Dask
        backend, one fit per worker thread at a time.
    n_jobs : int or None, default=None
        Local fits at once (default 1); with ``"dask"`` and no ``scheduler``, the number
        of workers of the local cluster started here (default: the CPU cores).
    scheduler : str or None, default=None
        Address of a running Dask scheduler (``tcp://HOST:PORT``); ``None`` starts a
        ``LocalCluster`` of single-threaded worker processes. Connecting gives up after
        Dask's ``distributed.comm.timeouts.connect`` (30 s unless configured, e.g.
        ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``).
    """
    import joblib

    if backend == "local" and scheduler is None:
        n_jobs = n_jobs or 1
        with joblib.parallel_config(backend="loky", n_jobs=n_jobs):
            yield f"local, {n_jobs} fit{'s' if n_jobs > 1 else ''} at a time"
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=n_jobs or os.cpu_count(), threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR))
            where = f"a local Dask cluster of {len(cluster.workers)} worker processes"
        else:
            cluster, where = scheduler, f"the Dask scheduler at {scheduler}"
        try:
            client = stack.enter_context(Client(cluster))
        except (OSError, TimeoutError) as exc:
            raise KagdigitsError(
                f"cannot reach {where} ({exc}); start it (`dask scheduler`, then "
                "`dask worker ADDRESS`) or check --scheduler") from None
        threads = sum(client.nthreads().values())
        if not threads:
            raise KagdigitsError(f"{where} has no workers; start some with "
                                 "`dask worker ADDRESS --nworkers 1 --nthreads 1`")
        stack.enter_context(joblib.parallel_config(backend="dask", n_jobs=-1))
        yield f"Dask: {where}, {threads} worker thread{'s' if threads > 1 else ''}"


def run_tasks(function, tasks, labels):
    """Yield ``function(*task)`` for each task, in order, run on the current joblib backend.

    A progress bar on stderr counts finished tasks, shows the ETA and names the task
    waited for (``labels[i]``, e.g. ``"lenet5 seed 2"``).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    results = Parallel(return_as="generator")(delayed(function)(*task) for task in tasks)
    with tqdm(total=len(tasks), unit="fit", dynamic_ncols=True) as bar:
        for label in labels:
            bar.set_postfix_str(label)
            result = next(results)
            bar.update()
            yield result
