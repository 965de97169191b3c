"""Writing outputs all or nothing."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

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
