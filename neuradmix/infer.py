"""Saving and loading trained models, and assigning new samples with one forward pass.

A model file holds everything inference needs: the network weights, the K of each head, the
hyperparameters, the package version, the PCA that turns genotypes into encoder inputs, and the
SNPs (IDs, chromosome, position, alleles) it was trained on, so that data with another SNP set or
allele coding is refused instead of silently giving wrong ancestry.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .devices import select_device
from .errors import InputError
from .io import Genotypes
from .model import NeuralAdmixture
from .pca import GenotypePCA
from .train import TrainResult, predict

FORMAT = "neuradmix-model"
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    model: NeuralAdmixture
    pca: GenotypePCA
    ks: list[int]
    snps: pd.DataFrame
    config: dict
    populations: list[str] | None
    version: str


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
        "hidden": int(result.config.hidden),
        "state_dict": {k: v.detach().cpu() for k, v in result.model.state_dict().items()},
        "pca": {
            "centre": torch.from_numpy(result.pca.centre),
            "scale": torch.from_numpy(result.pca.scale),
            "loadings": torch.from_numpy(result.pca.loadings),
            "singular_values": torch.from_numpy(result.pca.singular_values),
        },
        "snps": {
            "chrom": [str(x) for x in snps["chrom"]],
            "snp": [str(x) for x in snps["snp"]],
            "pos": torch.from_numpy(snps["pos"].to_numpy(dtype=np.int64)),
            "a1": [str(x) for x in snps["a1"]],
            "a2": [str(x) for x in snps["a2"]],
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
    ks = [int(k) for k in payload["ks"]]
    config = payload["config"]
    model = NeuralAdmixture(
        payload["n_inputs"],
        payload["n_snps"],
        ks,
        hidden=payload["hidden"],
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
    )
    snp_part = payload["snps"]
    snps = pd.DataFrame(
        {
            "chrom": snp_part["chrom"],
            "snp": snp_part["snp"],
            "pos": snp_part["pos"].numpy(),
            "a1": snp_part["a1"],
            "a2": snp_part["a2"],
        }
    )
    return LoadedModel(
        model, pca, ks, snps, config, payload.get("populations"), payload["package_version"]
    )


def snp_keys(variants: pd.DataFrame) -> np.ndarray:
    """SNP identity: the ID, or chrom:pos when the ID is missing ('.')."""
    ids = variants["snp"].astype(str).to_numpy()
    fallback = variants["chrom"].astype(str) + ":" + variants["pos"].astype(str)
    return np.where(np.isin(ids, [".", ""]), fallback.to_numpy(), ids)


def align_snps(model_snps: pd.DataFrame, data: Genotypes, model_path: str = "model") -> np.ndarray:
    """Column order that puts ``data``'s SNPs in the model's order, or a clear refusal."""
    model_keys = snp_keys(model_snps)
    data_keys = snp_keys(data.variants)
    bim = Path(data.source).with_suffix(".bim") if data.source != "<memory>" else "the data"
    if len(set(data_keys)) != len(data_keys):
        raise InputError(
            f"{bim}: SNP IDs are not unique; give every variant a unique ID (e.g. `plink2 "
            "--set-all-var-ids @:#:$r:$a --make-bed`) as was done for the training data."
        )
    position = {key: j for j, key in enumerate(data_keys)}
    missing = [key for key in model_keys if key not in position]
    extra = len(data_keys) - (len(model_keys) - len(missing))
    if missing or extra:
        example = ", ".join(missing[:3]) if missing else ""
        raise InputError(
            f"{bim}: SNP set differs from the model's ({len(model_keys)} SNPs): "
            f"{len(missing)} of the model's SNPs are absent"
            + (f" (e.g. {example})" if example else "")
            + f" and {extra} SNPs are not in the model. Keep exactly the model's SNPs: "
            f"`neuradmix infer --model {model_path} --export-snps snps.txt` then "
            "`plink2 --bfile NEW --extract snps.txt --make-bed --out NEW.matched`."
        )
    order = np.array([position[key] for key in model_keys], dtype=np.int64)
    data_a1 = data.variants["a1"].astype(str).to_numpy()[order]
    data_a2 = data.variants["a2"].astype(str).to_numpy()[order]
    model_a1 = model_snps["a1"].astype(str).to_numpy()
    model_a2 = model_snps["a2"].astype(str).to_numpy()
    mismatch = np.flatnonzero((data_a1 != model_a1) | (data_a2 != model_a2))
    if mismatch.size:
        j = mismatch[0]
        raise InputError(
            f"{bim}: allele coding differs from the model's at {mismatch.size} SNPs (e.g. "
            f"{model_keys[j]}: model counts {model_a1[j]} (other {model_a2[j]}), data counts "
            f"{data_a1[j]} (other {data_a2[j]})). Recode the data to the model's alleles, e.g. "
            "`plink2 --bfile NEW --alt1-allele 'force' snps.a1 --make-bed` with the model's "
            "counted alleles, or re-train on data coded like this."
        )
    return order


@dataclass
class Inference:
    q: dict[int, np.ndarray]
    seconds: float
    reordered: bool


def infer(loaded: LoadedModel, data: Genotypes, device: str = "auto", model_path="model"):
    """Q of each sample in ``data`` for every head of the model: one forward pass."""
    started = time.perf_counter()
    order = align_snps(loaded.snps, data, model_path)
    reordered = not np.array_equal(order, np.arange(len(order)))
    calls = np.ascontiguousarray(data.calls[:, order]) if reordered else data.calls
    inputs = torch.from_numpy(loaded.pca.transform(calls))
    target = select_device(device)
    model = loaded.model.to(target)
    q = predict(model, inputs.to(target), loaded.ks)
    return Inference(q=q, seconds=time.perf_counter() - started, reordered=reordered)
