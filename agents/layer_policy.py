"""A placement policy that reads a network as a set of layers: the same weights for any depth.

``train_agent.py --policy-net layers`` trains it instead of stable-baselines3's MLP over the
whole observation vector. The observation is read by name through the environment's
``ObservationLayout`` (``envs.observation``):

* one encoder, shared by every layer, turns a layer's own features (and its relative depth,
  0 for the first layer and 1 for the last) into an embedding;
* the context is the mean and the maximum of the layer embeddings, with the task features
  (their mean and maximum over the tasks) and the global features, through a small MLP;
* one action head, shared by every layer, gives a layer's logits from its embedding and the
  context; the logits are laid out layer by layer, as stable-baselines3's MultiCategorical and
  sb3-contrib's action masks expect;
* the value is read from the context.

No weight depends on the number of layers (nor on the number of tasks), so a policy trained on
one network loads into the agent of another (:func:`check_layer_transfer`,
``train_agent.py --init-from RUN --policy-net layers``). The pooled context follows the set
encoder of Deep Sets (Zaheer et al., NeurIPS 2017); one module shared by every part of a
structure of any size, with the output of each part read from its own state, is the design
of NerveNet (Wang et al., ICLR 2018) and of shared modular policies (Huang, Mordatch and
Pathak, "One Policy to Control Them All", ICML 2020), there for robot limbs, here for layers.

The observation statistics (VecNormalize) are pooled over the layers and over the tasks
(:class:`PooledRunningMeanStd`): normalised per position, a static per-layer feature such as
``mac_share`` would become 0 everywhere and the shared encoder could no longer tell the layers
apart; pooled, the statistics are one number per feature, whatever the network.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from torch import nn

from agents.run_folder import RunFolderError, read_run_config, resolve_run
from envs.observation import Feature, ObservationLayout

POLICY_NETS = ("mlp", "layers")
"""The agent's network: ``mlp`` (stable-baselines3's MlpPolicy over the whole observation
vector; one network per layer count) or ``layers`` (:class:`LayerNetwork`, any layer count)."""

LAYOUT_ATTRIBUTE = "observation_layout"
"""The environment attribute that holds its ``ObservationLayout``."""


# -- the layout, as plain data (it travels in policy_kwargs and model.zip) ---------------------
def layout_spec(layout: ObservationLayout) -> dict[str, Any]:
    """``layout`` as JSON-friendly data: the layer and task counts and the features' names and
    scopes, in order (what :func:`spec_layout` rebuilds it from)."""
    return {
        "n_layers": layout.n_layers,
        "n_tasks": layout.n_tasks,
        "features": [[feature.name, feature.scope] for feature in layout.features],
    }


def spec_layout(spec: dict[str, Any]) -> ObservationLayout:
    """The ``ObservationLayout`` of a :func:`layout_spec`."""
    try:
        features = [Feature(str(name), str(scope), "") for name, scope in spec["features"]]
        return ObservationLayout(int(spec["n_layers"]), int(spec["n_tasks"]), features)
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"a layer policy's layout needs n_layers, n_tasks and features ({error}): build it "
            "with agents.layer_policy.layout_spec(env.unwrapped.observation_layout)"
        ) from None


def env_layout(venv: VecEnv) -> ObservationLayout:
    """The observation layout of the (first) environment of ``venv``."""
    return venv.get_attr(LAYOUT_ATTRIBUTE, indices=[0])[0]


def _names(layout: ObservationLayout, scope: str) -> list[str]:
    return [feature.name for feature in layout.features if feature.scope == scope]


# -- the network -------------------------------------------------------------------------------
def _mlp(n_in: int, widths: Sequence[int], activation: type[nn.Module]) -> nn.Sequential:
    modules: list[nn.Module] = []
    for width in widths:
        modules += [nn.Linear(n_in, width), activation()]
        n_in = width
    return nn.Sequential(*modules)


class LayerNetwork(nn.Module):
    """The actor and critic latents of a :class:`LayerPolicy` (stable-baselines3's
    ``mlp_extractor`` interface: ``forward``, ``forward_actor``, ``forward_critic``,
    ``latent_dim_pi``, ``latent_dim_vf``).

    ``forward_actor`` returns the logits themselves (``latent_dim_pi = n_layers * n_choices``):
    the policy's ``action_net`` is the identity.

    Args:
        layout: where each feature sits in one observation.
        n_choices: the choices of every layer.
        frames: observations stacked side by side (``--frame-stack``); a layer sees its
            features in every frame.
        widths: hidden layers of the encoder, the context, the action head and the critic; the
            last one is the size of the layer embedding and of the context.
        activation: the hidden layers' activation.
    """

    def __init__(
        self,
        layout: ObservationLayout,
        n_choices: int,
        frames: int = 1,
        widths: Sequence[int] = (64, 64),
        activation: type[nn.Module] = nn.Tanh,
    ) -> None:
        super().__init__()
        widths = [int(width) for width in widths]
        if not widths or min(widths) < 1:
            raise ValueError(f"a layer policy needs positive hidden widths, got {widths}")
        self.n_layers, self.n_choices = layout.n_layers, int(n_choices)
        offsets = layout.size * np.arange(frames)

        def columns(names: list[str], count: int) -> np.ndarray:
            # (items, frames * features): every frame's value of every named feature.
            if not names:
                return np.zeros((count, 0), dtype=np.int64)
            per_name = np.stack([np.atleast_1d(layout.index(name)) for name in names], axis=-1)
            return np.concatenate([per_name + offset for offset in offsets], axis=-1)

        layer_names, task_names = _names(layout, "layer"), _names(layout, "task")
        global_names = _names(layout, "global")
        # Index tensors are rebuilt from the layout, never saved: the weights load into a
        # network of any depth.
        layer_index = columns(layer_names, layout.n_layers)
        task_index = columns(task_names, layout.n_tasks)
        global_index = columns(global_names, 1)[0]
        self.register_buffer("layer_index", torch.as_tensor(layer_index), False)
        self.register_buffer("task_index", torch.as_tensor(task_index), False)
        self.register_buffer("global_index", torch.as_tensor(global_index), False)
        depth = np.linspace(0.0, 1.0, layout.n_layers) if layout.n_layers > 1 else np.zeros(1)
        self.register_buffer("depth", torch.as_tensor(depth, dtype=torch.float32), False)

        size = widths[-1]
        n_layer_in = self.layer_index.shape[1] + 1
        n_context_in = 2 * size + 2 * self.task_index.shape[1] + len(global_index)
        self.encoder = _mlp(n_layer_in, widths, activation)
        self.context = _mlp(n_context_in, widths, activation)
        self.head = _mlp(2 * size, widths, activation)
        self.head_output = nn.Linear(size, self.n_choices)
        self.critic = _mlp(size, widths, activation)
        self.latent_dim_pi = self.n_layers * self.n_choices
        self.latent_dim_vf = size

    def embed(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(layer embeddings (batch, layers, size), context (batch, size))``."""
        batch = observation.shape[0]
        layers = observation[:, self.layer_index]
        depth = self.depth.expand(batch, -1).unsqueeze(-1)
        embedding = self.encoder(torch.cat([layers, depth], dim=-1))
        tasks = observation[:, self.task_index]
        pooled = [
            embedding.mean(dim=1),
            embedding.amax(dim=1),
            tasks.mean(dim=1),
            tasks.amax(dim=1),
            observation[:, self.global_index],
        ]
        return embedding, self.context(torch.cat(pooled, dim=-1))

    def logits(self, embedding: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The flat logits, layer by layer (``(batch, n_layers * n_choices)``)."""
        expanded = context.unsqueeze(1).expand(-1, embedding.shape[1], -1)
        per_layer = self.head_output(self.head(torch.cat([embedding, expanded], dim=-1)))
        return per_layer.flatten(start_dim=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding, context = self.embed(features)
        return self.logits(embedding, context), self.critic(context)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits(*self.embed(features))

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.critic(self.embed(features)[1])


class _LayerPolicyMixin:
    """What both layer policies add to their stable-baselines3 actor-critic policy."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Any,
        layout: dict[str, Any] | None = None,
        widths: Sequence[int] = (64, 64),
        **kwargs: Any,
    ) -> None:
        if layout is None:
            raise ValueError(
                "a layer policy needs policy_kwargs={'layout': layout_spec(env layout)}: use "
                "agents.layer_policy.policy_choice"
            )
        self.layout_spec = dict(layout)
        self.widths = [int(width) for width in widths]
        observation_layout = spec_layout(self.layout_spec)
        nvec = getattr(action_space, "nvec", None)
        if (
            nvec is None
            or len(nvec) != observation_layout.n_layers
            or len(set(np.asarray(nvec).tolist())) != 1
        ):
            raise ValueError(
                f"a layer policy acts with the same choices on each of the "
                f"{observation_layout.n_layers} layers; this environment acts in {action_space}: "
                "train it with --policy-net mlp"
            )
        size = int(np.prod(observation_space.shape))
        if size % observation_layout.size:
            raise ValueError(
                f"observations of size {size} are not frames of the layout's "
                f"{observation_layout.size} values: the layout is not this environment's"
            )
        self._frames = size // observation_layout.size
        self._n_choices = int(nvec[0])
        kwargs.pop("net_arch", None)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)  # type: ignore[call-arg]

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = LayerNetwork(
            spec_layout(self.layout_spec),
            self._n_choices,
            self._frames,
            self.widths,
            self.activation_fn,
        )

    def _build(self, lr_schedule: Any) -> None:
        # The same steps as stable-baselines3's, with the logits coming from the network.
        self._build_mlp_extractor()
        self.action_net = nn.Identity()
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        if self.ortho_init:
            self.mlp_extractor.apply(partial(self.init_weights, gain=np.sqrt(2)))
            self.mlp_extractor.head_output.apply(partial(self.init_weights, gain=0.01))
            self.value_net.apply(partial(self.init_weights, gain=1))
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data.pop("net_arch", None)
        data.update(layout=self.layout_spec, widths=self.widths)
        return data


