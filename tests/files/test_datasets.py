"""Loading the MNIST family and CIFAR-10 from files the tests write, and `kagdigits data export`."""

import functools
import gzip
import hashlib
import http.server
import pickle
import threading

import numpy as np
import pytest

from kagdigits.cli.main import main
from kagdigits.errors import InputError
from kagdigits.files.datasets import MNIST_FILES, QMNIST_FILES, dataset_name, load_dataset
from kagdigits.files.kaggle_csv import read_test_csv, read_train_csv
from kagdigits.files.submission import read_labels_csv
from tests.files.test_idx import write_idx


@pytest.fixture(scope="module")
def split(digits):
    """Real digits as a tiny train (60) / test (30) split of (n, 28, 28) uint8 images."""
    X, y = digits
    X = X.reshape(-1, 28, 28)
    return X[:60], y[:60], X[60:90], y[60:90]


def write_mnist(folder, split, names=None, gz=True, labels=None):
    """The four IDX files of ``split`` in ``folder``; ``names`` maps the keys of MNIST_FILES."""
    names = names or {key: spellings[0] + (".gz" if gz else "")
                      for key, spellings in MNIST_FILES.items()}
    folder.mkdir(parents=True, exist_ok=True)
    X_train, y_train, X_test, y_test = split
    labels = labels or (lambda y: y.astype(np.uint8))
    write_idx(folder / names["train_images"], X_train)
    write_idx(folder / names["train_labels"], labels(y_train))
    write_idx(folder / names["test_images"], X_test)
    write_idx(folder / names["test_labels"], labels(y_test))
    return folder


def assert_loaded(data, split):
    X_train, y_train, X_test, y_test = split
    assert data.X_train.shape == (60, 1, 28, 28) and data.X_train.dtype == np.uint8
    assert data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.X_train[:, 0], X_train)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.X_test[:, 0], X_test)
    np.testing.assert_array_equal(data.y_test, y_test)


@pytest.mark.parametrize("name, layout", [
    ("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw"), ("kmnist", "KMNIST/raw"),
    ("fashion-mnist", "."), ("mnist", "MNIST"),
])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_family_from_torchvision_layout_or_plain_folder(tmp_path, split, name, layout, gz):
    write_mnist(tmp_path / layout, split, gz=gz)
    assert_loaded(load_dataset(name, tmp_path, download=False), split)


def test_dotted_file_names_as_on_other_mirrors(tmp_path, split):
    names = {key: spellings[2] for key, spellings in MNIST_FILES.items()}
    assert names["train_images"] == "train-images.idx3-ubyte"
    assert_loaded(load_dataset("mnist", write_mnist(tmp_path, split, names), download=False),
                  split)


def test_qmnist_labels_are_the_first_of_eight_columns(tmp_path, split):
    names = {key: spellings[1 if key.endswith("labels") else 0]  # gzipped labels
             for key, spellings in QMNIST_FILES.items()}

    def qmnist_labels(y):
        extra = np.arange(len(y) * 7, dtype=np.int32).reshape(-1, 7)  # writer, index, ...
        return np.column_stack([y.astype(np.int32), extra])

    write_mnist(tmp_path / "QMNIST" / "raw", split, names, labels=qmnist_labels)
    assert_loaded(load_dataset("qmnist", tmp_path, download=False), split)


def test_incomplete_folder_names_the_missing_files(tmp_path, split):
    folder = write_mnist(tmp_path / "MNIST" / "raw", split)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match=r"holds part of the mnist files but not "
                                         r"t10k-labels-idx1-ubyte \(or .gz\)"):
        load_dataset("mnist", tmp_path, download=False)


def test_labels_that_do_not_match_the_images(tmp_path, split):
    X_train, y_train, X_test, y_test = split
    write_mnist(tmp_path, (X_train, y_train[:-1], X_test, y_test))
    with pytest.raises(InputError, match="has 59 labels for 60 images"):
        load_dataset("mnist", tmp_path, download=False)


def test_images_file_in_place_of_labels(tmp_path, split):
    X_train, y_train, X_test, y_test = split
    write_mnist(tmp_path, (X_train, X_train, X_test, y_test), labels=lambda y: y.astype(np.uint8))
    with pytest.raises(InputError, match="expected one label per image"):
        load_dataset("mnist", tmp_path, download=False)


def test_no_files_and_no_download_is_one_clear_line(tmp_path):
    with pytest.raises(InputError) as info:
        load_dataset("kmnist", tmp_path, download=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"no dataset files under {tmp_path}" in message and "KMNIST/raw/" in message


def cifar_split(n_per_batch=3):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(6 * n_per_batch, 3, 32, 32)).astype(np.uint8)
    labels = rng.randint(0, 10, size=6 * n_per_batch)
    return images, labels


