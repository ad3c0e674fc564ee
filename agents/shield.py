"""The training envelope of a learned policy, and a shield that keeps it inside it.

An MLP policy has no reason to act sensibly on observations unlike any it saw in training.
Under drift stronger than the training environments', every layer's measured ``noise`` and
``sensitivity`` grow beyond anything the agent saw, and what the network does there is an
accident of its training run (one default run in three moved conv1 and conv2 back to
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
* :func:`analog_envelope` (end of training, or ``python -m agents.measure_envelope RUN`` for an
  older run) plays the trained agent deterministically on training chips at each training drift and
  records, per layer, the largest measured noise and sensitivity at which it ran that layer
  analog. Deployed, the agent may run a layer analog only inside that envelope: it never
  extends analog use beyond conditions in which it was seen to do so (a layer it never ran
  analog there stays digital). The observation-wide range above is wide (it holds every
  exploratory step of training); this one is the agent's own demonstrated behaviour. Measured
  in README (Results, Generalisation): one seed in five at 3x drift put conv1 on its tile in
  the middle of an episode (accuracy 0.29), which the wide range let through.

Both read only what the agent itself observes, so the shield is as deployable as the agent; its
cost and effect are measured in README (Results, Generalisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from envs.actions import DIGITAL
from envs.observation import MAX_OBSERVATION, ObservationLayout

SHIELDED_FEATURES = ("noise", "sensitivity")
"""Per-layer features whose excess over the training maximum sends the layer to digital: both
grow with drift and measure how far the layer's analog output is from the digital one."""
OBSERVATION_RANGE_KEY = "observation_range"
"""Key of the recorded envelope in a run's config.json: ``{"low": [...], "high": [...]}``."""
ANALOG_ENVELOPE_KEY = "analog_envelope"
"""Key of the behaviour envelope in a run's config.json: per shielded feature, one maximum per
layer (None where the agent never ran the layer analog), plus how it was measured."""
ENVELOPE_CHIPS = 16
"""Training chips (0..15) the behaviour envelope is measured on, one episode each per
training drift multiplier: enough to see the agent's schedule at each step (its placements
barely vary over chips), about 30 s of the digits network's episodes."""


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


def analog_envelope(
    policy: Any,
    env_kwargs: dict[str, Any],
    drift_scales: Sequence[float],
    env_id: str,
    chips: int = ENVELOPE_CHIPS,
) -> dict[str, Any]:
    """The behaviour envelope of a trained agent (see the module docstring): its deterministic
    episodes on training chips ``0..chips-1`` at each drift multiplier."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the environments)

    highs = {name: None for name in SHIELDED_FEATURES}
    for scale in drift_scales:
        kwargs = {**env_kwargs, "drift_scale": env_kwargs.get("drift_scale", 1.0) * scale}
        env = gym.make(env_id, **kwargs)
        layout: ObservationLayout = env.unwrapped.observation_layout
        policy.bind(env.unwrapped)
        n_chips = min(chips, env.unwrapped.chip_pool)
        for chip in range(n_chips):
            observation, _ = env.reset(seed=chip, options={"chip": chip})
            policy.reset()
            done = False
            while not done:
                action = np.asarray(policy.act(observation))
                analog = action[: layout.n_layers] != DIGITAL
                view = layout.view(observation)
                for name in SHIELDED_FEATURES:
                    seen = np.where(analog, np.asarray(view[name], dtype=float), -np.inf)
                    highs[name] = seen if highs[name] is None else np.maximum(highs[name], seen)
                observation, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
        env.close()
    return {
        **{
            name: [None if not np.isfinite(v) else float(v) for v in values]
            for name, values in highs.items()
        },
        "chips": [0, min(chips, int(env_kwargs.get("chip_pool", chips))) - 1],
        "drift_scales": list(drift_scales),
    }


def read_analog_envelope(recorded: dict[str, Any] | None) -> dict[str, np.ndarray] | None:
    """Per shielded feature, the per-layer maxima as arrays (-inf: never analog), or None."""
    if not recorded:
        return None
    return {
        name: np.array([-np.inf if v is None else float(v) for v in recorded[name]])
        for name in SHIELDED_FEATURES
    }


def beyond_behaviour(
    layout: ObservationLayout, observation: np.ndarray, envelope: dict[str, np.ndarray]
) -> np.ndarray:
    """Which layers (bool, ``(n_layers,)``) measure more noise or sensitivity than any state in
    which the agent ran them analog on training chips (all of them, for a layer it never ran
    analog there)."""
    view = layout.view(np.asarray(observation, dtype=float))
    beyond = np.zeros(layout.n_layers, dtype=bool)
    for name in SHIELDED_FEATURES:
        beyond |= np.asarray(view[name], dtype=float) > envelope[name]
    return beyond
