"""A warm start for PPO: behaviour cloning of a hand-written rule before reinforcement learning.

``train_agent.py --imitate RULE`` runs the rule (a registered heuristic, with the parameters
tuned on training chips when ``--imitate-params`` names a ``benchmarks/tune_heuristics.py``
file) on training chips, records what it saw and did, and fits the fresh agent's policy to
those actions (maximum likelihood) and its value function to the rule's discounted returns,
before PPO starts. PPO then improves on the rule instead of rediscovering it from random
actions: the scheme of "kickstarting" and of demonstration-seeded policy gradients (Schmitt et
al. 2018, arXiv:1803.03835; Rajeswaran et al. 2018, DAPG, arXiv:1709.10087), here with
stable-baselines3's own policy (``evaluate_actions``) and optimiser, nothing of its own.

Only training chips are used (the environment's ``chip_pool``, with the run's training drift
multipliers), so no validation or held-out chip and no unseen image reaches the agent this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

import envs  # noqa: F401  (registers the environments before gym.make)
from agents.base import make_policy, policy_names

IMITATION_KEY = "imitation"
"""config.json key of the warm start's record (rule, parameters, episodes, fit)."""
IMITATION_LEARNING_RATE = 1e-3
"""Adam learning rate of the fit (PPO's optimiser, whatever PPO's own rate): train_agent.py's
default PPO rate; with it 20-30 passes fit the rules measured here to 93-100% agreement
(README, Training: --imitate)."""


@dataclass
class Demonstrations:
    """What a rule saw and did on training chips, one row per step."""

    observations: np.ndarray
    """raw observations, (steps, observation size)"""
    actions: np.ndarray
    """the rule's actions, (steps, action entries)"""
    masks: np.ndarray | None
    """the environment's ``action_masks()`` at each step (None without masks)"""
    returns: np.ndarray
    """discounted return from each step to the end of its episode (raw rewards)"""
    episode_returns: list[float]
    """undiscounted return of each episode"""
    dropped: int = 0
    """steps left out because the rule's action was outside the mask a learner gets"""


def check_rule(rule: str, env_id: str) -> None:
    """A one-line ValueError unless ``rule`` is a heuristic of environment ``env_id``."""
    rules = [name for name in policy_names(env_id) if name != "ppo"]
    if rule not in rules:
        known = ", ".join(rules)
        raise ValueError(f"--imitate {rule!r} is not a rule of {env_id}; choose one of {known}")


def allowed(action: np.ndarray, mask: np.ndarray, nvec: np.ndarray) -> bool:
    """Whether every entry of a MultiDiscrete ``action`` is allowed by the flat ``mask``."""
    offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]])
    return bool(np.all(mask[offsets + np.asarray(action)]))


def demonstrations(
    rule: str,
    params: dict[str, Any],
    env_kwargs: dict[str, Any],
    env_id: str,
    episodes: int,
    seed: int,
    gamma: float,
    drift_scales: Sequence[float] = (1.0,),
    masked: bool = True,
) -> Demonstrations:
    """Run ``rule`` for ``episodes`` episodes on training chips (``env_kwargs``, seeds from
    ``seed``), one environment per training drift multiplier, as the training processes have."""
    observations, actions, masks, returns, episode_returns = [], [], [], [], []
    dropped = 0
    built = []
    for scale in drift_scales:
        kwargs = dict(env_kwargs, drift_scale=env_kwargs.get("drift_scale", 1.0) * scale)
        env = gym.make(env_id, **kwargs)
        built.append((env, make_policy(rule, env, **params)))
    for episode in range(episodes):
        env, policy = built[episode % len(built)]
        unwrapped = env.unwrapped
        nvec = np.asarray(env.action_space.nvec)
        observation, _ = env.reset(seed=seed + episode)
        rewards: list[float] = []
        kept: list[bool] = []
        start, done = True, False
        while not done:
            action, _ = policy.predict(observation, episode_start=start)
            start = False
            mask = unwrapped.action_masks() if masked else None
            ok = mask is None or allowed(action, mask, nvec)
            if ok:
                observations.append(np.asarray(observation, dtype=np.float32))
                actions.append(np.asarray(action, dtype=np.int64))
                if mask is not None:
                    masks.append(mask)
            dropped += not ok
            kept.append(ok)
            observation, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            done = terminated or truncated
        to_go, discounted = 0.0, []
        for reward in reversed(rewards):
            to_go = reward + gamma * to_go
            discounted.append(to_go)
        returns.extend(value for value, ok in zip(discounted[::-1], kept, strict=True) if ok)
        episode_returns.append(float(sum(rewards)))
    for env, _ in built:
        env.close()
    if not actions:
        raise ValueError(
            f"--imitate {rule}: every action of the rule is masked; use --no-mask-reprogram"
        )
    return Demonstrations(
        observations=np.stack(observations),
        actions=np.stack(actions),
        masks=np.stack(masks) if masks else None,
        returns=np.asarray(returns, dtype=np.float64),
        episode_returns=episode_returns,
        dropped=dropped,
    )


