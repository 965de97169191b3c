"""Resume checkpoints: the state of a long fit, saved atomically so that a pre-empted job continues.

A resume checkpoint (``--checkpoint FILE``) is a different thing from a trained model
(``NAME.model.pt``): it holds the iteration's state part way, numpy arrays in an ``.npz`` with one
JSON entry of metadata (what command made it, for which data and settings, with which version),
and it is read back only by the command and settings that wrote it.

Saving writes a temporary file beside the checkpoint, flushes it to disk and renames it onto the
checkpoint, so a crash or a kill during the write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import InputError

_META = "__meta__"
FORMAT = "neuradmix-resume"
# Bytes of the packed genotypes hashed for the fingerprint: all of them up to this size, else
# this many in evenly spread chunks (with the sizes, the first and last chunk).
_HASH_BYTES = 64 * 2**20
_CHUNK = 2**20


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` and ``meta`` (JSON-serialisable) to ``path`` atomically: a temporary
    file in the same directory, flushed and fsynced, then renamed onto ``path``."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            entries = {name: np.asarray(value) for name, value in arrays.items()}
            entries[_META] = np.frombuffer(
                json.dumps({"format": FORMAT, "version": __version__, **meta}).encode(),
                dtype=np.uint8,
            )
            if any(value.dtype.hasobject for value in entries.values()):
                raise TypeError("a resume checkpoint holds numeric arrays only")
            np.savez(stream, **entries)  # read back with allow_pickle=False
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself, on file systems that allow it
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and metadata of a checkpoint written by :func:`save_checkpoint`."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except FileNotFoundError:
        raise InputError(
            f"--resume {path}: no such checkpoint; give the file a --checkpoint run wrote, or "
            "use --checkpoint alone (it resumes when the file exists and starts afresh when not)."
        ) from None
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: not a neuradmix resume checkpoint ({exc}); delete it to start afresh."
        ) from None
    if meta.get("format") != FORMAT:
        raise InputError(f"{path}: not a neuradmix resume checkpoint; delete it to start afresh.")
    return arrays, meta


def split_arrays(tree, arrays: dict[str, np.ndarray] | None = None, path: str = "a"):
    """``tree`` (dicts, lists, numbers, strings, arrays) as JSON with each array replaced by
    ``{"array": KEY}``, and the arrays by key: what :func:`save_checkpoint` takes."""
    arrays = {} if arrays is None else arrays
    if isinstance(tree, np.ndarray):
        arrays[path] = tree
        return {"array": path}, arrays
    if isinstance(tree, dict):
        out = {
            str(key): split_arrays(value, arrays, f"{path}/{key}")[0] for key, value in tree.items()
        }
        return {"dict": out}, arrays
    if isinstance(tree, list | tuple):
        return [
            split_arrays(value, arrays, f"{path}/{i}")[0] for i, value in enumerate(tree)
        ], arrays
    if isinstance(tree, np.generic):
        return tree.item(), arrays
    return tree, arrays


def join_arrays(tree, arrays: dict[str, np.ndarray]):
    """The inverse of :func:`split_arrays`."""
    if isinstance(tree, dict):
        if "array" in tree:
            return arrays[tree["array"]]
        return {key: join_arrays(value, arrays) for key, value in tree["dict"].items()}
    if isinstance(tree, list):
        return [join_arrays(value, arrays) for value in tree]
    return tree


def digest(*parts) -> str:
    """A short SHA-256 of strings, bytes or arrays (for settings that are files or matrices)."""
    sha = hashlib.sha256()
    for part in parts:
        if part is None:
            sha.update(b"\x00none")
        elif isinstance(part, np.ndarray):
            sha.update(str((part.dtype.str, part.shape)).encode())
            sha.update(np.ascontiguousarray(part).tobytes())
        else:
            sha.update(part if isinstance(part, bytes) else str(part).encode())
        sha.update(b"\x00")
    return sha.hexdigest()[:16]


def genotype_fingerprint(genotypes) -> dict:
    """What identifies a cohort for a checkpoint: its size, a hash of the packed genotypes (all
    of them up to 64 MiB, else 64 evenly spread MiB including the first and last) and of the
    sample and SNP IDs."""
    packed = np.ascontiguousarray(genotypes.packed).reshape(-1)
    sha = hashlib.sha256(str(packed.size).encode())
    if packed.size <= _HASH_BYTES:
        sha.update(packed.tobytes())
    else:
        chunks = _HASH_BYTES // _CHUNK
        for start in np.linspace(0, packed.size - _CHUNK, chunks).astype(np.int64):
            sha.update(packed[start : start + _CHUNK].tobytes())
    return {
        "samples": int(genotypes.n_samples),
        "snps": int(genotypes.n_snps),
        "genotypes": sha.hexdigest()[:16],
        "ids": digest(
            "\n".join(map(str, genotypes.sample_ids)), "\n".join(map(str, genotypes.snp_ids))
        ),
    }


def check_matches(path, meta: dict, command: str, data: dict, settings: dict) -> None:
    """Refuse, in one line, a checkpoint made by another command, for other data, with other
    settings or by another version of neuradmix."""
    data, settings = json.loads(json.dumps(data)), json.loads(json.dumps(settings))  # as stored
    made = meta.get("command")
    if made != command:
        raise InputError(
            f"{path}: a resume checkpoint of `neuradmix {made}`, not of `{command}`; give "
            f"`{command}` its own --checkpoint file."
        )
    theirs = meta.get("data", {})
    size = f"{theirs.get('samples')} x {theirs.get('snps')}"
    if theirs != data:
        what = (
            f"{size} genotypes"
            if (theirs.get("samples"), theirs.get("snps")) != (data["samples"], data["snps"])
            else f"other genotypes or IDs of the same size ({size})"
        )
        raise InputError(
            f"{path}: made for {what}; this run reads {data['samples']} x {data['snps']} "
            "genotypes that differ: resume on the same fileset, or delete the checkpoint "
            "(or drop --resume) to start afresh."
        )
    stored = meta.get("settings", {})
    keys = sorted(set(stored) | set(settings))
    differ = [key for key in keys if stored.get(key) != settings.get(key)]
    if differ:
        made_for = ", ".join(f"{key}={_show(stored.get(key))}" for key in differ)
        this = ", ".join(f"{key}={_show(settings.get(key))}" for key in differ)
        raise InputError(
            f"{path}: made for {made_for} on {size} genotypes; this run has {this}: resume with "
            "the same options, or delete the checkpoint (or drop --resume) to start afresh."
        )
    if meta.get("version") != __version__:
        raise InputError(
            f"{path}: made by neuradmix {meta.get('version')}, this is {__version__}; finish "
            "the run with that version, or delete the checkpoint to start afresh."
        )


def _show(value) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


class Schedule:
    """When a checkpoint is due: every ``every`` iterations or ``minutes`` minutes since the last
    save, whichever comes first (0 turns either off)."""

    def __init__(self, every: int = 10, minutes: float = 5.0):
        self.every = every
        self.seconds = minutes * 60.0
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.last = time.monotonic()

    def tick(self) -> bool:
        """Count one iteration; True when a save is due (and the counters restart)."""
        self.count += 1
        if (self.every and self.count >= self.every) or (
            self.seconds and time.monotonic() - self.last >= self.seconds
        ):
            self.reset()
            return True
        return False


class ResumeCheckpoint:
    """What every command's resume checkpoint shares: it is saved to ``path`` (else to
    ``resume``); it continues ``resume``, or ``path`` when that file exists, once
    :func:`check_matches` has found it made by ``command`` for these genotypes and settings
    (``loaded`` then holds its arrays and metadata); it is removed when the run completes.
    Subclasses say what they save in :meth:`write`."""

    def __init__(
        self,
        path: str | os.PathLike | None,
        resume: str | os.PathLike | None,
        genotypes,
        settings: dict,
        command: str,
    ):
        self.path = Path(path) if path else Path(resume) if resume else None
        self.command = command
        self.data = genotype_fingerprint(genotypes)
        self.settings = settings
        self.source: Path | None = None
        self.loaded: tuple[dict[str, np.ndarray], dict] | None = None
        source = resume if resume else path if path and Path(path).exists() else None
        if source:
            arrays, meta = load_checkpoint(source)
            check_matches(source, meta, command, self.data, settings)
            self.source = Path(source)
            self.loaded = (arrays, meta)

    def save(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Save ``arrays`` with ``meta`` and what identifies the run (nothing without a path)."""
        if self.path is None:
            return
        identity = {"command": self.command, "data": self.data, "settings": self.settings}
        save_checkpoint(self.path, arrays, {**identity, **meta})

    def write(self) -> None:
        raise NotImplementedError

    def interrupted(self) -> None:
        """Save the latest state (the run is being stopped); never raises."""
        with contextlib.suppress(OSError):
            self.write()

    def complete(self) -> None:
        """The run is done: the checkpoint is no longer needed."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def kept_if_stopped(checkpoint: ResumeCheckpoint | None):
    """Around a resumable run: when it is stopped (a signal, Ctrl-C or an error) the latest
    state is saved and the exception goes on; when it ends, the checkpoint is removed. Nothing
    happens without a checkpoint."""
    if checkpoint is None:
        yield
        return
    try:
        yield
    except BaseException:
        checkpoint.interrupted()
        raise
    checkpoint.complete()
