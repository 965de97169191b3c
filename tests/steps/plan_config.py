"""A config as the schema leaves it, for the tests of the plan and the layout."""

from __future__ import annotations


def full_config(**runs) -> dict:
    """A config as the schema leaves it (defaults filled in): one cohort 'c' and the example's
    runs unless ``runs`` are given."""
    runs = runs or {
        "single": {"mode": "unsupervised", "k": 3},
        "polished": {"mode": "unsupervised", "k": 3, "polish": True},
        "soft": {"mode": "unsupervised", "k": 3, "lambda": 0.01},
        "multihead": {"mode": "multihead", "min_k": 2, "max_k": 5},
        "supervised": {"mode": "supervised"},
        "pretrained": {"mode": "pretrained", "k": 3},
    }
    return {
        "cohorts": {"c": {"vcf": "c.vcf.gz", "labels": "c.pops", "phased": True, "simulate": True}},
        "seed": 42,
        "qc": {"maf": 0.01, "snp_missing": 0.1, "sample_missing": 0.1},
        "downsample": {"method": "uniform", "every": None, "target_snps": 500},
        "split": {"validation_fraction": 0.2},
        "simulate": {"populations": None},
        "neural": {"epochs": 10, "lambda": 0.0, "device": "cpu", "runs": runs},
        "baseline": {"tool": "em"},
        "cv": {"enabled": True, "methods": ["em"], "folds": 3, "min_k": 2, "max_k": 4},
        "resources": {"default": {"threads": 1, "mem_mb": 2000, "runtime": 60}},
        "partitions": {"cpu": None, "gpu": None},
    }
