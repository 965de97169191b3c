"""Simulated cohorts with known ancestry: PyAdmix-style admixed descendants of phased founders
(:mod:`.descendants`) and Pritchard-Stephens-Donnelly cohorts for tests (:mod:`.psd`)."""
