"""The partitioning environment: the Gymnasium contract, reproducibility, the reward landscape of
the default scenario, input errors, the observation layout and RNG isolation."""

from __future__ import annotations

import doctest
import importlib
import itertools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import (
    ACTION_NAMES,
    DEFAULT_SCENARIO,
    ENV_ID,
    SCENARIOS,
    HybridPartitionEnv,
    RewardWeights,
    StepMetrics,
)
from envs.actions import ANALOG, DIGITAL, REPROGRAM
from envs.deployment import build_deployment
from envs.observation import (
    FEATURES,
    MAX_OBSERVATION,
    ObservationLayout,
    ObservationView,
    describe,
)

N_LAYERS = 6  # conv1, conv2, fc1, fc2, fc3, fc4 of the default digits network
SHORT_TIMELINE = {"n_steps": 6}
INFO_KEYS = {
    "accuracies",
    "losses",
    "energy_pj",
    "energy_breakdown_pj",
    "placement",
    "drift_ages_s",
}

Policy = Callable[[np.ndarray], np.ndarray]


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(cache_dir: Path) -> Iterator[gymnasium.Env]:
    """The registered environment with every default (strong-drift, 12 steps), shared and warm."""
    made = gymnasium.make(ENV_ID, cache_dir=cache_dir)
    yield made
    made.close()


@pytest.fixture(scope="module")
def short_env(cache_dir: Path) -> HybridPartitionEnv:
    """The default environment on a 6-step timeline, unwrapped."""
    return HybridPartitionEnv(timeline=SHORT_TIMELINE, cache_dir=cache_dir)


def view(observation: np.ndarray) -> ObservationView:
    """An observation of the default network (6 layers, 2 tasks), read by feature name."""
    return ObservationLayout(N_LAYERS, 2).view(observation)


def saving_versus_noise_policy(observation: np.ndarray) -> np.ndarray:
    """An adaptive hand-written policy that reads only the observation.

    conv1 stays digital (its fan-in is tiny, so analog saves nothing and it is the most
    sensitive layer). Every other layer runs analog while the energy it saves, as a share of the
    all-digital energy, exceeds its measured relative output noise. The noise grows as the tiles
    age, so layers move to digital one by one, the smallest savings first.
    """
    features = view(observation)
    saving = features["digital_energy_share"] - features["analog_energy_share"]
    action = np.where(saving > features["noise"], ANALOG, DIGITAL)
    action[0] = DIGITAL
    return action


def fixed_policy(action: Any) -> Policy:
    """A policy that plays the same action at every step."""
    constant = np.asarray(action, dtype=int)
    return lambda observation: constant


def replay_policy(actions: Any) -> Policy:
    """A policy that plays ``actions`` in order, one per step."""
    remaining = iter(np.asarray(actions, dtype=int))
    return lambda observation: next(remaining)


def run_episode(
    env: gymnasium.Env,
    policy: Policy,
    seed: int | None = 0,
    options: dict[str, Any] | None = None,
) -> tuple[list[float], list[np.ndarray], list[dict[str, Any]]]:
    """Rewards, observations (the reset one first) and infos of one full episode."""
    observation, info = env.reset(seed=seed, options=options)
    rewards, observations, infos = [], [observation], [info]
    terminated = False
    while not terminated:
        observation, reward, terminated, truncated, info = env.step(policy(observation))
        assert not truncated
        rewards.append(reward)
        observations.append(observation)
        infos.append(info)
    return rewards, observations, infos


# --- 1, 2: the Gymnasium contract ---------------------------------------------------------------


