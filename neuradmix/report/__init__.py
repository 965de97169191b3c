"""Figures (each drawn with its caption) and the self-contained HTML report of a cohort.

:mod:`.plots` holds the drawing primitives, :mod:`.figures` the cohort's figures and their
catalogue, :mod:`.html` the report page.
"""
