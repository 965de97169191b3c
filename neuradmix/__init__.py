"""neuradmix: Neural ADMIXTURE in PyTorch, with ADMIXTURE-compatible inputs and outputs."""

__version__ = "0.1.0"
