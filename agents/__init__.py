"""Partitioning policies behind one interface: PPO (stable-baselines3) and the heuristics.

from agents import make_policy, run_episode
policy = make_policy("greedy", env)
record = run_episode(env, policy, seed=0)
"""

from agents import heuristics as _heuristics  # noqa: F401  (registers the heuristics)
from agents import ppo as _ppo  # noqa: F401  (registers "ppo")
from agents import schedule as _schedule  # noqa: F401  (registers "schedule", the clock rule)
from agents import training_heuristics as _training  # noqa: F401  (HybridTraining-v0's baselines)
from agents.base import Policy, make_policy, policy_names, register
from agents.evaluation import EpisodeRecord, replay_episode, run_episode
from agents.ppo import PPOPolicy, load_agent
from agents.run_folder import RunFolderError

__all__ = [
    "EpisodeRecord",
    "PPOPolicy",
    "Policy",
    "RunFolderError",
    "load_agent",
    "make_policy",
    "policy_names",
    "register",
    "replay_episode",
    "run_episode",
]
