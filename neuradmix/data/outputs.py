"""Writing outputs all or nothing."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_outputs():
    """Collect output files and move them into place only if the whole block succeeds.

    Usage::

        with atomic_outputs() as staged:
            write_q(staged("out/run.5.Q"), q)
            write_p(staged("out/run.5.P"), p)

    ``staged(path)`` returns a temporary path beside ``path``; on success every temporary file is
    renamed onto its final name, on any exception they are all removed, so a failed command never
    leaves half of its outputs behind.
    """
    pending: list[tuple[Path, Path]] = []

    def staged(path: str | os.PathLike) -> Path:
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
        os.close(handle)
        os.chmod(tmp, 0o666 & ~_UMASK)
        pending.append((Path(tmp), final))
        return Path(tmp)

    try:
        yield staged
        for tmp, final in pending:
            os.replace(tmp, final)
    except BaseException as exc:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRORS:
            where = Path(exc.filename).parent if exc.filename else "the output directory"
            raise InputError(
                f"{where}: cannot write the outputs ({exc.strerror}); nothing was written. Free "
                "space there or choose another output directory."
            ) from None
        raise


# Errors of the file system rather than of the program: a full disk, a read-only mount, a quota,
# permissions.
_WRITE_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


def check_out_dir(out: str | os.PathLike, option: str = "--out", expected_bytes: int = 0) -> Path:
    """``--out`` names a directory (created when the outputs are written): refuse, before any
    work starts, an existing file there, a directory that cannot be written, and a file system
    with less than ``expected_bytes`` free."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{option} {path}: is a file; {option} names the output directory (created if "
            "missing), and --name the stem of the files written in it."
        )
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{option} {path}: {parent} is a file, so no directory can be made.")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"{option} {path}: {existing} is not writable (read-only file system or no "
            "permission); choose an output directory you can write to."
        )
    if expected_bytes > 0:
        free = shutil.disk_usage(existing).free
        if free < expected_bytes:
            raise InputError(
                f"{option} {path}: {free / 2**20:,.0f} MiB free on its file system, but the "
                f"outputs need about {expected_bytes / 2**20:,.0f} MiB; free space or choose "
                "another output directory."
            )
    return path


def expected_output_bytes(n_samples: int, n_snps: int, ks) -> int:
    """About the size of the .Q/.P files of a fit at each K (9 bytes a value), with room for a
    model or other sidecars of the SNPs (64 bytes each)."""
    return int(sum((n_samples + n_snps) * int(k) * 9 for k in ks) + 64 * n_snps)


def check_name(name: str, option: str = "--name") -> str:
    """An output stem: a plain file name, no directory part."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise InputError(
            f"{option} {name!r}: give a plain file stem (no '/'); the directory goes in --out."
        )
    return name
