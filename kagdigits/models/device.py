"""Choosing the hardware settings: the torch device, the autocast precision and the memory
format (and :class:`HardwareChoices`, what an estimator's settings resolve to). Each
``"auto"`` is resolved on the machine that runs the code."""

import torch

from kagdigits.errors import KagdigitsError, Param, choose

#: ``precision`` value -> autocast dtype (None: no autocast).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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


class HardwareChoices:
    """Mixin for a skorch net with ``precision`` and ``channels_last`` parameters: what they
    mean on its device (``self.device``) and network (``self.module_``)."""

    def _device_type(self):
        return torch.device(self.device or "cpu").type

    def resolved_precision(self):
        """``"fp32"``, ``"bf16"`` or ``"fp16"``: what ``precision`` means on this machine
        and device (``"auto"``: :func:`kagdigits.models.device.auto_precision`)."""
        if self.precision == "auto":
            return auto_precision(self.device, getattr(self, "module_", None))
        choose({"auto": None, **PRECISIONS}, self.precision, "precision")
        return self.precision

    def _autocast_dtype(self):
        """The dtype ``precision`` asks for on this device (None: no autocast)."""
        return PRECISIONS[self.resolved_precision()]

    def _uses_channels_last(self):
        if self.channels_last == "auto":
            return auto_channels_last(self.device, self.resolved_precision(), self.module_)
        return bool(self.channels_last)

    def hardware_summary(self):
        """One line naming what training uses: ``cpu, bf16 autocast, channels_last``."""
        precision = self.resolved_precision()
        parts = [str(self.device), "fp32" if precision == "fp32" else f"{precision} autocast"]
        if hasattr(self, "module_"):
            parts.append("channels_last" if self._uses_channels_last() else "contiguous")
        return ", ".join(parts)
