"""ONNX export: the graph gives the estimator's probabilities for any batch size, carries
its classes, checks itself with onnxruntime, and refuses what it cannot reproduce."""

import json

import numpy as np
import pytest

REASON = "the serve extra is not installed: pip install -e .[serve]"
onnx = pytest.importorskip("onnx", reason=REASON)
onnxruntime = pytest.importorskip("onnxruntime", reason=REASON)

from kagdigits import EnsembleClassifier, LeNet5Classifier, list_models  # noqa: E402
from kagdigits.cli.main import main  # noqa: E402
from kagdigits.errors import KagdigitsError  # noqa: E402
from kagdigits.files.kaggle_csv import write_kaggle_csv  # noqa: E402
from kagdigits.runs.onnx import export_onnx  # noqa: E402
from kagdigits.runs.persist import save_model  # noqa: E402

FP32 = dict(max_epochs=1, train_split=None, verbose=0, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def exported(lenet5, tmp_path_factory):
    return export_onnx(lenet5, tmp_path_factory.mktemp("onnx") / "lenet5.onnx")


def run_onnx(path, X):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pixels = (X.reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32)
    return session.run(None, {"pixels": pixels})


def test_the_graph_gives_the_estimators_probabilities_at_any_batch_size(lenet5, exported, digits):
    X, _ = digits
    check = exported
    assert check.n_images == 256 and check.max_difference <= 1e-4
    assert check.outputs == ("probabilities", "label")
    for rows in (X[:1], X[:7], X[:300]):
        probabilities, labels = run_onnx(check.path, rows)
        np.testing.assert_allclose(probabilities, lenet5.predict_proba(rows), atol=1e-4)
        assert np.array_equal(labels, lenet5.classes_[lenet5.predict_proba(rows).argmax(1)])


def test_the_file_holds_its_classes_and_input_scaling(exported):
    model = onnx.load(exported.path)
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["classes"]) == list(range(10))
    assert meta["kagdigits_model"] == "lenet5" and "divided by 255" in meta["input"]
    [pixels] = model.graph.input
    dims = pixels.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert pixels.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


@pytest.mark.slow
def test_an_ensemble_is_one_graph_of_its_members_mean(digits, tmp_path):
    X, y = digits
    ensemble = EnsembleClassifier(member=["lenet5", "mlp"], n_members=2, verbose=0,
                                  device="cpu", member_params=FP32).fit(X, y)
    check = export_onnx(ensemble, tmp_path / "ensemble.onnx")
    probabilities, labels = run_onnx(check.path, X[:50])
    np.testing.assert_allclose(probabilities, ensemble.predict_proba(X[:50]), atol=1e-4)
    assert np.array_equal(labels, ensemble.predict(X[:50]))
    ensemble.set_params(tta=2)
    with pytest.raises(KagdigitsError, match="ensemble model to ONNX with tta=2.*set tta=0"):
        export_onnx(ensemble, tmp_path / "tta.onnx")
    assert not (tmp_path / "tta.onnx").exists()


@pytest.mark.parametrize("name", [n for n in list_models() if n != "ensemble"])
def test_every_registered_network_exports(name, digits, tmp_path, fitted_network):
    X, _ = digits
    clf = fitted_network(name)  # fp32, one epoch on X[:64]
    check = export_onnx(clf, tmp_path / f"{name}.onnx", images=X[:32])
    np.testing.assert_allclose(run_onnx(check.path, X[:32])[0], clf.predict_proba(X[:32]),
                               atol=1e-4)


def test_refusals_name_the_model(lenet5, digits, tmp_path):
    X, y = digits
    logits = LeNet5Classifier(predict_nonlinearity=None, **FP32).fit(X[:64], y[:64])
    with pytest.raises(KagdigitsError, match="lenet5 model to ONNX: its predict_proba is not"):
        export_onnx(logits, tmp_path / "logits.onnx")
    with pytest.raises(KagdigitsError, match="not fitted"):
        export_onnx(LeNet5Classifier(), tmp_path / "unfitted.onnx")
    with pytest.raises(KagdigitsError, match="failed its check on 256 images.*not written"):
        export_onnx(lenet5, tmp_path / "strict.onnx", atol=-1.0)  # no difference is < -1
    (tmp_path / "taken.onnx").write_bytes(b"x")
    with pytest.raises(KagdigitsError, match="already exists"):
        export_onnx(lenet5, tmp_path / "taken.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.onnx"]


def test_the_command_exports_and_checks(lenet5, tmp_path, capsys):
    model = save_model(lenet5, tmp_path / "lenet5.kd")
    assert main(["export", str(model), "--onnx", str(tmp_path / "lenet5.onnx")]) == 0
    out = capsys.readouterr().out
    assert "on 256 demo digits: same labels as PyTorch (fp32)" in out
    assert out.splitlines()[-1] == str(tmp_path / "lenet5.onnx")
    assert main(["export", str(model), "--onnx", str(tmp_path / "lenet5.onnx")]) == 2
    assert "pass --force" in capsys.readouterr().err


def test_a_colour_model_needs_its_own_images(tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, (40, 3072), dtype=np.uint8)
    clf = LeNet5Classifier(module__in_chans=3, **FP32).fit(X.reshape(40, 3, 32, 32),
                                                           np.arange(40) % 10)
    model = save_model(clf, tmp_path / "cifar.kd")
    out = tmp_path / "cifar.onnx"
    assert main(["export", str(model), "--onnx", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not take images of shape (1, 28, 28)" in err and "--check" in err
    write_kaggle_csv(tmp_path / "test.csv", X[:20])
    assert main(["export", str(model), "--onnx", str(out), "--check",
                 str(tmp_path / "test.csv")]) == 0
    assert "on 20 images" in capsys.readouterr().out
