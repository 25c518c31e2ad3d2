"""The ensemble: averaged member probabilities, bagged members, TTA, pseudo-labels, CLI."""

import pickle
import signal

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from skorch.callbacks import Callback

from kagdigits import EnsembleClassifier, LeNet5Classifier, MLP3Classifier
from kagdigits.cli.main import main
from kagdigits.cli.training import fit_in_run
from kagdigits.errors import InputError, KagdigitsError
from kagdigits.files.submission import read_labels_csv
from kagdigits.models.augment import Augment
from kagdigits.models.inputs import to_images
from kagdigits.runs.checkpoints import MemberCheckpoints, TrainingInterrupted
from kagdigits.runs.config import RunConfig
from kagdigits.runs.persist import load_model, save_model
from kagdigits.runs.rundir import RunDir
from tests.helpers import one_line
from tests.helpers import small_ensemble as small

MEMBER = {"batch_size": 32}  # small_ensemble's member_params


@pytest.fixture(scope="module")
def fitted(digits):
    return small(n_members=3).fit(digits[0][:150], digits[1][:150])


def test_predict_proba_is_the_mean_of_the_members(fitted, digits):
    X = digits[0][150:200]
    proba = fitted.predict_proba(X)
    members = np.stack([m.predict_proba(X) for m in fitted.members_])
    assert np.allclose(proba, members.mean(axis=0), atol=1e-7)
    assert not np.allclose(members[0], members[1])  # the members differ
    assert np.array_equal(fitted.predict(X), proba.argmax(axis=1))
    assert np.array_equal(fitted.classes_, np.arange(10))


def test_each_member_has_its_own_seed_and_validation_split(fitted, digits):
    X, y = digits[0][:150], digits[1][:150]
    assert [m.random_state for m in fitted.members_] == [0, 1, 2]
    held_out = [frozenset(m.get_split_datasets(X, y)[1].indices) for m in fitted.members_]
    assert len(set(held_out)) == 3 and all(len(rows) == 15 for rows in held_out)
    assert all(type(m) is LeNet5Classifier and m.max_epochs == 1 for m in fitted.members_)
    assert len(fitted.history) == 3 and fitted.history[:, "member"] == [0, 1, 2]


def test_the_first_members_do_not_depend_on_n_members(fitted, digits):
    """Member i of a 3-member ensemble is member i of a 2-member one (what the accuracy
    bench's ``mix`` relies on to score smaller ensembles from saved probabilities): the
    same inputs (tests/models/test_stacking.py) and, to rounding, the same predictions
    (a stack's arithmetic may round differently; here, on the CPU, it is exact)."""
    X = digits[0][150:200]
    two = small().fit(digits[0][:150], digits[1][:150])
    for small_member, member in zip(two.members_, fitted.members_, strict=False):
        assert np.allclose(small_member.predict_proba(X), member.predict_proba(X), atol=1e-5)


def test_a_list_of_models_is_a_mix_taken_in_turn():
    members = EnsembleClassifier(member=["lenet5", "mlp"], n_members=3).new_members()
    assert [type(m) for m in members] == [LeNet5Classifier, MLP3Classifier, LeNet5Classifier]
    template = LeNet5Classifier(lr=0.01)
    members = EnsembleClassifier(member=template, n_members=2, max_epochs=4,
                                 member_params={"batch_size": 16}).new_members()
    assert all((m.lr, m.max_epochs, m.batch_size) == (0.01, 4, 16) for m in members)
    assert (template.max_epochs, template.batch_size) == (30, 128)  # the template is unchanged


def test_clone_and_pickle(fitted, digits):
    X = digits[0][150:200]
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params() and not hasattr(twin, "members_")
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    refit = twin.fit(digits[0][:150], digits[1][:150])  # the same seeds: the same ensemble
    assert np.allclose(refit.predict_proba(X), fitted.predict_proba(X), atol=1e-6)


def test_saved_as_a_kd_file_and_loaded(fitted, digits, tmp_path):
    X = digits[0][150:200]
    loaded = load_model(save_model(fitted, tmp_path / "ensemble.kd"), device="cpu")
    assert type(loaded) is EnsembleClassifier and loaded.n_members == 3
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert np.array_equal(loaded.classes_, fitted.classes_)


def test_works_in_cross_val_score(digits):
    scores = cross_val_score(small(), digits[0][:200], digits[1][:200], cv=2)
    assert scores.shape == (2,) and ((scores > 0.1) & (scores <= 1)).all()


