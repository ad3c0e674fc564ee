"""One description per environment (agents.environments): the user's options become the same
keyword arguments whichever tool reads them, and each environment's differences live there."""

from __future__ import annotations

import json

import pytest
from gymnasium.utils.passive_env_checker import env_render_passive_checker

import envs
from agents.environments import ENVIRONMENTS, describe, read_env_config, reward_kwarg


def test_every_registered_environment_is_described():
    assert set(ENVIRONMENTS) == set(envs.ENV_IDS)
    with pytest.raises(ValueError, match="unknown environment 'Nope-v0'"):
        describe("Nope-v0")


def test_reward_weights_lie_over_the_streaming_scenarios_service_levels():
    scenario = envs.get_scenario("stream-fast-drift")
    reward = reward_kwarg(envs.ENV_ID, "energy=3", "stream-fast-drift")
    assert reward["energy"] == 3.0
    assert reward["service_floors"] == list(scenario.reward.to_dict()["service_floors"])


def test_training_time_reward_weights_parse_their_own_weight():
    reward = reward_kwarg(envs.TRAINING_ENV_ID, "training=2,energy=1", None)
    assert envs.TrainingRewardWeights.from_dict(reward).training == 2.0
    with pytest.raises(ValueError):
        reward_kwarg(envs.ENV_ID, "training=2", None)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_an_env_config_with_an_unknown_name_fails_in_one_line(tmp_path, env_id):
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"drift_scael": 2.0}))
    with pytest.raises(ValueError, match="drift_scael") as error:
        read_env_config(path, env_id)
    assert "\n" not in str(error.value)
    path.write_text(json.dumps({"drift_scale": 2.0}))
    assert read_env_config(path, env_id) == {"drift_scale": 2.0}


class _Renders:
    """Just enough of an environment for Gymnasium's passive render check."""

    def __init__(self, metadata: dict) -> None:
        self.metadata = metadata
        self.render_mode = "ansi"

    def render(self) -> str:
        return ""


def test_a_checker_warning_about_an_environment_fails_the_test():
    """pyproject's warning filters: the Gymnasium checker's warnings are errors, never hidden."""
    with pytest.raises(UserWarning, match="render fps"):
        env_render_passive_checker(_Renders({"render_modes": ["ansi"]}))


@pytest.mark.parametrize("env_class", [envs.HybridPartitionEnv, envs.HybridTrainingEnv])
def test_both_environments_pass_the_render_check(env_class):
    env_render_passive_checker(_Renders(env_class.metadata))
