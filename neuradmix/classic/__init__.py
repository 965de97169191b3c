"""The classic method: ADMIXTURE's block relaxation (what ADMIXTURE and the ``neuradmix em``
command call EM) with fit, supervised fit, projection and polishing, the starts, cross-validation
(taking a fit function), the bootstrap, and the external tools (admixture, fastmixture2,
adamixture, fastmixture) run as baselines. Its passes over the genotypes run on an engine of
:mod:`neuradmix.compute`.

Imports nothing of :mod:`neuradmix.neural`; the neural method calls into this one.
"""