class LayerPolicy(_LayerPolicyMixin, MaskableActorCriticPolicy):
    """The layer policy for sb3-contrib's MaskablePPO (``--mask-reprogram``, the default)."""


class LayerActorCriticPolicy(_LayerPolicyMixin, ActorCriticPolicy):
    """The layer policy for stable-baselines3's PPO (``--no-mask-reprogram``)."""


def is_layer_policy(policy: Any) -> bool:
    """Whether ``policy`` (an SB3 policy) is a layer policy."""
    return isinstance(policy, _LayerPolicyMixin)


def policy_class(masked: bool) -> type:
    """The layer policy for MaskablePPO (``masked``) or PPO."""
    return LayerPolicy if masked else LayerActorCriticPolicy


# -- training -----------------------------------------------------------------------------------
def check_policy_net(policy_net: str, init_from: Path | None = None) -> None:
    """One-line ValueErrors: an unknown ``--policy-net``, or an ``--init-from`` run whose agent
    has the other network."""
    if policy_net not in POLICY_NETS:
        raise ValueError(
            f"--policy-net must be one of {', '.join(POLICY_NETS)}, got {policy_net!r}"
        )
    if init_from is None:
        return
    try:
        source = read_run_config(resolve_run(init_from)[0]).get("args", {})
    except RunFolderError:
        return  # a bare model.zip: its archive says (check_layer_transfer)
    trained = source.get("policy_net", "mlp")
    if trained != policy_net:
        raise ValueError(
            f"--init-from {init_from} was trained with --policy-net {trained}: pass "
            f"--policy-net {trained}"
        )


