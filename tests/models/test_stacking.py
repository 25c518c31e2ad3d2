"""The stack as one network: its arithmetic against the members one by one, what stays
exact (inputs, resume) and what is statistical (vmap against the loop, stacked against lone)."""

import copy
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from kagdigits.models import stacked as stacked_module
from kagdigits.models.augment import Augment
from kagdigits.models.draws import MemberDraws, member_keys
from kagdigits.models.grouping import chunks, stack_key, stack_size
from kagdigits.models.stacked import StackedModule
from kagdigits.models.stacked_classifier import StackedClassifier
from kagdigits.nets import KaggleCNN, LeNet5
from kagdigits.runs import checkpoints
from kagdigits.runs.checkpoints import MemberCheckpoints, TrainingInterrupted
from kagdigits.runs.fitting import fit_run, stop_on_sigint
from tests.helpers import small_ensemble as small

CUDA = pytest.mark.cuda  # skipped without a GPU (tests/conftest.py)


def _modules(n, dropout=0.0):
    modules = []
    for seed in range(n):
        torch.manual_seed(seed)
        modules.append(KaggleCNN(dropout=dropout))
    return modules


def _lenets(n):
    """LeNet-5s with BatchNorm (well conditioned: a kagglecnn's BatchNorm over 1x1 maps
    magnifies rounding in its gradients by orders of magnitude)."""
    modules = []
    for seed in range(n):
        torch.manual_seed(seed)
        modules.append(LeNet5(batchnorm=True))
    return modules


def _grads(vectorize, modules, x, y):
    """One step's gradients of a stack of ``modules`` (summed cross-entropies), per member."""
    stack = StackedModule(copy.deepcopy(modules), vectorize).train()
    torch.nn.functional.cross_entropy(stack(x).flatten(0, 1), y.flatten(),
                                      reduction="sum").backward()
    return {name: p.grad for name, p in stack.named_parameters()}


def _close(a, b, rel):
    """Within ``rel`` of each tensor's largest value (rounding, not kernels' luck), or 1e-5
    (a convolution's bias before BatchNorm has a gradient of 0 plus rounding)."""
    return all((a[k] - b[k]).abs().max() <= rel * b[k].abs().max() + 1e-5 for k in b)


@pytest.mark.parametrize("vectorize", [True, False])
def test_the_stack_computes_what_its_members_compute_one_by_one(vectorize):
    """Eval logits, train-mode BatchNorm statistics and one step's gradients."""
    modules = _lenets(3)
    x, y = torch.randn(3, 8, 1, 28, 28), torch.randint(0, 10, (3, 8))
    alone = copy.deepcopy(modules)
    grads = _grads(vectorize, modules, x, y)
    for m, module in enumerate(alone):
        torch.nn.functional.cross_entropy(module.train()(x[m]), y[m], reduction="sum").backward()
        own = {name.replace(".", "__"): p.grad for name, p in module.named_parameters()}
        assert _close({k: g[m] for k, g in grads.items()}, own, 1e-4)
    stack = StackedModule(modules, vectorize).train()
    stack(x)
    for state, module in zip(stack.member_state_dicts(), alone, strict=True):
        assert all(torch.allclose(v.float(), module.state_dict()[k].float(), atol=1e-6)
                   for k, v in state.items())  # each member's BatchNorm statistics
    expected = torch.stack([module.eval()(x[0]) for module in alone])
    assert torch.allclose(stack.eval()(x[0], shared=True), expected, atol=1e-5)


@pytest.mark.parametrize("vectorize", [True, False])
def test_under_bf16_the_stacked_convolutions_run_in_bf16(vectorize):
    """On both paths (CPU autocast would leave them in fp32 under vmap); BatchNorm takes
    fp32 input, so its vmap rule never sees bf16 with fp32 statistics."""
    stack = StackedModule(_modules(2), vectorize, channels_last=True, dtype=torch.bfloat16)
    seen = {}
    for name, layer in stack.skeleton[0].named_modules():
        if isinstance(layer, torch.nn.Conv2d | torch.nn.BatchNorm2d):
            layer.register_forward_hook(lambda m, i, o, name=name: seen.setdefault(
                type(m).__name__, set()).update({i[0].dtype, o.dtype}))
    logits = stack.train()(torch.randn(2, 4, 1, 28, 28))
    logits.sum().backward()
    assert seen == {"Conv2d": {torch.bfloat16}, "BatchNorm2d": {torch.float32}}
    assert logits.dtype == torch.float32 and stack.features__0__weight.grad.dtype == torch.float32


