"""Resume checkpoints of ``neuradmix train`` (``--checkpoint``; not the trained model, which is
``NAME.model.pt``): the :class:`neuradmix.neural.train.TrainState` after the last saved epoch, in
the format of :mod:`neuradmix.data.resume`.

A resumed run recomputes the principal axes and the start (the data and the seed determine
them), loads the weights, decoders, trust regions, stopping rules and the step it may have to
undo, and continues the stage with the epochs the run that was never stopped takes. ``--polish``
is not saved: a run stopped while polishing repeats its last epochs and the polish.
"""

from __future__ import annotations

import os
from dataclasses import asdict

from ..data.resume import ResumeCheckpoint, Schedule, join_arrays, split_arrays
from .train import TrainState


class TrainCheckpoint(ResumeCheckpoint):
    """Saves a training run's state to ``path`` and reads one back from ``resume`` (or from
    ``path`` when it exists and ``resume`` is not given); one made for other data or settings
    is refused."""

    def __init__(
        self,
        path: str | os.PathLike | None,
        resume: str | os.PathLike | None,
        genotypes,
        settings: dict,
        *,
        every: int = 10,
        minutes: float = 5.0,
    ):
        super().__init__(path, resume, genotypes, settings, "train")
        self.schedule = Schedule(every, minutes)
        self.latest = None
        self.state: TrainState | None = None
        if self.loaded is not None:
            arrays, meta = self.loaded
            self.state = TrainState(**join_arrays(meta["state"], arrays))

    def saver(self, make) -> None:
        """The ``saver`` of :func:`neuradmix.neural.train.train`."""
        self.latest = make
        if self.schedule.tick():
            self.write()

    def write(self) -> None:
        if self.latest is None:
            return
        tree, arrays = split_arrays(asdict(self.latest()))
        self.save(arrays, {"state": tree})


def train_settings(config, labels, init_p) -> dict:
    """The options that change a training run's epochs (not threads, device or engine)."""
    from ..data.resume import digest

    skip = {"threads", "device", "engine", "extra"}
    settings = {key: value for key, value in asdict(config).items() if key not in skip}
    settings["labels"] = digest(*labels) if labels is not None else None
    settings["init_p"] = digest(init_p) if init_p is not None else None
    return settings
