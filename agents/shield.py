"""The training envelope of a learned policy, and a shield that keeps it inside it.

An MLP policy has no reason to act sensibly on observations unlike any it saw in training.
Under drift stronger than the training environments', every layer's measured ``noise`` and
``sensitivity`` grow beyond anything the agent saw, and what the network does there is an
accident of its training run (issue 14: one default run in three moved conv1 and conv2 back to
analog at the last step under 2x drift, and accuracy collapsed). The features are measured per
layer, so the check is per layer, and the safe choice for a layer outside the envelope is the
exact substrate.

* :class:`ObservationRange` (training) records the elementwise minimum and maximum of every
  observation the agent acted on; ``agents.training`` stores them in the run's ``config.json``
  (:data:`OBSERVATION_RANGE_KEY`).
* :func:`out_of_envelope` (deployment) flags each layer whose measured noise or sensitivity
  exceeds its training maximum, or sits at the observation's clip (``MAX_OBSERVATION``: its true
  value is unknown). ``PPOPolicy`` runs such layers digitally and shows its network the
  observation clamped to the recorded range (``shield=True``, the default when the run recorded
  its range; ``evaluate.py --no-shield`` turns it off).

Both read only what the agent itself observes, so the shield is as deployable as the agent; its
cost and effect are measured in README (Results, Generalisation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from envs.observation import MAX_OBSERVATION, ObservationLayout

SHIELDED_FEATURES = ("noise", "sensitivity")
"""Per-layer features whose excess over the training maximum sends the layer to digital: both
grow with drift and measure how far the layer's analog output is from the digital one."""
OBSERVATION_RANGE_KEY = "observation_range"
"""Key of the recorded envelope in a run's config.json: ``{"low": [...], "high": [...]}``."""


class ObservationRange(VecEnvWrapper):
    """Pass-through wrapper that records the elementwise min and max of the raw observations.

    Observations returned by ``reset`` and ``step`` are the ones the agent acts on (a finished
    episode's terminal observation stays in ``info`` and is not counted). Place it under
    VecNormalize so that it sees the environment's own values. ``recorded`` (a resumed run's
    range) is where it starts from.
    """

    def __init__(self, venv: VecEnv, recorded: dict[str, Any] | None = None) -> None:
        super().__init__(venv)
        size = int(np.prod(venv.observation_space.shape))
        self.low = np.full(size, np.inf)
        self.high = np.full(size, -np.inf)
        if recorded:
            self.low = np.minimum(self.low, np.asarray(recorded["low"], dtype=float))
            self.high = np.maximum(self.high, np.asarray(recorded["high"], dtype=float))

    def _record(self, observations: np.ndarray) -> None:
        flat = np.asarray(observations, dtype=float).reshape(len(observations), -1)
        self.low = np.minimum(self.low, flat.min(axis=0))
        self.high = np.maximum(self.high, flat.max(axis=0))

    def reset(self) -> np.ndarray:
        observations = self.venv.reset()
        self._record(observations)
        return observations

    def step_wait(self) -> Any:
        observations, rewards, dones, infos = self.venv.step_wait()
        self._record(observations)
        return observations, rewards, dones, infos

    def to_dict(self) -> dict[str, list[float]] | None:
        """The recorded range (JSON-friendly), or None before any observation."""
        if not np.all(np.isfinite(self.high)):
            return None
        return {"low": self.low.tolist(), "high": self.high.tolist()}


def read_range(recorded: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """``(low, high)`` arrays from a run's recorded range, or None when it has none."""
    if not recorded:
        return None
    return np.asarray(recorded["low"], dtype=float), np.asarray(recorded["high"], dtype=float)


def out_of_envelope(
    layout: ObservationLayout, observation: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Which layers (bool, shape ``(n_layers,)``) measure more noise or sensitivity than any
    state seen in training (``high``: the recorded maximum of each observation value), or a
    value at the observation's clip, whose true size the observation no longer tells."""
    now, limit = layout.view(np.asarray(observation, dtype=float)), layout.view(high)
    outside = np.zeros(layout.n_layers, dtype=bool)
    for name in SHIELDED_FEATURES:
        values = np.asarray(now[name], dtype=float)
        outside |= (values > np.asarray(limit[name], dtype=float)) | (values >= MAX_OBSERVATION)
    return outside
