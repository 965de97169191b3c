"""Choosing the torch device, the same way for every command."""

from __future__ import annotations

import torch

from .errors import InputError


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def select_device(requested: str | None = "auto", allow_mps: bool = True) -> torch.device:
    """cuda, then mps, then cpu for ``auto``; a clear error for a device that is not there.

    ``allow_mps=False`` is for code that needs float64 on the device (the EM engine).
    """
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if allow_mps and _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise InputError(
            f"--device {requested}: not a torch device (use auto, cpu or cuda)."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"--device {requested}: CUDA is not available on this machine (torch "
            f"{torch.__version__}); use --device cpu or install a CUDA build of torch."
        )
    if device.type == "mps" and not (allow_mps and _mps_available()):
        raise InputError(
            f"--device {requested}: MPS is not available"
            + ("" if allow_mps else " to this command (it needs float64)")
            + "; use --device cpu."
        )
    if device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {requested}: use auto, cpu, cuda, cuda:N or mps.")
    return device
