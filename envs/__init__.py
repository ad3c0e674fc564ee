"""The Gymnasium partitioning environment, registered as ``HybridPartition-v0`` on import.

import gymnasium, envs
env = gymnasium.make("HybridPartition-v0", scenario="no-compensation")
"""

from gymnasium.envs.registration import register, registry

from envs.actions import ACTION_NAMES, ANALOG, DIGITAL, REPROGRAM
from envs.deployment import Deployment, build_deployment
from envs.observation import ObservationLayout
from envs.partition_env import HybridPartitionEnv
from envs.rewards import DEFAULT_REWARD_WEIGHTS, RewardWeights, StepMetrics
from envs.scenarios import DEFAULT_SCENARIO, SCENARIOS, Scenario, Timeline, get_scenario

ENV_ID = "HybridPartition-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="envs.partition_env:HybridPartitionEnv")

__all__ = [
    "ACTION_NAMES",
    "ANALOG",
    "DEFAULT_REWARD_WEIGHTS",
    "DEFAULT_SCENARIO",
    "DIGITAL",
    "ENV_ID",
    "REPROGRAM",
    "SCENARIOS",
    "Deployment",
    "HybridPartitionEnv",
    "ObservationLayout",
    "RewardWeights",
    "Scenario",
    "StepMetrics",
    "Timeline",
    "build_deployment",
    "get_scenario",
]
