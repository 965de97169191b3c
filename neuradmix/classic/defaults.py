"""Defaults of the classic method (block relaxation, baselines), free of heavy imports so the CLI
can show them quickly."""

# Stop when an iteration gains, and is predicted to go on gaining, less than DEFAULT_TOL x
# |loglik| (neuradmix.classic.fit._iterate).
DEFAULT_TOL = 1e-9
DEFAULT_MAX_ITER = 1000
# Acceleration of block relaxation (neuradmix.classic.fit): quasi-Newton extrapolation from
# the last secants (default), over-relaxed block steps, or none.
ACCELERATIONS = ("quasi-newton", "sor", "none")
DEFAULT_ACCELERATION = "quasi-newton"
# Iterations at most of each warm-started bootstrap replicate (neuradmix.classic.bootstrap).
DEFAULT_BOOTSTRAP_ITER = 10
# External and internal baselines (neuradmix.classic.tools).
BASELINE_TOOLS = ("auto", "admixture", "fastmixture2", "adamixture", "fastmixture", "em")
# Tools that give Q for a fixed P (`neuradmix project`): admixture -P, adamixture-project, our block
# relaxation (em).
PROJECTION_TOOLS = ("em", "admixture", "adamixture", "auto")
