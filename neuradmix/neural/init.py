"""Where training starts: each decoder's F, and the Q the encoder is first fitted to.

Unsupervised decoders start from PCK-Means (the paper's Algorithm 1): K-Means on the leading
principal axes of the common SNPs, each cluster's allele frequencies as F. The encoder starts
fitted to a soft Q: alternating least squares on the low-rank PCA reconstruction from those
centroids (:func:`neuradmix.classic.starts.low_rank_als`; no pass over the genotypes). A hard
start (the K-Means clusters themselves) saturates the softmax, where its gradient vanishes, and
measured on a 105-sample cohort it left training 1e-4 below the optimum where the soft start
reaches 1e-5. Supervised decoders start from each labelled population's centroid (the paper's
choice); pretrained ones are the given ``.P``, kept fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..classic.starts import frequencies_given_q, least_squares_q, low_rank_als, pckmeans
from ..compute.bounds import project_f, project_q
from ..data import Genotypes, is_unknown, known_populations
from ..errors import InputError
from ..stats.frequencies import centroid_frequencies
from ..stats.pca import GenotypePCA
from .model import NeuralAdmixture
from .optim import by_autograd, minimise


@dataclass
class Start:
    """Per head: F on the first stage's SNPs (M' x K) and the Q the encoder starts from; the
    labels of a supervised run and the frozen F (all SNPs) of a pretrained one."""

    f: list[np.ndarray]
    q: list[np.ndarray]
    label_index: np.ndarray | None = None  # N, -1 unknown
    populations: list[str] | None = None
    frozen_f: np.ndarray | None = None  # M x K


def label_assignment(labels) -> tuple[np.ndarray, list[str]]:
    """Column of each sample's population (-1 unknown) and the population names (sorted)."""
    names = known_populations(labels)
    if len(names) < 2:
        raise InputError(
            "supervised training needs at least two populations among the labels; found "
            f"{len(names)}."
        )
    index = {name: column for column, name in enumerate(names)}
    assignment = np.array([-1 if is_unknown(x) else index[str(x)] for x in labels], dtype=np.int64)
    return assignment, names


def initial_state(
    stage_genotypes: Genotypes,
    snps: np.ndarray,
    pca: GenotypePCA,
    ks: list[int],
    labels,
    init_p: np.ndarray | None,
    seed: int,
) -> Start:
    """The start of every head on ``stage_genotypes`` (the cohort restricted to ``snps``, the
    SNPs of ``pca``)."""
    if init_p is not None:
        frozen = project_f(np.asarray(init_p, dtype=np.float64))
        q = project_q(least_squares_q(pca, frozen[snps]))
        return Start(f=[frozen[snps]], q=[q], frozen_f=frozen)
    if labels is not None:
        assignment, names = label_assignment(labels)
        k = len(names)
        if list(ks) != [k]:
            raise InputError(
                f"labels name {k} populations ({', '.join(names)}), so a supervised run has "
                f"K={k}; drop --k or set it to that."
            )
        known = assignment >= 0
        f = project_f(centroid_frequencies(stage_genotypes, np.where(known, assignment, -1), k))
        q = project_q(least_squares_q(pca, f))
        return Start(f=[f], q=[q], label_index=assignment, populations=names)
    fs, qs = [], []
    for k in ks:
        centroids, _ = pckmeans(stage_genotypes, k, pca, seed=seed)
        q, _ = low_rank_als(pca, centroids)
        fs.append(project_f(centroids))
        qs.append(project_q(q))
    return Start(f=fs, q=qs)


def fit_encoder_to(model: NeuralAdmixture, coordinates, targets: list[np.ndarray], steps: int):
    """Fit every head's Q to ``targets`` (KL divergence, L-BFGS): where training starts."""
    for head, target in zip(model.heads, targets, strict=True):
        wanted = torch.as_tensor(target, dtype=coordinates.dtype, device=coordinates.device)
        inputs = (coordinates - model.input_mean) / model.input_scale

        def divergence(head=head, wanted=wanted, inputs=inputs):
            log_q = torch.log_softmax(head(inputs), dim=1)
            return (wanted * (torch.log(wanted) - log_q)).sum(dim=1).mean()

        params = list(head.parameters())
        minimise(params, by_autograd(params, divergence), steps)


def frequencies_for_all_snps(genotypes: Genotypes, q: np.ndarray, start: Start) -> np.ndarray:
    """F of every SNP where the second stage begins: the frozen F of a pretrained run, else the
    least-squares F given Q (one pass)."""
    if start.frozen_f is not None:
        return start.frozen_f
    return frequencies_given_q(genotypes, q)
