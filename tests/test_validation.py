"""Bad input at every boundary (command-line options, --env-config files, environment keyword
arguments, output folders, missing data) is one line that names the fix, with exit code 2 on
the command lines, and nothing is written; the ecosystem's standard wrappers work."""

from __future__ import annotations

import json

import gymnasium
import numpy as np
import pytest

import envs
from envs import HybridPartitionEnv

FAST = ["--no-progress", "--compare-episodes", "0", "--envelope-chips", "1"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--timesteps", "0"], "--timesteps must be an integer >= 1, got 0"),
        (["--timesteps", "-5"], "--timesteps must be an integer >= 1, got -5"),
        (["--n-envs", "0"], "--n-envs must be an integer >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be an integer >= 2, got 0"),
        (["--batch-size", "1024", "--n-steps", "256", "--n-envs", "2"], "at most --n-steps x"),
        (["--n-steps", "1"], "--n-steps must be an integer >= 2"),
        (["--n-epochs", "0"], "--n-epochs must be an integer >= 1"),
        (["--learning-rate", "0"], "--learning-rate must be a finite number > 0"),
        (["--learning-rate", "nan"], "--learning-rate must be a finite number > 0"),
        (["--gamma", "1.5"], "--gamma must be a finite number in (0, 1]"),
        (["--gae-lambda", "-0.1"], "--gae-lambda must be a finite number in [0, 1]"),
        (["--clip-range", "0"], "--clip-range must be a finite number > 0"),
        (["--ent-coef", "-1"], "--ent-coef must be a finite number >= 0"),
        (["--net-arch", "64", "0"], "--net-arch must be an integer >= 1, got 0"),
        (["--drift-scale", "-2"], "--drift-scale must be a finite number >= 0, got -2.0"),
        (["--noise-scale", "inf"], "--noise-scale must be a finite number >= 0"),
        (["--train-drift-scales", "1", "0"], "--train-drift-scales must be a finite number > 0"),
        (["--eval-freq", "0"], "--eval-freq must be an integer >= 1"),
        (["--checkpoint-freq", "0"], "--checkpoint-freq must be an integer >= 1"),
        (["--compare-episodes", "-1"], "--compare-episodes must be an integer >= 0"),
        (["--seed", "-1"], "--seed must be an integer >= 0"),
        (["--train-chips", "0"], "--train-chips must be in 1..500"),
        (["--reward-weights", "energy=0,task_loss=0,reprogram=0"], "reward weights are all zero"),
        (["--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["--scenario", "moon"], "unknown scenario 'moon'"),
    ],
)
def test_bad_training_options_are_one_line_errors(tmp_path, cli_error, train_main, argv, needle):
    out = tmp_path / "run"
    message = cli_error(train_main, [*FAST, *argv, "--out", str(out)])  # argv's value wins
    assert needle in message
    assert not out.exists()  # nothing was written


def test_task_weights_for_more_tasks_than_the_model_has(tmp_path, cli_error, train_main, cache_dir):
    """Caught in the main process when the environment is built, not as an EOFError from a
    worker."""
    out = tmp_path / "run"
    argv = ["--reward-weights", "task_weights=1/1/1", "--out", str(out), *FAST]
    message = cli_error(train_main, argv)
    assert "task_weights has 3 weight(s) but the model has 2 task(s)" in message
    assert "task_weights=1/1" in message  # the fix
    assert not out.exists()


@pytest.mark.parametrize(
    "content, needle",
    [
        ("[1, 2]", "environment options must be an object of name: value pairs, got list"),
        ('{"chip_pool": "many"}', "chip_pool='many' must be an integer >= 1"),
        ('{"chip_pol": 8}', "unknown argument(s) chip_pol; valid: deployment, reward"),
        ('{"timeline": 12}', "timeline=12 must be an object of Timeline fields"),
        ('{"drift_scale": -1}', "drift_scale=-1 must be a finite number >= 0"),
        ('{"chip_offset": 1000}', "sets chip_offset: training uses chips 0..N-1"),
        ('{"dataset": "cifar10"}', "sets dataset='cifar10': pass --dataset cifar10 instead"),
        ('{"drift_scale": 2}', None),  # allowed: the command line leaves it at 1
        ("{not json", "is not valid JSON"),
    ],
)
def test_env_config_contents_are_checked_before_anything_starts(
    tmp_path, cli_error, train_main, content, needle
):
    config = tmp_path / "env.json"
    config.write_text(content)
    out = tmp_path / "run"
    argv = ["--env-config", str(config), "--out", str(out), "--timesteps", "64", *FAST]
    if needle is None:
        from agents.training import TrainConfig, env_kwargs

        kwargs = env_kwargs(TrainConfig(env_config=config))
        assert kwargs["drift_scale"] == 2 and kwargs["chip_pool"] == 64
        return
    message = cli_error(train_main, argv)
    assert message.startswith(f"error: --env-config {config}")
    assert needle in message
    assert not out.exists()


def test_env_config_and_command_line_setting_the_same_option_differently(
    tmp_path, cli_error, train_main
):
    config = tmp_path / "env.json"
    config.write_text(json.dumps({"drift_scale": 2.0}))
    argv = ["--env-config", str(config), "--drift-scale", "3", "--out", str(tmp_path / "run")]
    message = cli_error(train_main, [*argv, *FAST])
    assert "sets drift_scale=2.0 and the command line 3.0: set it in one place" in message


def test_missing_env_config_file(tmp_path, cli_error, train_main):
    argv = ["--env-config", str(tmp_path / "none.json"), "--out", str(tmp_path / "run"), *FAST]
    assert "does not exist" in cli_error(train_main, argv)


def test_an_output_folder_that_cannot_be_created(tmp_path, cli_error, train_main, evaluate_main):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    message = cli_error(train_main, ["--out", str(blocker / "run"), *FAST])
    assert message == (
        f"error: --out {blocker / 'run'}: {blocker} is a file, not a folder, so the folder "
        "cannot be created; choose another --out"
    )
    argv = ["--policies", "all-digital", "--out", str(blocker / "results"), "--no-progress"]
    assert "is a file, not a folder" in cli_error(evaluate_main, argv)


def test_missing_cifar10_is_one_line_naming_the_data_dir(
    tmp_path, cli_error, train_main, evaluate_main
):
    data = tmp_path / "data"
    argv = ["--dataset", "cifar10", "--data-dir", str(data)]
    message = cli_error(train_main, [*argv, "--out", str(tmp_path / "run"), *FAST])
    assert f"CIFAR-10 not found in {data}" in message and "--data-dir" in message
    assert not (tmp_path / "run").exists()
    runs = ["--runs-dir", str(tmp_path / "none"), "--policies", "all-digital", "--no-progress"]
    message = cli_error(evaluate_main, [*argv, *runs, "--out", str(tmp_path / "results")])
    assert f"CIFAR-10 not found in {data}" in message


def test_bad_evaluation_seed(tmp_path, cli_error, evaluate_main):
    argv = ["--seed", "-3", "--runs-dir", str(tmp_path), "--out", str(tmp_path / "r")]
    assert "--seed must be an integer >= 0, got -3" in cli_error(evaluate_main, argv)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"chip_pool": "many"}, "chip_pool='many' must be an integer >= 1"),
        ({"chip_pool": 0}, "chip_pool=0 must be an integer >= 1"),
        ({"allow_reprogram": "yes"}, "allow_reprogram='yes' must be true or false"),
        ({"drift_scale": -2}, "drift_scale=-2 must be a finite number >= 0"),
        ({"reward": 5}, "reward=5 must be reward weights"),
        ({"hardware": 5}, "hardware=5 must be a preset"),
        ({"timeline": {"n_step": 3}}, "unknown timeline field(s) ['n_step']; valid: horizon_s"),
        ({"timeline": {"n_steps": "12"}}, "timeline n_steps must be an integer, got '12'"),
        ({"pretrain": {"epoch": 3}}, "unknown pretrain setting(s) ['epoch']"),
        ({"eval_size": 0}, "eval_size=0 must be an integer >= 1 or null"),
        ({"reward": {"task_weights": 2}}, "task_weights must be a list of numbers"),
        (
            {"reward": "task_weights=1/1/1"},
            "task_weights has 3 weight(s) but the model has 2 task(s)",
        ),
        (
            {"model": "my.module:build"},
            "to name one by import path use model_factory",
        ),
    ],
)
def test_bad_environment_arguments_are_one_line_errors(cache_dir, kwargs, needle):
    with pytest.raises(ValueError) as error:
        gymnasium.make(envs.ENV_ID, cache_dir=cache_dir, **kwargs)
    assert needle in str(error.value)
    assert "\n" not in str(error.value)


