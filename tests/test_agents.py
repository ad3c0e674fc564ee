"""The heuristic policies: one interface, the behaviour each promises, and their ranking.

Every test runs on the default environment (strong-drift scenario, digits model) cut to a
6-step timeline; environments are shared per module so their evaluation caches stay warm.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest

import agents
import envs
from agents import make_policy, policy_names, run_episode
from envs import HybridPartitionEnv
from envs.actions import ANALOG, DIGITAL, REPROGRAM

N_STEPS = 6
SHORT_TIMELINE = {"n_steps": N_STEPS}
HEURISTICS = (
    "all-digital",
    "all-analog",
    "random",
    "keep-first-last-digital",
    "saving-vs-noise",
    "threshold",
    "greedy",
    "greedy-preview",
    "oracle",
)
DEPLOYABLE = HEURISTICS[:7]  # the observation, static layer facts and env.measure only


@pytest.fixture(scope="module")
def env(cache_dir: Path) -> Iterator[gymnasium.Env]:
    """The registered environment on a 6-step timeline, reprogramming allowed."""
    made = gymnasium.make(envs.ENV_ID, timeline=SHORT_TIMELINE, cache_dir=cache_dir)
    yield made
    made.close()


@pytest.fixture(scope="module")
def fixed_env(cache_dir: Path) -> HybridPartitionEnv:
    """The same environment without the reprogram action (actions 0/1 only)."""
    return HybridPartitionEnv(timeline=SHORT_TIMELINE, allow_reprogram=False, cache_dir=cache_dir)


def actions_of(record: agents.EpisodeRecord) -> np.ndarray:
    """The actions of an episode, shape (n_steps, n_layers)."""
    return np.array([step["action"] for step in record.steps])


# --- the shared interface -----------------------------------------------------------------------


def test_every_heuristic_is_registered() -> None:
    assert set(HEURISTICS) <= set(policy_names())


@pytest.mark.parametrize("name", HEURISTICS)
def test_each_heuristic_runs_a_full_episode_with_valid_actions(
    env: gymnasium.Env, name: str
) -> None:
    unwrapped = env.unwrapped
    record = run_episode(env, make_policy(name, env), seed=0)

    assert record.policy == name
    assert len(record.steps) == N_STEPS
    for step in record.steps:
        assert env.action_space.contains(np.asarray(step["action"], dtype=np.int64))
    assert np.isfinite(record.episode_return)
    assert unwrapped.chip_offset <= record.chip < unwrapped.chip_offset + unwrapped.chip_pool


@pytest.mark.parametrize("name", DEPLOYABLE)
def test_deployable_heuristics_never_preview(
    env: gymnasium.Env, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(action: Any) -> Any:
        raise AssertionError(f"{name} called env.preview")

    monkeypatch.setattr(env.unwrapped, "preview", forbidden)
    policy = make_policy(name, env)
    assert not policy.uses_preview
    assert len(run_episode(env, policy, seed=1).steps) == N_STEPS


def test_unknown_policy_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="nope") as error:
        make_policy("nope")
    message = str(error.value)
    assert "\n" not in message
    for name in HEURISTICS:
        assert name in message


# --- what each heuristic promises ---------------------------------------------------------------


def test_all_digital_costs_exactly_the_digital_energy_and_keeps_digital_accuracy(
    env: gymnasium.Env,
) -> None:
    record = run_episode(env, make_policy("all-digital", env), seed=0)

    assert [step["energy_ratio"] for step in record.steps] == pytest.approx([1.0] * N_STEPS)
    for step in record.steps:
        assert step["accuracies"] == pytest.approx(step["digital_accuracies"])
    assert record.episode_return == pytest.approx(-float(N_STEPS))


def test_all_analog_is_programmed_once_and_never_reprogrammed(env: gymnasium.Env) -> None:
    record = run_episode(env, make_policy("all-analog", env), seed=0)

    assert np.all(actions_of(record) == ANALOG)
    assert record.n_reprogrammed == 0
    final_ages = record.steps[-1]["drift_ages_s"]
    assert final_ages == pytest.approx([env.unwrapped.times_s[-1]] * len(final_ages))
    assert record.mean_energy_ratio < 0.3


def test_keep_first_last_digital_keeps_the_input_layer_and_both_heads_digital(
    env: gymnasium.Env,
) -> None:
    record = run_episode(env, make_policy("keep-first-last-digital", env), seed=0)
    names = env.unwrapped.layer_names
    expected = [DIGITAL if name in ("conv1", "fc3", "fc4") else ANALOG for name in names]

    assert np.all(actions_of(record) == expected)


def test_random_is_reproducible_for_a_seed_and_differs_across_seeds(env: gymnasium.Env) -> None:
    def two_episodes(seed: int) -> np.ndarray:
        policy = make_policy("random", env, seed=seed)
        return np.stack([actions_of(run_episode(env, policy, seed=s)) for s in (0, 1)])

    first, again, other = two_episodes(3), two_episodes(3), two_episodes(4)

    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1]), "each episode should draw new actions"
    assert set(np.unique(first)) == {DIGITAL, ANALOG, REPROGRAM}


def test_random_policy_leaves_the_environment_rng_alone(env: gymnasium.Env) -> None:
    env.reset(seed=5)
    expected = env.unwrapped.np_random.integers(1 << 30)
    env.reset(seed=5)
    make_policy("random", env, seed=9).predict(np.zeros(1), episode_start=True)
    assert env.unwrapped.np_random.integers(1 << 30) == expected


def test_threshold_zero_moves_one_layer_per_step_in_the_given_order(env: gymnasium.Env) -> None:
    order = ["fc4", "conv1", "fc2", "conv2", "fc1", "fc3"]
    names = env.unwrapped.layer_names
    policy = make_policy("threshold", env, threshold=0.0, order=order)
    actions = actions_of(run_episode(env, policy, seed=0))

    for step, action in enumerate(actions):  # all analog first, then one more layer per step
        digital = {names[i] for i in np.flatnonzero(action == DIGITAL)}
        assert digital == set(order[:step])
    assert not np.any(actions == REPROGRAM)


def test_threshold_moves_nothing_while_losses_stay_below_it(env: gymnasium.Env) -> None:
    policy = make_policy("threshold", env, threshold=1e6)
    assert np.all(actions_of(run_episode(env, policy, seed=0)) == ANALOG)


def test_threshold_reacts_to_the_observed_loss_in_forward_order(env: gymnasium.Env) -> None:
    record = run_episode(env, make_policy("threshold", env), seed=0)
    threshold = make_policy("threshold").threshold
    actions = actions_of(record)
    n_digital = (actions == DIGITAL).sum(axis=1)

    for step in range(1, N_STEPS):
        last = record.steps[step - 1]
        above = max(np.subtract(last["losses"], last["digital_losses"])) > threshold
        assert n_digital[step] == n_digital[step - 1] + int(above)
        assert np.all(actions[step, : n_digital[step]] == DIGITAL)  # a prefix: forward order
    assert 0 < n_digital[-1] < N_STEPS, "the default threshold should trigger, not every step"


def test_threshold_order_with_an_unknown_layer_is_a_one_line_error(env: gymnasium.Env) -> None:
    with pytest.raises(ValueError, match="unknown layer 'fc9'.*conv1"):
        make_policy("threshold", env, order=["fc9"])


def test_greedy_preview_never_scores_below_all_digital_and_saves_energy(
    env: gymnasium.Env,
) -> None:
    """It keeps a move only if the previewed reward rises, starting from all digital."""
    policy = make_policy("greedy-preview", env)
    record = run_episode(env, policy, seed=0)

    assert policy.uses_preview
    all_digital = -1.0  # energy ratio 1, no excess error, no reprogramming
    assert all(step["reward"] >= all_digital - 1e-9 for step in record.steps)
    assert record.mean_energy_ratio < 0.9


@pytest.mark.parametrize("error_per_nat", [0.1, 0.4])
def test_greedy_keeps_placements_it_predicts_beat_all_digital_and_saves_energy(
    env: gymnasium.Env, error_per_nat: float
) -> None:
    unwrapped = env.unwrapped
    policy = make_policy("greedy", env, error_per_nat=error_per_nat).bind(unwrapped)
    observation, _ = env.reset(seed=0)
    energies = []
    for _ in range(N_STEPS):
        action = policy.act(observation)
        predicted = policy.predicted_metrics(action)
        assert unwrapped.reward_function(predicted) >= -1.0 - 1e-9  # all-digital's reward
        # The prediction is the calibration measurement, the excess loss priced at the rate.
        measured = unwrapped.measure(action)
        excess = np.maximum(measured["losses"] - measured["digital_losses"], 0)
        assert predicted.excess_errors == pytest.approx(error_per_nat * excess)
        observation, _, _, _, info = env.step(action)
        energies.append(info["energy_ratio"])
    assert np.mean(energies) < 0.9


@pytest.mark.parametrize("name", ["saving-vs-noise", "greedy", "greedy-preview", "oracle"])
def test_reward_aware_heuristics_spend_less_energy_when_energy_weighs_more(
    fixed_env: HybridPartitionEnv, name: str
) -> None:
    """The issue's sweep: each reward-aware policy moves along its own trade-off curve."""
    energies = []
    for energy_weight in (0.5, 4.0):
        env = HybridPartitionEnv(
            deployment=fixed_env.deployment,
            reward={"energy": energy_weight},
            allow_reprogram=False,
        )
        records = [run_episode(env, make_policy(name, env), seed) for seed in (0, 1)]
        energies.append(np.mean([record.mean_energy_ratio for record in records]))
    assert energies[1] < energies[0] - 0.05, energies


