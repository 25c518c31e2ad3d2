"""safetensors files: the one place that writes and reads them (checkpoints, .kd models)."""

from safetensors.torch import load_file, save

from kagdigits.files.atomic import atomic_write


def write_tensors(path, tensors, metadata=None, overwrite=False):
    """Write ``tensors`` (a dict of tensors, copied to the CPU) and string ``metadata`` to
    the safetensors file ``path``, atomically; an existing file only with ``overwrite``."""
    data = save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()},
                metadata=metadata)
    with atomic_write(path, "wb", overwrite=overwrite) as f:
        f.write(data)


def read_tensors(path, device="cpu"):
    """The tensors of the safetensors file ``path``, on ``device``."""
    return load_file(path, device=str(device))


def read_header(path):
    """The JSON header of the safetensors file ``path`` (a dict; its ``"__metadata__"``
    holds the metadata), or ``None`` if the file is not one.

    A safetensors file starts with the 8-byte little-endian length of its JSON header,
    so its first byte can be anything (0x80 too): it is told apart by parsing.
    """
    import json

    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        length = int.from_bytes(f.read(8), "little")
        if size < 10 or length > size - 8:
            return None
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, ValueError):
            return None
    return header if isinstance(header, dict) else None
