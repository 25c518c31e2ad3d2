""".kd model files: every genuine file loads whatever its header starts with; pickles, zips,
garbage and crafted code parameters are refused in one line.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import pytest

from tests.helpers import one_line, small_ensemble

# -- .kd model files: every genuine file loads; crafted params are refused (defects 1, 11) --

def header_length(path):
    with open(path, "rb") as f:
        return int.from_bytes(f.read(8), "little")


@pytest.mark.parametrize("model", ["ensemble", "lenet5", "mlp", "resnet18", "vgg", "allcnn",
                                   "wrn", "kagglecnn"])
def test_every_registered_model_saves_and_loads(model, digits, tmp_path, fitted_network):
    import numpy as np

    from kagdigits.models import REGISTRY
    from kagdigits.runs.persist import load_model, save_model

    assert model in REGISTRY
    X, y = digits[0][:32], digits[1][:32]
    fitted = (small_ensemble(member_params={"train_split": None, "batch_size": 16}).fit(X, y)
              if model == "ensemble" else fitted_network(model))  # (one epoch on X[:64])
    path = save_model(fitted, tmp_path / f"{model}.kd")
    loaded = load_model(path, device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(X[:8]), fitted.predict_proba(X[:8]),
                               atol=1e-5)


def test_the_registry_is_covered():
    from kagdigits.models import REGISTRY

    assert sorted(REGISTRY) == sorted(["ensemble", "lenet5", "mlp", "resnet18", "vgg",
                                       "allcnn", "wrn", "kagglecnn"])


def with_header_length(src, dst, length):
    """``src`` rewritten with its JSON header padded (spaces) to ``length`` bytes."""
    data = src.read_bytes()
    old = int.from_bytes(data[:8], "little")
    header = data[8:8 + old].rstrip(b" ")
    assert len(header) <= length
    dst.write_bytes(length.to_bytes(8, "little") + header + b" " * (length - len(header))
                    + data[8 + old:])
    return dst


@pytest.fixture(scope="module")
def lenet_kd(lenet5_kd, lenet5):
    return lenet5_kd, lenet5


@pytest.mark.parametrize("length", [
    0x2A80,  # resnet18's default header: first byte 0x80, pickle's protocol marker
    0x1080, 0x4B50,  # "PK": a zip (torch.save) file's first two bytes
    0x0A50, 0x1250, 0x8B1F,  # gzip's magic 1f 8b
    0x107B,  # "{"
    0x1000, 0x10FF, 0x1100,
])
def test_genuine_files_load_whatever_their_header_length_starts_with(lenet_kd, tmp_path,
                                                                     digits, length):
    import numpy as np

    from kagdigits.runs.persist import load_model

    src, fitted = lenet_kd
    path = with_header_length(src, tmp_path / "m.kd", length)
    assert header_length(path) == length and path.read_bytes()[0] == length & 0xFF
    loaded = load_model(path, device="cpu")
    X = digits[0][:4]
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("data", [b"\x80\x04\x95" + b"\0" * 64, b"PK\x03\x04" + b"\0" * 64,
                                  b"\x80" + b"\0" * 7 + b"{}", b"\xff" * 16])
def test_pickles_zips_and_garbage_are_still_refused(tmp_path, data):
    from kagdigits.errors import InputError
    from kagdigits.runs.persist import load_model

    path = tmp_path / "m.kd"
    path.write_bytes(data)
    with pytest.raises(InputError, match="m.kd: (is a pickle|is not a kagdigits)") as info:
        load_model(path)
    one_line(info)


def with_params(src, dst, **changes):
    """``src`` with its stored parameters changed (JSON values; None removes one)."""
    import json

    from safetensors import safe_open

    from kagdigits.runs.tensors import read_tensors, write_tensors

    with safe_open(str(src), "pt") as f:
        metadata = f.metadata()
    params = json.loads(metadata["params"])
    params.update(changes)
    write_tensors(dst, read_tensors(src), {**metadata, "params": json.dumps(params)})
    return dst


@pytest.mark.parametrize("name, value", [
    ("dataset", "x"), ("dataset", 3), ("predict_nonlinearity", "softmax"),
    ("predict_nonlinearity", 1), ("iterator_valid", "BatchIterator"), ("module", "LeNet5"),
    ("train_split", 0.5), ("train_split", "x"), ("callbacks", "x"),
    ("criterion", "CrossEntropyLoss"), ("optimizer", 3),
    ("module", {"class": "torch.nn.CrossEntropyLoss"}),
])
def test_crafted_code_params_are_refused_at_load_in_one_line(lenet_kd, tmp_path, name, value):
    from kagdigits.errors import InputError
    from kagdigits.runs.persist import load_model

    path = with_params(lenet_kd[0], tmp_path / "m.kd", **{name: value})
    with pytest.raises(InputError, match=f"m.kd: sets parameter {name} to") as info:
        load_model(path, device="cpu")
    one_line(info)


@pytest.mark.parametrize("name, value", [("predict_nonlinearity", None),
                                         ("train_split", None)])
def test_plain_choices_of_code_params_still_load(lenet_kd, tmp_path, digits, name, value):
    from kagdigits.runs.persist import load_model

    path = with_params(lenet_kd[0], tmp_path / "m.kd", **{name: value})
    assert load_model(path, device="cpu").predict_proba(digits[0][:2]).shape == (2, 10)
