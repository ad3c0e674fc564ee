"""The training envelope and the shield (agents/shield.py): a run records the range of what its
agent observed, and the loaded agent runs digitally every layer measured beyond it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

import agents
from agents.evaluation import run_episode
from agents.ppo import load_agent
from agents.run_folder import make_env_from_config
from agents.shield import ObservationRange, out_of_envelope
from envs.actions import DIGITAL
from envs.chips import TEST_CHIP_OFFSET
from envs.observation import MAX_OBSERVATION, ObservationLayout


def test_a_layer_beyond_its_training_maximum_or_at_the_clip_is_out_of_envelope():
    layout = ObservationLayout(n_layers=3, n_tasks=2)
    high = np.ones(layout.size)
    observation = np.full(layout.size, 0.5)
    assert not out_of_envelope(layout, observation, high).any()
    observation[layout.index("noise")[1]] = 1.01  # layer 1 noisier than ever seen
    observation[layout.index("sensitivity")[2]] = MAX_OBSERVATION  # layer 2 at the clip
    observation[layout.index("energy_ratio")] = 5.0  # a global feature: not a measurement
    observation[layout.index("drift_age")[0]] = 5.0  # nor is a layer's age
    assert out_of_envelope(layout, observation, high).tolist() == [False, True, True]


class _Counter(gym.Env):
    """Observes (t, -t) for t = 0, 1, 2 and ends after two steps."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0, 0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t, -self.t], np.float32), 0.0, self.t >= 2, False, {}


def test_observation_range_records_what_the_agent_acted_on_and_resumes_from_a_record():
    venv = ObservationRange(DummyVecEnv([_Counter]))
    assert venv.to_dict() is None
    venv.reset()
    venv.step(np.array([0]))
    venv.step(np.array([0]))  # ends the episode: the terminal (2, -2) is never acted on
    assert venv.to_dict() == {"low": [0.0, -1.0], "high": [1.0, 0.0]}
    resumed = ObservationRange(DummyVecEnv([_Counter]), {"low": [-5.0, 0.0], "high": [0.5, 3.0]})
    resumed.reset()
    assert resumed.to_dict() == {"low": [-5.0, 0.0], "high": [0.5, 3.0]}


def test_a_run_records_its_envelope_and_the_shield_sends_layers_beyond_it_to_digital(
    smoke_run: Path, tmp_path: Path
):
    config = json.loads((smoke_run / "config.json").read_text())
    recorded = config["observation_range"]
    policy = load_agent(smoke_run)
    size = policy.model.observation_space.shape[0]
    assert len(recorded["low"]) == len(recorded["high"]) == size
    assert np.all(np.array(recorded["low"]) <= np.array(recorded["high"]))
    np.testing.assert_array_equal(policy.observation_range[1], recorded["high"])
    assert policy.shield

    env = make_env_from_config(policy.config, chip_offset=TEST_CHIP_OFFSET)
    policy.shield = False
    own = run_episode(env, policy.bind(env), seed=0)
    assert policy.shield_count == 0

    # With an envelope of zeros every measured layer is outside it: all digital, every step.
    folder = tmp_path / "run"
    shutil.copytree(smoke_run, folder)
    config["observation_range"] = {"low": [0.0] * size, "high": [0.0] * size}
    (folder / "config.json").write_text(json.dumps(config))
    shielded = load_agent(folder).bind(env)
    record = run_episode(env, shielded, seed=0)
    n_layers = env.unwrapped.n_layers
    assert all(step["action"] == [DIGITAL] * n_layers for step in record.steps)
    assert shielded.shield_count > 0

    # Switched off, the agent acts as one loaded from a run that recorded no envelope.
    shielded.shield = False
    unshielded = run_episode(env, shielded, seed=0)
    del config["observation_range"]
    (folder / "config.json").write_text(json.dumps(config))
    old = load_agent(folder).bind(env)
    assert old.observation_range is None
    assert (
        [s["action"] for s in run_episode(env, old, seed=0).steps]
        == [s["action"] for s in unshielded.steps]
        == [s["action"] for s in own.steps]
    )


def test_evaluate_no_shield_option_reaches_the_agent(
    smoke_run: Path, tmp_path: Path, evaluate_main
):
    out = tmp_path / "bare"
    argv = ["--model", str(smoke_run), "--policies", "ppo", "--episodes", "1", "--out", str(out)]
    assert evaluate_main([*argv, "--no-shield", "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["args"]["shield"] is False
    assert agents.make_policy("ppo", path=smoke_run, shield=False).shield is False


def test_the_behaviour_envelope_keeps_layers_digital_where_the_agent_never_ran_them_analog(
    smoke_run: Path, tmp_path: Path
):
    config = json.loads((smoke_run / "config.json").read_text())
    envelope = config["analog_envelope"]
    assert envelope["chips"] == [0, 1] and envelope["drift_scales"] == [1.0, 1.5]
    n_layers = len(config["layers"])
    assert len(envelope["noise"]) == len(envelope["sensitivity"]) == n_layers

    # Never analog anywhere on the training chips: deployed, every layer stays digital.
    folder = tmp_path / "run"
    shutil.copytree(smoke_run, folder)
    config["analog_envelope"] = {**envelope, "noise": [None] * n_layers}
    (folder / "config.json").write_text(json.dumps(config))
    policy = load_agent(folder)
    env = make_env_from_config(policy.config, chip_offset=TEST_CHIP_OFFSET)
    record = run_episode(env, policy.bind(env), seed=0)
    assert all(step["action"] == [DIGITAL] * n_layers for step in record.steps)
