"""Statistics shared by both methods and the report: allele frequencies, the genotype PCA, and
the agreement metrics of the paper (AMI, Delta, RMSE after matching clusters).

Depends only on :mod:`neuradmix.data`.
"""
