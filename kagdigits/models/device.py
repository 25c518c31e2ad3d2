"""Choosing the torch device: ``"auto"`` means CUDA when available, else CPU."""

import torch

from kagdigits.errors import KagdigitsError


def resolve_device(device):
    """Return a concrete torch device string for ``device``.

    Parameters
    ----------
    device : str or None
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
        ``"mps"`` or ``None`` (skorch's "leave tensors where they are").
    """
    if device is None:
        return None
    if str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise KagdigitsError(
            f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise KagdigitsError(
            f"device {device!r} was asked for but no CUDA GPU is available; "
            "use device='auto' or device='cpu'")
    return str(device)
