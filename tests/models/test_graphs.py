"""``compile="auto"``: CUDA graphs of the training step on a GPU, nothing on the CPU
(issue 45). The capture itself needs CUDA; its routing, the buffers it puts back, the
fallback's one warning and the release after fit are checked here with a stand-in."""

import pickle
import warnings

import numpy as np
import pytest
import torch

import kagdigits.models.base as base
from kagdigits.models.graphs import capture, release, wants_graphs
from tests.helpers import tiny_net


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.bn(x))


def stand_in(calls):
    """A ``make_graphed_callables`` that runs warm-up passes (moving BatchNorm's
    statistics, as the real one does) and 'graphs' the eager forward, counting replays."""
    def make_graphed(module, sample_args):
        for _ in range(3):
            module(*sample_args)
        eager = module.forward

        def graphed(x):
            calls.append(tuple(x.shape))
            return eager(x)

        module.forward = graphed
        return module
    return make_graphed


def test_auto_means_graphs_on_cuda_only():
    assert wants_graphs("auto", "cuda") and wants_graphs("auto", "cuda:1")
    assert not wants_graphs("auto", "cpu") and not wants_graphs(True, "cuda")
    assert not wants_graphs(False, "cuda")


def test_full_training_batches_replay_the_graphs_and_all_else_runs_eagerly():
    module, calls = Small().train(), []
    before = [b.clone() for b in module.buffers()]
    assert capture(module, torch.randn(8, 4), make_graphed=stand_in(calls))
    assert all(torch.equal(a, b) for a, b in zip(before, module.buffers(), strict=True))
    module(torch.randn(8, 4))
    module(torch.randn(5, 4))  # another shape: eager
    with torch.no_grad():
        module(torch.randn(8, 4))  # no gradients: eager
    module.eval()(torch.randn(8, 4))  # evaluation: eager
    assert calls == [(8, 4)]
    release(module)
    assert "forward" not in vars(module) and pickle.loads(pickle.dumps(module)) is not None


def test_a_failed_capture_warns_once_and_leaves_the_network_eager():
    def broken(module, sample_args):
        module.forward = None  # half-done, then fails
        raise RuntimeError("operation not permitted when stream is capturing")

    module = Small().train()
    with pytest.warns(RuntimeWarning, match=r"^CUDA graph capture of the training step failed "
                      r"\(operation not permitted when stream is capturing\); training runs "
                      r"eagerly; set compile=False to skip the attempt$"):
        assert not capture(module, torch.randn(8, 4), make_graphed=broken)
    assert "forward" not in vars(module) and module(torch.randn(8, 4)).shape == (8, 3)


@pytest.fixture
def as_on_cuda(monkeypatch):
    """Estimators behave as if on CUDA for the graphs' decision (the CPU runs the step)."""
    monkeypatch.setattr(base, "wants_graphs", lambda compile, device: compile == "auto")


def test_compile_defaults_to_auto_which_is_off_on_the_cpu(digits):
    X, y = digits
    net = tiny_net().fit(X, y)
    assert net.compile == "auto" and net.graph_capture_ == "off"
    assert not isinstance(net.module_, torch._dynamo.eval_frame.OptimizedModule)
    np.testing.assert_array_equal(net.predict_proba(X),
                                  tiny_net(compile=False).fit(X, y).predict_proba(X))


def test_a_fit_captures_once_at_its_first_batch_and_releases_at_its_end(digits, monkeypatch,
                                                                         as_on_cuda):
    X, y = digits
    calls = []
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", stand_in(calls))
    net = tiny_net(max_epochs=2, module__batchnorm=True).fit(X, y)
    assert net.graph_capture_ == "captured"
    assert len(calls) == 2 * (len(X) // 32)  # every full batch of both epochs, not the last
    assert "forward" not in vars(net.module_)  # released: the fitted net pickles
    pickle.loads(pickle.dumps(net))
    eager = tiny_net(max_epochs=2, module__batchnorm=True, compile=False).fit(X, y)
    np.testing.assert_array_equal(net.predict_proba(X), eager.predict_proba(X))


def test_a_fit_whose_capture_fails_warns_once_and_trains_eagerly(digits, monkeypatch,
                                                                 as_on_cuda):
    X, y = digits
    attempts = []

    def broken(module, sample_args):
        attempts.append(1)
        raise RuntimeError("capture failed")

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = tiny_net(max_epochs=2).fit(X, y)
    assert [str(w.message)[:40] for w in caught if w.category is RuntimeWarning] == [
        "CUDA graph capture of the training step "]
    assert attempts == [1] and net.graph_capture_ == "failed"
    np.testing.assert_array_equal(net.predict_proba(X),
                                  tiny_net(max_epochs=2, compile=False).fit(X, y).predict_proba(X))


@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_graphs_train_as_well_as_eager(digits, precision):
    from kagdigits import KaggleCNNClassifier

    X, y = digits
    params = {"device": "cuda", "precision": precision, "max_epochs": 3, "batch_size": 32,
              "train_split": None, "verbose": 0}
    graphed = KaggleCNNClassifier(compile="auto", **params).fit(X, y)
    eager = KaggleCNNClassifier(compile=False, **params).fit(X, y)
    assert graphed.graph_capture_ == "captured" and eager.graph_capture_ == "off"
    assert abs(graphed.score(X, y) - eager.score(X, y)) < 0.05
    assert np.isfinite([row["train_loss"] for row in graphed.history]).all()
