"""Stacked ensemble members: what stays exact (inputs, resume) and what is statistical."""

import copy
import signal

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from kagdigits.models import stacking
from kagdigits.models.augment import Augment
from kagdigits.models.stacking import (
    StackedNetwork,
    chunks,
    fit_stack,
    stack_key,
    stack_size_for,
    stacked_proba,
    train_step,
)
from kagdigits.nets.kagglecnn import KaggleCNN
from kagdigits.runs.checkpoints import TrainingInterrupted
from kagdigits.runs.fitting import fit_run
from kagdigits.runs.layout import saved_epochs
from tests.helpers import small_ensemble as small

CUDA = pytest.mark.cuda  # skipped without a GPU (tests/conftest.py)


class RecordingAugment(Augment):
    """The recipe's augmentation, recording what each member's generator gives it: the
    batch (so its rows and order) and its own draws, by the generator's seed."""

    seen = {}

    def __call__(self, x, generator=None):
        out = super().__call__(x, generator)
        for g, rows, rows_out in zip(generator, x.chunk(len(generator)),
                                     out.chunk(len(generator)), strict=True):
            self.seen.setdefault(g.initial_seed(), []).append((rows.clone(), rows_out.clone()))
        return out


class InitialWeights(Callback):
    """Records each member's weights as training begins, by seed."""

    seen = {}

    def on_train_begin(self, net, **kwargs):
        self.seen[net.random_state] = copy.deepcopy(net.module_.state_dict())


def recorded_inputs(ensemble, X, y):
    RecordingAugment.seen.clear()
    InitialWeights.seen.clear()
    ensemble.set_params(member_params={"batch_size": 32, "augment": RecordingAugment,
                                       "callbacks": [("init", InitialWeights())]}).fit(X, y)
    return dict(RecordingAugment.seen), dict(InitialWeights.seen), ensemble


def same_tensors(a, b):
    return all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_inputs_do_not_depend_on_n_members_or_stack_size(digits):
    """Initial weights, batch order (and so the rows a member trains on), augmentation
    draws and held-out rows of member i are the same in any ensemble and any stack."""
    X, y = digits[0][:120], digits[1][:120]
    base_aug, base_init, base = recorded_inputs(small(n_members=2, max_epochs=2), X, y)
    for ensemble in (small(n_members=3, max_epochs=2), small(n_members=3, max_epochs=2,
                                                             stack_size=1)):
        aug, init, fitted = recorded_inputs(ensemble, X, y)
        assert len(aug) == 3
        for seed in base_aug:  # generators of members 0 and 1
            assert len(aug[seed]) == len(base_aug[seed]) == 8  # 4 batches x 2 epochs
            for (x, out), (x0, out0) in zip(aug[seed], base_aug[seed], strict=True):
                assert torch.equal(x, x0) and torch.equal(out, out0)
        for seed in (0, 1):
            assert same_tensors(init[seed].values(), base_init[seed].values())
            held_out = [m.get_split_datasets(X, y)[1].indices
                        for m in (fitted.members_[seed], base.members_[seed])]
            assert np.array_equal(*held_out)
    assert not torch.equal(*(base_aug[s][0][0] for s in base_aug))  # members differ


@pytest.mark.slow
def test_a_stacked_member_scores_like_a_lone_one(digits):
    """Stacked and lone members differ in their random draws, not in how well they learn."""
    X, y = digits[0][:240], digits[1][:240]
    scores = {}
    for stack_size in ("auto", None):
        ensemble = small(n_members=3, max_epochs=5, stack_size=stack_size).fit(X, y)
        scores[stack_size] = [np.mean(m.predict(digits[0][240:]) == digits[1][240:])
                              for m in ensemble.members_]
    assert min(scores["auto"]) > 0.3 and min(scores[None]) > 0.3
    assert abs(np.mean(scores["auto"]) - np.mean(scores[None])) < 0.12


def _modules(n, dropout=0.0):
    modules = []
    for seed in range(n):
        torch.manual_seed(seed)
        modules.append(KaggleCNN(dropout=dropout))
    return modules