def write_cifar(folder, images, labels, binary):
    """CIFAR-10's six batches in the python (pickle) or binary format."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, X, y in zip(names, np.split(images, 6), np.split(labels, 6), strict=True):
        if binary:
            rows = np.column_stack([y.astype(np.uint8), X.reshape(len(X), -1)])
            (folder / f"{name}.bin").write_bytes(rows.tobytes())
        else:
            batch = {"data": X.reshape(len(X), -1), "labels": y.tolist(), "filenames": []}
            (folder / name).write_bytes(pickle.dumps(batch))


@pytest.mark.parametrize("folder, binary", [("cifar-10-batches-py", False),
                                            ("cifar-10-batches-bin", True), (".", False)])
def test_cifar10_batches_channels_first(tmp_path, folder, binary):
    images, labels = cifar_split()
    write_cifar(tmp_path / folder, images, labels, binary)
    data = load_dataset("cifar10", tmp_path, download=False)
    assert data.X_train.shape == (15, 3, 32, 32) and data.X_test.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(np.concatenate([data.X_train, data.X_test]), images)
    np.testing.assert_array_equal(np.concatenate([data.y_train, data.y_test]), labels)


def test_damaged_cifar_batch(tmp_path):
    images, labels = cifar_split()
    write_cifar(tmp_path / "cifar-10-batches-bin", images, labels, binary=True)
    path = tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InputError, match="data_batch_2.bin: not a readable CIFAR-10 batch"):
        load_dataset("cifar10", tmp_path, download=False)


def test_demo_is_a_named_dataset():
    data = load_dataset("demo")
    assert data.X_train.shape == (4000, 1, 28, 28) and data.X_test.shape == (1000, 1, 28, 28)
    assert np.bincount(data.y_test).tolist() == [100] * 10


@pytest.mark.parametrize("alias, name", [("Fashion_MNIST", "fashion-mnist"),
                                         ("FashionMNIST", "fashion-mnist"),
                                         ("CIFAR-10", "cifar10"), ("mnist", "mnist")])
def test_dataset_name_aliases(alias, name):
    assert dataset_name(alias) == name


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(InputError, match="unknown dataset 'svhn'; choose one of: mnist, "
                                         "fashion-mnist, kmnist, qmnist, cifar10, demo"):
        load_dataset("svhn")


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A loopback HTTP server; torchvision's FashionMNIST downloads from it. Yields its folder."""
    served = tmp_path / "mirror"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    import torchvision.datasets as tvd

    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    yield served
    server.shutdown()
    server.server_close()


def test_download_through_torchvision_from_a_loopback_mirror(tmp_path, split, mirror,
                                                              monkeypatch):
    import torchvision.datasets as tvd

    write_mnist(mirror, split)
    resources = [(p.name, hashlib.md5(p.read_bytes()).hexdigest())
                 for p in sorted(mirror.iterdir())]
    monkeypatch.setattr(tvd.FashionMNIST, "resources", resources)
    root = tmp_path / "data"
    assert_loaded(load_dataset("fashion-mnist", root), split)
    assert (root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()


def test_failed_download_is_one_clear_line(tmp_path, mirror):
    with pytest.raises(InputError) as info:  # the mirror serves nothing: HTTP 404
        load_dataset("fashion-mnist", tmp_path / "data")
    message = str(info.value)
    assert "\n" not in message
    assert "fashion-mnist: no dataset files under" in message
    assert "the download failed (" in message and "404" in message


@pytest.fixture
def mnist_root(tmp_path, split):
    return write_mnist(tmp_path / "root" / "MNIST" / "raw", split).parent.parent


def test_export_round_trip(tmp_path, split, mnist_root, capsys):
    out = tmp_path / "out"
    assert main(["data", "export", "mnist", "--root", str(mnist_root), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(out)
    X_train, y_train = read_train_csv(out / "train.csv")
    X_test = read_test_csv(out / "test.csv")
    y_test = read_labels_csv(out / "solution.csv")
    np.testing.assert_array_equal(X_train.reshape(-1, 28, 28), split[0])
    np.testing.assert_array_equal(y_train, split[1])
    np.testing.assert_array_equal(X_test.reshape(-1, 28, 28), split[2])
    np.testing.assert_array_equal(y_test, split[3])


def test_export_cifar_round_trip_keeps_channels_first(tmp_path, monkeypatch):
    images, labels = cifar_split(n_per_batch=2)
    write_cifar(tmp_path / "cifar-10-batches-py", images, labels, binary=False)
    monkeypatch.chdir(tmp_path)  # the default --out is data/<name>/
    assert main(["data", "export", "CIFAR-10", "--root", ".", "--no-download"]) == 0
    X_train, y_train = read_train_csv("data/cifar10/train.csv")
    assert X_train.shape == (10, 3072)
    np.testing.assert_array_equal(X_train.reshape(-1, 3, 32, 32), images[:10])
    np.testing.assert_array_equal(read_test_csv("data/cifar10/test.csv").reshape(-1, 3, 32, 32),
                                  images[10:])
    np.testing.assert_array_equal(read_labels_csv("data/cifar10/solution.csv"), labels[10:])


def test_export_never_overwrites_without_force(tmp_path, mnist_root, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "test.csv").write_text("mine\n")
    args = ["data", "export", "mnist", "--root", str(mnist_root), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "test.csv already exists; pass --force" in err
    assert (out / "test.csv").read_text() == "mine\n" and not (out / "train.csv").exists()
    assert main([*args, "--force"]) == 0
    assert read_test_csv(out / "test.csv").shape == (30, 784)


def test_export_without_files_offline_is_one_line(tmp_path, capsys):
    assert main(["data", "export", "qmnist", "--root", str(tmp_path), "--no-download",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kagdigits data: error: qmnist: no dataset files under")
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_gz_and_raw_side_by_side_read_the_same(tmp_path, split):
    """torchvision keeps both the .gz it downloaded and the extracted file."""
    folder = write_mnist(tmp_path / "MNIST" / "raw", split, gz=True)
    raw = folder / "train-images-idx3-ubyte"
    raw.write_bytes(gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes()))
    assert_loaded(load_dataset("mnist", tmp_path, download=False), split)
