"""HybridTraining-v0 (partitioning during training): the Gymnasium and stable-baselines3
contracts, reproducibility, the energy accounting, every baseline, errors, and train_agent.py /
evaluate.py on it.

Everything runs on a tiny training run (2 steps of 2 mini-batches, 48 evaluation images) so the
whole module takes well under a minute.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import agents
import envs
from agents.training import StopAfter, TrainConfig, prepare, train, training_env_kwargs
from envs import TRAINING_ENV_ID, HybridTrainingEnv, TrainingMetrics, TrainingRewardWeights
from envs.hybrid_training.observation import FEATURES
from envs.hybrid_training.run import TrainingRun, build_training_run
from envs.observation import describe
from hybrid.energy import (
    EnergyTable,
    TrainingEnergyTable,
    energy_per_inference,
    layer_compute_pj,
    training_energy,
)

TINY = {
    "schedule": {"n_steps": 2, "train_size": 64, "batch_size": 32},
    "eval_size": 48,
    "monitor_size": 32,
}
BASELINES = (
    "all-digital-training",
    "all-analog-training",
    "random-training",
    "threshold-training",
    "lionheart-training",
)
F1F2 = [0, 0, 1, 1, 0, 0, 0]  # fc1 and fc2 analog, no rollback


@pytest.fixture(scope="module")
def run(cache_dir: Path) -> TrainingRun:
    """One tiny training run, shared by the environments of this module."""
    return build_training_run(cache_dir=cache_dir, **TINY)


@pytest.fixture
def env(run: TrainingRun) -> HybridTrainingEnv:
    return HybridTrainingEnv(run=run)


def episode(env: gymnasium.Env, actions, seed: int = 0, chip: int | None = None):
    """Observations (the reset one first), rewards and infos of one episode."""
    observation, info = env.reset(seed=seed, options=None if chip is None else {"chip": chip})
    observations, rewards, infos = [observation], [], [info]
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        observations.append(observation)
        rewards.append(reward)
        infos.append(info)
    assert terminated and not truncated
    return np.array(observations), rewards, infos


# --- the contracts -------------------------------------------------------------------------------


def test_registered_and_both_checkers_pass(cache_dir: Path) -> None:
    made = gymnasium.make(TRAINING_ENV_ID, cache_dir=cache_dir, **TINY)
    assert TRAINING_ENV_ID in envs.ENV_IDS and isinstance(made.unwrapped, HybridTrainingEnv)
    gymnasium_check_env(made.unwrapped, skip_render_check=True)
    sb3_check_env(made.unwrapped, warn=False)
    assert made.observation_space.shape == (70,)
    assert list(made.action_space.nvec) == [2] * 7


def test_the_docstring_table_is_the_observation_module_s() -> None:
    assert describe(FEATURES).replace("\n", "\n    ") in HybridTrainingEnv.__doc__


def test_same_seed_and_actions_reproduce_exactly_cached_or_not(run: TrainingRun) -> None:
    cached, uncached = HybridTrainingEnv(run=run), HybridTrainingEnv(run=run)
    actions = [[1, 0, 1, 1, 0, 1, 0], [0, 1, 1, 0, 1, 1, 1]]
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    first = episode(cached, actions, seed=3)
    hits = run.cache.hits
    again = episode(cached, actions, seed=3)
    assert run.cache.hits == hits + 2  # both steps served from the cache
    run.cache.data.clear()
    fresh = episode(uncached, actions, seed=3)
    assert torch.rand(1) == expected_draw  # the caller's torch generator was never touched
    for other in (again, fresh):
        np.testing.assert_array_equal(first[0], other[0])
        assert first[1] == other[1]
    other_chip = episode(cached, actions, seed=3, chip=(first[2][0]["chip"] + 1) % 16)
    assert other_chip[1][-1] != first[1][-1]


def test_training_streams_share_training_and_keep_each_chip_s_deployment(run: TrainingRun) -> None:
    shared = HybridTrainingEnv(run=run, training_streams=2)
    a = episode(shared, [F1F2, F1F2], chip=1)
    b = episode(shared, [F1F2, F1F2], chip=3)  # chip 3 trains with stream 1, as chip 1
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1][0] == b[1][0]  # the same training step
    assert a[2][-1]["deployed_losses"] != b[2][-1]["deployed_losses"]  # its own deployment
    with pytest.raises(ValueError, match="training_streams"):
        HybridTrainingEnv(run=run, training_streams=17)


def test_rgb_array_picture_shows_where_each_layer_trained(run: TrainingRun) -> None:
    from envs.rendering import RENDER_CELL_PX as cell
    from envs.rendering import RENDER_COLOURS

    env = HybridTrainingEnv(run=run, render_mode="rgb_array")
    assert env.render() is None  # nothing to show before reset
    env.reset(seed=0)
    env.step(F1F2)
    picture = env.render()
    assert picture.shape == ((env.n_layers + env.n_tasks) * cell, env.n_steps * cell, 3)
    centre = cell // 2
    column = [tuple(picture[row * cell + centre, centre]) for row in range(env.n_layers)]
    assert column == [RENDER_COLOURS[code] for code in (0, 0, 1, 1, 0, 0)]
    assert tuple(picture[centre, cell + centre]) == RENDER_COLOURS["future"]  # the next step


def test_a_deep_copy_mid_episode_continues_exactly_as_the_original(run: TrainingRun) -> None:
    import copy

    env = HybridTrainingEnv(run=run)
    env.reset(seed=5)
    env.step(F1F2)
    twin = copy.deepcopy(env)
    action = [1, 1, 0, 0, 1, 1, 0]
    observation, reward, terminated, _, info = env.step(action)
    twin_observation, twin_reward, twin_terminated, _, twin_info = twin.step(action)
    np.testing.assert_array_equal(observation, twin_observation)
    assert (reward, terminated) == (twin_reward, twin_terminated) and terminated
    assert info["deployed_losses"] == twin_info["deployed_losses"]


# --- the energy accounting -----------------------------------------------------------------------


def test_training_energy_by_hand_for_one_layer_on_each_substrate(run: TrainingRun) -> None:
    specs, table, prices = run.specs, EnergyTable(), TrainingEnergyTable()
    fc1 = specs[2]
    digital = training_energy(specs, [False] * 6, samples=10, updates=2)
    # forward + input gradient + weight gradient at 2 pJ per FP16 MAC; 25 pJ per weight update
    assert digital.forward_pj[2] == 10 * fc1.macs * 2.0
    assert digital.backward_pj[2] == 10 * 2 * fc1.macs * 2.0
    assert digital.update_pj[2] == 2 * fc1.n_weights * 25.0
    assert digital.backward_pj[0] == 10 * specs[0].macs * 2.0  # conv1: no input gradient
    assert digital.switch_pj.sum() == 0 and digital.crossing_pj.sum() == 0

    placement = [False, False, True, False, False, False]
    analog = training_energy(specs, placement, samples=10, updates=2)
    mvm = sum(layer_compute_pj(fc1, True, table))
    assert analog.forward_pj[2] == pytest.approx(10 * mvm)
    assert analog.backward_pj[2] == pytest.approx(10 * (mvm + fc1.macs * 2.0))
    pulses = prices.analog_update_pulses_per_weight * prices.pulse_pj
    assert analog.update_pj[2] == pytest.approx(2 * fc1.n_weights * (25.0 + pulses))
    assert analog.switch_pj[2] == fc1.n_weights * table.reprogram_pj_per_weight  # onto its tile
    crossings = energy_per_inference(specs, placement, table).as_dict()["crossing_pj"]
    assert analog.crossing_pj.sum() == pytest.approx(2 * 10 * crossings)  # forward and backward
    back = training_energy(specs, [False] * 6, 10, 2, previous=placement)
    assert back.switch_pj[2] == fc1.n_weights * prices.readout_pj_per_weight  # off its tile
    # an epoch in batches of 100: on its tile fc1 trains for less than half the digital energy
    epoch = [training_energy(specs, p, 1000, 10, previous=p) for p in ([False] * 6, placement)]
    assert epoch[1].layer_pj[2] < 0.5 * epoch[0].layer_pj[2]


def test_the_environment_charges_each_step_its_training_energy(env: HybridTrainingEnv) -> None:
    run = env.run
    _, rewards, infos = episode(env, [F1F2, [1, 1, 1, 1, 1, 1, 0]])
    first = training_energy(
        run.specs,
        [False, False, True, True, False, False],
        run.samples_per_step,
        run.updates_per_step,
    )
    assert infos[1]["training_energy_pj"] == pytest.approx(first.total_pj)
    assert infos[1]["training_energy_ratio"] == pytest.approx(
        first.total_pj / run.training_digital_pj
    )
    assert rewards[0] == pytest.approx(-infos[1]["training_energy_ratio"])  # training=1
    spent = infos[1]["training_energy_ratio"] + infos[2]["training_energy_ratio"]
    assert infos[2]["training_energy_spent"] == pytest.approx(spent)
    terms = infos[2]["reward_terms"]
    assert rewards[1] == pytest.approx(-sum(terms.values()))
    # the deployment: all-analog inference energy at each of the 4 ages
    all_analog = run.inference_energy_ratio([True] * 6)
    assert terms["energy"] == pytest.approx(4 * all_analog)
    drops = np.maximum(
        np.array(infos[2]["digital_accuracies"]) - np.array(infos[2]["deployed_accuracies"]), 0
    )
    assert terms["task_loss"] == pytest.approx(50 * drops.sum())


def test_all_digital_training_costs_exactly_the_unit_and_deploys_digital(
    env: HybridTrainingEnv,
) -> None:
    record = agents.run_episode(env, agents.make_policy("all-digital-training", env), seed=0)
    last = record.steps[-1]
    assert last["training_energy_spent"] == pytest.approx(1.0)
    assert last["energy_ratio"] == 1.0 and last["reward_terms"]["energy"] == 4.0


def test_reward_weights_parse_scale_the_terms_and_a_callable_replaces_them(run) -> None:
    weights = TrainingRewardWeights.parse("energy=2,task_loss=10,training=3")
    assert weights.training == 3 and weights.deployment.energy == 2
    assert TrainingRewardWeights.from_dict(weights.to_dict()) == weights
    doubled = HybridTrainingEnv(run=run, reward="training=2")
    _, rewards, _ = episode(doubled, [F1F2, F1F2])
    _, plain, _ = episode(HybridTrainingEnv(run=run), [F1F2, F1F2])
    assert rewards[0] == pytest.approx(2 * plain[0])
    seen: list[TrainingMetrics] = []
    custom = HybridTrainingEnv(run=run, reward=lambda m: seen.append(m) or float(m.step))
    _, rewards, _ = episode(custom, [F1F2, F1F2])
    assert rewards == [0.0, 1.0]
    assert seen[0].deployment == () and len(seen[1].deployment) == 4


# --- the baselines -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_runs_an_episode_with_valid_actions(env: HybridTrainingEnv, name) -> None:
    assert name in agents.policy_names(TRAINING_ENV_ID)
    assert name not in agents.policy_names(envs.ENV_ID)
    record = agents.run_episode(env, agents.make_policy(name, env), seed=1)
    actions = np.array([step["action"] for step in record.steps])
    assert actions.shape == (2, 7) and set(np.unique(actions)) <= {0, 1}
    assert np.isfinite(record.episode_return)
    assert len(record.steps[-1]["deployed_accuracies"]) == 4


def test_threshold_moves_one_layer_per_step_in_forward_order_above_it(env) -> None:
    moving = agents.run_episode(env, agents.make_policy("threshold-training", env, threshold=0), 0)
    assert [s["action"][:6] for s in moving.steps] == [[1] * 6, [0, 1, 1, 1, 1, 1]]
    paper = agents.run_episode(env, agents.make_policy("threshold-training", env, threshold=0.8), 0)
    assert all(s["action"][:6] == [1] * 6 for s in paper.steps)  # fine-tuning losses are small


def test_lionheart_tries_the_largest_layer_and_rolls_a_failed_move_back(
    env: HybridTrainingEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = agents.run_episode(env, agents.make_policy("lionheart-training", env, tolerance=1), 0)
    first, last = (step["action"] for step in kept.steps)
    assert first == [0, 0, 1, 0, 0, 0, 0]  # fc1 has the most MACs
    assert last == [0, 0, 1, 0, 0, 0, 0]  # kept; the last step retrains what was kept

    def failing(placement, draws=1):  # a chip on which every candidate loses accuracy
        return {"accuracies": np.zeros(2), "reference_accuracies": np.ones(2)}

    monkeypatch.setattr(env, "measure", failing)
    failed = agents.run_episode(env, agents.make_policy("lionheart-training", env), 0)
    assert failed.steps[-1]["action"] == [0] * 6 + [1]  # rolled back, fc1 back to digital
    assert failed.steps[-1]["rolled_back"]


def test_a_rollback_restarts_from_the_weights_before_the_previous_step(env) -> None:
    env.reset(seed=0)
    start = env.state.weights
    env.step(F1F2)
    assert env.action_masks()[-1]  # a rollback is now possible
    env.step([0, 0, 1, 1, 0, 0, 1])
    assert env.state.rolled_back and env.state.checkpoint is start
    env.reset(seed=0)
    assert not env.action_masks()[-1]  # nothing to roll back at the first step


def test_measure_averages_draws_and_changes_nothing(env: HybridTrainingEnv) -> None:
    env.reset(seed=0)
    env.step(F1F2)
    observation = env._observation(env.state)
    one = env.measure([0, 0, 1, 1, 0, 0])
    np.testing.assert_allclose(one["losses"], env.state.measured.deployed_losses)
    ten = env.measure([0, 0, 1, 1, 0, 0], draws=10)
    assert ten["accuracies"].shape == (2,) and np.all(ten["reference_accuracies"] <= 1)
    np.testing.assert_array_equal(env._observation(env.state), observation)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action, needle",
    [([0] * 6, "shape"), ([2] * 7, "out-of-range"), ([0.5] * 7, "non-integer"), ("x", "shape")],
)
def test_bad_action_is_a_one_line_error(env: HybridTrainingEnv, action, needle) -> None:
    env.reset(seed=0)
    with pytest.raises(ValueError, match=needle) as error:
        env.step(action)
    assert "\n" not in str(error.value) and "an action is 7 integers" in str(error.value)


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"bogus": 1}, "unknown HybridTraining-v0 argument"),
        ({"schedule": {"n_steps": 0}}, "n_steps"),
        ({"schedule": {"epochs": 2}}, "unknown schedule option"),
        ({"eval_split": "train"}, "eval_split"),
        ({"reward": "training=-1"}, ">= 0"),
        ({"reward": "bogus=1"}, "valid keys"),
        ({"training_energy_table": {"pulse_pj": -1}}, "pulse_pj"),
        ({"scenario": "nope"}, "unknown scenario"),
    ],
)
def test_bad_options_are_one_line_errors(cache_dir: Path, options, needle) -> None:
    with pytest.raises(ValueError, match=needle) as error:
        HybridTrainingEnv(cache_dir=cache_dir, **{**TINY, **options})
    assert "\n" not in str(error.value)


# --- train_agent.py and evaluate.py --------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def test_default_runs_validate_and_checkpoint_every_quarter_and_keep_the_user_s_streams(
    tmp_path: Path,
) -> None:
    config, kwargs, _ = prepare(TrainConfig(env=TRAINING_ENV_ID, out=tmp_path / "run"))
    assert (config.timesteps, config.eval_freq, config.checkpoint_freq) == (4096, 1024, 1024)
    deployment, _, _ = prepare(TrainConfig(out=tmp_path / "other"))
    assert (deployment.eval_freq, deployment.checkpoint_freq) == (4096, 8192)
    assert training_env_kwargs(TRAINING_ENV_ID, kwargs)["training_streams"] == 8
    mine = {**kwargs, "training_streams": 3}
    assert training_env_kwargs(TRAINING_ENV_ID, mine)["training_streams"] == 3


@pytest.fixture(scope="module")
def training_run_folder(tmp_path_factory, tiny_config: Path) -> Iterator[Path]:
    """A tiny HybridTraining-v0 PPO run, interrupted at 16 steps and resumed to 32."""
    out = tmp_path_factory.mktemp("runs") / "training"
    options = dict(
        env=TRAINING_ENV_ID,
        timesteps=32,
        n_steps=16,
        batch_size=16,
        n_envs=1,
        eval_freq=10_000,
        checkpoint_freq=16,
        env_config=tiny_config,
        out=out,
        progress=False,
        compare_episodes=0,
    )
    train(TrainConfig(**options), extra_callbacks=[StopAfter(16)])  # a simulated Ctrl-C
    assert json.loads((out / "config.json").read_text())["result"]["status"] == "interrupted"
    train(TrainConfig(**{**options, "resume": True}))
    yield out


def test_train_agent_trains_resumes_and_records_the_environment(training_run_folder) -> None:
    config = json.loads((training_run_folder / "config.json").read_text())
    assert config["env_id"] == TRAINING_ENV_ID and config["args"]["gamma"] == 1.0
    assert config["result"] == {**config["result"], "status": "finished", "num_timesteps": 32}
    policy = agents.load_agent(training_run_folder)
    assert policy.masked and policy.model.num_timesteps == 32


def test_evaluate_compares_the_baselines_writes_files_and_validates(
    training_run_folder: Path, tmp_path: Path, evaluate_main
) -> None:
    out = tmp_path / "results"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = evaluate_main(
            [
                "--model",
                str(training_run_folder),
                "--episodes",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
    assert code == 0, stdout.getvalue()
    assert {"summary.csv", "summary.json", "steps.csv", "pareto.png", "placements.png"} <= {
        p.name for p in out.iterdir()
    }
    with (out / "summary.csv").open(newline="") as handle:
        rows = {row["policy"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"ppo", *BASELINES}
    assert float(rows["all-digital-training"]["training_energy"]) == pytest.approx(1.0)
    assert all(int(row["chips"].split()[0]) >= 1000 for row in rows.values())  # held out
    assert "lionheart-training" in stdout.getvalue()
    with contextlib.redirect_stdout(io.StringIO()):
        assert evaluate_main(["--validate", str(out), "--no-progress"]) == 0


def test_evaluate_refuses_a_run_of_another_environment(
    training_run_folder, cli_error, evaluate_main
):
    message = cli_error(
        evaluate_main, ["--model", str(training_run_folder), "--env", envs.ENV_ID, "--no-progress"]
    )
    assert "was trained on HybridTraining-v0" in message