def test_vmap_draws_a_dropout_mask_per_member():
    modules = _modules(1, dropout=0.5) * 2  # the same weights twice
    logits = StackedModule(modules, vectorize=True).train()(torch.ones(2, 4, 1, 28, 28))
    assert not torch.allclose(logits[0], logits[1])


#: One step's gradients by vmap and by the loop, in a fresh process (only torch and the
#: stack's module imported), for another oneDNN ISA.
GRADIENT_CHECK = """
import importlib.util, torch
spec = importlib.util.spec_from_file_location("stacked", {path!r})
stacked = importlib.util.module_from_spec(spec); spec.loader.exec_module(stacked)
def net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5), torch.nn.BatchNorm2d(6),
                               torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(6, 16, 5),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(1024, 10))
torch.manual_seed(0)  # the same batch in every run (an unseeded one failed 1 run in ~4)
x, y = torch.randn(3, 32, 1, 28, 28), torch.randint(0, 10, (3, 32))
grads = []
for vectorize in (True, False):
    stack = stacked.StackedModule([net(s) for s in range(3)], vectorize).train()
    loss = torch.nn.functional.cross_entropy(stack(x).flatten(0, 1), y.flatten(), reduction="sum")
    loss.backward()
    grads.append([p.grad for p in stack.parameters()])
for a, b in zip(*grads):
    assert (a - b).abs().max() <= 1e-4 * b.abs().max() + 1e-5, ((a - b).abs().max(), b.abs().max())
"""


@pytest.mark.parametrize("isa", [None, "AVX2"])
def test_vmap_and_the_loop_compute_one_step_alike(isa):
    """One step's gradients agree to rounding (1e-4 of each tensor's largest) whatever
    kernels oneDNN picks (a grouped convolution under vmap, one per member in the loop);
    ``ONEDNN_MAX_CPU_ISA=AVX2`` (a fresh process) runs the kernels of a CPU without
    AVX-512 or AMX."""
    if isa is None:
        modules = _lenets(3)
        x, y = torch.randn(3, 32, 1, 28, 28), torch.randint(0, 10, (3, 32))
        assert _close(_grads(True, modules, x, y), _grads(False, modules, x, y), 1e-4)
        return
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": isa, "OMP_NUM_THREADS": "1"}
    code = GRADIENT_CHECK.format(path=stacked_module.__file__)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)


@pytest.mark.slow
def test_vmap_and_the_loop_train_members_alike(digits):
    """Whole trainings drift apart by rounding (more steps, more drift): statistically the
    same, far within the spread between seeds."""
    X, y = digits[0][:150], digits[1][:150]
    params = {"batch_size": 32, "precision": "fp32", "module__dropout": 0}
    fits = {v: small(member="kagglecnn", n_members=2, max_epochs=2, stack_vectorize=v,
                     member_params=params).fit(X, y) for v in (True, False)}
    loss = {v: np.array(f.history[:, "valid_loss"]) for v, f in fits.items()}
    assert np.abs(loss[True] - loss[False]).max() < 0.5 * np.ptp(loss[False])


def test_one_optimizer_steps_each_member_as_its_own_would():
    """Adam over the stacked leaves, one step per batch, equals one Adam per member."""
    modules = _lenets(2)
    alone = copy.deepcopy(modules)
    stack = StackedModule(modules, vectorize=False).train()
    optimizer = torch.optim.Adam(stack.parameters(), lr=1e-3)
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in alone]
    steps = []
    optimizer.register_step_post_hook(lambda *args: steps.append(1))
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        x = torch.randn(2, 16, 1, 28, 28, generator=generator)
        y = torch.randint(0, 10, (2, 16), generator=generator)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(stack(x).flatten(0, 1), y.flatten(),
                                          reduction="sum").backward()
        optimizer.step()
        for module, opt, rows, labels in zip(alone, optimizers, x, y, strict=True):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module.train()(rows), labels,
                                              reduction="sum").backward()
            opt.step()
    assert len(steps) == 4
    for state, module in zip(stack.member_state_dicts(), alone, strict=True):
        assert all(torch.allclose(v.float(), module.state_dict()[k].float(), atol=1e-5)
                   for k, v in state.items())


def test_the_stacked_forward_and_loss_compile_without_a_graph_break():
    members = small(member_params={"batch_size": 32, "train_split": None}).new_members()
    stack = StackedClassifier(members, stack_vectorize=True)
    X, y = np.random.RandomState(0).rand(80, 1, 28, 28).astype(np.float32), np.arange(80) % 10
    stack.fit(X, y)
    xb, yb = next(iter(stack.get_iterator(stack.get_split_datasets(X, y)[0], training=True)))

    def step(x, labels):
        return stack.get_loss(stack.infer(x), labels, training=True)

    stack.steps_ = {True: 0, False: 0}
    compiled = torch.compile(step, backend="eager", fullgraph=True)
    assert torch.isfinite(compiled(xb, yb))


