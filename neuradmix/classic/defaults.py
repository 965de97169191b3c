"""Defaults of the classic engine, free of heavy imports so the CLI can show them quickly."""

# Stop when an iteration gains less than DEFAULT_TOL x |loglik|.
DEFAULT_TOL = 1e-9
DEFAULT_MAX_ITER = 1000
# External and internal baselines (neuradmix.classic.tools).
BASELINE_TOOLS = ("auto", "admixture", "fastmixture2", "adamixture", "fastmixture", "em")
# Tools that give Q for a fixed P (`neuradmix project`): admixture -P, adamixture-project, our EM.
PROJECTION_TOOLS = ("em", "admixture", "adamixture", "auto")