def policy_choice(
    policy_net: str, masked: bool, venv: VecEnv, net_arch: Sequence[int]
) -> tuple[Any, dict[str, Any]]:
    """``(policy, policy_kwargs)`` of a new (Maskable)PPO agent on ``venv``: SB3's MlpPolicy
    with ``net_arch``, or the layer policy with ``net_arch`` as its hidden widths and the
    environment's observation layout."""
    check_policy_net(policy_net)
    if policy_net == "mlp":
        return "MlpPolicy", {"net_arch": list(net_arch)}
    layout = layout_spec(env_layout(venv))
    return policy_class(masked), {"layout": layout, "widths": list(net_arch)}


class PooledRunningMeanStd(RunningMeanStd):
    """SB3's running mean and variance of the observations, one per feature: pooled over the
    layers of a layer feature and over the tasks of a task feature (exactly: every position of
    a feature has seen the same number of values)."""

    def __init__(self, layout: ObservationLayout, epsilon: float = 1e-4) -> None:
        super().__init__(epsilon, shape=(layout.size,))
        self.groups = [np.atleast_1d(layout.index(f.name)) for f in layout.features]

    def update_from_moments(
        self, batch_mean: np.ndarray, batch_var: np.ndarray, batch_count: float
    ) -> None:
        super().update_from_moments(batch_mean, batch_var, batch_count)
        self.pool()

    def pool(self) -> None:
        """Replace each feature's per-position statistics by their pooled ones."""
        for where in self.groups:
            mean = self.mean[where].mean()
            self.var[where] = np.mean(self.var[where] + np.square(self.mean[where] - mean))
            self.mean[where] = mean

    def copy(self) -> PooledRunningMeanStd:
        new = PooledRunningMeanStd.__new__(PooledRunningMeanStd)
        new.__dict__.update(
            mean=self.mean.copy(),
            var=self.var.copy(),
            count=float(self.count),
            groups=[where.copy() for where in self.groups],
        )
        return new