class RecordingAugment(Augment):
    """The augmentation, recording each member's rows in and out, by the member's key."""

    seen = {}

    def __call__(self, x, generator=None):
        out = super().__call__(x, generator)
        keys = generator.keys
        for key, rows, rows_out in zip(keys, x.chunk(len(keys)), out.chunk(len(keys)),
                                       strict=True):
            self.seen.setdefault(tuple(key.tolist()), []).append((rows, rows_out))
        return out


class InitialWeights(Callback):
    """Records each member's weights as training begins, by seed."""

    seen = {}

    def on_train_begin(self, net, **kwargs):
        for member, state in zip(net.members, net.module_.member_state_dicts(), strict=True):
            self.seen[member.random_state] = copy.deepcopy(state)


def recorded_inputs(ensemble, X, y):
    RecordingAugment.seen.clear()
    InitialWeights.seen.clear()
    ensemble.set_params(member_params={"batch_size": 32, "augment": RecordingAugment,
                                       "callbacks": [("init", InitialWeights())]}).fit(X, y)
    return dict(RecordingAugment.seen), dict(InitialWeights.seen), ensemble


def test_inputs_do_not_depend_on_n_members_or_stack_size(digits):
    """Initial weights, batch order (so the rows a member trains on), augmentation draws
    and held-out rows of member i are the same in any ensemble and any stack."""
    X, y = digits[0][:120], digits[1][:120]
    base_aug, base_init, base = recorded_inputs(small(n_members=2, max_epochs=2), X, y)
    for ensemble in (small(n_members=3, max_epochs=2), small(n_members=3, max_epochs=2,
                                                             stack_size=1)):
        aug, init, fitted = recorded_inputs(ensemble, X, y)
        assert len(aug) == 3
        for key in base_aug:
            assert len(aug[key]) == len(base_aug[key]) == 8  # 4 batches x 2 epochs
            for (x, out), (x0, out0) in zip(aug[key], base_aug[key], strict=True):
                assert torch.equal(x, x0) and torch.equal(out, out0)
        for seed in (0, 1):
            assert all(torch.equal(v, base_init[seed][k]) for k, v in init[seed].items())
            held_out = [m.get_split_datasets(X, y)[1].indices
                        for m in (fitted.members_[seed], base.members_[seed])]
            assert np.array_equal(*held_out)
    first, second = (base_aug[k][0][0] for k in base_aug)
    assert not torch.equal(first, second)  # members differ


def test_each_members_draws_are_its_own_in_one_call():
    keys = member_keys([3, 4, 5], "cpu")
    together = MemberDraws(keys, 7).rand((3 * 50, 2))
    alone = [MemberDraws(keys[m:m + 1], 7).rand((50, 2)) for m in range(3)]
    assert torch.equal(together, torch.cat(alone))
    assert 0.4 < together.mean() < 0.6 and not torch.equal(alone[0], alone[1])


@pytest.mark.slow
def test_a_stacked_member_scores_like_a_lone_one(digits):
    """Stacked and lone members differ in their random draws, not in how well they learn."""
    X, y = digits[0][:240], digits[1][:240]
    scores = {}
    for size in ("auto", None):
        ensemble = small(n_members=3, max_epochs=5, stack_size=size).fit(X, y)
        scores[size] = [np.mean(m.predict(digits[0][240:]) == digits[1][240:])
                        for m in ensemble.members_]
    assert min(scores["auto"]) > 0.3 and min(scores[None]) > 0.3
    assert abs(np.mean(scores["auto"]) - np.mean(scores[None])) < 0.12


def test_members_stack_per_architecture_and_what_one_optimizer_cannot_tell_apart(digits):
    ensemble = small(member=["lenet5", "mlp"], n_members=5)
    members = ensemble.new_members()
    assert stack_key(members[0]) == stack_key(members[2]) != stack_key(members[1])
    assert ensemble._units(members, range(5), digits[0][:10], []) == [
        (True, [0, 2, 4]), (True, [1, 3])]
    other = members[2].set_params(lr=0.01)
    assert stack_key(members[0]) != stack_key(other)  # one optimizer: one lr
    fitted = ensemble.fit(digits[0][:100], digits[1][:100])
    assert [type(m).__name__ for m in fitted.members_][:2] == ["LeNet5Classifier",
                                                               "MLP3Classifier"]


def test_members_that_cannot_be_stacked_train_alone(digits):
    ensemble = small(member_params={"batch_size": 32, "compile": True})
    assert ensemble._units(ensemble.new_members(), [0, 1], digits[0][:10], []) == \
        [(False, [0]), (False, [1])]


