"""Saving and loading trained models (``NAME.model.pt``).

A model file holds everything inference needs: the encoder's first layer (the principal axes
over all SNPs with their centring and scaling) and heads, the decoders' F, the K of each head,
the hyperparameters, the package version, and the SNPs (IDs, chromosome, position, alleles)
it was trained on, so that data with another SNP set or allele coding is refused instead of
silently giving wrong ancestry.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..errors import InputError
from ..stats.pca import GenotypePCA
from .model import NeuralAdmixture

if TYPE_CHECKING:  # loading a model must not import the training loop
    from .train import TrainResult

FORMAT = "neuradmix-model"
FORMAT_VERSION = 3


@dataclass
class LoadedModel:
    model: NeuralAdmixture
    pca: GenotypePCA
    ks: list[int]
    snps: pd.DataFrame
    config: dict
    populations: list[str] | None
    version: str


_TEXT_COLUMNS = ("chrom", "snp", "a1", "a2")


def _joined(values) -> str:
    text = [str(x) for x in values]
    if any("\n" in x for x in text):
        raise InputError("a SNP field holds a line break; fix the .bim before training.")
    return "\n".join(text)


def save_model(path: str | os.PathLike, result: TrainResult) -> None:
    snps = result.snps
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "ks": list(result.config.ks),
        "config": asdict(result.config),
        "populations": result.populations,
        "n_inputs": int(result.pca.n_components),
        "n_snps": int(len(snps)),
        "hidden": result.config.hidden,
        "extras": [
            head.n_inputs - (k - 1)
            for head, k in zip(result.model.heads, result.config.ks, strict=True)
        ],
        "state_dict": {k: v.detach().cpu() for k, v in result.model.state_dict().items()},
        "pca": {
            "centre": torch.from_numpy(result.pca.centre),
            "scale": torch.from_numpy(result.pca.scale),
            "loadings": torch.from_numpy(result.pca.loadings),
            "singular_values": torch.from_numpy(result.pca.singular_values),
            "snps": torch.from_numpy(
                np.arange(len(snps)) if result.pca.snps is None else result.pca.snps
            ),
        },
        # Text columns as one newline-joined string each: a list of 100,000 strings takes the
        # weights-only unpickler 1.5 s to load, one string a millisecond.
        "snps": {
            **{column: _joined(snps[column]) for column in _TEXT_COLUMNS},
            "pos": torch.from_numpy(np.array(snps["pos"], dtype=np.int64)),  # a copy: writable
        },
    }
    with open(path, "wb") as handle:
        torch.save(payload, handle)


def load_model(path: str | os.PathLike) -> LoadedModel:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found; train one with `neuradmix train`.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged or foreign file
        raise InputError(
            f"{path}: not a readable neuradmix model ({type(exc).__name__}); give the "
            "NAME.model.pt written by `neuradmix train`."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a neuradmix model file (written by `neuradmix train`).")
    if payload["format_version"] > FORMAT_VERSION:
        raise InputError(
            f"{path}: written by neuradmix {payload['package_version']} in a newer format; "
            f"upgrade neuradmix (this is {__version__})."
        )
    if payload["format_version"] < FORMAT_VERSION:
        raise InputError(
            f"{path}: written by neuradmix {payload['package_version']}, whose models this "
            f"version ({__version__}) cannot run; train the model again with `neuradmix train`."
        )
    ks = [int(k) for k in payload["ks"]]
    config = payload["config"]
    model = NeuralAdmixture(
        payload["n_inputs"],
        payload["n_snps"],
        ks,
        hidden=payload["hidden"],
        extras=payload.get("extras") or [payload.get("extra_coordinates", 0)] * len(ks),
    )
    model.load_state_dict(payload["state_dict"])
    model.eval()
    pca_part = payload["pca"]
    loadings = pca_part["loadings"].numpy()
    pca = GenotypePCA(
        centre=pca_part["centre"].numpy(),
        scale=pca_part["scale"].numpy(),
        loadings=loadings,
        scores=np.zeros((0, loadings.shape[1]), dtype=np.float32),
        singular_values=pca_part["singular_values"].numpy(),
        snps=pca_part["snps"].numpy().astype(np.int64),
    )
    snp_part = payload["snps"]
    columns = {column: snp_part[column].split("\n") for column in _TEXT_COLUMNS}
    snps = pd.DataFrame({**columns, "pos": snp_part["pos"].numpy()})[
        ["chrom", "snp", "pos", "a1", "a2"]
    ]
    return LoadedModel(
        model, pca, ks, snps, config, payload.get("populations"), payload["package_version"]
    )
