"""The compute core: passes over the packed genotypes that every fit is built from.

* :mod:`.bounds`: the bounds of the model's parameters (``F_MIN``, ``F_MAX``, ``Q_MIN``), their
  projections, and :data:`~.bounds.PROBABILITY_FLOOR`, the one clamp of a call's probability;
* :mod:`.likelihood`: the one per-call log-likelihood (numba, inlined into the passes);
* :mod:`.kernels`: the numba passes (log-likelihood and Newton steps of F, the per-sample model
  of the loss in Q and its Newton step, held-out folds);
* :mod:`.numba_engine` and :mod:`.torch_engine`: the two engines;
* :mod:`.engine`: :class:`~.engine.Engine`, the interface both engines implement;
* :mod:`.engines`: :func:`~.engines.make_engine`, which picks one, and the scoring
  :func:`~.engines.log_likelihood`.

Both fitting methods import it downward: the classic block relaxation (:mod:`neuradmix.classic`)
and the neural network's training (:mod:`neuradmix.neural`). It imports neither; torch is imported
only by :mod:`.torch_engine`.
"""

# The values of --engine: numba (CPU kernels), torch (tensors; what cuda uses) or auto (torch on
# cuda, numba otherwise). Here, free of heavy imports, so the CLI can offer them quickly.
ENGINE_CHOICES = ("auto", "numba", "torch")
