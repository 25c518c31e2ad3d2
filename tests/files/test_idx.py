"""The IDX reader on files the tests write: raw and gzip, good and broken."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from kagdigits.errors import InputError
from kagdigits.files.idx import IDX_DTYPES, read_idx

FASHION_TEST_IMAGES = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def idx_bytes(array):
    """An array as the bytes of an IDX file (big-endian header and values)."""
    array = np.asarray(array)
    code = next(c for c, dt in IDX_DTYPES.items() if dt == array.dtype.newbyteorder(">"))
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz=None):
    """Write ``array`` as an IDX file; gzip it when ``gz`` (default: the name ends in .gz)."""
    data = idx_bytes(array)
    gz = str(path).endswith(".gz") if gz is None else gz
    Path(path).write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def images():
    return np.random.RandomState(0).randint(0, 256, size=(5, 28, 28)).astype(np.uint8)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_reads_raw_and_gzip_images(tmp_path, images, name):
    values = read_idx(write_idx(tmp_path / name, images))
    assert values.dtype == np.uint8 and values.shape == (5, 28, 28)
    np.testing.assert_array_equal(values, images)
    values[0, 0, 0] = 1  # the result is an ordinary writable array


def test_gzip_is_recognised_by_content_not_name(tmp_path, images):
    path = write_idx(tmp_path / "images-idx3-ubyte", images, gz=True)
    np.testing.assert_array_equal(read_idx(path), images)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_every_idx_type_comes_back_in_native_byte_order(tmp_path, dtype):
    array = (np.arange(24).reshape(3, 8) * 7 - 20).astype(dtype)  # QMNIST labels are (n, 8) int32
    values = read_idx(write_idx(tmp_path / "x-idx2-int", array))
    assert values.dtype == np.dtype(dtype) and values.dtype.isnative
    np.testing.assert_array_equal(values, array)


@pytest.mark.parametrize("magic", [b"\x00\x00\x08\x00", b"\x01\x00\x08\x03", b"\x00\x00\x07\x03",
                                   b"PK\x03\x04"])
def test_bad_magic_number_is_one_clear_error(tmp_path, images, magic):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(magic + idx_bytes(images)[4:])
    with pytest.raises(InputError, match=f"not an IDX file \\(magic number 0x{magic.hex()}"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data_is_one_clear_error(tmp_path, images, gz):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(idx_bytes(images)[:-100])
    if gz:
        path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(InputError, match=r"truncated: the header promises \(5, 28, 28\) values "
                                         r"\(3,920 bytes\) but the file holds 3,820"):
        read_idx(path)


def test_cut_gzip_stream_is_one_clear_error(tmp_path, images):
    path = tmp_path / "cut-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images))[:-50])
    with pytest.raises(InputError, match="damaged or truncated gzip file"):
        read_idx(path)


@pytest.mark.parametrize("content, message", [
    (b"", "empty or truncated"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x05", "truncated IDX header"),
])
def test_empty_file_and_short_header(tmp_path, content, message):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_idx(path)


def test_absurd_sizes_in_the_header(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + b"\xff" * 12 + b"\x00" * 16)
    with pytest.raises(InputError, match="more than fit in memory"):
        read_idx(path)


def test_trailing_bytes_are_an_error(tmp_path, images):
    path = tmp_path / "long-idx3-ubyte"
    path.write_bytes(idx_bytes(images) + b"\x00")
    with pytest.raises(InputError, match="bytes after the"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_idx(tmp_path / "nothing-idx3-ubyte")


@pytest.mark.skipif(not FASHION_TEST_IMAGES.exists(), reason="dataset-fashion-mnist not installed")
def test_reads_the_real_fashion_mnist_test_images():
    images = read_idx(FASHION_TEST_IMAGES)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert 0 < images.mean() < 255
