"""``HybridTraining-v0``: where each layer trains (analog or digital) during a short training
run, then the deployment of the trained network.

* :mod:`envs.hybrid_training.env` -- the Gymnasium API (``HybridTrainingEnv``, registered by
  :mod:`envs` under ``HybridTraining-v0``);
* :mod:`envs.hybrid_training.run` -- the training run an episode steps through: the model, the
  data, the training state per step and its cache;
* :mod:`envs.hybrid_training.observation` -- the observation, read by name;
* :mod:`envs.hybrid_training.rewards` -- the reward weights and metrics.

It imports from :mod:`hybrid` and the shared parts of :mod:`envs` (actions, chips, the
observation layout, the deployment rewards and scenarios), never from :mod:`agents`.
"""
