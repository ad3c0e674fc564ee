"""Partitioning policies behind one interface: PPO (stable-baselines3) and the heuristics.

from agents import make_policy, run_episode
policy = make_policy("greedy", env)
record = run_episode(env, policy, seed=0)

By concern: the interface and episode runner (``base``, ``evaluation``), the deployment
heuristics (``heuristics``, ``stream_heuristics``), PPO and its shield (``ppo``, ``shield``),
training the agent (``train_config``, ``training``, ``imitation``), what differs between the
environments (``environments``), the run folder (``run_folder``), comparisons and the results
folder (``reporting``, ``results``, ``comparison``, ``plots``), ``HybridTraining-v0``'s policies
and tables (``hybrid_training``), Ray (``distributed``, ``ray_vec_env``, ``sweep``). It imports
from :mod:`envs` and :mod:`hybrid`, never from the scripts (docs/design.md).
"""

from agents import heuristics as _heuristics  # noqa: F401  (registers the heuristics)
from agents import ppo as _ppo  # noqa: F401  (registers "ppo")
from agents import schedule as _schedule  # noqa: F401  (registers "schedule", the clock rule)
from agents.base import Policy, make_policy, policy_names, register
from agents.evaluation import EpisodeRecord, replay_episode, run_episode
from agents.hybrid_training import heuristics as _training  # noqa: F401  (its baselines)
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
