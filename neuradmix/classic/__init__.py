"""The classic ADMIXTURE engine: the likelihood and its kernels, the starts, the block-relaxation
fit, projection and polishing, cross-validation (taking a fit function), and the external tools
(admixture, fastmixture) run as baselines.

Imports nothing of :mod:`neuradmix.neural`; the neural engine calls into this one.
"""
