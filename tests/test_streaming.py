"""Streaming scenarios: the request stream, the chip's finite tiles, the energy of what is
actually served, and every policy under the same interface."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import agents
from agents.evaluation import run_episode
from agents.training import TrainConfig, prepare
from envs import ENV_ID, SCENARIOS, HybridPartitionEnv
from envs.actions import ANALOG, DIGITAL, REPROGRAM
from envs.deployment import Deployment, build_deployment
from envs.rewards import StreamingRewardWeights, resolve_reward
from envs.tiles import TileBudget
from envs.workloads import WORKLOADS, Workload
from hybrid.units import SECONDS_PER_HOUR

SCENARIO = "stream-fast-drift"
SHORT = {"n_steps": 6, "horizon_s": 12 * SECONDS_PER_HOUR}  # midnight to noon, 2-hour steps
CONV2, FC1, FC2, FC3 = 1, 2, 3, 4


@pytest.fixture(scope="module")
def deployment(cache_dir: Path) -> Deployment:
    """The streaming scenario's deployment on a 12-hour timeline, shared by the module."""
    return build_deployment(scenario=SCENARIO, timeline=SHORT, cache_dir=cache_dir)


@pytest.fixture
def env(deployment: Deployment) -> Iterator[HybridPartitionEnv]:
    made = HybridPartitionEnv(deployment=deployment)
    yield made
    made.close()


def test_streaming_scenarios_are_named_with_a_workload_a_tile_budget_and_a_longer_view() -> None:
    for name in ("stream-fast-drift", "stream-strong-drift"):
        scenario = SCENARIOS[name]
        assert scenario.workload in WORKLOADS
        assert scenario.tile_budget == 3  # half the six tiles the paper's network needs
        assert scenario.timeline.spacing == "linear" and scenario.timeline.n_steps == 36
        assert isinstance(scenario.reward, StreamingRewardWeights)
        assert scenario.discount == 0.9
    assert SCENARIOS["strong-drift"].workload is None and SCENARIOS["paper"].tile_budget is None


def test_both_environment_checkers_pass_on_a_streaming_scenario(env: HybridPartitionEnv) -> None:
    gymnasium_check_env(env, skip_render_check=True)
    sb3_check_env(gymnasium.wrappers.PassiveEnvChecker(env), warn=True)
    view = env.observation_layout.view(env.reset(seed=0)[0])
    assert {"resident", "tile_occupancy", "load", "recent_load", "task_mix"} <= set(view)


def test_the_workload_is_a_seeded_generator_of_real_image_requests() -> None:
    workload = WORKLOADS["daily-cycle"]
    hours = np.arange(0.0, 24.0, 0.5)
    assert workload.profile(hours).mean() == pytest.approx(1.0, abs=0.01)
    assert workload.profile(3.0) < 0.25 < 1.5 < workload.profile(10.0)  # quiet night, busy day
    times = np.arange(1, 37) * 2 * SECONDS_PER_HOUR
    draw = lambda seed: workload.draw(np.random.default_rng(seed), times, 150.0, 360)  # noqa: E731
    first, again, other = draw(0), draw(0), draw(1)
    np.testing.assert_array_equal(first.volumes, again.volumes)
    np.testing.assert_array_equal(first.order, again.order)
    assert not np.array_equal(first.volumes, other.volumes)
    np.testing.assert_array_equal(first.requests.sum(axis=1), first.volumes)
    assert sorted(first.order) == list(range(360))
    # Step k serves the next volume[k] images of the episode's order, split by task.
    served = first.served(2)
    assert [images.size for images in served] == first.requests[2].tolist()
    start = int(first.volumes[:2].sum())
    expected = first.order[(start + np.arange(first.volumes[2])) % 360]
    np.testing.assert_array_equal(np.concatenate(served), expected)
    # Bursts: more traffic, the binary task dominating.
    many = [draw(seed) for seed in range(20)]
    burst_mix = np.mean([s.mix(k)[1] for s in many for k in np.flatnonzero(s.bursts)])
    calm_mix = np.mean([s.mix(k)[1] for s in many for k in np.flatnonzero(~s.bursts)])
    assert burst_mix > 0.75 > 0.5 > calm_mix
    with pytest.raises(ValueError, match="one share per task"):
        Workload("bad", "", mix_day=(1.0,))