def test_registered_environment_runs_a_full_episode(env: gymnasium.Env) -> None:
    unwrapped = env.unwrapped
    assert isinstance(unwrapped, HybridPartitionEnv)
    assert unwrapped.scenario.name == DEFAULT_SCENARIO
    assert unwrapped.n_layers == N_LAYERS
    assert env.action_space == gymnasium.spaces.MultiDiscrete([3] * N_LAYERS)

    rng = np.random.default_rng(0)
    observation, info = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    for step in range(12):
        action = rng.integers(0, 3, N_LAYERS)
        observation, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(observation)
        assert math.isfinite(reward) and reward < 0  # every step costs energy
        assert terminated == (step == 11) and not truncated
        assert INFO_KEYS <= set(info)
        assert info["placement"] == [ACTION_NAMES[a] for a in action]
        assert len(info["accuracies"]) == len(info["losses"]) == 2
        assert all(0.0 <= a <= 1.0 for a in info["accuracies"])
        assert all(loss >= 0.0 for loss in info["losses"])
        assert list(info["energy_breakdown_pj"]) == list(unwrapped.layer_names)
        assert info["energy_pj"] == pytest.approx(sum(info["energy_breakdown_pj"].values()))
        assert len(info["drift_ages_s"]) == N_LAYERS
        assert all(0.0 < age <= info["time_s"] for age in info["drift_ages_s"])
    assert info["time_s"] == pytest.approx(unwrapped.timeline.horizon_s)


def test_gymnasium_and_stable_baselines_checkers_pass(env: gymnasium.Env) -> None:
    gymnasium_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env, warn=True)


# --- 3: reproducibility -------------------------------------------------------------------------


def test_same_seed_and_actions_reproduce_exactly_and_another_seed_is_another_chip(
    cache_dir: Path, short_env: HybridPartitionEnv
) -> None:
    actions = np.random.default_rng(7).integers(0, 3, (SHORT_TIMELINE["n_steps"], N_LAYERS))

    def results(env: gymnasium.Env, seed: int) -> tuple[list[float], list[np.ndarray], int]:
        rewards, observations, infos = run_episode(env, replay_policy(actions), seed)
        return rewards, observations, infos[0]["chip"]

    first = gymnasium.make(ENV_ID, timeline=SHORT_TIMELINE, cache_dir=cache_dir)
    second = gymnasium.make(ENV_ID, timeline=SHORT_TIMELINE, cache_dir=cache_dir)
    rewards_a, observations_a, chip_a = results(first, seed=0)
    rewards_b, observations_b, chip_b = results(second, seed=0)
    assert chip_a == chip_b
    assert rewards_a == rewards_b
    for a, b in zip(observations_a, observations_b, strict=True):
        np.testing.assert_array_equal(a, b)
    # A warm cache (the shared env has served other tests) changes nothing either.
    rewards_warm, observations_warm, _ = results(short_env, seed=0)
    assert rewards_warm == rewards_a
    np.testing.assert_array_equal(observations_warm[-1], observations_a[-1])

    other_seed = next(s for s in range(1, 20) if results(first, s)[2] != chip_a)
    rewards_other, observations_other, _ = results(first, other_seed)
    assert rewards_other != rewards_a
    assert not np.array_equal(observations_other[-1], observations_a[-1])


# --- 4, 5: the default scenario's reward landscape ----------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_default_reward_ranks_an_adaptive_policy_above_static_extremes(
    env: gymnasium.Env, seed: int
) -> None:
    adaptive, _, infos = run_episode(env, saving_versus_noise_policy, seed)
    all_digital, _, _ = run_episode(env, fixed_policy([DIGITAL] * N_LAYERS), seed)
    all_analog, _, _ = run_episode(env, fixed_policy([ANALOG] * N_LAYERS), seed)

    placements = {tuple(info["analog"]) for info in infos[1:]}
    assert len(placements) > 1, "the policy should adapt its placement as the chip ages"
    assert sum(all_digital) == pytest.approx(-12.0)  # energy ratio 1 at each of 12 steps
    assert sum(adaptive) > sum(all_digital) + 1.0
    assert sum(adaptive) > sum(all_analog) + 1.0


