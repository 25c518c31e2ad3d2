"""A stacked ensemble on real Dask worker processes (loopback) equals the local one."""

import numpy as np
import pytest

from kagdigits import EnsembleClassifier


@pytest.mark.slow
def test_stacks_on_dask_workers_equal_the_local_stacks(digits):
    import logging

    from distributed import Client, LocalCluster
    from joblib import parallel_config

    X, y = digits[0][:120], digits[1][:120]

    def ensemble(**params):  # 4 members in 2 stacks of 2, with dropout and augmentation
        return EnsembleClassifier(member="kagglecnn", n_members=4, max_epochs=1, device="cpu",
                                  verbose=0, member_params={"batch_size": 32}, **params)

    local = ensemble(stack_size=2).fit(X, y)  # here, one stack after the other
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster), parallel_config(backend="dask"):
        dask = ensemble(n_jobs=2).fit(X, y)  # a stack per worker
    assert dask.history[:, "valid_loss"] == local.history[:, "valid_loss"]
    assert np.array_equal(dask.predict_proba(X), local.predict_proba(X))