def test_measure_sees_the_tiles_now_not_at_the_end_of_the_coming_interval(
    env: gymnasium.Env,
) -> None:
    """measure() at step k equals the previous step's state on the calibration images, and a
    fresh tile is never measured older than the current one."""
    unwrapped = env.unwrapped
    env.reset(seed=2)
    analog = np.full(unwrapped.n_layers, ANALOG)
    before = unwrapped.measure(analog)
    assert before["digital_accuracies"] == pytest.approx([1.0, 1.0])  # training images
    for _ in range(4):
        env.step(analog)
    now = unwrapped.measure(analog)
    # Drift between t = 0 and the end of step 4 shows in what the chip measures now.
    assert now["losses"].sum() > before["losses"].sum()
    fresh = unwrapped.measure(np.full(unwrapped.n_layers, REPROGRAM))
    assert fresh["losses"].sum() <= now["losses"].sum()
    with pytest.raises(ValueError, match="an action is 6 integers"):
        unwrapped.measure([1, 1])


def test_greedy_beats_the_static_extremes(env: gymnasium.Env) -> None:
    """On average over five chips: one chip alone can go either way (greedy measures the chip
    now and cannot see the coming interval's drift)."""
    returns = {
        name: np.mean(
            [run_episode(env, make_policy(name, env), seed).episode_return for seed in range(5)]
        )
        for name in ("greedy", "all-digital", "all-analog")
    }
    assert returns["greedy"] > returns["all-digital"] > returns["all-analog"]


