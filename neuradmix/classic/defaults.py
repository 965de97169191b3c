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
# Starts of the block-relaxation fit (neuradmix.classic.starts): PCK-Means clusters (default),
# PCK-Means refined by alternating least squares on the low-rank reconstruction, or a random Q.
# Measured with benchmarks/starts.py (8 seeds each on the suite of benchmarks/classic_suite.py):
# on the ridge cohorts the PCK-Means start took 6-39% less time and ended at a median 4.1 and 12.6
# units higher on ridge2 at K=4 and 5 but 1.5 lower on ridge at K=4; the same elsewhere.
STARTS = ("pckmeans", "svd", "random")
DEFAULT_INIT = "pckmeans"
# Each warm-started bootstrap replicate (neuradmix.classic.bootstrap) iterates until the last gain
# and the gain still to come are below BOOTSTRAP_TOL x |loglik|, at most DEFAULT_BOOTSTRAP_ITER
# times (measured there: within 1% of converged replicates' standard errors at half the cost).
DEFAULT_BOOTSTRAP_ITER = 10
BOOTSTRAP_TOL = 1e-7
# External and internal baselines (neuradmix.classic.tools).
BASELINE_TOOLS = ("auto", "admixture", "fastmixture2", "adamixture", "fastmixture", "em")
# Tools that give Q for a fixed P (`neuradmix project`): admixture -P, adamixture-project, our block
# relaxation (em).
PROJECTION_TOOLS = ("em", "admixture", "adamixture", "auto")