def test_best_fixed_placement_is_mixed_and_the_best_per_step_changes(env: gymnasium.Env) -> None:
    placements = list(itertools.product((DIGITAL, ANALOG), repeat=N_LAYERS))
    chips = (0, 1, 2)
    rewards = np.array(
        [
            [run_episode(env, fixed_policy(p), 0, {"chip": chip})[0] for p in placements]
            for chip in chips
        ]
    )  # (chip, placement, step)
    per_step = rewards.mean(axis=0)
    returns = per_step.sum(axis=1)

    best = placements[int(np.argmax(returns))]
    all_digital, all_analog = (DIGITAL,) * N_LAYERS, (ANALOG,) * N_LAYERS
    assert best not in (all_digital, all_analog)
    assert returns.max() > returns[placements.index(all_digital)] + 1.0
    assert returns.max() > returns[placements.index(all_analog)] + 1.0
    best_first = placements[int(np.argmax(per_step[:, 0]))]
    best_last = placements[int(np.argmax(per_step[:, -1]))]
    assert best_first != best_last
    assert sum(best_last) < sum(best_first)  # fewer layers analog at the end of the deployment


# --- 6: bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action, problem",
    [
        ([0] * (N_LAYERS - 1), "shape"),
        ([[0] * N_LAYERS], "shape"),
        (0, "shape"),
        ([0] * (N_LAYERS - 1) + [3], "out-of-range"),
        ([-1] + [0] * (N_LAYERS - 1), "out-of-range"),
        ([0.5] + [0] * (N_LAYERS - 1), "non-integer"),
        (["analog"] * N_LAYERS, "non-integer"),
    ],
)
def test_bad_action_is_a_one_line_value_error_that_says_what_an_action_is(
    short_env: HybridPartitionEnv, action: Any, problem: str
) -> None:
    short_env.reset(seed=0)
    with pytest.raises(ValueError) as error:
        short_env.step(action)
    message = str(error.value)
    assert "\n" not in message
    assert f"an action is {N_LAYERS} integers" in message
    assert all(f"{i}={name}" in message for i, name in enumerate(ACTION_NAMES))
    assert problem in message
    assert short_env.step_index == 0  # a refused action changes nothing


def test_step_after_the_deployment_ended_is_a_runtime_error(short_env: HybridPartitionEnv) -> None:
    run_episode(short_env, fixed_policy([DIGITAL] * N_LAYERS))
    with pytest.raises(RuntimeError, match="reset"):
        short_env.step([DIGITAL] * N_LAYERS)


def test_action_masks_offer_reprogramming_only_where_it_at_least_halves_the_drift_age(
    cache_dir: Path,
) -> None:
    log_env = HybridPartitionEnv(cache_dir=cache_dir)  # default: log-spaced steps, 1 s to 1 y
    monthly = HybridPartitionEnv(scenario="monthly-refresh", cache_dir=cache_dir)
    for made in (log_env, monthly):
        made.reset(seed=0)
    n = N_LAYERS
    for step in range(log_env.timeline.n_steps):
        log_masks = log_env.action_masks().reshape(n, 3)
        month_masks = monthly.action_masks().reshape(n, 3)
        assert log_masks[:, [DIGITAL, ANALOG]].all() and month_masks[:, [DIGITAL, ANALOG]].all()
        # Each log step is ~4.8x longer than all before it: reprogramming never halves an age.
        assert not log_masks[:, REPROGRAM].any()
        # A month-old layer refreshed now is a month old at the step's end instead of two.
        assert month_masks[:, REPROGRAM].all() == (step > 0)
        log_env.step([ANALOG] * n)
        monthly.step([REPROGRAM] * n)
    # The mask is advice to a learner, not a rule of the environment: reprogramming still runs.
    log_env.reset(seed=0)
    _, _, _, _, info = log_env.step([REPROGRAM] * n)
    assert info["n_reprogrammed"] == n
    # Ratio 1 masks nothing; a ratio below 1 is a one-line error.
    unmasked = HybridPartitionEnv(reprogram_min_age_ratio=1.0, cache_dir=cache_dir)
    unmasked.reset(seed=0)
    unmasked.step([ANALOG] * n)
    assert unmasked.action_masks().all()
    with pytest.raises(ValueError, match="reprogram_min_age_ratio=0.5 must be a finite number"):
        HybridPartitionEnv(reprogram_min_age_ratio=0.5, cache_dir=cache_dir)