def test_oracle_refuses_models_larger_than_max_layers(env: gymnasium.Env) -> None:
    with pytest.raises(ValueError, match="6 layers, more than max_layers=5") as error:
        make_policy("oracle", env, max_layers=5)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_without_reprogramming_the_oracle_beats_every_heuristic(
    fixed_env: HybridPartitionEnv, seed: int
) -> None:
    returns = {
        name: run_episode(fixed_env, make_policy(name, fixed_env), seed=seed).episode_return
        for name in HEURISTICS
    }
    oracle = returns.pop("oracle")
    for name, value in returns.items():
        assert oracle >= value - 1e-9, f"{name} beat the oracle: {value} > {oracle}"
    assert oracle > returns["all-digital"] + 0.5


def test_pruned_oracle_chooses_what_full_enumeration_chooses(env: gymnasium.Env) -> None:
    pruned = run_episode(env, make_policy("oracle", env), seed=1)
    full = run_episode(env, make_policy("oracle", env, prune=False), seed=1)

    assert np.array_equal(actions_of(pruned), actions_of(full))
    assert pruned.episode_return == pytest.approx(full.episode_return)


def test_training_seeds_pool_by_chip_with_a_ci_over_chips():
    """benchmarks' several-seed tables: per chip the seeds' mean minus the rival's, CI over
    chips, and how many seeds win alone."""
    from agents.reporting import mean_ci95, pool_seeds

    seeds = [[1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 8.0]]
    rival = [0.0, 1.0, 2.0, 3.0]
    pooled = pool_seeds(seeds, {"rule": rival, "strong": [9.0, 9.0, 9.0, 9.0]})
    assert pooled["seeds"] == 2
    assert pooled["agent"] == mean_ci95([2.0, 3.0, 4.0, 6.0])
    assert pooled["margins"]["rule"] == mean_ci95([2.0, 2.0, 2.0, 3.0])
    # The first seed wins by exactly 1 on every chip (CI 0); the second by 3, 3, 3, 5.
    assert pooled["seeds_beyond_ci"] == {"rule": 2, "strong": 0}
