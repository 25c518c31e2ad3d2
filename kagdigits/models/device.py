"""Choosing the hardware settings: the torch device, the autocast precision and the memory
format (:func:`decide_hardware`, and :class:`HardwareChoices`, what an estimator's settings
resolve to, decided once per fit). Each ``"auto"`` is resolved on the machine that runs
the code."""

from dataclasses import dataclass

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


def decide_hardware(device, precision, channels_last, module):
    """What ``precision`` and ``channels_last`` mean on ``device`` (a concrete device
    string, :func:`resolve_device`) for the network ``module`` (on any device, ``meta``
    included: only its layers' kinds are read); a :class:`Hardware`.

    The one place an estimator's ``"auto"`` precision and memory format are decided
    (:func:`auto_precision`, :func:`auto_channels_last`); an estimator does it once, when
    it builds its network (see :class:`HardwareChoices`).
    """
    if precision == "auto":
        precision = auto_precision(device, module)
    else:
        choose({"auto": None, **PRECISIONS}, precision, "precision")
    if channels_last == "auto":
        channels_last = auto_channels_last(device, precision, module)
    return Hardware(device, precision, bool(channels_last))


@dataclass(frozen=True)
class Hardware:
    """What an estimator trains and predicts with: a concrete ``device`` string (or
    ``None``: tensors left where they are), ``precision`` (``"fp32"``, ``"bf16"`` or
    ``"fp16"``) and whether ``channels_last`` memory format is used."""

    device: str | None
    precision: str
    channels_last: bool

    def summary(self):
        """One line naming it: ``cpu, bf16 autocast, channels_last``."""
        precision = "fp32" if self.precision == "fp32" else f"{self.precision} autocast"
        return ", ".join([str(self.device), precision,
                          "channels_last" if self.channels_last else "contiguous"])


class HardwareChoices:
    """Mixin for a skorch net with ``device``, ``precision`` and ``channels_last``
    parameters: each ``"auto"`` decided once, when the network is built
    (:func:`decide_hardware`), into the fitted attributes ``device_``, ``precision_`` and
    ``channels_last_``, which the per-batch code reads.

    ``device`` keeps what the user set (``"auto"``) as the parameter, while skorch's
    internals read the concrete device (``device_`` once decided). A pickled estimator
    decides again where it is loaded (that machine may differ).
    """

    @property
    def device(self):
        device = self.__dict__["device"]
        if device != "auto":
            return device
        return self.__dict__.get("device_") or resolve_device(device)

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def _get_param_names(self):
        return [name for name in super()._get_param_names() if name != "device"]

    def get_params(self, deep=True, **kwargs):
        """skorch's, with ``device`` as it was set (``"auto"``), read without deciding it."""
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__["device"]
        return params

    def set_params(self, **kwargs):
        """skorch's; on a fitted estimator a new ``precision`` or ``channels_last`` is
        decided at once, for its network on ``device_``."""
        super().set_params(**kwargs)
        if {"precision", "channels_last"} & set(kwargs) and "precision_" in vars(self):
            self._decide_hardware(self.device_)
        return self

    def __setstate__(self, state):
        requested = state["device"]
        if requested == "auto":
            state["device"] = resolve_device(requested)
        super().__setstate__(state)
        if "precision_" in state:  # decided on the machine that pickled it
            self._decide_hardware(self.__dict__["device"])
        if requested == "auto":
            self.__dict__["device"] = "auto"

    def _decide_hardware(self, device):
        """Set ``device_``, ``precision_`` and ``channels_last_``: what the parameters mean
        on ``device`` (concrete) for the built network ``module_``; ``self``."""
        chosen = decide_hardware(device, self.precision, self.channels_last, self.module_)
        self.device_, self.precision_ = chosen.device, chosen.precision
        self.channels_last_ = chosen.channels_last
        return self

    def hardware(self):
        """The :class:`Hardware` this estimator uses: the fitted choice, or before
        ``initialize`` the one it would make, decided on a copy of its network on torch's
        ``meta`` device (no memory, no arithmetic; nothing is built on the device)."""
        if "precision_" in vars(self):
            return Hardware(self.device_, self.precision_, self.channels_last_)
        module = self.module
        if not isinstance(module, torch.nn.Module):
            with torch.device("meta"):
                module = module(**self.get_params_for("module"))
        return decide_hardware(resolve_device(self.__dict__["device"]), self.precision,
                               self.channels_last, module)

    def resolved_precision(self):
        """``"fp32"``, ``"bf16"`` or ``"fp16"``: what ``precision`` means on this machine
        and device (``precision_``, or before ``initialize`` what it will be:
        :meth:`hardware`)."""
        return self.hardware().precision

    def hardware_summary(self):
        """One line naming what training uses: ``cpu, bf16 autocast, channels_last``."""
        return self.hardware().summary()

    def _device_type(self):
        return torch.device(self.device or "cpu").type

    def _autocast_dtype(self):
        """The dtype of the fitted ``precision_`` (None: no autocast)."""
        return PRECISIONS[self.precision_]

    def _uses_channels_last(self):
        return self.channels_last_