def test_a_chip_outside_the_pool_is_a_one_line_error_not_a_silent_alias(
    short_env: HybridPartitionEnv,
) -> None:
    # Chip offset + pool would reuse chip offset's noise draws: two "different" chips, one chip.
    outside = short_env.chip_offset + short_env.chip_pool
    with pytest.raises(ValueError) as error:
        short_env.reset(seed=0, options={"chip": outside})
    message = str(error.value)
    assert "\n" not in message and f"chip {outside} is outside" in message
    assert "chip_pool" in message


@pytest.mark.parametrize(
    "reward, fragment",
    [
        (
            {"bogus": 1.0},
            "unknown reward weight(s) bogus; valid keys: " + ", ".join(RewardWeights.keys()),
        ),
        ("energy=1,bogus=2", "valid keys: " + ", ".join(RewardWeights.keys())),
        ({"energy": -1.0}, "energy must be >= 0"),
        ({"task_loss": float("nan")}, "task_loss must be a finite number"),
        ("reprogram=nan", "reprogram must be a finite number"),
        ("energy=abc", "energy='abc' is not a number"),
    ],
)
def test_invalid_reward_weights_are_one_line_value_errors(
    cache_dir: Path, reward: Any, fragment: str
) -> None:
    with pytest.raises(ValueError) as error:
        gymnasium.make(ENV_ID, reward=reward, cache_dir=cache_dir)
    message = str(error.value)
    assert "\n" not in message
    assert fragment in message


def test_reward_weights_from_a_string_are_used(cache_dir: Path) -> None:
    weights = RewardWeights.parse("energy=2,task_loss=10")
    assert weights == RewardWeights(energy=2.0, task_loss=10.0)
    env = gymnasium.make(
        ENV_ID, reward="energy=2,task_loss=10", timeline={"n_steps": 2}, cache_dir=cache_dir
    )
    env.reset(seed=0)
    _, reward, _, _, info = env.step([DIGITAL] * N_LAYERS)
    assert reward == pytest.approx(-2.0)  # energy ratio 1, no excess loss, no reprogramming
    assert info["reward_terms"] == pytest.approx(
        {"energy": 2.0, "task_loss": 0.0, "reprogram": 0.0}
    )


def test_a_custom_reward_callable_is_used(cache_dir: Path) -> None:
    seen: list[StepMetrics] = []

    def accuracy_minus_energy(metrics: StepMetrics) -> float:
        seen.append(metrics)
        return float(metrics.accuracies.sum() - metrics.energy_ratio)

    env = gymnasium.make(
        ENV_ID, reward=accuracy_minus_energy, timeline={"n_steps": 2}, cache_dir=cache_dir
    )
    env.reset(seed=0)
    _, reward, _, _, info = env.step([ANALOG] * N_LAYERS)
    assert len(seen) == 1 and isinstance(seen[0], StepMetrics)
    assert reward == pytest.approx(sum(info["accuracies"]) - info["energy_ratio"])
    assert info["reward_terms"] == {}
    assert env.unwrapped.config["reward"] == "custom"


