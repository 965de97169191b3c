"""Data layer: genotypes (2-bit packed, as PLINK stores them), PLINK filesets, ADMIXTURE
``.Q``/``.P`` files, population labels, VCF, and all-or-nothing output writing.

Everything above this layer reads and writes files through these functions, so the counted allele
(:mod:`neuradmix.data.genotypes`) and every file format are defined in one place.
"""

from .genotypes import MISSING, Genotypes, make_genotypes, pack_calls, unpack_calls
from .labels import (
    UNKNOWN,
    UNKNOWN_LABELS,
    is_unknown,
    known_populations,
    read_labels,
    write_labels,
)
from .matrices import read_matrix, read_p, read_q, write_matrix, write_p, write_q
from .outputs import atomic_outputs
from .plink import (
    fileset_paths,
    pfile_paths,
    plink_prefix,
    read_bed,
    read_bim,
    read_fam,
    read_fam_ids,
    read_psam_ids,
    require_fileset,
    require_pfileset,
    write_bed,
    write_bed_parts,
)

__all__ = [
    "MISSING",
    "UNKNOWN",
    "UNKNOWN_LABELS",
    "Genotypes",
    "atomic_outputs",
    "fileset_paths",
    "is_unknown",
    "known_populations",
    "make_genotypes",
    "pack_calls",
    "pfile_paths",
    "plink_prefix",
    "read_bed",
    "read_bim",
    "read_fam",
    "read_fam_ids",
    "read_labels",
    "read_matrix",
    "read_p",
    "read_psam_ids",
    "read_q",
    "require_fileset",
    "require_pfileset",
    "unpack_calls",
    "write_bed",
    "write_bed_parts",
    "write_labels",
    "write_matrix",
    "write_p",
    "write_q",
]
