"""What the tools need to know about each environment, and the environment's keyword arguments
built from the user's options.

Both environments (``HybridPartition-v0``, ``HybridTraining-v0``) are trained, compared and
reported by the same code; what differs between them is one :class:`Environment` each (see
:func:`describe`), never an ``if env_id == ...`` in that code. The user's options (reward
weights, scenario, model, ``--env-config`` file) become keyword arguments here, for
``train_agent.py``, ``evaluate.py`` and the benchmarks alike: :func:`reward_kwarg`,
:func:`model_kwargs`, :func:`read_env_config` and :func:`check_kwargs`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import envs
from agents.hybrid_training.comparison import write_training_results
from agents.hybrid_training.reporting import compare_training_policies, format_training_table
from agents.reporting import compare_policies, format_table
from agents.results import reward_weights
from envs.hybrid_training.run import TRAINING_RUN_OPTIONS
from envs.options import check_env_options
from envs.rewards import RewardWeights, resolve_reward
from hybrid.data import require_dataset
from hybrid.factory import import_factory
from hybrid.networks import PAPER_NETWORK, check_network

DEFAULT_TIMESTEPS = 50_000
"""Chosen by measurement (README, Results): the validation return plateaus from about 20,000
steps; 50,000 train in about 2 minutes with two environment processes on a 2-core CPU."""
SWEEP_KEYS = ("energy", "task_loss", "reprogram")
"""Reward weights a sweep can vary (the numeric ones of ``RewardWeights``)."""


@dataclass(frozen=True)
class Environment:
    """One environment as the tools see it: how its options are read and checked, how PPO
    trains on it, and how its comparisons are reported."""

    env_id: str
    weights_class: type
    """its reward weights (``parse`` reads a ``--reward-weights`` string)"""
    train_defaults: dict[str, Any]
    """``train_agent.py`` options left unset (None) take these values"""
    final_baselines: tuple[str, ...]
    """the heuristics the end of a training run compares the agent with"""
    compare: Callable[..., list[dict[str, Any]]]
    """``(env, policies, seeds) -> rows``: every policy on every seed, one row per policy"""
    format_table: Callable[..., str]
    """rows of ``compare`` as a text table"""
    training_kwargs: dict[str, Any] = field(default_factory=dict)
    """keyword arguments of the training environments only (never validation nor evaluation)"""
    run_prefix: str = ""
    """in front of the default run folder's name"""
    sweep_keys: tuple[str, ...] = SWEEP_KEYS
    """reward weights ``evaluate.py --sweep`` can vary"""
    early_checks: bool = False
    """its keyword arguments are checked by value before it is built (``envs.options``);
    otherwise by name here and by value when it is built"""
    measures_envelope: bool = False
    """the end of training measures the agent's behaviour envelope (``agents.shield``)"""
    ray_episodes: bool = False
    """``evaluate.py --workers`` can run its episodes as Ray tasks"""
    write_results: Callable[..., Path] | None = None
    """writes its own results folder (None: ``agents.comparison``'s deployment tables)"""
    option_names: Callable[[], set[str]] | None = None
    """the names of its keyword arguments, for the check by name (None: ``early_checks``)"""
    scenario_reward: bool = False
    """``--reward-weights`` are laid over the scenario's reward (a streaming scenario keeps
    its service levels); otherwise over the weights class's defaults"""

    def reward(self, text: str, scenario: str | None) -> dict[str, Any]:
        """The ``reward`` keyword argument of a ``--reward-weights`` string."""
        if self.scenario_reward:
            default = envs.get_scenario(scenario).reward
            return resolve_reward(text, default)[1].to_dict()
        return self.weights_class.parse(text).to_dict()

    def weights(self, kwargs: Mapping[str, Any]) -> Any:
        """The reward weights an environment made with ``kwargs`` uses."""
        if self.scenario_reward:
            return reward_weights(kwargs)
        reward = kwargs.get("reward")
        return self.weights_class.from_dict(reward) if reward else self.weights_class()

    def check_options(self, options: Any, where: str) -> None:
        """One-line ValueError for options (from ``where``) it cannot take: by value when
        ``early_checks``, else by name."""
        if self.early_checks:
            check_env_options(options, where)
            return
        if not isinstance(options, dict):
            raise ValueError(f"{where}: environment options must be an object of name: value pairs")
        known = self.option_names() if self.option_names is not None else set()
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(
                f"{where}: unknown {self.env_id} argument(s) {', '.join(unknown)}; valid: "
                f"{', '.join(sorted(known))}"
            )


