"""One answer to "is this an ensemble": the kind the registry records for each model."""

import json

import numpy as np
import pytest

from kagdigits.models import REGISTRY, EnsembleClassifier, LeNet5Classifier
from kagdigits.models.base import DigitClassifier
from kagdigits.registry import is_ensemble, model_kind, register_model
from kagdigits.runs.config import RunConfig
from kagdigits.runs.folders import RUN_INFO, run_info, start_run


def test_every_registered_model_has_its_kind():
    kinds = {name: model_kind(name) for name in REGISTRY}
    assert kinds.pop("ensemble") == "ensemble" and set(kinds.values()) == {"single"}
    assert is_ensemble("ensemble") and is_ensemble(EnsembleClassifier)
    assert is_ensemble(EnsembleClassifier(member="lenet5", n_members=1))  # of one: an ensemble
    assert not is_ensemble(LeNet5Classifier()) and not is_ensemble("lenet5")


def test_subclasses_inherit_the_kind_and_others_are_single():
    class MyEnsemble(EnsembleClassifier):
        pass

    assert is_ensemble(MyEnsemble()) and not is_ensemble(DigitClassifier)
    assert model_kind(object()) == "single"
    with pytest.raises(ValueError, match="model kind 'many' is not one of single, ensemble"):
        register_model("many", kind="many")


@pytest.mark.parametrize("model, kind", [("lenet5", "single"), ("ensemble", "ensemble")])
def test_run_json_records_the_kind(model, kind, tmp_path):
    X, y = np.zeros((2, 784), np.uint8), np.array([0, 1])
    run_dir = start_run(RunConfig(command="fit", model=model), X, y, root=tmp_path)
    assert json.loads((run_dir / RUN_INFO).read_text())["kind"] == kind


def test_runs_are_listed_by_the_recorded_kind(tmp_path):
    """An ensemble has no validation accuracy of its own, whatever its folders hold; a run
    started before run.json recorded the kind is told by the registry."""
    X, y = np.zeros((2, 784), np.uint8), np.array([0, 1])
    for model, kind in [("lenet5", "ensemble"), ("lenet5", None), ("ensemble", None)]:
        run_dir = start_run(RunConfig(command="fit", model=model), X, y, root=tmp_path)
        info = json.loads((run_dir / RUN_INFO).read_text())
        info["kind"] = kind
        if kind is None:
            del info["kind"]
        (run_dir / RUN_INFO).write_text(json.dumps(info))
        epoch = run_dir / "epoch-0001"
        epoch.mkdir()
        (epoch / "history.json").write_text(json.dumps([{"epoch": 1, "valid_acc": 0.5}]))
        expected = None if "ensemble" in (model, kind) else 0.5
        assert run_info(run_dir).valid_acc == expected
