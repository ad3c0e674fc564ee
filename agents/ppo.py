"""The learned partitioning policy: a stable-baselines3 PPO (or sb3-contrib MaskablePPO) agent.

:func:`load_agent` turns a run folder (``agents.run_folder``) or its ``model.zip`` into a
:class:`PPOPolicy` in one call; ``make_policy("ppo", env, path=...)`` does the same through the
policy registry.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Policy, register
from agents.run_folder import (
    NORMALIZER_FILE,
    RunFolderError,
    is_masked,
    read_run_config,
    resolve_run,
)
from agents.shield import (
    ANALOG_ENVELOPE_KEY,
    OBSERVATION_RANGE_KEY,
    beyond_behaviour,
    out_of_envelope,
    read_analog_envelope,
    read_range,
)
from envs.actions import DIGITAL
from envs.partition_env import HybridPartitionEnv


def algorithm(masked: bool) -> Any:
    """The agent's class: sb3-contrib's MaskablePPO for runs trained with ``--mask-reprogram``
    (it reads ``env.action_masks()``), stable-baselines3's PPO otherwise."""
    if masked:
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    from stable_baselines3 import PPO

    return PPO


@register("ppo")
class PPOPolicy(Policy):
    """A trained stable-baselines3 PPO agent (deterministic actions at evaluation).

    Args:
        path: run folder or ``model.zip`` written by ``train_agent.py``.
        model: an already loaded SB3 model (instead of ``path``).
        obs_mean, obs_var, clip_obs, epsilon: observation normalisation (from VecNormalize).
        frame_stack: observations the agent sees side by side, oldest first, as
            stable-baselines3's VecFrameStack gave them in training (zeros before the first
            step of an episode); read from the run's ``--frame-stack``.
        masked: the agent is a MaskablePPO and acts only among the choices the bound
            environment's ``action_masks()`` allows (``--mask-reprogram``).
        observation_range: ``(low, high)``, the smallest and largest value of each
            observation entry the agent acted on in training (the run's recorded
            ``observation_range``; None for runs trained before it was recorded).
        shield: keep the agent inside its training envelope (``agents.shield``): every layer
            whose measured noise or sensitivity lies beyond ``high`` runs digitally, and the
            network sees the observation clamped to ``[low, high]``; with ``analog_envelope``
            (the run's behaviour envelope) a layer measured beyond every state in which the
            agent ran it analog on training chips runs digitally too. No effect without
            ``observation_range``; ``shield_count`` counts the layer decisions it overrode.
        analog_envelope: per shielded feature, the per-layer maximum at which the agent ran
            the layer analog (``agents.shield.analog_envelope``; -inf: never).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        model: Any = None,
        obs_mean: np.ndarray | None = None,
        obs_var: np.ndarray | None = None,
        clip_obs: float = 10.0,
        epsilon: float = 1e-8,
        frame_stack: int = 1,
        masked: bool = False,
        observation_range: tuple[np.ndarray, np.ndarray] | None = None,
        shield: bool = True,
        analog_envelope: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {}
        if model is None:
            if path is None:
                raise ValueError("the ppo policy needs path=RUN_FOLDER (or a loaded model)")
            loaded = load_agent(path)
            model, obs_mean, obs_var = loaded.model, loaded.obs_mean, loaded.obs_var
            clip_obs, epsilon, self.config = loaded.clip_obs, loaded.epsilon, loaded.config
            frame_stack, masked = loaded.frame_stack, loaded.masked
            observation_range = loaded.observation_range
            analog_envelope = loaded.analog_envelope
        self.model = model
        self.masked = bool(masked)
        self.obs_mean, self.obs_var = obs_mean, obs_var
        self.clip_obs, self.epsilon = clip_obs, epsilon
        self.frame_stack = int(frame_stack)
        self._stack: np.ndarray | None = None
        self.observation_range = observation_range
        self.analog_envelope = analog_envelope
        self.shield = bool(shield)
        self.shield_count = 0

    def normalise(self, observation: np.ndarray) -> np.ndarray:
        """Apply the training-time observation normalisation."""
        if self.obs_mean is None:
            return observation
        scaled = (observation - self.obs_mean) / np.sqrt(self.obs_var + self.epsilon)
        return np.clip(scaled, -self.clip_obs, self.clip_obs).astype(np.float32)

    def reset(self) -> None:
        """A new episode: the stacked history starts empty (zeros)."""
        self._stack = None

    def shielding(self) -> bool:
        """Whether the shield acts: on, a recorded range, and a bound HybridPartition-v0."""
        if not self.shield or self.observation_range is None or self.env is None:
            return False
        # A deployment only: on HybridTraining-v0 a digital layer means digital training.
        return isinstance(self.env, HybridPartitionEnv)

    def act(self, observation: np.ndarray) -> np.ndarray:
        raw = np.asarray(observation, dtype=np.float32)
        if not self.shielding():
            return self._act(raw)
        low, high = self.observation_range
        # The network sees only values it was trained on; layers beyond them run digitally,
        # and so does a layer measured beyond every state the agent ran it analog in.
        action = self._act(np.clip(raw, low, high).astype(np.float32))
        layout = self.env.observation_layout
        outside = out_of_envelope(layout, raw, high)
        if self.analog_envelope is not None:
            outside |= beyond_behaviour(layout, raw, self.analog_envelope)
        self.shield_count += int(np.sum(outside & (action != DIGITAL)))
        return np.where(outside, DIGITAL, action)

    def _act(self, observation: np.ndarray) -> np.ndarray:
        observation = self.normalise(observation)
        if self.frame_stack > 1:
            if self._stack is None:
                self._stack = np.zeros(observation.size * self.frame_stack, dtype=np.float32)
            self._stack = np.concatenate([self._stack[observation.size :], observation])
            observation = self._stack
        if self.masked:
            masks = self._require_env().action_masks()
            action, _ = self.model.predict(observation, deterministic=True, action_masks=masks)
        else:
            action, _ = self.model.predict(observation, deterministic=True)
        return action


def load_agent(path: str | Path) -> PPOPolicy:
    """Load a trained agent from a run folder (or its ``model.zip``) as a registry policy."""
    folder, model_path = resolve_run(path)
    config = read_run_config(folder)
    try:
        model = algorithm(is_masked(config)).load(model_path, device="cpu")
    except Exception as error:  # noqa: BLE001 - any unreadable archive gets the same advice
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RunFolderError(f"{model_path} could not be loaded ({first_line}): retrain") from None
    mean = var = None
    clip_obs, epsilon = 10.0, 1e-8
    normaliser = folder / NORMALIZER_FILE
    if normaliser.exists():
        try:
            with normaliser.open("rb") as handle:
                vec_normalize = pickle.load(handle)
        except Exception:  # noqa: BLE001
            raise RunFolderError(f"{normaliser} is corrupt: retrain or restore it") from None
        mean, var = vec_normalize.obs_rms.mean, vec_normalize.obs_rms.var
        clip_obs, epsilon = vec_normalize.clip_obs, vec_normalize.epsilon
    frame_stack = int(config.get("args", {}).get("frame_stack", 1))
    policy = PPOPolicy(
        model=model,
        obs_mean=mean,
        obs_var=var,
        clip_obs=clip_obs,
        epsilon=epsilon,
        frame_stack=frame_stack,
        masked=is_masked(config),
        observation_range=read_range(config.get(OBSERVATION_RANGE_KEY)),
        analog_envelope=read_analog_envelope(config.get(ANALOG_ENVELOPE_KEY)),
    )
    policy.config = config
    return policy
