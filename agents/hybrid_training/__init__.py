"""Policies and tables for ``HybridTraining-v0`` (where each layer trains, then the deployment).

* :mod:`agents.hybrid_training.heuristics` -- the training-time baselines, registered with
  :func:`agents.base.register` when :mod:`agents` is imported;
* :mod:`agents.hybrid_training.reporting` -- statistics and tables of training-time episodes;
* :mod:`agents.hybrid_training.comparison` -- the results folder of ``evaluate.py`` on this
  environment (its rows over :mod:`agents.results`).

"Training" in :mod:`agents.training` means training the PPO agent; here it means the
environment's training run.
"""
