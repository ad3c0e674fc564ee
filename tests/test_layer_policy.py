"""The layer policy (``--policy-net layers``): one set of weights for networks of any depth.

It is built for 6 and for 23 layers with the same weights, learns with MaskablePPO on the real
environment, is saved in and loaded from a run folder, and carries over (``--init-from``) to a
network with another number of layers or tasks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

import agents
import envs
from agents import layer_policy
from agents.layer_policy import (
    LayerPolicy,
    PooledRunningMeanStd,
    layout_spec,
    policy_choice,
)
from envs.actions import REPROGRAM
from envs.observation import ObservationLayout

FAST = ["--no-progress", "--compare-episodes", "0", "--envelope-chips", "1", "--n-envs", "1"]
SHORT = ["--timesteps", "128", "--n-steps", "64", "--batch-size", "64", "--n-epochs", "1"]


def build(n_layers: int, n_tasks: int = 2, n_choices: int = 3) -> tuple[LayerPolicy, Any]:
    layout = ObservationLayout(n_layers, n_tasks)
    policy = LayerPolicy(
        layout.space,
        spaces.MultiDiscrete([n_choices] * n_layers),
        lambda _: 1e-3,
        layout=layout_spec(layout),
    )
    return policy, layout


def n_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_the_same_weights_place_six_and_twenty_three_layers():
    small, _ = build(6)
    deep, layout = build(23, n_tasks=3)
    assert n_parameters(small) == n_parameters(deep)
    deep.load_state_dict(small.state_dict())  # strict: every weight fits as it is

    observations = torch.rand(5, layout.size)
    masks = np.ones((5, 23, 3), dtype=bool)
    masks[:, :, REPROGRAM] = False  # sb3-contrib's masks: flat, layer by layer
    actions, values, _ = deep(observations, action_masks=masks.reshape(5, -1))
    assert actions.shape == (5, 23) and values.shape == (5, 1)
    assert actions.max() < REPROGRAM  # a masked choice is never taken

    logits = deep.mlp_extractor.forward_actor(observations)
    assert logits.shape == (5, 23 * 3)


def test_a_layer_is_placed_from_its_own_features_by_name():
    policy, layout = build(6)
    observation = np.zeros(layout.size, dtype=np.float32)
    before = policy.mlp_extractor(torch.as_tensor(observation)[None])[0].detach()
    observation[layout.index("noise")[4]] = 5.0  # layer 4's measured noise
    after = policy.mlp_extractor(torch.as_tensor(observation)[None])[0].detach()
    changed = (before != after).reshape(6, 3).any(dim=1)
    # Layer 4's logits move the most: its own embedding changed, the others' only by context.
    moved = (after - before).abs().reshape(6, 3).sum(dim=1)
    assert changed[4] and int(moved.argmax()) == 4


def test_observation_statistics_are_one_per_feature():
    layout = ObservationLayout(6, 2)
    statistics = PooledRunningMeanStd(layout)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(32, layout.size)) * np.arange(1, layout.size + 1)
    statistics.update(batch)
    statistics.update(batch[:7] + 3.0)
    seen = np.concatenate([batch, batch[:7] + 3.0])
    noise = layout.index("noise")
    assert np.allclose(statistics.mean[noise], seen[:, noise].mean())
    assert np.allclose(statistics.var[noise], seen[:, noise].var(), rtol=1e-3)
    assert np.allclose(statistics.mean[layout.index("energy_ratio")], seen[:, 48].mean())


@pytest.fixture(scope="module")
def real_env(cache_dir: Path) -> DummyVecEnv:
    return DummyVecEnv([lambda: gymnasium.make(envs.ENV_ID, cache_dir=cache_dir)])


def test_maskable_ppo_learns_with_it_on_the_environment(real_env: DummyVecEnv, tmp_path: Path):
    normalised = layer_policy.new_normaliser("layers", real_env, gamma=0.5)
    policy, kwargs = policy_choice("layers", True, normalised, (32, 32))
    model = MaskablePPO(
        policy, normalised, n_steps=64, batch_size=64, n_epochs=2, policy_kwargs=kwargs, seed=0
    )
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(192)
    assert model.num_timesteps == 192
    assert any(not torch.equal(before[k], v) for k, v in model.policy.state_dict().items())
    # Pooled statistics: every layer's noise is normalised alike.
    noise = real_env.get_attr("observation_layout")[0].index("noise")
    assert len(set(normalised.obs_rms.mean[noise].round(12))) == 1

    model.save(tmp_path / "model.zip")
    loaded = MaskablePPO.load(tmp_path / "model.zip", device="cpu")
    assert isinstance(loaded.policy, LayerPolicy)
    observation = normalised.reset()
    masks = np.stack(real_env.env_method("action_masks"))
    assert np.array_equal(
        loaded.predict(observation, deterministic=True, action_masks=masks)[0],
        model.predict(observation, deterministic=True, action_masks=masks)[0],
    )


class ThreeLayers(nn.Module):
    """A two-task network for 8x8 digits with three layers to place."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(64, 32)
        self.a, self.b = nn.Linear(32, 10), nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.relu(self.body(x.flatten(1)))
        return self.a(features), self.b(features)