def imitate(
    model: BaseAlgorithm,
    normaliser: VecNormalize,
    demos: Demonstrations,
    epochs: int,
    batch_size: int,
    seed: int,
    value_coef: float = 0.5,
    learning_rate: float = IMITATION_LEARNING_RATE,
) -> dict[str, float]:
    """Fit ``model``'s policy to the demonstrated actions and its value function to their
    returns, on observations normalised as PPO will see them. The normaliser's statistics are
    first updated with the demonstrations (observations, and the discounted returns that scale
    the rewards), so PPO starts from the states the rule visits. Returns the fit: the share of
    steps where the agent's deterministic action equals the rule's, and the final losses."""
    if normaliser.norm_obs:
        normaliser.obs_rms.update(demos.observations)
    if normaliser.norm_reward:
        normaliser.ret_rms.update(demos.returns)
    normalised = normaliser.normalize_obs(demos.observations).astype(np.float32)
    observations = torch.as_tensor(normalised)
    scale = np.sqrt(normaliser.ret_rms.var + normaliser.epsilon) if normaliser.norm_reward else 1.0
    targets = torch.as_tensor(demos.returns / scale, dtype=torch.float32)
    actions = torch.as_tensor(demos.actions)
    masks = None if demos.masks is None else torch.as_tensor(demos.masks)
    policy = model.policy
    policy.set_training_mode(True)
    for group in policy.optimizer.param_groups:  # PPO sets its own rate again at every update
        group["lr"] = learning_rate
    generator = torch.Generator().manual_seed(seed)
    n = len(actions)
    action_loss = value_loss = float("nan")
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            # Masks exist exactly when the agent is a MaskablePPO (demonstrations(masked=...)).
            extra = {} if masks is None else {"action_masks": masks[batch]}
            values, log_prob, _ = policy.evaluate_actions(
                observations[batch], actions[batch], **extra
            )
            action_term = -log_prob.mean()
            value_term = torch.nn.functional.mse_loss(values.flatten(), targets[batch])
            loss = action_term + value_coef * value_term
            policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), model.max_grad_norm)
            policy.optimizer.step()
            action_loss, value_loss = action_term.item(), value_term.item()
    policy.set_training_mode(False)
    extra = {} if demos.masks is None else {"action_masks": demos.masks}
    predicted, _ = model.predict(normalised, deterministic=True, **extra)
    agreement = float(np.mean(np.all(predicted == demos.actions, axis=1)))
    return {"agreement": agreement, "action_loss": action_loss, "value_loss": value_loss}


def warm_start(
    model: BaseAlgorithm,
    normaliser: VecNormalize,
    rule: str,
    params: dict[str, Any],
    env_kwargs: dict[str, Any],
    env_id: str,
    episodes: int,
    epochs: int,
    seed: int,
    drift_scales: Sequence[float],
    masked: bool,
) -> dict[str, Any]:
    """Demonstrations of ``rule`` and the fit of ``model`` to them; the record for config.json."""
    demos = demonstrations(
        rule, params, env_kwargs, env_id, episodes, seed, model.gamma, drift_scales, masked
    )
    fit = imitate(model, normaliser, demos, epochs, model.batch_size, seed)
    record = {
        "rule": rule,
        "params": params,
        "episodes": episodes,
        "epochs": epochs,
        "steps": int(len(demos.actions)),
        "dropped_steps": int(demos.dropped),
        "rule_return": float(np.mean(demos.episode_returns)),
        **{key: round(value, 4) for key, value in fit.items()},
    }
    print(
        f"imitated {rule} on {episodes} training episodes ({record['steps']} steps, mean return "
        f"{record['rule_return']:.2f}): the agent takes the rule's action on "
        f"{100 * fit['agreement']:.0f}% of them"
    )
    return record
