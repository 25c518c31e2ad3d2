"""Crafted CIFAR-10 python batches: no code runs; genuine batches of every pickle protocol load;
malformed ones are one line.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import pytest

from tests.helpers import one_line

# -- CIFAR-10 python batches: no code runs (defect 2) --

def write_cifar_batches(folder, batch_bytes, protocol=4):
    """The six CIFAR-10 python batches in ``folder``: genuine ones, except ``data_batch_3``
    whose bytes are ``batch_bytes`` (None: genuine too)."""
    import pickle

    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.randint(0, 256, (2, 3072)).astype(np.uint8),
                 "labels": [1, 7], "batch_label": "training batch", "filenames": [b"a.png"]}
        data = pickle.dumps(batch, protocol=protocol)
        (folder / name).write_bytes(batch_bytes if name == "data_batch_3" and batch_bytes
                                    else data)


class _Planted:
    """An object whose unpickling calls ``target(*args)``."""

    def __init__(self, target, *args):
        self.target, self.args = target, args

    def __reduce__(self):
        return self.target, self.args


@pytest.mark.parametrize("target", ["os.system", "builtins.exec", "subprocess.call",
                                    "numpy.load", "torch.load"])
def test_planted_cifar_batch_runs_no_code(tmp_path, capsys, target):
    import builtins
    import importlib
    import pickle

    from kagdigits.cli.main import main

    marker = tmp_path / "pwned"
    module, name = target.rsplit(".", 1)
    function = getattr(builtins if module == "builtins" else importlib.import_module(module),
                       name)
    payload = {"exec": f"open({str(marker)!r}, 'w')", "system": f"touch {marker}",
               "call": ["touch", str(marker)]}.get(name, str(marker))
    planted = {"data": _Planted(function, payload), "labels": [1]}
    write_cifar_batches(tmp_path / "cifar-10-batches-py", pickle.dumps(planted))
    code = main(["data", "export", "cifar10", "--root", str(tmp_path), "--no-download",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists()
    assert err.count("\n") == 1 and "data_batch_3: refused" in err and target.split(".")[-1] in err
    assert not (tmp_path / "out" / "train.csv").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_genuine_cifar_batches_of_every_protocol_load(tmp_path, protocol):
    from kagdigits.files.datasets import load_dataset

    write_cifar_batches(tmp_path / "cifar-10-batches-py", None, protocol=protocol)
    data = load_dataset("cifar10", tmp_path, download=False)
    assert data.X_train.shape == (10, 3, 32, 32) and data.y_test.tolist() == [1, 7]


@pytest.mark.parametrize("batch", [{"data": [[1] * 3072], "labels": ["x"]}, ["not a dict"],
                                   {"labels": [1]}, b"\x80\x04truncated"])
def test_malformed_cifar_batch_is_one_line(tmp_path, batch):
    import pickle

    from kagdigits.errors import InputError
    from kagdigits.files.datasets import load_dataset

    data = batch if isinstance(batch, bytes) else pickle.dumps(batch)
    write_cifar_batches(tmp_path / "cifar-10-batches-py", data)
    with pytest.raises(InputError, match="data_batch_3: not a readable CIFAR-10 batch") as info:
        load_dataset("cifar10", tmp_path, download=False)
    one_line(info)