@pytest.mark.parametrize("params", [{}, {"elastic": 8, "erase": 0.5, "flip": 0.5}])
def test_one_augmentation_call_gives_each_part_its_own_draws(params):
    """A stack augments all members' batches in one call, each part as if alone."""
    x = torch.rand(3 * 5, 1, 28, 28)
    augment = Augment(**params)
    seeds = (3, 4, 5)
    together = augment(x, [torch.Generator().manual_seed(s) for s in seeds])
    alone = [augment(part, torch.Generator().manual_seed(s))
             for part, s in zip(x.chunk(3), seeds, strict=True)]
    assert torch.equal(together, torch.cat(alone))


def test_vmap_updates_each_members_batchnorm_statistics():
    stacked, alone = _modules(3), _modules(3)
    x = torch.randn(3, 8, 1, 28, 28)
    logits = StackedNetwork(stacked, vectorize=True).train()(x)
    expected = torch.stack([module.train()(rows) for module, rows in zip(alone, x, strict=True)])
    assert torch.allclose(logits, expected, atol=1e-5)
    for module, own in zip(stacked, alone, strict=True):
        for (name, value), other in zip(module.state_dict().items(),
                                        own.state_dict().values(), strict=True):
            assert torch.allclose(value.float(), other.float(), atol=1e-6), name
    assert int(stacked[0].state_dict()["features.2.num_batches_tracked"]) == 1


def test_vmap_draws_a_dropout_mask_per_member():
    modules = _modules(1, dropout=0.5) * 2  # the same weights twice
    torch.manual_seed(0)
    logits = StackedNetwork(modules, vectorize=True).train()(torch.ones(2, 4, 1, 28, 28))
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.parametrize("vectorize", [True, False])
def test_each_member_steps_as_with_its_own_optimizer(vectorize):
    """A stack's step (one backward of the summed losses, each member's own Adam) equals
    separate networks with separate optimizers on the same batches, to rounding."""
    stacked, alone = _modules(2), _modules(2)

    class Member:  # what train_step needs of an estimator
        def __init__(self, module):
            self.optimizer_ = torch.optim.Adam(module.parameters(), lr=1e-3)

        def _autocast_dtype(self):
            return None

        def _device_type(self):
            return "cpu"

    members = [Member(m) for m in stacked]
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in alone]
    start = copy.deepcopy(alone[0].state_dict())
    stack = StackedNetwork(stacked, vectorize).train()
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        x = torch.randn(2, 16, 1, 28, 28, generator=generator)
        y = torch.randint(0, 10, (2, 16), generator=generator)
        train_step(members, stack, x, y, torch.zeros(2))
        for module, optimizer, rows, labels in zip(alone, optimizers, x, y, strict=True):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(module.train()(rows), labels).backward()
            optimizer.step()
    for module, own in zip(stacked, alone, strict=True):
        for a, b in zip(module.state_dict().values(), own.state_dict().values(), strict=True):
            assert torch.allclose(a.float(), b.float(), atol=1e-4)
    moved = alone[0].state_dict()["features.0.weight"] - start["features.0.weight"]
    assert moved.abs().max() > 2e-3  # 4 steps of lr 1e-3 moved the weights


def test_vmap_and_the_loop_train_the_same_members(digits):
    """Both ways of running a stack give the same members, to rounding (BatchNorm in
    training mode every epoch, running statistics in evaluation)."""
    X, y = digits[0][:100], digits[1][:100]
    settings = {"member": "kagglecnn", "max_epochs": 2, "member_params": {
        "batch_size": 32, "precision": "fp32", "channels_last": False, "module__dropout": 0}}
    fitted = [fit_stack(small(**settings).new_members(), X, y, vectorize=vectorize)
              for vectorize in (True, False)]
    for a, b in zip(*fitted, strict=True):
        assert np.allclose(a.history[:, "train_loss"], b.history[:, "train_loss"], atol=1e-4)
        assert np.allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-4)
        proba = stacked_proba([a], a._network_input(a._checked_array(X, False), False),
                              vectorize=True)
        assert np.allclose(proba, a.predict_proba(X), atol=1e-5)


def test_members_of_one_architecture_are_stacked_per_architecture(digits):
    ensemble = small(member=["lenet5", "mlp"], n_members=5)
    members = ensemble.new_members()
    assert stack_key(members[0]) == stack_key(members[2]) != stack_key(members[1])
    groups = ensemble._groups(members, range(5), digits[0][:10])
    assert groups == [(True, [0, 2, 4]), (True, [1, 3])]
    assert small(n_members=4, stack_size=3)._groups(members[:4:2] * 2, range(4),
                                                     digits[0][:10])[0] == (True, [0, 1, 2])
    fitted = ensemble.fit(digits[0][:100], digits[1][:100])
    assert [type(m).__name__ for m in fitted.members_][:2] == ["LeNet5Classifier",
                                                               "MLP3Classifier"]


