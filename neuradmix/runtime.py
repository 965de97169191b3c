"""Where the work runs: CPU threads for the numba kernels, and the torch device.

Shared by the classic and the neural methods (both have a CUDA path), so it sits below both.
torch is imported only by :func:`select_device`, so commands that never touch a GPU stay light.
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numba
from threadpoolctl import threadpool_limits

from .errors import InputError

_IMPORTED_AT = time.time()


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in the numba kernels (None: all available).

    The other thread pools are kept to one thread, because their workers spin-wait after each
    call and take the cores from the numba kernels that follow:

    * torch, which on CPU only runs the small encoder (measured here: a 1024-sample encoder
      step went from 5 ms to over 200 ms on 2 cores shared with another job);
    * numpy's BLAS, whose small products (the quasi-Newton step between two passes, the
      start's SVD) come between kernel calls: with OpenBLAS on two threads a 1.2 ms pass took
      4-22 ms after one, and `neuradmix em` took 1.40x (1,000 x 15,619, K=4), 1.45x
      (105 x 8,450, K=5) and 1.08x (2,000 x 100,000, K=4) the time it takes with one.
    """
    torch = sys.modules.get("torch")  # only configure torch where a command has loaded it
    if torch is not None:
        torch.set_num_threads(1)
    threadpool_limits(1, user_api="blas")
    if threads:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _mps_available(torch) -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def select_device(requested: str | None = "auto", allow_mps: bool = True):
    """cuda, then mps, then cpu for ``auto``; a clear error for a device that is not there.

    ``allow_mps=False`` is for code that needs float64 on the device (the classic method).
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


def process_seconds() -> float:
    """Wall time since this process started, interpreter start-up included.

    Linux: from the process start time in ``/proc/self/stat``; elsewhere from when the
    ``neuradmix`` package was first imported (which then misses the interpreter's own start).
    """
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat: starttime, in clock ticks after boot
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.time() - _IMPORTED_AT


def cpu_description() -> str:
    """The CPU model, for the report's statement of the hardware."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_description(device=None) -> str:
    """``cpu (MODEL)`` or ``cuda:0 (GPU NAME)``: where a fit ran."""
    if device is None or str(device).startswith("cpu"):
        return f"cpu ({cpu_description()})"
    torch = sys.modules.get("torch")
    if torch is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return str(device)


def threads_in_use() -> int:
    return int(numba.get_num_threads())


class ProgressLog:
    """Progress of an iterative fit on stderr (or ``stream``): one line per iteration (stage,
    iteration, log-likelihood, its change, seconds), as ADMIXTURE and fastmixture print them, so
    a Snakemake log or a SLURM output file reads well; on a terminal a single updating status
    line instead."""

    def __init__(self, stream=None, terminal: bool | None = None):
        self._stream = stream
        self._terminal = terminal
        self._last: dict[str, float] = {}

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    @property
    def terminal(self) -> bool:
        if self._terminal is not None:
            return self._terminal
        return bool(hasattr(self.stream, "isatty") and self.stream.isatty())

    def __call__(self, stage: str, iteration: int, log_likelihood: float, seconds: float):
        previous = self._last.get(stage)
        self._last[stage] = log_likelihood
        delta = "" if previous is None else f"  delta {log_likelihood - previous:+.6g}"
        text = f"{stage} {iteration:4d}  loglik {log_likelihood:.6f}{delta}  {seconds:.2f} s"
        if self.terminal:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()
