"""One module per workflow verb between the heavy steps: split, downsample, match SNPs, evaluate,
and the metrics tables. The Snakemake rules call these through ``neuradmix <command>``."""
