"""Slow checks (``make test-slow``): the default training run and what a user expects of it."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest

import agents
import envs
from agents.training import TrainConfig, train
from envs.chips import TEST_CHIP_OFFSET

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python train_agent.py`` with every default (about 3 minutes on 2 cores)."""
    out = tmp_path_factory.mktemp("runs") / "default"
    return train(TrainConfig(out=out, progress=False, compare_episodes=0))


def test_default_agent_beats_the_observation_only_baselines(default_run: Path) -> None:
    """On held-out chips the trained agent beats the paper's threshold rule and the best
    observation-only rule, and saves at least half of all-digital's energy."""
    env = gymnasium.make(envs.ENV_ID, chip_offset=TEST_CHIP_OFFSET)
    chips = [TEST_CHIP_OFFSET + i for i in range(5)]
    returns, energy = {}, {}
    for name in ("ppo", "threshold", "saving-vs-noise"):
        kwargs = {"path": default_run} if name == "ppo" else {}
        policy = agents.make_policy(name, env, **kwargs)
        records = [agents.run_episode(env, policy, seed, chip) for seed, chip in enumerate(chips)]
        returns[name] = np.mean([r.episode_return for r in records])
        energy[name] = np.mean([r.mean_energy_ratio for r in records])
    assert returns["ppo"] > returns["threshold"] + 1.0
    assert returns["ppo"] > returns["saving-vs-noise"]
    assert energy["ppo"] <= 0.5