def test_unknown_scenario_lists_the_known_names(cache_dir: Path) -> None:
    with pytest.raises(ValueError) as error:
        gymnasium.make(ENV_ID, scenario="moon-base", cache_dir=cache_dir)
    message = str(error.value)
    assert "moon-base" in message and "\n" not in message
    assert all(name in message for name in SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_named_scenario_constructs_and_runs(cache_dir: Path, name: str) -> None:
    env = HybridPartitionEnv(scenario=name, timeline={"n_steps": 2}, cache_dir=cache_dir)
    assert env.scenario.name == name
    assert env.timeline.n_steps == 2
    # The scenario's own timeline settings survive a partial override.
    assert env.timeline.spacing == SCENARIOS[name].timeline.spacing
    with pytest.raises(RuntimeError, match="reset"):
        env.step([DIGITAL] * N_LAYERS)
    rewards, observations, infos = run_episode(env, fixed_policy([ANALOG] * N_LAYERS))
    assert len(rewards) == 2 and all(math.isfinite(r) for r in rewards)
    assert all(env.observation_space.contains(o) for o in observations)
    assert infos[-1]["time_s"] == pytest.approx(env.timeline.horizon_s)


def test_envs_package_registers_the_environment_once() -> None:
    assert envs.ENV_ID in gymnasium.registry
    assert gymnasium.registry[envs.ENV_ID].entry_point == "envs.partition_env:HybridPartitionEnv"


# --- 7: observation layout ----------------------------------------------------------------------


def test_observation_layout_tracks_placement_drift_age_and_reprogramming(
    short_env: HybridPartitionEnv,
) -> None:
    times = short_env.times_s
    fc4 = short_env.layer_names.index("fc4")
    reprogram_step = 3
    # conv1..fc3 alternate between analog and digital and are never reprogrammed; fc4 is
    # reprogrammed once, at reprogram_step, and stays analog.
    actions = [
        [ANALOG, DIGITAL, ANALOG, DIGITAL, ANALOG, ANALOG],
        [DIGITAL, ANALOG, DIGITAL, ANALOG, DIGITAL, ANALOG],
        [ANALOG, ANALOG, DIGITAL, DIGITAL, ANALOG, ANALOG],
        [DIGITAL, DIGITAL, ANALOG, ANALOG, DIGITAL, REPROGRAM],
        [ANALOG, DIGITAL, ANALOG, DIGITAL, ANALOG, ANALOG],
        [DIGITAL] * N_LAYERS,
    ]
    _, observations, infos = run_episode(short_env, replay_policy(actions), seed=0)

    initial = view(observations[0])
    np.testing.assert_array_equal(initial["is_analog"], 1.0)  # starts all analog
    np.testing.assert_array_equal(initial["drift_age"], 0.0)  # just programmed
    never_reprogrammed = slice(0, fc4)
    previous_age = initial["drift_age"][never_reprogrammed]
    for step, (action, observation, info) in enumerate(
        zip(actions, observations[1:], infos[1:], strict=True)
    ):
        per_layer = view(observation)
        analog = np.array(action) != DIGITAL
        np.testing.assert_array_equal(per_layer["is_analog"], analog.astype(float))
        assert info["analog"] == analog.tolist()
        # Drift ages whether or not the layer runs analog.
        age = per_layer["drift_age"][never_reprogrammed]
        assert np.all(age > previous_age)
        previous_age = age
        np.testing.assert_allclose(info["drift_ages_s"][:fc4], times[step])
        # The measured noise of a digital layer's tile is still reported (the tile ages).
        assert np.all(per_layer["noise"] > 0)
        assert np.all((observation >= 0) & (observation <= MAX_OBSERVATION))

    # The reprogrammed layer was written at the start of the step's interval.
    ages = [info["drift_ages_s"][fc4] for info in infos[1:]]
    assert infos[1 + reprogram_step]["reprogrammed"][fc4]
    assert ages[reprogram_step] == pytest.approx(times[reprogram_step] - times[reprogram_step - 1])
    assert ages[reprogram_step + 1] == pytest.approx(
        times[reprogram_step + 1] - times[reprogram_step - 1]
    )
    assert ages[reprogram_step - 1] == pytest.approx(times[reprogram_step - 1])
    # In the observation, the reprogrammed tile is younger than the tiles programmed at t = 0.
    after_reprogram = view(observations[1 + reprogram_step])["drift_age"]
    assert np.all(after_reprogram[fc4] < after_reprogram[never_reprogrammed])

    # The all-digital last step costs exactly the all-digital energy.
    assert infos[-1]["energy_ratio"] == pytest.approx(1.0)
    assert infos[-1]["energy_pj"] == pytest.approx(short_env.energy_digital_pj)


def test_reprogramming_at_the_first_step_gives_the_first_interval_as_age(
    short_env: HybridPartitionEnv,
) -> None:
    short_env.reset(seed=0)
    _, _, _, _, info = short_env.step([REPROGRAM] * N_LAYERS)
    np.testing.assert_allclose(info["drift_ages_s"], short_env.times_s[0])
    assert info["reprogram_energy_pj"] > 0
    assert info["reward_terms"]["reprogram"] > 0


# --- 8: randomness isolation --------------------------------------------------------------------


def test_reset_and_step_leave_the_global_torch_rng_alone(short_env: HybridPartitionEnv) -> None:
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    programs_before = short_env.evaluator.stats.tile_programs

    # A chip no other test uses, reprogrammed: AIHWKit must draw fresh noise.
    short_env.reset(seed=0, options={"chip": 11})
    assert torch.equal(torch.get_rng_state(), state)
    short_env.step([REPROGRAM] * N_LAYERS)
    assert short_env.evaluator.stats.tile_programs > programs_before
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.rand(3), expected)


