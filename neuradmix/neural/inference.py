"""Assigning new samples with a trained model, after checking that the data carry the model's
SNPs with the model's allele coding: the encoder's forward pass (the principal-axes layer, one
pass over the new genotypes, then every head). ``refine_steps`` > 0 adds that many Newton steps
of each sample's Q given the head's F (ADMIXTURE's projection, a pass over the genotypes each),
on request only."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data import Genotypes
from ..data.checks import refuse_samples_without_calls
from ..errors import InputError
from ..runtime import select_device
from .checkpoint import LoadedModel
from .model import encode


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
    device: str = "cpu"
    refine_steps: int = 0  # Newton steps taken after the forward pass (0: the forward pass)


def infer(
    loaded: LoadedModel,
    data: Genotypes,
    device: str = "auto",
    model_path="model",
    refine_steps: int = 0,
) -> Inference:
    """Q of each sample in ``data`` for every head of the model: the forward pass, then, if
    ``refine_steps`` > 0, at most that many Newton steps given each head's F."""
    started = time.perf_counter()
    order = align_snps(loaded.snps, data, model_path)
    reordered = not np.array_equal(order, np.arange(len(order)))
    ordered = data.select_snps(order) if reordered else data
    target = select_device(device)
    values, observed = loaded.pca.coordinates(ordered)
    refuse_samples_without_calls(ordered, observed)
    coordinates = torch.from_numpy(values).to(target)
    model = loaded.model.to(target)
    q = dict(zip(loaded.ks, encode(model, coordinates), strict=True))
    taken = 0
    if refine_steps > 0:
        q, taken = _refine(loaded, ordered, q, target, refine_steps)
    return Inference(
        q=q,
        seconds=time.perf_counter() - started,
        reordered=reordered,
        device=str(target),
        refine_steps=taken,
    )


def _refine(loaded: LoadedModel, data: Genotypes, q: dict, target, max_steps: int):
    """Newton steps of every head's Q given its F (the compute engine's ancestry pass), each
    sample until its Q moves by less than 1e-7."""
    from ..compute.bounds import project_q
    from ..compute.engines import make_engine
    from ..data.packed import observed_per_sample

    engine = make_engine(data, target.type if target.type == "cuda" else "cpu")
    lam = float(loaded.config.get("entropy", 0.0))
    entropy = None
    if lam > 0:
        entropy = lam * observed_per_sample(data.packed, data.n_samples).astype(np.float64)
    refined, taken = {}, 0
    for h, k in enumerate(loaded.ks):
        current = project_q(q[k])
        f = loaded.model.frequencies(h)
        steps, active = 0, None
        while steps < max_steps:
            new = engine.ancestry(current, f, None, entropy, rows=active)
            steps += 1
            moved = np.abs(new - current).max(axis=1) >= 1e-7
            current = new
            active = np.flatnonzero(moved)
            if active.size == 0:
                break
        refined[k] = current
        taken = max(taken, steps)
    return refined, taken