def test_same_seed_and_actions_reproduce_exactly_and_another_seed_draws_other_traffic(
    deployment: Deployment,
) -> None:
    actions = np.random.default_rng(3).integers(0, 3, (SHORT["n_steps"], 6))

    def episode(seed: int) -> tuple[list[float], list[int], np.ndarray]:
        env = HybridPartitionEnv(deployment=deployment)
        observation, _ = env.reset(seed=seed)
        rewards, volumes = [], []
        for action in actions:
            observation, reward, *_, info = env.step(action)
            rewards.append(reward)
            volumes.append(info["volume"])
        return rewards, volumes, observation

    rewards_a, volumes_a, last_a = episode(0)
    rewards_b, volumes_b, last_b = episode(0)
    assert rewards_a == rewards_b and volumes_a == volumes_b
    np.testing.assert_array_equal(last_a, last_b)
    assert episode(1)[1] != volumes_a


def test_capacity_is_respected_whatever_the_actions(env: HybridPartitionEnv) -> None:
    budget = env.tiles.budget
    observation, info = env.reset(seed=0)
    # At t = 0 the layers that save most per tile fill the chip: conv2, fc1, fc2.
    assert info["placement"] == ["digital", "analog", "analog", "analog", "digital", "digital"]
    assert env.resident.sum() == budget < env.tiles.needed
    rng = np.random.default_rng(0)
    for _ in range(2):
        env.reset(seed=int(rng.integers(100)))
        for _ in range(SHORT["n_steps"]):
            masks = env.action_masks().reshape(env.n_layers, env.n_actions)
            resident, free = env.resident, budget - env.resident.sum()
            # Programming is offered only where it fits now; reprogram only to resident layers.
            np.testing.assert_array_equal(masks[:, ANALOG], resident | (free >= 1))
            assert not masks[~resident, REPROGRAM].any()
            action = rng.integers(0, 3, env.n_layers)
            *_, info = env.step(action)
            assert info["tiles_used"] == sum(info["resident"]) <= budget
            assert info["resident"] == info["analog"]
            projected = np.array(info["projected"])
            assert not projected[resident].any()  # resident layers are never evicted
            assert (action[projected] != DIGITAL).all()


def test_projection_admits_by_energy_saved_per_tile_and_a_swap_fits_in_one_step(
    env: HybridPartitionEnv,
) -> None:
    env.reset(seed=0)
    *_, info = env.step([ANALOG] * 6)  # ask for every layer: only the resident three run analog
    assert info["analog"] == [False, True, True, True, False, False]
    assert info["projected"] == [True, False, False, False, True, True]
    # Free fc1 and ask for fc3 and conv1: one freed tile, fc3 saves more per tile than conv1.
    *_, info = env.step([ANALOG, ANALOG, DIGITAL, ANALOG, ANALOG, DIGITAL])
    assert info["analog"] == [False, True, False, True, True, False]
    assert info["reprogrammed"] == [False, False, False, False, True, False]  # fc3 programmed
    assert info["projected"] == [True, False, False, False, False, False]
    assert TileBudget.for_layers(3, env.specs, env.energy_table).priority[:3] == (FC1, FC2, CONV2)