def new_normaliser(policy_net: str, venv: VecEnv, gamma: float) -> VecNormalize:
    """The observation and reward normaliser of a new run: SB3's VecNormalize, with the
    observation statistics pooled per feature for the layer policy."""
    normalised = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=gamma)
    if policy_net == "layers":
        normalised.obs_rms = PooledRunningMeanStd(env_layout(venv))
    return normalised


# -- transfer -----------------------------------------------------------------------------------
def transferred_normaliser(path: Path, venv: VecEnv, source: Any) -> VecNormalize:
    """Another run's normaliser (``path``, its ``vecnormalize.pkl``) on ``venv``: as it is when
    the observations have the same shape; for a layer policy's run on a network with another
    layer or task count, its per-feature statistics laid out for ``venv``'s network."""
    same_shape = source.observation_space.shape == venv.observation_space.shape
    if same_shape or not is_layer_policy(source.policy):
        normalised = VecNormalize.load(str(path), venv)
    else:
        with Path(path).open("rb") as handle:
            saved: VecNormalize = pickle.load(handle)
        source_layout = spec_layout(source.policy.layout_spec)
        target_layout = env_layout(venv)
        normalised = VecNormalize(
            venv,
            norm_obs=saved.norm_obs,
            norm_reward=saved.norm_reward,
            clip_obs=saved.clip_obs,
            clip_reward=saved.clip_reward,
            gamma=saved.gamma,
            epsilon=saved.epsilon,
        )
        statistics = PooledRunningMeanStd(target_layout)
        for feature in target_layout.features:
            where = np.atleast_1d(source_layout.index(feature.name))
            mean = saved.obs_rms.mean[where].mean()
            var = np.mean(saved.obs_rms.var[where] + np.square(saved.obs_rms.mean[where] - mean))
            statistics.mean[target_layout.index(feature.name)] = mean
            statistics.var[target_layout.index(feature.name)] = var
        statistics.count = saved.obs_rms.count
        normalised.obs_rms = statistics
        normalised.ret_rms = saved.ret_rms
    normalised.training, normalised.norm_reward = True, True
    return normalised


def check_layer_transfer(run: Path, source: Any, venv: VecEnv) -> None:
    """A one-line ValueError unless the layer policy of ``source`` (another run's agent) can
    act on ``venv``: the same features, by name and scope, and the same choices per layer."""
    source_layout = spec_layout(source.policy.layout_spec)
    target_layout = env_layout(venv)
    theirs = [(f.name, f.scope) for f in source_layout.features]
    ours = [(f.name, f.scope) for f in target_layout.features]
    if theirs != ours:
        missing = sorted({name for name, _ in ours} ^ {name for name, _ in theirs})
        raise ValueError(
            f"--init-from {run}: its layer policy reads other observation features than this "
            f"environment's (differing: {', '.join(missing) or 'order or scope'}): transfer "
            "between environments of the same kind (the same tile budget and request stream)"
        )
    source_frames = int(np.prod(source.observation_space.shape)) // source_layout.size
    target_frames = int(np.prod(venv.observation_space.shape)) // target_layout.size
    if source_frames != target_frames:
        raise ValueError(
            f"--init-from {run}: it was trained with --frame-stack {source_frames}: pass "
            f"--frame-stack {source_frames}"
        )
    if int(source.action_space.nvec[0]) != int(venv.action_space.nvec[0]):
        raise ValueError(
            f"--init-from {run}: it chooses among {int(source.action_space.nvec[0])} actions per "
            f"layer, this environment among {int(venv.action_space.nvec[0])}: set "
            "allow_reprogram as in that run"
        )
