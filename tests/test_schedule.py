"""The clock rule ``schedule``: its actions follow its integers, its tuning beats all-digital on
the chips it was tuned on, and every comparison lists it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import agents
import envs
from agents import make_policy, run_episode
from agents.schedule import schedule_candidates, tune_schedule
from envs import HybridPartitionEnv
from envs.actions import ANALOG, DIGITAL, REPROGRAM


@pytest.fixture(scope="module")
def env(cache_dir: Path) -> HybridPartitionEnv:
    """The default environment on a 4-step timeline."""
    return HybridPartitionEnv(timeline={"n_steps": 4}, cache_dir=cache_dir)


def test_schedule_runs_each_layer_analog_for_its_steps_then_digital(env):
    policy = make_policy(
        "schedule",
        env,
        analog_steps={"fc1": 3, "fc2": 1, "conv1": 4},
        reprogram_every={"fc1": 2},
    )
    record = run_episode(env, policy, seed=0)
    actions = np.array([step["action"] for step in record.steps])
    names = list(env.layer_names)
    fc1, fc2, conv1, conv2 = (names.index(n) for n in ("fc1", "fc2", "conv1", "conv2"))
    assert actions[:, fc1].tolist() == [ANALOG, ANALOG, REPROGRAM, DIGITAL]
    assert actions[:, fc2].tolist() == [ANALOG, DIGITAL, DIGITAL, DIGITAL]
    assert actions[:, conv1].tolist() == [ANALOG] * 4
    assert actions[:, conv2].tolist() == [DIGITAL] * 4  # not named: digital from the start
    # The same placements on another chip: the rule reads only the clock.
    other = run_episode(env, policy, seed=0, chip=env.chip_offset + 5)
    assert np.array_equal(actions, [step["action"] for step in other.steps])
    assert policy.setting()["analog_steps"]["fc1"] == 3


def test_schedule_parameters_are_checked_in_one_line(env):
    with pytest.raises(ValueError, match="unknown layer"):
        make_policy("schedule", env, analog_steps={"fc9": 1})
    with pytest.raises(ValueError, match="one per layer"):
        make_policy("schedule", env, analog_steps=[1, 2])
    with pytest.raises(ValueError, match="whole numbers"):
        make_policy("schedule", env, analog_steps={"fc1": -1})


def test_tuned_schedule_is_at_least_as_good_as_all_digital_on_its_chips(env):
    def mean_return(setting):
        policy = make_policy("schedule", env, **setting)
        return np.mean([run_episode(env, policy, seed).episode_return for seed in range(2)])

    best, rows = tune_schedule(env, mean_return, max_rounds=1)
    all_digital = mean_return({"analog_steps": {}})
    assert mean_return(best) >= all_digital
    assert max(row["return"] for row in rows) == pytest.approx(mean_return(best))
    # The big layers are worth running analog for a while on these chips.
    assert best["analog_steps"]["fc1"] > 0
    assert schedule_candidates(4) == [0, 1, 2, 3, 4]
    assert schedule_candidates(36)[0] == 0 and schedule_candidates(36)[-1] == 36


def test_every_comparison_lists_the_schedule(script_module):
    assert "schedule" in agents.policy_names(envs.ENV_ID)
    assert "schedule" in script_module("benchmarks/tune_heuristics").DESCENTS


def test_a_tuning_budget_stops_the_descent_with_the_best_setting_seen(env):
    def mean_return(setting):
        policy = make_policy("schedule", env, **setting)
        return run_episode(env, policy, seed=0).episode_return

    best, rows = tune_schedule(env, mean_return, max_settings=5)
    assert len(rows) == 5
    assert mean_return(best) == pytest.approx(max(row["return"] for row in rows))
    with pytest.raises(ValueError, match="at least 1"):
        tune_schedule(env, mean_return, max_settings=0)