def test_test_time_augmentation_averages_over_augmented_copies(fitted, digits):
    X = digits[0][150:182]
    tta = clone(fitted).set_params(tta=2, tta_params={"rotation": 8})
    tta.members_, tta.classes_ = fitted.members_, fitted.classes_
    proba = tta.predict_proba(X)
    assert np.array_equal(proba, tta.predict_proba(X))  # seeded: the same copies every time
    images = torch.from_numpy(to_images(X))
    generator = torch.Generator().manual_seed(0)
    views = [images] + [Augment(rotation=8)(images, generator) for _ in range(2)]
    expected = np.mean([m.predict_proba(v.numpy()) for v in views for m in fitted.members_],
                       axis=0)
    assert np.allclose(proba, expected, atol=1e-6)
    assert not np.allclose(proba, fitted.predict_proba(X))


def test_pseudo_labelling_adds_confident_unlabelled_rows(digits):
    X, y = digits[0][:200], digits[1][:200].copy()
    y[150:] = -1  # unlabelled, as sklearn.semi_supervised marks them
    with pytest.raises(InputError, match="50 unlabelled rows"):
        small().fit(X, y)
    everything = small(pseudo_threshold=0.0).fit(X, y)
    assert everything.n_pseudo_labelled_ == 50
    # 90% of 200 rows is 6 batches of 32; of the 150 labelled rows alone, 5
    assert all(m.history[-1, "train_batch_count"] == 6 for m in everything.members_)
    none = small(pseudo_threshold=1.01).fit(X, y)
    assert none.n_pseudo_labelled_ == 0
    assert all(m.history[-1, "train_batch_count"] == 5 for m in none.members_)
    assert small().fit(X[:150], y[:150]).n_pseudo_labelled_ == 0


def test_bad_settings_are_one_line_errors():
    with pytest.raises(InputError, match="n_members: expected an integer >= 1, got 0"):
        small(n_members=0).initialize()
    with pytest.raises(ValueError, match="unknown model 'lenet'"):
        small(member="lenet").initialize()


def test_cli_builds_it_with_set_and_checks_names():
    args = RunConfig("fit", model="ensemble", device="cpu", seed=4, epochs=2,
                     params={"n_members": 3, "member": "lenet5", "member_params": {"lr": 1e-3}})
    ensemble = args.make_estimator()
    assert (ensemble.n_members, ensemble.member, ensemble.max_epochs) == (3, "lenet5", 2)
    assert [m.random_state for m in ensemble.new_members()] == [4, 5, 6]
    assert all(m.lr == 1e-3 for m in ensemble.new_members())
    args.params = {"nmembers": 3}
    with pytest.raises(KagdigitsError, match="did you mean n_members"):
        args.make_estimator()
    args.params = {"member_params": {"lr_schedul": "onecycle"}}
    with pytest.raises(KagdigitsError, match="lr_schedul"):
        args.make_estimator()


