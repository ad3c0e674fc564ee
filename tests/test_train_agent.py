"""train_agent.py: a short run writes a loadable run folder, Ctrl-C and --resume carry the step
count on, and bad options are one-line errors.

The trained run comes from the session fixture ``smoke_run`` (tests/conftest.py): 2048 steps,
about a minute; the resume test trains another 2048 steps in two halves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import agents
from agents.ppo import PPOPolicy
from agents.run_folder import make_env_from_config
from agents.training import StopAfter, TrainConfig, train
from envs.chips import TEST_CHIP_OFFSET, TRAIN_CHIPS

FAST = ["--no-progress", "--compare-episodes", "0", "--envelope-chips", "1"]


def test_smoke_run_writes_model_normaliser_and_config(smoke_run: Path):
    assert {"model.zip", "vecnormalize.pkl", "config.json"} <= {p.name for p in smoke_run.iterdir()}
    config = json.loads((smoke_run / "config.json").read_text())
    assert config["result"]["status"] == "finished"
    assert config["result"]["num_timesteps"] == 2048
    assert config["args"]["seed"] == 0 and config["args"]["timesteps"] == 2048
    # The environment section is exactly what gymnasium.make needs to rebuild it.
    assert config["env"]["dataset"] == "digits"
    assert config["env"]["scenario"] == config["env_resolved"]["scenario"]
    assert config["layers"] == ["conv1", "conv2", "fc1", "fc2", "fc3", "fc4"]


def test_saved_agent_loads_in_one_call_and_runs_as_a_registry_policy(smoke_run: Path):
    loaded = agents.load_agent(smoke_run)
    assert isinstance(loaded, PPOPolicy)
    assert loaded.obs_mean is not None  # the training-time observation statistics came along
    env = make_env_from_config(loaded.config, chip_offset=TEST_CHIP_OFFSET)
    n_steps = env.unwrapped.timeline.n_steps

    policy = agents.make_policy("ppo", env, path=smoke_run)
    record = agents.run_episode(env, policy, seed=3)
    assert len(record.steps) == n_steps
    assert record.chip >= TEST_CHIP_OFFSET  # a held-out chip
    actions = np.array([step["action"] for step in record.steps])
    assert actions.shape == (n_steps, 6) and set(np.unique(actions)) <= {0, 1, 2}
    assert np.isfinite(record.episode_return)

    # Deterministic: the model.zip path and the one-call loader act exactly alike.
    again = agents.run_episode(env, agents.make_policy("ppo", env, path=smoke_run / "model.zip"), 3)
    assert [s["action"] for s in again.steps] == actions.tolist()
    assert again.episode_return == record.episode_return
    replay = agents.run_episode(env, loaded.bind(env), 3)
    assert replay.episode_return == record.episode_return


def test_interrupt_and_resume_carry_the_step_count_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], train_main
):
    out = tmp_path / "run"
    config = TrainConfig(
        timesteps=2048, out=out, seed=0, n_envs=1, progress=False, compare_episodes=0
    )
    train(config, extra_callbacks=[StopAfter(1024)])  # a simulated Ctrl-C
    interrupted = json.loads((out / "config.json").read_text())["result"]
    assert interrupted["status"] == "interrupted"
    assert interrupted["num_timesteps"] >= 1024
    assert not (out / "model.zip").exists()
    checkpoints = sorted(p.name for p in (out / "checkpoints").glob("ppo_interrupted_*_steps.zip"))
    assert len(checkpoints) == 1
    capsys.readouterr()

    argv = ["--out", str(out), "--resume", "--timesteps", "2048", "--n-envs", "1", *FAST]
    assert train_main(argv) == 0
    printed = capsys.readouterr().out
    started = re.search(r"resuming from \S+ at (\d+) steps", printed)
    assert started, printed
    assert int(started.group(1)) >= 1024
    assert checkpoints[0] in printed
    result = json.loads((out / "config.json").read_text())["result"]
    assert result["status"] == "finished"
    assert result["num_timesteps"] == 2048
    assert (out / "model.zip").exists() and (out / "vecnormalize.pkl").exists()
    assert agents.load_agent(out).model.num_timesteps == 2048


def test_a_wall_clock_budget_stops_training_and_saves_the_run(
    tmp_path: Path, cli_error, train_main
):
    out = tmp_path / "run"
    # A budget already spent when PPO starts (building the environments takes longer): PPO
    # stops at its first step, and the run is a finished, loadable one that says why.
    config = TrainConfig(
        timesteps=2048,
        out=out,
        seed=0,
        n_envs=1,
        progress=False,
        compare_episodes=0,
        max_minutes=1e-4,
        envelope_chips=1,
    )
    train(config)
    result = json.loads((out / "config.json").read_text())["result"]
    assert result["status"] == "finished" and result["stopped_by_max_minutes"] is True
    assert 1 <= result["num_timesteps"] < 2048
    assert agents.load_agent(out).model.num_timesteps == result["num_timesteps"]
    message = cli_error(train_main, ["--max-minutes", "0", "--out", str(tmp_path / "x"), *FAST])
    assert "--max-minutes must be" in message


@pytest.mark.parametrize(
    "weights, needle",
    [("energy=lots", "not a number"), ("bogus=1", "valid keys"), ("energy=-1", ">= 0")],
)
def test_bad_reward_weights_are_a_one_line_error(
    tmp_path: Path, weights: str, needle: str, cli_error, train_main
):
    out = tmp_path / "run"
    message = cli_error(train_main, ["--reward-weights", weights, "--out", str(out), *FAST])
    assert needle in message
    assert not out.exists()  # nothing was trained or written


def test_resume_without_a_run_is_a_one_line_error(tmp_path: Path, cli_error, train_main):
    argv = ["--out", str(tmp_path / "nothing"), "--resume", *FAST]
    assert "nothing to resume" in cli_error(train_main, argv)


def test_init_from_starts_from_another_runs_agent(smoke_run: Path, tmp_path: Path, train_main):
    """--init-from carries the policy and its observation statistics over (here to another
    scenario; the same path takes a digits agent to the CIFAR-sized network)."""
    out = tmp_path / "transferred"
    argv = ["--init-from", str(smoke_run), "--scenario", "paper", "--timesteps", "0"]
    assert train_main([*argv, "--out", str(out), "--n-envs", "1", *FAST]) == 0

    source, target = agents.load_agent(smoke_run), agents.load_agent(out)
    source.shield = target.shield = False  # the networks are compared, not their shields
    assert target.config["env"]["scenario"] == "paper"
    assert target.config["args"]["init_from"] == str(smoke_run)
    np.testing.assert_array_equal(target.obs_mean, source.obs_mean)
    for name, value in source.model.policy.state_dict().items():
        assert np.array_equal(target.model.policy.state_dict()[name].numpy(), value.numpy())
    observation = np.linspace(0.0, 1.0, source.model.observation_space.shape[0], dtype=np.float32)
    env = make_env_from_config(target.config)  # a masked agent acts among what env allows
    env.reset(seed=0)
    assert np.array_equal(target.bind(env).act(observation), source.bind(env).act(observation))


def test_init_from_a_missing_run_is_a_one_line_error(tmp_path: Path, cli_error, train_main):
    argv = ["--init-from", str(tmp_path / "none"), "--out", str(tmp_path), *FAST]
    message = cli_error(train_main, argv)
    assert message.startswith("error: --init-from:")
    assert "train one with" in message or "no model.zip" in message


def test_frame_stack_run_acts_as_it_did_in_training(tmp_path: Path, train_main):
    """--frame-stack 2: the saved agent, run through the policy interface, takes exactly the
    actions stable-baselines3 takes through VecNormalize + VecFrameStack."""
    from sb3_contrib.common.maskable.utils import get_action_masks
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecNormalize

    out = tmp_path / "stacked"
    argv = ["--frame-stack", "2", "--timesteps", "512", "--n-envs", "1", "--n-steps", "256"]
    assert train_main([*argv, "--out", str(out), *FAST]) == 0
    policy = agents.load_agent(out)
    policy.shield = False  # the network's own actions, as in training
    assert policy.frame_stack == 2 and policy.model.observation_space.shape == (104,)

    env = make_env_from_config(policy.config, chip_offset=TEST_CHIP_OFFSET)
    record = agents.run_episode(env, policy.bind(env), seed=5)

    venv = DummyVecEnv([lambda: make_env_from_config(policy.config, chip_offset=TEST_CHIP_OFFSET)])
    venv = VecNormalize.load(str(out / "vecnormalize.pkl"), venv)
    venv.training, venv.norm_reward = False, False
    venv = VecFrameStack(venv, 2)
    venv.seed(5)
    observation = venv.reset()
    actions = []
    for _ in record.steps:
        masks = get_action_masks(venv)  # the default agent is a MaskablePPO
        action, _ = policy.model.predict(observation, deterministic=True, action_masks=masks)
        actions.append(action[0].tolist())
        observation, _, _, _ = venv.step(action)
    assert actions == [step["action"] for step in record.steps]


def test_frame_stack_below_one_is_a_one_line_error(tmp_path: Path, cli_error, train_main):
    argv = ["--frame-stack", "0", "--out", str(tmp_path / "run"), *FAST]
    assert cli_error(train_main, argv) == "error: --frame-stack must be an integer >= 1, got 0"


def test_linear_lr_schedule_decays_to_zero_at_the_end_of_the_run(tmp_path: Path, train_main):
    out = tmp_path / "linear"
    argv = ["--lr-schedule", "linear", "--timesteps", "512", "--n-envs", "1", "--n-steps", "256"]
    assert train_main([*argv, "--out", str(out), *FAST]) == 0
    model = agents.load_agent(out).model
    assert model.lr_schedule(1.0) == pytest.approx(1e-3) and model.lr_schedule(0.0) == 0.0
    assert model.policy.optimizer.param_groups[0]["lr"] < 1e-3  # the updates followed it


def test_unknown_lr_schedule_is_a_one_line_error(tmp_path: Path, cli_error, train_main):
    argv = ["--lr-schedule", "cosine", "--out", str(tmp_path / "run"), *FAST]
    assert cli_error(train_main, argv) == (
        "error: --lr-schedule must be one of constant, linear, got 'cosine'"
    )


def test_default_agent_is_masked_and_never_reprograms_where_it_cannot_pay(smoke_run: Path):
    """The default run is sb3-contrib's MaskablePPO, saved and loaded as a masked policy, trained
    on 64 chips; on the default log-spaced timeline no reprogramming passes the mask, so the
    agent never picks one."""
    from sb3_contrib import MaskablePPO

    policy = agents.load_agent(smoke_run)
    assert policy.masked and isinstance(policy.model, MaskablePPO)
    assert policy.config["args"]["mask_reprogram"] is True
    assert policy.config["env"]["chip_pool"] == TRAIN_CHIPS == 64

    env = make_env_from_config(policy.config, chip_offset=TEST_CHIP_OFFSET)
    for seed in range(3):
        record = agents.run_episode(env, policy.bind(env), seed=seed)
        assert record.n_reprogrammed == 0
        assert len(record.steps) == env.unwrapped.timeline.n_steps


def test_no_mask_reprogram_trains_plain_ppo_and_old_runs_load_unmasked(tmp_path: Path, train_main):
    from stable_baselines3 import PPO

    out = tmp_path / "plain"
    argv = ["--no-mask-reprogram", "--timesteps", "256", "--n-envs", "1", "--n-steps", "128"]
    assert train_main([*argv, "--train-chips", "8", "--out", str(out), *FAST]) == 0
    policy = agents.load_agent(out)
    assert not policy.masked and type(policy.model) is PPO
    assert policy.config["env"]["chip_pool"] == 8
    # A run folder from before masking existed has no mask_reprogram in its config.
    config = json.loads((out / "config.json").read_text())
    del config["args"]["mask_reprogram"]
    (out / "config.json").write_text(json.dumps(config))
    assert not agents.load_agent(out).masked


def test_train_chips_overlapping_the_validation_chips_is_a_one_line_error(
    tmp_path: Path, cli_error, train_main
):
    argv = ["--train-chips", "501", "--out", str(tmp_path / "run"), *FAST]
    message = cli_error(train_main, argv)
    assert message.startswith("error: --train-chips must be in 1..500")


def test_imitate_warm_starts_the_agent_on_the_rules_actions(tmp_path: Path, train_main):
    """--imitate fits the new agent to a rule on training chips before PPO: here a rule with one
    fixed placement, which the agent then takes on held-out chips (PPO barely moves it at a
    tiny learning rate), and config.json records the warm start."""
    out = tmp_path / "imitated"
    argv = ["--imitate", "keep-first-last-digital", "--imitate-episodes", "2"]
    argv += ["--imitate-epochs", "300", "--timesteps", "32", "--n-steps", "32"]
    argv += ["--batch-size", "32", "--learning-rate", "1e-9", "--n-envs", "1"]
    assert train_main([*argv, "--out", str(out), *FAST]) == 0

    config = json.loads((out / "config.json").read_text())
    record = config["imitation"]
    assert record["rule"] == "keep-first-last-digital" and record["episodes"] == 2
    assert (
        record["steps"] + record["dropped_steps"]
        == 2 * config["env_resolved"]["timeline"]["n_steps"]
    )
    assert record["agreement"] == 1.0
    env = make_env_from_config(config, chip_offset=TEST_CHIP_OFFSET)
    # Unshielded: the shield's envelope (one chip here) would turn some analog layers digital.
    agent = agents.run_episode(env, agents.make_policy("ppo", env, path=out, shield=False), 5)
    rule = agents.run_episode(env, agents.make_policy("keep-first-last-digital", env), seed=5)
    assert [s["action"] for s in agent.steps] == [s["action"] for s in rule.steps]
    assert agent.episode_return == rule.episode_return


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--imitate", "lionheart-training"], "is not a rule of HybridPartition-v0"),
        (["--imitate", "greedy", "--frame-stack", "2"], "--frame-stack 1"),
        (["--imitate-params", "h.json"], "pass both"),
        (["--imitate", "greedy", "--imitate-params", "missing.json"], "tune_heuristics.py"),
        (["--imitate", "greedy", "--imitate-episodes", "0"], "--imitate-episodes must be"),
    ],
)
def test_bad_imitation_options_are_one_line_errors(
    argv: list[str], needle: str, tmp_path: Path, cli_error, train_main
):
    message = cli_error(train_main, [*argv, "--out", str(tmp_path / "run"), *FAST])
    assert needle in message
    assert not (tmp_path / "run").exists()