def test_every_environment_argument_has_a_check() -> None:
    """envs.options.CHECKS lists exactly the constructors' keyword arguments."""
    import inspect

    from envs.deployment import DEPLOYMENT_OPTIONS
    from envs.options import CHECKS

    own = set(inspect.signature(HybridPartitionEnv.__init__).parameters) - {
        "self",
        "deployment_options",
    }
    assert set(CHECKS) == own | set(DEPLOYMENT_OPTIONS)


def test_stable_baselines3_make_vec_env_with_the_env_id(cache_dir) -> None:
    """SB3's make_vec_env passes render_mode="rgb_array" (and falls back only on TypeError)."""
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(envs.ENV_ID, n_envs=2, seed=0, env_kwargs={"cache_dir": cache_dir})
    observations = venv.reset()
    assert observations.shape == (2, 52)
    venv.step(np.ones((2, 6), dtype=int))
    pictures = venv.get_images()
    assert len(pictures) == 2 and pictures[0].shape == (8 * 16, 12 * 16, 3)
    venv.close()


def test_rgb_array_picture_shows_the_placement_of_each_step(cache_dir) -> None:
    env = gymnasium.make(envs.ENV_ID, render_mode="rgb_array", cache_dir=cache_dir)
    env.reset(seed=0)
    env.step([0, 0, 1, 1, 0, 0])
    picture = env.render()
    assert picture.dtype == np.uint8 and picture.shape == (8 * 16, 12 * 16, 3)
    from envs.rendering import RENDER_COLOURS

    centre = 8  # the middle of the first column's cells
    layer_colours = [tuple(picture[16 * row + centre, centre]) for row in range(6)]
    expected = [RENDER_COLOURS[c] for c in (0, 0, 1, 1, 0, 0)]
    assert layer_colours == expected
    assert tuple(picture[centre, 16 + centre]) == RENDER_COLOURS["future"]  # the next step


def test_the_simulations_own_command_lines_end_in_one_line(cli_error, tmp_path):
    """``python -m hybrid.pretrain`` and ``python -m hybrid.networks`` report bad values as
    the other command lines do: exit code 2 and one line, no traceback."""
    from hybrid import networks, pretrain
    from hybrid.cli import run_main

    assert "pretrain epochs must be an integer >= 1, got 0" in cli_error(
        lambda argv: run_main(lambda: pretrain.main(argv)), ["--epochs", "0"]
    )
    message = cli_error(
        lambda argv: run_main(lambda: networks.main(argv)),
        ["--dataset", "nosuch", "--cache-dir", str(tmp_path)],
    )
    assert "nosuch" in message