def test_cli_submission_checkpoints_each_member(tiny_kaggle_files, tmp_path, capsys,
                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    assert main(["submission", "--model", "ensemble", "--train", str(train), "--test",
                 str(test), "--epochs", "1", "--set", "n_members=2", "--set", "member=lenet5",
                 "--set", "member_params={'batch_size': 64}", "--out", "subs"]) == 0
    out = capsys.readouterr().out
    assert "Ensemble member 2/2 (LeNet5Classifier, seed 1): 1 epoch, best valid_acc" in out
    assert "Summary: 2 members; epochs run per member: 1, 1 (2 in all); members' best " \
           "validation accuracy" in out and "the ensemble itself has no validation score" in out
    assert " on auto" not in out and ("as one stack on cpu" in out
                                      or "as one stack on cuda" in out)
    written = out.strip().splitlines()[-1]
    assert written.startswith("subs/ensemble-") and len(read_labels_csv(written, 100)) == 100
    [run] = (tmp_path / "runs").iterdir()
    # finished: the members' checkpoints (member-01/, member-02/) gave way to the model file
    assert sorted(p.name for p in run.iterdir()) == [".lock", "model.kd", "result.json", "run.json"]


class CtrlCAtEpoch(Callback):
    """Press Ctrl-C (a real SIGINT) at the end of epoch ``epoch`` (of a stack: of all its
    members)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            signal.raise_signal(signal.SIGINT)


def test_an_interrupted_ensemble_resumes_to_the_same_result(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = digits[0][:150], digits[1][:150]
    args = RunConfig("submission", model="ensemble")
    straight = small(max_epochs=3).fit(X, y)
    stopping = small(max_epochs=3, member_params={
        **MEMBER, "callbacks": [("ctrl_c", CtrlCAtEpoch(2))]})
    with pytest.raises(TrainingInterrupted, match="after 2 finished epoch"):
        fit_in_run(args, stopping, X, y)
    [run] = (tmp_path / "runs").iterdir()
    resumed = small(max_epochs=3)
    fit_in_run(args, resumed, X, y, run=RunDir.open(run))
    assert resumed.history[:, "valid_loss"] == straight.history[:, "valid_loss"]
    assert np.array_equal(resumed.predict_proba(X), straight.predict_proba(X))


@pytest.mark.parametrize("n_jobs", [None, pytest.param(2, marks=pytest.mark.slow)])
def test_trained_members_are_saved_here_and_resuming_skips_them(digits, tmp_path, capsys,
                                                                n_jobs):
    X, y = digits[0][:150], digits[1][:150]
    first = small(n_jobs=n_jobs, member_callbacks=MemberCheckpoints(tmp_path)).fit(X, y)
    for folder in ("member-01", "member-02"):  # the model file replaced the epoch states
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["member.safetensors"]
    again = small(n_jobs=n_jobs, verbose=1,
                  member_callbacks=MemberCheckpoints(tmp_path, resume=True)).fit(X, y)
    out = capsys.readouterr().out
    assert "Resuming: 2 of 2 members were trained already; training the other 0." in out
    assert "Ensemble:" not in out  # nothing left to train, so no cost estimate
    assert again.history[:, "valid_loss"] == first.history[:, "valid_loss"]
    assert np.allclose(again.predict_proba(X), first.predict_proba(X), atol=1e-6)


def test_resuming_trains_only_the_members_not_saved(digits, tmp_path, capsys):
    X, y = digits[0][:150], digits[1][:150]
    straight = small(n_members=3).fit(X, y)
    small(member_callbacks=MemberCheckpoints(tmp_path)).fit(X, y)  # members 1 and 2 only
    resumed = small(n_members=3, verbose=1,
                    member_callbacks=MemberCheckpoints(tmp_path, resume=True)).fit(X, y)
    assert "Resuming: 2 of 3 members were trained already; training the other 1." in \
        capsys.readouterr().out
    assert (tmp_path / "member-03" / "member.safetensors").exists()
    assert np.allclose(resumed.predict_proba(X), straight.predict_proba(X), atol=1e-6)


def test_members_follow_the_recipe_and_member_params_update_it_key_by_key():
    from kagdigits.models.ensemble import RECIPE

    [member] = EnsembleClassifier(n_members=1, member_params={"lr": 2e-3}).new_members()
    assert member.lr == 2e-3 and member.augment__rotation == RECIPE["augment__rotation"] == 10
    assert (member.max_epochs, member.batch_size, member.lr_decay) == (45, 64, 0.95)
    assert (member.lr_schedule, member.patience) == ("exponential", None)
    assert EnsembleClassifier().n_members == 15
    [own] = EnsembleClassifier(n_members=1, recipe=False).new_members()
    assert own.ema == 0.99 and member.ema is None  # kagglecnn's own defaults, or the recipe
    assert (own.lr_schedule, own.patience, own.max_epochs) == ("onecycle", None, 60)


def test_the_estimate_groups_members_as_fit_does_and_fit_prints_none(digits, capsys):
    line = small().estimated_cost(digits[0][:100])
    assert line.startswith("Ensemble: 2 members x up to 1 epochs on 100 rows, about ")
    assert "as one stack on cpu, " in line and "at once" not in line
    line = small(stack_size=None).estimated_cost(digits[0][:100])  # not stacked
    assert "one after another on cpu, " in line
    small(verbose=1).fit(digits[0][:100], digits[1][:100])  # the CLI prints it, not fit
    assert "Ensemble:" not in capsys.readouterr().out


def test_the_estimate_says_when_members_train_at_once(digits):
    line = small(n_jobs=2).estimated_cost(digits[0][:100])
    assert line.endswith(
        "; n_jobs=2 trains several at once (early stopping can end members sooner).")


def test_the_estimate_of_members_without_early_stopping_promises_no_early_end(digits):
    line = EnsembleClassifier(n_members=2, max_epochs=1, device="cpu").estimated_cost(
        digits[0][:100])
    assert line.startswith("Ensemble: 2 members x 1 epochs on 100 rows, about ")
    assert "up to" not in line and "early stopping" not in line


def test_a_dataframe_fit_keeps_the_input_contract(digits, recwarn):
    """Like every estimator: feature names and count learnt, no member's class in a warning,
    a frame with its columns in another order refused."""
    import pandas as pd

    X = pd.DataFrame(digits[0][:150], columns=[f"pixel{i}" for i in range(784)])
    ensemble = small().fit(X, digits[1][:150])
    assert ensemble.n_features_in_ == 784 and list(ensemble.feature_names_in_) == list(X.columns)
    ensemble.predict(X)
    assert not [w for w in recwarn if "LeNet5Classifier" in str(w.message)]
    with pytest.raises(InputError, match="same order"):
        ensemble.predict(X[X.columns[::-1]])


@pytest.mark.parametrize("params, message", [
    ({"n_jobs": 0}, "n_jobs: expected an integer other than 0"),
    ({"member_params": [1]}, "member_params: expected a dict or None, got [1]"),
    ({"member": ["lenet5", 5]}, "member: expected a model name, an unfitted estimator or"),
])
def test_bad_ensemble_parameters_are_one_line_errors(params, message):
    with pytest.raises(InputError) as info:
        small(**params).initialize()
    assert message in one_line(info)
