"""Writing outputs all or nothing."""

from __future__ import annotations

import contextlib
import os
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
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in pending:
        os.replace(tmp, final)


def check_out_dir(out: str | os.PathLike, option: str = "--out") -> Path:
    """``--out`` names a directory (created when the outputs are written): refuse an existing
    file there before any work starts."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{option} {path}: is a file; {option} names the output directory (created if "
            "missing), and --name the stem of the files written in it."
        )
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{option} {path}: {parent} is a file, so no directory can be made.")
    return path


def check_name(name: str, option: str = "--name") -> str:
    """An output stem: a plain file name, no directory part."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise InputError(
            f"{option} {name!r}: give a plain file stem (no '/'); the directory goes in --out."
        )
    return name
