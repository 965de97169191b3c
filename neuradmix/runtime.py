"""Where the work runs: CPU threads for the numba kernels, and the torch device.

Shared by the classic and the neural engines (both have a CUDA path), so it sits below both.
torch is imported only by :func:`select_device`, so commands that never touch a GPU stay light.
"""

from __future__ import annotations

import sys

import numba

from .errors import InputError


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in the numba kernels (None: all available).

    torch itself is kept to one thread: on CPU it only runs the small encoder, and its OpenMP
    workers spin-wait against the numba kernels when both are busy (measured here: a 1024-sample
    encoder step went from 5 ms to over 200 ms on 2 cores shared with another job).
    """
    torch = sys.modules.get("torch")  # only configure torch where a command has loaded it
    if torch is not None:
        torch.set_num_threads(1)
    if threads:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _mps_available(torch) -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def select_device(requested: str | None = "auto", allow_mps: bool = True):
    """cuda, then mps, then cpu for ``auto``; a clear error for a device that is not there.

    ``allow_mps=False`` is for code that needs float64 on the device (the classic engine).
    """
    import torch

    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if allow_mps and _mps_available(torch):
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
    if device.type == "mps" and not (allow_mps and _mps_available(torch)):
        raise InputError(
            f"--device {requested}: MPS is not available"
            + ("" if allow_mps else " to this command (it needs float64)")
            + "; use --device cpu."
        )
    if device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {requested}: use auto, cpu, cuda, cuda:N or mps.")
    return device