def test_chunks_share_members_among_workers_and_respect_the_size():
    assert chunks(list(range(7)), 10) == [list(range(7))]
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunks(list(range(6)), 10, parts=2) == [[0, 1, 2], [3, 4, 5]]
    assert stack_size(small().new_members()[0], np.zeros((1, 784), np.uint8), limit=4) == 4


def test_a_stacked_fit_predicts_in_one_pass_what_its_members_predict(digits):
    X = digits[0][150:200]
    fitted = small(n_members=3).fit(digits[0][:150], digits[1][:150])
    members = np.stack([m.predict_proba(X) for m in fitted.members_])
    assert np.allclose(fitted.predict_proba(X), members.mean(axis=0), atol=1e-6)
    assert all(len(m.history) == 1 and m.history[-1, "valid_acc"] is not None
               for m in fitted.members_)


class CtrlCAt(Callback):
    """Real SIGINTs at the end of training batch ``batch`` of the stack: ``twice``, a second
    one while the first is being handled (mid-epoch, as a user pressing again)."""

    def __init__(self, batch, twice=False):
        self.batch, self.twice = batch, twice

    def on_train_begin(self, net, **kwargs):
        self.count_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        self.count_ += training
        if training and self.count_ == self.batch:
            signal.raise_signal(signal.SIGINT)
            if self.twice:
                signal.raise_signal(signal.SIGINT)


def test_a_second_ctrl_c_saves_no_unfinished_member_as_finished(digits, tmp_path):
    """skorch takes a second Ctrl-C as "training done" and returns; the members were not
    trained, so none is saved as finished, and resuming continues from the last epoch."""
    X, y = digits[0][:150], digits[1][:150]
    stopping = small(max_epochs=3, member_params={
        "batch_size": 32, "callbacks": [("ctrl_c", CtrlCAt(batch=6, twice=True))]})
    with pytest.raises(TrainingInterrupted, match="after 1 finished epoch"):
        fit_run(stopping, X, y, tmp_path)
    assert not list(tmp_path.glob("member-*/member.safetensors"))
    resumed = fit_run(small(max_epochs=3), X, y, tmp_path, resume=True)
    straight = small(max_epochs=3).fit(X, y)
    assert resumed.history[:, "valid_loss"] == straight.history[:, "valid_loss"]


class Killed(BaseException):
    """What a SIGKILL would do to the process: nothing after it runs."""


@pytest.mark.parametrize("vectorize", [False, pytest.param(True, marks=CUDA)])
def test_a_kill_while_checkpointing_resumes_to_the_same_stack(digits, tmp_path, monkeypatch,
                                                              vectorize):
    """Kagglecnn members with dropout and augmentation, killed while epoch 2's checkpoint is
    written: the stack's checkpoint is one unit (epoch 1 for all members), and the resumed
    run equals the uninterrupted one bit for bit (dropout's generator saved with it)."""
    X, y = digits[0][:120], digits[1][:120]
    recipe = {"member": "kagglecnn", "recipe": True, "max_epochs": 2,
              "stack_vectorize": vectorize, "member_params": {"batch_size": 32},
              "device": "cuda" if vectorize else "cpu"}
    straight = small(**recipe).fit(X, y)
    writes, write = [], checkpoints.write_tensors

    def dying(path, *args, **kwargs):
        writes.append(path)
        if len(writes) == 3:  # epoch 1: best and epoch tensors; epoch 2: best, then killed
            raise Killed
        return write(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "write_tensors", dying)
    with pytest.raises(Killed), stop_on_sigint():
        small(**recipe, member_callbacks=MemberCheckpoints(tmp_path)).fit(X, y)
    monkeypatch.setattr(checkpoints, "write_tensors", write)
    [folder] = tmp_path.glob("stack-*")
    assert folder.name == "stack-01-02" and [p.name for p in folder.glob("epoch-*")] == [
        "epoch-0001"]
    resumed = fit_run(small(**recipe), X, y, tmp_path, resume=True)
    assert resumed.history[:, "train_loss"] == straight.history[:, "train_loss"]
    assert np.array_equal(resumed.predict_proba(X), straight.predict_proba(X))


def test_an_old_per_member_checkpoint_says_in_one_line_why_it_cannot_resume(tmp_path):
    (tmp_path / "member-02" / "epoch-0003").mkdir(parents=True)
    store = MemberCheckpoints(tmp_path, resume=True)
    with pytest.raises(checkpoints.CheckpointError, match=r"member-02 holds member 2's own "
                                                          r"checkpoint \(epoch 3.*stack_size=None"):
        store.stack_callbacks([0, 1])