def test_a_trained_policy_acts_on_a_network_with_another_depth(layers_run: Path, cache_dir: Path):
    """What ``--init-from`` does: the weights and the per-feature statistics carry over."""
    source = agents.load_agent(layers_run).model
    env = gymnasium.make(
        envs.ENV_ID, model=ThreeLayers(), allow_chance_heads=True, cache_dir=cache_dir
    )
    venv = DummyVecEnv([lambda: env])
    layer_policy.check_layer_transfer(layers_run, source, venv)
    normalised = layer_policy.transferred_normaliser(layers_run / "vecnormalize.pkl", venv, source)
    # The source's statistics are one per feature: laid out again for three layers.
    source_layout = layer_policy.spec_layout(source.policy.layout_spec)
    source_noise = agents.load_agent(layers_run).obs_mean[source_layout.index("noise")]
    target_noise = normalised.obs_rms.mean[env.unwrapped.observation_layout.index("noise")]
    assert np.allclose(target_noise, source_noise[0]) and np.ptp(source_noise) == 0

    policy, kwargs = policy_choice("layers", True, normalised, (64, 64))
    target = MaskablePPO(policy, normalised, n_steps=64, batch_size=64, policy_kwargs=kwargs)
    target.set_parameters(source.get_parameters(), exact_match=True, device="cpu")
    masks = np.stack(venv.env_method("action_masks"))
    action, _ = target.predict(normalised.reset(), deterministic=True, action_masks=masks)
    assert action.shape == (1, 3)


@pytest.fixture(scope="module")
def layers_run(tmp_path_factory: pytest.TempPathFactory, train_main) -> Path:
    """A 128-step run of the layer policy (a few seconds)."""
    out = tmp_path_factory.mktemp("layers") / "run"
    assert train_main(["--policy-net", "layers", "--out", str(out), *SHORT, *FAST]) == 0
    return out


def test_the_run_folder_records_and_reloads_the_layer_policy(layers_run: Path):
    config = json.loads((layers_run / "config.json").read_text())
    assert config["args"]["policy_net"] == "layers"
    loaded = agents.load_agent(layers_run)
    assert isinstance(loaded.model.policy, LayerPolicy)
    env = gymnasium.make(envs.ENV_ID, **config["env"])
    record = agents.run_episode(env, loaded.bind(env), seed=1)
    assert len(record.steps) == env.unwrapped.timeline.n_steps


def test_init_from_takes_it_to_a_network_with_other_tasks(
    layers_run: Path, tmp_path: Path, train_main
):
    """The three-task example has another observation size: only the layer policy fits it."""
    env_config = tmp_path / "env.json"
    env_config.write_text(json.dumps({"allow_chance_heads": True}))
    out = tmp_path / "three"
    argv = ["--init-from", str(layers_run), "--policy-net", "layers", "--timesteps", "0"]
    argv += ["--model-factory", "examples.three_tasks:build", "--env-config", str(env_config)]
    assert train_main([*argv, "--out", str(out), *FAST]) == 0
    source, target = agents.load_agent(layers_run).model, agents.load_agent(out).model
    assert target.observation_space.shape != source.observation_space.shape
    for name, value in source.policy.state_dict().items():
        assert torch.equal(target.policy.state_dict()[name], value)


def test_policy_net_errors_are_one_line(layers_run: Path, tmp_path: Path, cli_error, train_main):
    out = ["--out", str(tmp_path / "run"), *FAST]
    assert "--policy-net must be one of mlp, layers" in cli_error(
        train_main, ["--policy-net", "graph", *out]
    )
    message = cli_error(train_main, ["--init-from", str(layers_run), *out])
    assert "trained with --policy-net layers: pass --policy-net layers" in message


def test_the_shipped_layer_policy_starts_a_run_by_name(tmp_path: Path, train_main, monkeypatch):
    """``--init-from layers-digits``: the agent shipped with the package, found by its name
    from any working directory, carried over unchanged (the pretraining is not the user's)."""
    from agents.run_folder import SHIPPED_DIR, resolve_run, shipped_agents

    assert "layers-digits" in shipped_agents()
    monkeypatch.chdir(tmp_path)
    assert resolve_run("layers-digits")[0] == SHIPPED_DIR / "layers-digits"
    out = tmp_path / "from-shipped"
    argv = ["--init-from", "layers-digits", "--policy-net", "layers", "--timesteps", "0"]
    assert train_main([*argv, "--out", str(out), *FAST]) == 0
    shipped = agents.load_agent("layers-digits")
    assert shipped.config["args"]["policy_net"] == "layers"
    assert shipped.config["result"]["num_timesteps"] >= 50_000
    source, target = shipped.model, agents.load_agent(out).model
    for name, value in source.policy.state_dict().items():
        assert torch.equal(target.policy.state_dict()[name], value)