def test_members_that_cannot_be_stacked_train_alone(digits):
    ensemble = small(member_params={"batch_size": 32, "compile": True})
    assert ensemble._groups(ensemble.new_members(), [0, 1], digits[0][:10]) == \
        [(False, [0]), (False, [1])]


def test_chunks_share_members_among_workers_and_respect_the_size():
    assert chunks(list(range(7)), 10) == [list(range(7))]
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunks(list(range(6)), 10, parts=2) == [[0, 1, 2], [3, 4, 5]]
    member = small().new_members()[0]
    assert stack_size_for(member, np.zeros((1, 784), np.uint8), limit=4) == 4


@pytest.mark.parametrize("params", [{"patience": 1, "lr": 0.05}, {"ema": 0.9}])
def test_a_members_callbacks_act_on_it_alone(digits, params):
    """Early stopping ends one member (the others train on unchanged); a weight average
    averages one member's weights: each member of a stack is the member trained alone."""
    X, y = digits[0][:150], digits[1][:150]
    params = {"batch_size": 32, **params}
    together = small(n_members=3, max_epochs=6, member_params=params).fit(X, y)
    if "patience" in params:  # they stopped at different epochs
        assert len({len(m.history) for m in together.members_}) > 1
    for i, member in enumerate(together.members_):
        alone = small(n_members=1, random_state=i, max_epochs=6, member_params=params).fit(X, y)
        assert alone.members_[0].history[:, "valid_loss"] == member.history[:, "valid_loss"]


def test_a_stacked_fit_predicts_in_one_pass_what_its_members_predict(digits):
    X = digits[0][150:200]
    fitted = small(n_members=3).fit(digits[0][:150], digits[1][:150])
    members = np.stack([m.predict_proba(X) for m in fitted.members_])
    assert np.allclose(fitted.predict_proba(X), members.mean(axis=0), atol=1e-6)
    lone = fitted.set_params(stack_size=None).predict_proba(X)  # one member after another
    assert np.allclose(fitted.set_params(stack_size="auto").predict_proba(X), lone, atol=1e-6)


class CtrlCAfterEpoch2OfMember1(Callback):
    def on_epoch_end(self, net, **kwargs):
        if (net.random_state, len(net.history)) == (1, 2):
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C


@pytest.mark.slow
@pytest.mark.parametrize("device, vectorize", [("cpu", False), ("cpu", True),
                                               pytest.param("cuda", True, marks=CUDA)])
def test_an_interrupted_stack_resumes_to_the_same_result(digits, tmp_path, monkeypatch,
                                                         device, vectorize):
    """With dropout and augmentation (the recipe's kagglecnn), a resumed stack equals the
    uninterrupted one: its members' generators and torch's are restored; by ``vmap`` (as
    on CUDA) or a loop (as on the CPU)."""
    monkeypatch.setattr(stacking, "resolve_vectorize", lambda *args: vectorize)
    X, y = digits[0][:120], digits[1][:120]
    recipe = {"member": "kagglecnn", "recipe": True, "max_epochs": 3, "device": device,
              "member_params": {"batch_size": 32}}
    straight = small(**recipe).fit(X, y)
    stopping = small(**{**recipe, "member_params": {
        "batch_size": 32, "callbacks": [("ctrl_c", CtrlCAfterEpoch2OfMember1())]}})
    with pytest.raises(TrainingInterrupted, match="after 2 finished epoch"):
        fit_run(stopping, X, y, tmp_path)
    assert all(saved_epochs(tmp_path / f"member-0{i}") == 2 for i in (1, 2))
    resumed = fit_run(small(**recipe), X, y, tmp_path, resume=True)
    assert resumed.history[:, "valid_loss"] == straight.history[:, "valid_loss"]
    assert resumed.history[:, "train_loss"] == straight.history[:, "train_loss"]
    assert np.array_equal(resumed.predict_proba(X), straight.predict_proba(X))
