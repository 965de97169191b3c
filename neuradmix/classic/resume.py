"""Resume checkpoints of ``neuradmix em``: the K values finished and the state of the fit of the
current K after its last saved iteration (:class:`neuradmix.classic.fit.IterationState`), in the
format of :mod:`neuradmix.data.resume`.

A resumed fit continues with the same iterates (point, image, secant pairs, trace), so it ends
where the fit that was never stopped ends: the same iterations, log-likelihood and Q (on the same
compute engine and threads, to the last bit as far as the kernels are deterministic). The starts
on a SNP subset are not saved (a fit stopped during them repeats them), nor are the bootstrap
replicates (a K stopped during its bootstrap repeats its last iteration and all replicates).
"""

from __future__ import annotations

import os

import numpy as np

from ..data.resume import ResumeCheckpoint, Schedule
from .fit import IterationState

DEFAULT_EVERY = 10
DEFAULT_MINUTES = 5.0


class FitCheckpoint(ResumeCheckpoint):
    """Saves the fits of one ``em`` run to ``path`` and reads a checkpoint back from ``resume``
    (or from ``path`` when it exists and ``resume`` is not given).

    ``settings`` are the options that change the result; a checkpoint made with others, for
    other genotypes or by another command or version is refused (:func:`check_matches`)."""

    def __init__(
        self,
        path: str | os.PathLike | None,
        resume: str | os.PathLike | None,
        genotypes,
        settings: dict,
        *,
        command: str = "em",
        every: int = DEFAULT_EVERY,
        minutes: float = DEFAULT_MINUTES,
    ):
        super().__init__(path, resume, genotypes, settings, command)
        self.schedule = Schedule(every, minutes)
        self.done: list[int] = []
        self.state: tuple[int, IterationState] | None = None  # read from the checkpoint
        self.latest = None  # (k, function returning the state) after the last iteration
        if self.loaded is not None:
            arrays, meta = self.loaded
            self.done = [int(k) for k in meta.get("done", [])]
            if meta.get("k") is not None:
                self.state = (int(meta["k"]), _state_from(arrays, meta))

    def resume_for(self, k: int) -> IterationState | None:
        """The saved state of K's fit, if the checkpoint holds one."""
        if self.state is not None and self.state[0] == k:
            return self.state[1]
        return None

    def saver(self, k: int):
        """The ``saver`` of K's fit: keeps the latest state and saves it when due."""
        self.schedule.reset()

        def save(make) -> None:
            self.latest = (k, make)
            if self.schedule.tick():
                self.write()

        return save

    def finished(self, k: int) -> None:
        """K's outputs are written: record it (the fit's state is no longer needed)."""
        self.done.append(k)
        self.latest = None
        self.state = None
        self.write()

    def interrupted(self) -> None:
        """Save the latest state (the run is being stopped); never raises."""
        if self.latest is not None:
            super().interrupted()

    def write(self) -> None:
        if self.path is None:
            return
        meta = {"done": self.done, "k": None}
        arrays: dict[str, np.ndarray] = {}
        if self.latest is not None:
            k, make = self.latest
            state = make()
            meta.update(
                k=k,
                ll=state.ll,
                iterations=state.iterations,
                steps_taken=state.steps_taken,
                start_passes=state.start_passes,
                whole=state.whole,
                saddle_signs=state.saddle_signs,
                saddles=state.saddles,
            )
            arrays = {
                "q": state.q,
                "f": state.f,
                "image_q": state.image_q,
                "image_f": state.image_f,
                "trace": np.asarray(state.trace, dtype=np.float64),
                "starts": np.asarray(state.starts, dtype=np.float64).reshape(-1, 2),
                "secants_u": _stack(state.secants_u),
                "secants_v": _stack(state.secants_v),
            }
        self.save(arrays, meta)


def _stack(vectors: list[np.ndarray]) -> np.ndarray:
    return np.array(vectors, dtype=np.float64) if vectors else np.zeros((0, 0))


def _state_from(arrays: dict[str, np.ndarray], meta: dict) -> IterationState:
    return IterationState(
        q=arrays["q"],
        f=np.ascontiguousarray(arrays["f"]),
        ll=float(meta["ll"]),
        image_q=arrays["image_q"],
        image_f=np.ascontiguousarray(arrays["image_f"]),
        trace=[float(x) for x in arrays["trace"]],
        iterations=int(meta["iterations"]),
        secants_u=list(arrays["secants_u"]),
        secants_v=list(arrays["secants_v"]),
        steps_taken=int(meta["steps_taken"]),
        starts=[(int(seed), float(ll)) for seed, ll in arrays["starts"]],
        start_passes=float(meta["start_passes"]),
        whole=bool(meta["whole"]),
        saddle_signs=int(meta["saddle_signs"]),
        saddles=int(meta["saddles"]),
    )


class CvCheckpoint(ResumeCheckpoint):
    """Saves a ``cv`` run after every fold: the errors of the K values done and the held-out
    deviance of the folds done at the current K (a resumed K repeats its full-data fit, which
    the seed determines, and skips the folds done)."""

    def __init__(self, path, resume, genotypes, settings: dict):
        super().__init__(path, resume, genotypes, settings, "cv")
        self.results: list[dict] = []  # asdict(CVResult) of the K values done
        self.folds: dict[int, tuple[float, int]] = {}  # of the current K
        self.k: int | None = None
        if self.loaded is not None:
            meta = self.loaded[1]
            self.results = meta["results"]
            self.k = meta["k"]
            self.folds = {int(f): (float(t), int(c)) for f, t, c in meta["folds"]}

    def folds_done(self, k: int) -> dict[int, tuple[float, int]]:
        return dict(self.folds) if self.k == k else {}

    def fold_done(self, k: int, fold: int, total: float, count: int) -> None:
        if self.k != k:
            self.k, self.folds = k, {}
        self.folds[fold] = (total, count)
        self.write()

    def k_done(self, result: dict) -> None:
        self.results.append(result)
        self.k, self.folds = None, {}
        self.write()

    def write(self) -> None:
        meta = {
            "results": self.results,
            "k": self.k,
            "folds": [[f, t, c] for f, (t, c) in sorted(self.folds.items())],
        }
        self.save({}, meta)
