"""The Gymnasium partitioning environments, registered on import: ``HybridPartition-v0`` (where
each layer runs over a deployment) and ``HybridTraining-v0`` (where each layer trains, then the
deployment).

import gymnasium, envs
env = gymnasium.make("HybridPartition-v0", scenario="no-compensation")
env = gymnasium.make("HybridTraining-v0")

Shared by both: actions, chips, the observation by name, rewards, scenarios, rendering and the
keyword-argument checks. ``HybridPartition-v0`` is ``partition_env`` (built from ``deployment``);
``HybridTraining-v0`` is the subpackage ``envs.hybrid_training``. This package imports only
from :mod:`hybrid`, never from :mod:`agents` (docs/design.md).
"""

from gymnasium.envs.registration import register, registry

from envs.actions import ACTION_NAMES, ANALOG, DIGITAL, REPROGRAM
from envs.deployment import Deployment, build_deployment
from envs.hybrid_training.env import TRAINING_ENV_ID, HybridTrainingEnv
from envs.hybrid_training.rewards import TrainingMetrics, TrainingRewardWeights
from envs.observation import ObservationLayout
from envs.partition_env import HybridPartitionEnv
from envs.rewards import DEFAULT_REWARD_WEIGHTS, RewardWeights, StepMetrics
from envs.scenarios import DEFAULT_SCENARIO, SCENARIOS, Scenario, Timeline, get_scenario

ENV_ID = "HybridPartition-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="envs.partition_env:HybridPartitionEnv")

# Partitioning during training: one episode is one training run, then a deployment.
if TRAINING_ENV_ID not in registry:
    register(id=TRAINING_ENV_ID, entry_point="envs.hybrid_training.env:HybridTrainingEnv")
ENV_IDS: tuple[str, ...] = (ENV_ID, TRAINING_ENV_ID)
"""Every environment this package registers."""
REWARD_WEIGHTS: dict[str, type] = {ENV_ID: RewardWeights, TRAINING_ENV_ID: TrainingRewardWeights}
"""The reward-weights class of each environment (both parse ``--reward-weights`` strings)."""


def check_env_id(env_id: str) -> str:
    """``env_id`` if this package registers it, else a one-line ValueError naming the ids."""
    if env_id not in ENV_IDS:
        raise ValueError(f"unknown environment {env_id!r}; choose one of: {', '.join(ENV_IDS)}")
    return env_id


__all__ = [
    "ACTION_NAMES",
    "ANALOG",
    "DEFAULT_REWARD_WEIGHTS",
    "DEFAULT_SCENARIO",
    "DIGITAL",
    "ENV_ID",
    "ENV_IDS",
    "REWARD_WEIGHTS",
    "REPROGRAM",
    "SCENARIOS",
    "TRAINING_ENV_ID",
    "Deployment",
    "HybridPartitionEnv",
    "HybridTrainingEnv",
    "ObservationLayout",
    "RewardWeights",
    "Scenario",
    "StepMetrics",
    "Timeline",
    "TrainingMetrics",
    "TrainingRewardWeights",
    "build_deployment",
    "check_env_id",
    "get_scenario",
]
