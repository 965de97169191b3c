"""What makes a cohort fittable at all, checked by every command that fits the ADMIXTURE model
before it starts.

* A sample without a single observed call has no likelihood: any Q fits it equally, so a fit
  would write an arbitrary row. Refused, naming the samples.
* A cohort whose every SNP is monomorphic has no variation to assign ancestry from. Refused.
* A SNP without an observed call adds nothing to the likelihood, so the fit is the same with or
  without it (ADMIXTURE accepts such SNPs too). Accepted with one warning naming how many and
  which; its ``.P`` row is the start's and carries no information.
"""

from __future__ import annotations

import sys

import numpy as np

from ..errors import InputError
from .genotypes import Genotypes
from .packed import allele_counts, observed_per_sample


def _some(names, count: int) -> str:
    shown = ", ".join(str(x) for x in names[:3])
    return shown + (f" and {count - 3} more" if count > 3 else "")


def refuse_samples_without_calls(genotypes: Genotypes, observed: np.ndarray) -> None:
    """``observed``: each sample's observed calls (however they were counted)."""
    empty = np.flatnonzero(observed == 0)
    if empty.size:
        raise InputError(
            f"{genotypes.source}: {empty.size} sample(s) have no observed genotype "
            f"({_some(genotypes.sample_ids[empty], empty.size)}), so the data say nothing "
            "about their ancestry. Remove them first, e.g. list them in drop.txt and run "
            "`plink2 --bfile PREFIX --remove drop.txt --make-bed --out NEW`."
        )


def check_fittable(genotypes: Genotypes, warn=None, assigning: bool = False) -> None:
    """Refuse a cohort that cannot be fitted; warn (on stderr, or through ``warn(message)``)
    about SNPs without any observed call. ``assigning``: the samples are assigned with given
    frequencies (projection, inference), where a few samples may well be monomorphic."""
    source = genotypes.source
    refuse_samples_without_calls(
        genotypes, observed_per_sample(genotypes.packed, genotypes.n_samples)
    )
    if genotypes._counts is None:
        genotypes._counts = allele_counts(genotypes.packed, genotypes.n_samples)
    copies, observed = genotypes._counts[:, 0], genotypes._counts[:, 1]
    variable = (copies > 0) & (copies < 2 * observed)
    if not assigning and not variable.any():
        raise InputError(
            f"{source}: every one of its {genotypes.n_snps} SNPs is monomorphic (one allele in "
            "every observed call), so there is no variation to assign ancestry from; check "
            "that this is the fileset you meant."
        )
    missing = np.flatnonzero(observed == 0)
    if missing.size:
        message = (
            f"{source}: warning: {missing.size} SNP(s) have no observed call "
            f"({_some(genotypes.snp_ids[missing], missing.size)}); they add nothing to the "
            "likelihood and do not change the fit, and their .P rows carry no information."
        )
        if warn is None:
            print(message, file=sys.stderr, flush=True)
        else:
            warn(message)
