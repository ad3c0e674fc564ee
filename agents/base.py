"""One interface for every partitioning policy, learned or hand-written.

Every policy answers stable-baselines3's ``predict(observation, state, episode_start,
deterministic) -> (action, state)``, so one evaluation loop runs PPO and the heuristics alike.
Heuristics that need more than the observation (the layer shapes, the energy model, or, for the
search baselines, a preview of what an action would score) get the environment once through
:meth:`Policy.bind`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from envs import ENV_ID
from envs.partition_env import HybridPartitionEnv


class Policy(ABC):
    """A partitioning policy.

    Subclasses implement :meth:`act`; they may override :meth:`reset` (called at the start of
    every episode) and :meth:`bind` (called once with the environment it will act in).
    """

    #: Registry name, set by :func:`register`.
    name: str = "policy"
    #: The environment the policy is written for (``envs.ENV_IDS``): a heuristic acts in one.
    env_id: str = ENV_ID
    #: Whether the policy reads the environment's evaluation of candidate actions
    #: (``env.preview``): privileged information a deployed controller would not have.
    uses_preview: bool = False

    def __init__(self) -> None:
        self.env: HybridPartitionEnv | None = None

    def bind(self, env: Any) -> Policy:
        """Attach the (unwrapped) environment the policy will act in; returns self."""
        self.env = getattr(env, "unwrapped", env)
        return self

    def reset(self) -> None:  # noqa: B027 - optional hook: most policies keep no state
        """Forget per-episode state (called at the start of every episode)."""

    @abstractmethod
    def act(self, observation: np.ndarray) -> np.ndarray:
        """The action for one observation (after :meth:`reset` for a new episode)."""

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """stable-baselines3-style prediction; ``episode_start`` true triggers :meth:`reset`."""
        if episode_start is not None and bool(np.any(episode_start)):
            self.reset()
        return np.asarray(self.act(observation), dtype=np.int64), state

    def _require_env(self) -> HybridPartitionEnv:
        if self.env is None:
            raise RuntimeError(f"policy {self.name!r} needs bind(env) before it can act")
        return self.env


PolicyFactory = Callable[..., Policy]
_REGISTRY: dict[str, PolicyFactory] = {}


def register(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Class decorator: make a policy available to :func:`make_policy` under ``name``."""

    def decorator(factory: PolicyFactory) -> PolicyFactory:
        _REGISTRY[name] = factory
        if isinstance(factory, type):
            factory.name = name
        return factory

    return decorator


def policy_names(env_id: str | None = None) -> tuple[str, ...]:
    """Every registered policy name; with ``env_id``, those written for that environment (and
    ``ppo``, which acts in any)."""
    if env_id is None:
        return tuple(_REGISTRY)
    return tuple(
        name
        for name, factory in _REGISTRY.items()
        if name == "ppo" or getattr(factory, "env_id", Policy.env_id) == env_id
    )


def make_policy(name: str, env: Any = None, **kwargs: Any) -> Policy:
    """Build policy ``name`` (bound to ``env`` when given). Unknown names list the known ones.

    ``make_policy("ppo", env, path="runs/x")`` loads a trained agent.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown policy {name!r}; known policies: {', '.join(_REGISTRY)}")
    policy = _REGISTRY[name](**kwargs)
    policy.name = name
    if env is not None:
        policy.bind(env)
    return policy