# --- the observation by name, the docstrings, the deployment ------------------------------------


def test_observation_layout_builds_and_reads_every_feature_by_name(env: gymnasium.Env) -> None:
    layout = env.unwrapped.observation_layout
    observation, info = env.reset(seed=0)
    features = layout.view(observation)
    assert set(features) == {f.name for f in FEATURES}
    assert features["noise"].shape == (N_LAYERS,) and features["loss"].shape == (2,)
    np.testing.assert_allclose(features["accuracy"], info["accuracies"], rtol=1e-6)
    np.testing.assert_allclose(features["loss"], info["losses"], rtol=1e-6)
    assert features["energy_ratio"] == pytest.approx(info["energy_ratio"], rel=1e-6)
    assert features["steps_left"] == 1.0 and features["analog_fraction"] == 1.0
    # Every position of the vector belongs to exactly one feature.
    positions = np.concatenate([np.atleast_1d(layout.index(f.name)) for f in FEATURES])
    assert sorted(positions.tolist()) == list(range(layout.size))
    with pytest.raises(KeyError, match="unknown observation feature 'nosie'"):
        features["nosie"]


def test_observation_layout_refuses_missing_and_misshapen_features() -> None:
    layout = ObservationLayout(n_layers=2, n_tasks=3)
    values = {f.name: np.zeros(2) if f.scope == "layer" else 0.0 for f in FEATURES}
    values.update({f.name: np.zeros(3) for f in FEATURES if f.scope == "task"})
    assert layout.build(values).shape == (2 * 7 + 3 * 3 + 4,)
    with pytest.raises(ValueError, match=r"missing \['noise'\]"):
        layout.build({k: v for k, v in values.items() if k != "noise"})
    with pytest.raises(ValueError, match="'loss' needs shape"):
        layout.build({**values, "loss": np.zeros(2)})
    with pytest.raises(ValueError, match=r"has shape \(27,\)"):
        layout.view(np.zeros(5))


def test_the_docstring_table_is_the_observation_module_s() -> None:
    """The table in HybridPartitionEnv's docstring is generated by envs.observation.describe()."""
    docstring = "\n".join(line.strip() for line in HybridPartitionEnv.__doc__.splitlines())
    assert describe() in docstring


@pytest.mark.parametrize(
    "module", ["envs.partition_env", "envs.observation", "hybrid.units"], ids=lambda m: m
)
def test_docstring_examples_run(module: str) -> None:
    imported = importlib.import_module(module)
    failed, attempted = doctest.testmod(imported, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failed == 0


def test_environments_share_one_built_deployment(cache_dir: Path) -> None:
    deployment = build_deployment(cache_dir=cache_dir, timeline=SHORT_TIMELINE)
    first = HybridPartitionEnv(deployment=deployment)
    second = HybridPartitionEnv(deployment=deployment, chip_offset=1000)
    assert first.evaluator is second.evaluator
    own = HybridPartitionEnv(timeline=SHORT_TIMELINE, cache_dir=cache_dir)
    rewards = []
    for env in (first, second, own):
        env.reset(seed=1)
        rewards.append(env.step(np.ones(N_LAYERS, dtype=int))[1])
    assert rewards[0] == rewards[2]  # a shared deployment changes no number
    assert second.config["chip_offset"] == 1000 and first.config["chip_offset"] == 0
    with pytest.raises(ValueError, match="either deployment= or deployment options"):
        HybridPartitionEnv(deployment=deployment, dataset="digits")


def test_unknown_environment_argument_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match="HybridPartition-v0: unknown argument.*chip_pol") as error:
        HybridPartitionEnv(chip_pol=4)
    assert "\n" not in str(error.value)
