"""Reading IDX files, the format of MNIST, Fashion-MNIST, KMNIST and QMNIST.

An IDX file is a big-endian header -- two zero bytes, a type code, the number of
dimensions, then one 4-byte size per dimension -- followed by the values.
Files may be gzip-compressed (recognised by their first bytes, whatever their name).
Every problem raises an :class:`~kagdigits.errors.InputError` naming the file.
"""

import gzip
import zlib

import numpy as np

from kagdigits.errors import InputError

#: IDX type code -> big-endian numpy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def _open(path):
    with open(path, "rb") as f:
        compressed = f.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _read_exactly(f, buffer):
    """Fill ``buffer`` from ``f``; return the number of bytes read (less at end of file)."""
    view, filled = memoryview(buffer).cast("B"), 0
    while filled < len(view):
        n = f.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def _read_header(f, path):
    magic = f.read(4)
    if len(magic) < 4:
        raise InputError(f"{path}: the file is empty or truncated (no IDX header); "
                         "download it again")
    if magic[:2] != b"\0\0" or magic[2] not in IDX_DTYPES or not 1 <= magic[3] <= 4:
        raise InputError(
            f"{path}: not an IDX file (magic number 0x{magic.hex()}, expected "
            "0x000008NN for uint8 data, e.g. 0x00000803 for images, 0x00000801 for labels); "
            "pass the MNIST-style ...-idx3-ubyte / ...-idx1-ubyte files")
    ndim = magic[3]
    sizes = f.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise InputError(f"{path}: truncated IDX header; download the file again")
    return IDX_DTYPES[magic[2]], tuple(int(s) for s in np.frombuffer(sizes, ">u4"))


def read_idx(path):
    """Read an IDX file (raw or gzip) into a numpy array in native byte order.

    Parameters
    ----------
    path : str or Path
        The file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    ndarray
        Shape and dtype as the header says (uint8 for the MNIST family's images and labels).

    Raises
    ------
    InputError
        Missing file, wrong magic number, impossible sizes, truncated data or trailing bytes.
    """
    try:
        with _open(path) as f:
            dtype, shape = _read_header(f, path)
            try:
                values = np.empty(shape, dtype=dtype)
            except (MemoryError, ValueError):
                raise InputError(f"{path}: the header promises {shape} values, more than fit "
                                 "in memory; is it an IDX file?") from None
            n_read = _read_exactly(f, values)
            if n_read < values.nbytes:
                raise InputError(
                    f"{path}: truncated: the header promises {shape} values "
                    f"({values.nbytes:,} bytes) but the file holds {n_read:,}; "
                    "download it again")
            if f.read(1):
                raise InputError(f"{path}: has bytes after the {shape} values the header "
                                 "promises; is it the right file?")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path}: damaged or truncated gzip file ({exc}); "
                         "download it again") from None
    return values.astype(dtype.newbyteorder("="), copy=False)
