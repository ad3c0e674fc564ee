"""Run policies through whole deployments and record every step."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.base import Policy


@dataclass
class EpisodeRecord:
    """One deployment run by one policy.

    Attributes:
        policy: the policy's name.
        seed: the seed passed to ``env.reset``.
        chip: the chip the episode ran on.
        steps: one ``info`` dict per step (see ``HybridPartitionEnv``), with the action added.
        wall_s: wall-clock seconds the episode took (policy and environment).
    """

    policy: str
    seed: int
    chip: int
    steps: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def episode_return(self) -> float:
        """Sum of the rewards."""
        return float(sum(step["reward"] for step in self.steps))

    @property
    def mean_energy_ratio(self) -> float:
        """Energy per inference relative to all-digital, averaged over the steps."""
        return float(np.mean([step["energy_ratio"] for step in self.steps]))

    @property
    def accuracies(self) -> np.ndarray:
        """Accuracy per step and task, shape (n_steps, n_tasks)."""
        return np.array([step["accuracies"] for step in self.steps])

    @property
    def n_reprogrammed(self) -> int:
        """Layer reprogrammings over the episode."""
        return int(sum(step["n_reprogrammed"] for step in self.steps))


def run_episode(env: Any, policy: Policy, seed: int, chip: int | None = None) -> EpisodeRecord:
    """Run ``policy`` for one full episode of ``env`` from ``reset(seed=seed)``."""
    unwrapped = getattr(env, "unwrapped", env)
    if policy.env is None:
        policy.bind(unwrapped)
    start = time.perf_counter()
    options = {"chip": chip} if chip is not None else None
    observation, info = env.reset(seed=seed, options=options)
    record = EpisodeRecord(policy.name, seed, int(info["chip"]))
    episode_start = True
    done = False
    while not done:
        action, _ = policy.predict(observation, episode_start=episode_start, deterministic=True)
        episode_start = False
        observation, reward, terminated, truncated, info = env.step(action)
        info = dict(info, reward=float(reward), action=np.asarray(action).tolist())
        record.steps.append(info)
        done = terminated or truncated
    record.wall_s = time.perf_counter() - start
    return record


def replay_episode(env: Any, seed: int, chip: int, actions: Sequence[Any]) -> list[float]:
    """The rewards of ``actions`` taken one per step from ``reset(seed, chip)``: a recorded
    episode replayed, on the same environment to check it or on another (other images,
    other drift) to re-score the same decisions."""
    env.reset(seed=seed, options={"chip": chip})
    return [float(env.step(action)[1]) for action in actions]