def training_option_names() -> set[str]:
    """The keyword arguments of HybridTraining-v0 (its own and its training run's)."""
    known = set(inspect.signature(envs.HybridTrainingEnv.__init__).parameters) - {"self"}
    return (known - {"run_options"}) | set(TRAINING_RUN_OPTIONS)


ENVIRONMENTS: dict[str, Environment] = {
    envs.ENV_ID: Environment(
        envs.ENV_ID,
        RewardWeights,
        train_defaults={
            "timesteps": DEFAULT_TIMESTEPS,
            "n_steps": 256,
            "eval_freq": 4_096,
            "checkpoint_freq": 8_192,
        },
        final_baselines=("all-digital", "greedy"),
        compare=compare_policies,
        format_table=format_table,
        early_checks=True,
        measures_envelope=True,
        ray_episodes=True,
        scenario_reward=True,
    ),
    envs.TRAINING_ENV_ID: Environment(
        envs.TRAINING_ENV_ID,
        envs.TrainingRewardWeights,
        train_defaults={
            "timesteps": 4_096,
            "gamma": 1.0,
            "n_steps": 128,
            "eval_freq": 1_024,
            "checkpoint_freq": 1_024,
        },
        final_baselines=("all-digital-training", "lionheart-training"),
        compare=compare_training_policies,
        format_table=format_training_table,
        training_kwargs={"training_streams": 8},
        run_prefix="training-",
        sweep_keys=SWEEP_KEYS + ("training",),
        write_results=write_training_results,
        option_names=training_option_names,
    ),
}
"""Each environment the tools know (``envs.ENV_IDS``).

``train_defaults``: HybridPartition-v0's discount is its scenario's (``Scenario.discount``).
HybridTraining-v0's reward comes mostly at the end of a 4-step episode, so no discount; each
step trains the network, so far fewer steps (4,096: 1,024 training runs; README, Partitioning
during training) and shorter rollouts, for as many updates as that allows; validation and a
checkpoint every 1,024 steps (a quarter of the run, so an interrupted default run loses at most
a quarter; at 4,096 and 8,192 a default run had one validation and no checkpoint before its
end). ``training_kwargs``: HybridTraining-v0's chips share 8 training streams, so that repeated
trajectories are served from its cache of training states and cost only their deployment."""


def describe(env_id: str) -> Environment:
    """The :class:`Environment` of ``env_id``, or a one-line ValueError naming the ids."""
    return ENVIRONMENTS[envs.check_env_id(env_id)]


# -- the user's options -> keyword arguments ----------------------------------------------------
def reward_kwarg(env_id: str, text: str, scenario: str | None) -> dict[str, Any]:
    """The ``reward`` keyword argument of ``--reward-weights TEXT`` in ``env_id``."""
    return describe(env_id).reward(text, scenario)


def model_kwargs(
    model_factory: str | None = None,
    model_weights: Path | str | None = None,
    network: str | None = None,
) -> dict[str, Any]:
    """The ``model_factory``, ``model_weights`` and ``network`` keyword arguments (only those
    given; the paper's network is the default and not written), checked: a bad import path, a
    missing weights file or an unknown network fails now, in one line."""
    kwargs: dict[str, Any] = {}
    if network is not None and network != PAPER_NETWORK:
        check_network(network)
        kwargs["network"] = network
    if model_weights is not None:
        if not Path(model_weights).is_file():
            raise ValueError(f"--model-weights {model_weights} does not exist")
        # Absolute: evaluate.py and the workers may run from another folder.
        kwargs["model_weights"] = str(Path(model_weights).resolve())
    if model_factory is not None:
        import_factory(model_factory)
        kwargs["model_factory"] = model_factory
    return kwargs


def read_env_config(path: Path, env_id: str = envs.ENV_ID) -> dict[str, Any]:
    """The environment options of an ``--env-config`` JSON file, checked (one-line errors; the
    options of HybridTraining-v0 by name here, by value when it is built)."""
    where = f"--env-config {path}"
    if not Path(path).is_file():
        raise ValueError(f"{where} does not exist (give a JSON file of environment options)")
    try:
        loaded = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{where} is not valid JSON ({getattr(error, 'msg', error)})") from None
    describe(env_id).check_options(loaded, where)
    return dict(loaded)


def check_kwargs(env_id: str, kwargs: dict[str, Any]) -> None:
    """One-line ValueErrors for keyword arguments ``env_id`` cannot take (by value where it
    checks early) or a dataset that is not there, before anything is built."""
    if describe(env_id).early_checks:  # HybridTraining-v0 checks its own when it is built
        check_env_options(kwargs)
    require_dataset(kwargs["dataset"], kwargs.get("data_dir"))