def test_served_energy_amortises_programming_over_the_traffic_that_follows(
    env: HybridPartitionEnv,
) -> None:
    weights = env.reward_weights
    reference = env.timeline.inferences_per_step
    digital_pj = env.energy_digital_pj
    env.reset(seed=4)
    *_, info = env.step([DIGITAL, ANALOG, DIGITAL, ANALOG, DIGITAL, DIGITAL])  # free fc1
    assert info["reprogram_energy_pj"] == 0.0 and info["resident"][FC1] is False
    _, reward, *_, info = env.step([DIGITAL, ANALOG, ANALOG, ANALOG, DIGITAL, DIGITAL])
    # Moving fc1 back onto tiles programs it: 0.4 nJ per weight, a fresh drift clock.
    fc1_pj = 400.0 * 256 * 256
    assert info["reprogrammed"][FC1] and info["reprogram_energy_pj"] == pytest.approx(fc1_pj)
    assert info["drift_ages_s"][FC1] == pytest.approx(2 * SECONDS_PER_HOUR)
    assert info["programming_time_s"] == pytest.approx(256 * 1e-5)
    volume = info["volume"]
    terms = info["reward_terms"]
    # Energy: the requests served x energy per inference, plus the programming once, in units
    # of serving the reference volume all digitally.
    assert terms["energy"] == pytest.approx(volume * info["energy_pj"] / (reference * digital_pj))
    assert terms["reprogram"] == pytest.approx(fc1_pj / (reference * digital_pj))
    assert info["served_energy_pj"] == pytest.approx(volume * info["energy_pj"] + fc1_pj)
    # Accuracy: each task on the requests it served, weighted by its traffic.
    requests = np.array(info["task_requests"])
    served = np.array(info["served_accuracies"])
    digital = np.array(info["served_digital_accuracies"])
    excess = np.maximum(digital - served, 0.0)
    assert terms["task_loss"] == pytest.approx(weights.task_loss * (requests / reference) @ excess)
    shortfall = np.maximum(np.array(weights.service_floors) - served, 0.0)
    assert terms["service"] == pytest.approx(weights.service * (requests / reference) @ shortfall)
    assert reward == pytest.approx(-sum(terms.values()))
    # Keeping fc1 resident costs no more programming: the energy is paid once.
    *_, info = env.step([DIGITAL, ANALOG, ANALOG, ANALOG, DIGITAL, DIGITAL])
    assert info["reprogram_energy_pj"] == 0.0
    assert info["drift_ages_s"][FC1] == pytest.approx(4 * SECONDS_PER_HOUR)


def test_the_observation_shows_traffic_served_and_the_clock_never_the_traffic_to_come(
    env: HybridPartitionEnv,
) -> None:
    observation, _ = env.reset(seed=2)
    layout, reference = env.observation_layout, env.timeline.inferences_per_step
    assert layout.view(observation)["load"] == 0.0
    volumes = []
    for step in range(SHORT["n_steps"] - 1):
        observation, *_, info = env.step([DIGITAL] * 6)
        volumes.append(info["volume"])
        view = layout.view(observation)
        assert view["load"] == pytest.approx(volumes[-1] / reference, rel=1e-6)
        assert view["recent_load"] == pytest.approx(np.mean(volumes[-6:]) / reference, rel=1e-6)
        requests = np.array(info["task_requests"])
        np.testing.assert_allclose(view["task_mix"], requests / requests.sum(), rtol=1e-6)
        hour = 2.0 * (step + 1)
        clock = (1 + math.cos(2 * math.pi * hour / 24)) / 2
        assert view["clock_cos"] == pytest.approx(clock, abs=1e-6)
        assert view["resident"].sum() == 0 and view["tile_occupancy"] == 0.0


@pytest.mark.parametrize(
    "name", [n for n in agents.policy_names(ENV_ID) if n not in ("ppo", "oracle", "greedy-preview")]
)
def test_every_heuristic_runs_under_the_tile_budget(env: HybridPartitionEnv, name: str) -> None:
    policy = agents.make_policy(name, env)
    record = run_episode(env, policy, seed=0)
    assert len(record.steps) == SHORT["n_steps"]
    for step in record.steps:
        assert step["tiles_used"] <= env.tiles.budget and math.isfinite(step["reward"])


