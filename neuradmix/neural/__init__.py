"""The neural method: the network and its loss, the initialisations, the training loop, model
checkpoints with their SNP set, inference, and the file-level commands.

May call :mod:`neuradmix.classic` (polish, cross-validation, shared starts); never the reverse.
"""
