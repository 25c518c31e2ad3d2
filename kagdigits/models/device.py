"""Choosing the hardware settings: the torch device, the autocast precision and the memory
format. Each ``"auto"`` is resolved on the machine that runs the code."""

import torch

from kagdigits.errors import KagdigitsError, Param


def resolve_device(device):
    """Return a concrete torch device string for ``device``.

    Parameters
    ----------
    device : str or None
        ``"auto"`` (CUDA if available, else Apple's MPS if available, else CPU),
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``None`` (skorch's "leave
        tensors where they are").
    """
    if device is None:
        return None
    if str(device) == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise KagdigitsError(
            f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise KagdigitsError(
            f"device {device!r} was asked for but no CUDA GPU is available; use ",
            Param("device", "auto"), " or ", Param("device", "cpu"))
    return str(device)


def cpu_has_native_bf16():
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX, e.g. AMD Zen 4,
    Intel Sapphire Rapids); elsewhere bf16 autocast is much slower than fp32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def has_convolutions(module):
    """Whether ``module`` holds 2-D convolutions."""
    return any(isinstance(m, torch.nn.Conv2d) for m in module.modules())


def auto_precision(device, module=None):
    """What ``precision="auto"`` means on ``device`` (a concrete device string) for the
    network ``module`` (``None``: any).

    ``"bf16"`` on CUDA GPUs of compute capability 8.0 and newer, and on CPUs with native
    bf16 for networks with convolutions (oneDNN's bf16 kernels: Kaggle CNN 1.8x, WRN 2.5x
    faster; a small dense net such as the MLP was slower in bf16, 10.5 vs 9.7 µs per image);
    ``"fp16"`` (with loss scaling) on older CUDA GPUs with fp16 tensor cores (compute
    capability 7.x: V100, T4); else ``"fp32"`` (Apple MPS included).
    """
    kind = torch.device(device or "cpu").type
    if kind == "cuda":
        major = torch.cuda.get_device_capability(device)[0]
        return "bf16" if major >= 8 else "fp16" if major >= 7 else "fp32"
    if kind == "cpu" and cpu_has_native_bf16() and (module is None or has_convolutions(module)):
        return "bf16"
    return "fp32"


def auto_channels_last(device, precision, module):
    """What ``channels_last="auto"`` means: on for networks with 2-D convolutions on CUDA,
    and on the CPU under bf16; off in fp32 on the CPU (where it made ResNet-18 1.8x
    slower) and for networks without convolutions."""
    kind = torch.device(device or "cpu").type
    return has_convolutions(module) and (kind == "cuda" or (kind == "cpu" and precision == "bf16"))