def test_privileged_references_respect_the_budget_and_the_oracle_prunes_exactly(
    deployment: Deployment,
) -> None:
    env = HybridPartitionEnv(deployment=deployment)
    env.reset(seed=1)
    pruned = agents.make_policy("oracle", env)
    action = pruned.act(None)
    rewards = [env.preview(candidate)[0] for candidate in pruned._candidates]
    assert env.preview(action)[0] == pytest.approx(max(rewards))
    record = run_episode(env, agents.make_policy("greedy-preview", env), seed=1)
    assert all(step["tiles_used"] <= env.tiles.budget for step in record.steps)


def test_stream_rules_refresh_on_noise_when_busy_and_at_their_hour(
    env: HybridPartitionEnv,
) -> None:
    refresh = agents.make_policy("noise-refresh", env, refresh_noise=0.0, min_load=0.0)
    record = run_episode(env, refresh, seed=0)
    # Every resident layer measures some noise: each is refreshed at every step.
    assert all(s["reprogrammed"][FC1] for s in record.steps)
    quiet = agents.make_policy("noise-refresh", env, refresh_noise=0.0, min_load=100.0)
    record = run_episode(env, quiet, seed=0)
    # Never busy enough: fc1 is freed at once and never programmed again.
    assert not any(s["reprogrammed"][FC1] or s["analog"][FC1] for s in record.steps)
    scheduled = agents.make_policy("scheduled-refresh", env, refresh_hour=6.0, max_noise=10.0)
    record = run_episode(env, scheduled, seed=0)
    refreshed = [s["time_s"] / SECONDS_PER_HOUR - 2 for s in record.steps if s["reprogrammed"][FC1]]
    assert refreshed == [6.0]  # the step that starts at 06:00
    with pytest.raises(ValueError, match="refresh_hour"):
        agents.make_policy("scheduled-refresh", env, refresh_hour=25)


def test_streaming_reward_weights_parse_overlay_and_errors() -> None:
    base = SCENARIOS[SCENARIO].reward
    weights = resolve_reward("energy=2", base)[1]
    assert isinstance(weights, StreamingRewardWeights)
    assert weights.energy == 2.0 and weights.service_floors == base.service_floors
    parsed = StreamingRewardWeights.parse("service=10,service_floors=0.9/0.8")
    assert parsed.service == 10.0 and parsed.service_floors == (0.9, 0.8)
    assert StreamingRewardWeights.from_dict(parsed.to_dict()) == parsed
    with pytest.raises(ValueError, match=r"service_floors\[0\] must be an accuracy"):
        StreamingRewardWeights(service_floors=(1.5, 0.9))
    with pytest.raises(ValueError, match="unknown reward weight"):
        resolve_reward("speed=1", base)


def test_streaming_errors_are_one_line(deployment: Deployment) -> None:
    with pytest.raises(ValueError, match="task_metric=error") as error:
        HybridPartitionEnv(deployment=deployment, reward="task_metric=cross_entropy")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="tile_budget=0 must be an integer >= 1"):
        HybridPartitionEnv(deployment=deployment, tile_budget=0)
    with pytest.raises(ValueError, match="unknown workload 'rush-hour'"):
        HybridPartitionEnv(deployment=deployment, workload="rush-hour")


def test_train_agent_takes_the_scenario_s_discount(tmp_path: Path) -> None:
    config, kwargs, _ = prepare(TrainConfig(scenario=SCENARIO, out=tmp_path / "a"))
    assert config.gamma == 0.9 and kwargs["scenario"] == SCENARIO
    assert prepare(TrainConfig(out=tmp_path / "b"))[0].gamma == 0.5
    assert prepare(TrainConfig(scenario=SCENARIO, gamma=0.7, out=tmp_path / "c"))[0].gamma == 0.7


def test_the_registered_environment_accepts_a_streaming_scenario(cache_dir: Path) -> None:
    env = gymnasium.make(ENV_ID, scenario=SCENARIO, timeline={"n_steps": 2}, cache_dir=cache_dir)
    observation, info = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    assert env.unwrapped.config["tile_budget"] == 3
    assert env.unwrapped.config["workload"]["name"] == "daily-cycle"
