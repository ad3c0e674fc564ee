"""The options of training a PPO partitioning agent: :class:`TrainConfig` (it *is*
``train_agent.py``'s command line), their checks, a resumed run's options, and the
environment's keyword arguments they give (through :mod:`agents.environments`).

:mod:`agents.training` runs them and re-exports every name here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import envs
from agents import layer_policy
from agents.cli import require, require_int, require_number
from agents.environments import (
    ENVIRONMENTS,
    check_kwargs,
    describe,
    model_kwargs,
    read_env_config,
    reward_kwarg,
)
from agents.imitation import check_rule
from agents.run_folder import RunFolderError, default_run_dir, resolve_run
from agents.shield import ENVELOPE_CHIPS
from envs.chips import TRAIN_CHIPS, VALIDATION_CHIP_OFFSET

CHIP_OFFSET_FIX = (
    "training uses chips 0..N-1 (set N with --train-chips); validation and test chips are fixed "
    "by envs.chips"
)
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    env_id: environment.train_defaults for env_id, environment in ENVIRONMENTS.items()
}
"""Defaults of the options left unset (None), per environment (``agents.environments``)."""
TRAINING_ENV_KWARGS: dict[str, dict[str, Any]] = {
    env_id: environment.training_kwargs for env_id, environment in ENVIRONMENTS.items()
}
"""Keyword arguments of the training environments only, per environment."""
FINAL_BASELINES: dict[str, tuple[str, ...]] = {
    env_id: environment.final_baselines for env_id, environment in ENVIRONMENTS.items()
}
"""The heuristics the end of a training run compares the agent with, per environment."""
LR_SCHEDULES = ("constant", "linear")
VEC_ENVS = ("subproc", "ray")


@dataclass
class TrainConfig:
    """Train a PPO partitioning agent (stable-baselines3) on HybridPartition-v0 or
    HybridTraining-v0."""

    env: str = envs.ENV_ID
    """environment: HybridPartition-v0 (where each layer runs over a deployment) or
    HybridTraining-v0 (where each layer trains, then the deployment)"""
    dataset: str = "digits"
    """digits (embedded, offline), digits32 (CIFAR-sized net on upsampled digits) or cifar10"""
    network: str = "paper"
    """built-in network: paper (the paper's CNN), resnet20 or resnet32 (the CIFAR ResNets of He
    et al. 2016, one head per task; use --dataset digits32 or cifar10)"""
    model_factory: str | None = None
    """your own model by import path, 'package.module:function': the function returns the torch
    model, or (model, data) with its tasks, whose data then replaces --dataset (hybrid.factory;
    e.g. examples.three_tasks:build); recorded in config.json, so --resume and evaluate.py
    rebuild it"""
    model_weights: Path | None = None
    """file of weights for the model (torch.save(model.state_dict(), path)): the factory's, or
    the paper network's instead of pretraining it"""
    scenario: str = envs.DEFAULT_SCENARIO
    """named scenario (hardware + timeline): paper, no-compensation, strong-drift, ...,
    stream-fast-drift, stream-strong-drift"""
    timesteps: int | None = None
    """total environment steps (default 50000, 4096 on HybridTraining-v0; --resume keeps the
    run's own total unless given; the steps already done count towards it)"""
    max_minutes: float | None = None
    """wall-clock budget of this invocation in minutes (environments, imitation and PPO
    included): PPO stops at the first step past it and the run is saved as finished with the
    steps done (config.json records the stop); None: no budget, --timesteps alone decides"""
    seed: int = 0
    """seeds PPO, the environments' chip draws and the comparison"""
    train_chips: int | None = None
    """chips the training environments draw from (0..N-1; default 64, or the --env-config's
    chip_pool); validation uses as many from chip 500, the held-out comparison chips 1000.."""
    n_envs: int = 2
    """parallel environments (SubprocVecEnv when > 1, one process each)"""
    vec_env: str = "subproc"
    """where the training environments run: subproc (processes on this machine), or ray (one
    Ray actor each, on any node of the cluster at --address; pip install -e '.[ray]')"""
    address: str | None = None
    """with --vec-env ray: the Ray cluster (auto, HOST:PORT); None: RAY_ADDRESS or a local Ray"""
    ray_cpus_per_env: float = 1.0
    """with --vec-env ray: CPUs Ray reserves for each environment's actor"""
    reward_weights: str = ""
    """reward weights, e.g. 'energy=1,task_loss=50,reprogram=1' (empty: the defaults)"""
    env_config: Path | None = None
    """JSON file of extra environment keyword arguments (timeline, energy_table, ...)"""
    noise_scale: float = 1.0
    """multiplier of the programming and read noise of the scenario's hardware"""
    drift_scale: float = 1.0
    """multiplier of the drift of the scenario's hardware"""
    train_drift_scales: tuple[float, ...] = (1.0, 1.5)
    """domain randomisation: drift multipliers the training environments cycle through, one
    per process; evaluation stays at the scenario's drift. The default (1 and 1.5) costs
    nothing at the nominal drift and lets the agent handle 2x drift, which it never saw
    (README, Results); pass --train-drift-scales 1 to train at the nominal drift only"""
    data_dir: str | None = None
    """folder holding CIFAR-10 (cifar-10-batches-py/)"""
    out: Path | None = None
    """run folder (default runs/<dataset or factory>-<scenario>-seed<seed>, with training- in
    front on HybridTraining-v0)"""
    resume: bool = False
    """continue the run in --out from its newest checkpoint"""
    init_from: Path | None = None
    """start from another run's policy and observation statistics instead of from scratch
    (transfer, e.g. a digits run to the CIFAR-sized digits32 network: same layer count, or any
    with --policy-net layers; layers-digits names the layer policy shipped with the package); the
    steps count from 0, and --timesteps 0 saves the transferred agent untouched"""
    imitate: str | None = None
    """warm start: before PPO, fit the new agent to this rule's actions (and its value function
    to the rule's returns) on --imitate-episodes episodes of training chips (agents/imitation.py:
    behaviour cloning, as in kickstarting), so PPO improves on the rule instead of
    rediscovering it; e.g. noise-refresh, lionheart-training"""
    imitate_params: Path | None = None
    """the rule's parameters: a file written by benchmarks/tune_heuristics.py --out (tuned on
    training chips); None: the rule's defaults"""
    imitate_episodes: int = 64
    """training-chip episodes of the rule that --imitate learns from"""
    imitate_epochs: int = 20
    """passes over those episodes' steps (minibatches of --batch-size, PPO's optimiser)"""

    # PPO hyperparameters: the best of a small search (benchmarks/tune_ppo.py, README Results).
    learning_rate: float = 1e-3
    """PPO Adam learning rate"""
    lr_schedule: str = "constant"
    """constant, or linear: the learning rate decays linearly to 0 at --timesteps (the
    rl-baselines3-zoo ``lin_`` schedule), so the last updates fine-tune instead of jumping"""
    n_steps: int | None = None
    """rollout length per environment between updates (default 256; 128 on HybridTraining-v0)"""
    batch_size: int = 128
    """minibatch size of the PPO update"""
    n_epochs: int = 10
    """PPO epochs per update"""
    gamma: float | None = None
    """discount factor (default: the scenario's, ``Scenario.discount``, on HybridPartition-v0;
    1.0 on HybridTraining-v0, whose reward comes at the end): 0.5 where the decision is nearly
    myopic (drift does not depend on the placement) and a short horizon lowers the variance of
    the advantages; 0.9 in the streaming scenarios, where a programming pays back over the
    traffic of the next steps"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    ent_coef: float = 0.0
    """entropy bonus"""
    clip_range: float = 0.2
    """PPO clipping"""
    net_arch: tuple[int, ...] = (64, 64)
    """hidden layers of the policy and value networks"""
    policy_net: str = "mlp"
    """mlp (one network over the whole observation) or layers (agents/layer_policy.py: one
    network shared by every layer, for any layer count; --init-from takes it across networks)"""
    mask_reprogram: bool = True
    """train sb3-contrib's MaskablePPO with the environment's action_masks(): reprogramming a
    layer is offered only when it at least halves the layer's drift age at the end of the step
    (env reprogram_min_age_ratio), so no rollout is spent on reprogramming that cannot pay and
    no agent can lock into reprogramming every step. Measured (README, Results): the same
    returns as plain PPO in all five scenarios, in about half the training time;
    --no-mask-reprogram trains stable-baselines3's PPO on every action"""
    frame_stack: int = 1
    """observations of the last N steps side by side (stable-baselines3 VecFrameStack): with 2
    the agent sees how each layer's measured noise and sensitivity changed since the last step"""

    eval_freq: int | None = None
    """environment steps between evaluations on validation chips (default 4096, 1024 on
    HybridTraining-v0)"""
    eval_episodes: int = 4
    """episodes per evaluation"""
    checkpoint_freq: int | None = None
    """environment steps between checkpoints (default 8192, 1024 on HybridTraining-v0)"""
    compare_episodes: int = 5
    """episodes (held-out chips) of the final comparison; 0 skips it"""
    envelope_chips: int = ENVELOPE_CHIPS
    """training chips per training drift on which the trained agent's behaviour envelope is
    measured for the deployment shield (agents/shield.py); 0 skips it"""
    progress: bool = True
    """show a progress bar"""

    @property
    def run_dir(self) -> Path:
        """The run folder: ``out``, or the default name (after the model factory, if any;
        ``training-`` in front on HybridTraining-v0)."""
        if self.out is not None:
            return self.out
        name = self.model_factory.replace(":", ".") if self.model_factory else self.dataset
        if self.network != "paper" and not self.model_factory:
            name = f"{self.dataset}-{self.network}"
        folder = default_run_dir(name, self.scenario, self.seed)
        return folder.with_name(describe(self.env).run_prefix + folder.name)


def env_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The environment's keyword arguments for these options (validated early): the
    ``--env-config`` file's, then the command line's."""
    command_line: dict[str, Any] = {"dataset": config.dataset, "scenario": config.scenario}
    if config.noise_scale != 1.0:
        command_line["noise_scale"] = config.noise_scale
    if config.drift_scale != 1.0:
        command_line["drift_scale"] = config.drift_scale
    if config.data_dir is not None:
        command_line["data_dir"] = config.data_dir
    if config.reward_weights:
        command_line["reward"] = reward_kwarg(config.env, config.reward_weights, config.scenario)
    if config.train_chips is not None:
        command_line["chip_pool"] = config.train_chips

    kwargs: dict[str, Any] = {}
    if config.env_config is not None:
        kwargs = read_env_config(config.env_config, config.env)
        for name, fix in (("chip_offset", CHIP_OFFSET_FIX), ("seed", "use --seed")):
            if name in kwargs:
                raise ValueError(f"--env-config {config.env_config} sets {name}: {fix}")
        for name in sorted(set(kwargs) & set(command_line)):
            if kwargs[name] != command_line[name] and name not in ("dataset", "scenario"):
                raise ValueError(
                    f"--env-config {config.env_config} sets {name}={kwargs[name]!r} and the "
                    f"command line {command_line[name]!r}: set it in one place"
                )
        for name in ("dataset", "scenario"):
            if name in kwargs and kwargs[name] != command_line[name]:
                raise ValueError(
                    f"--env-config {config.env_config} sets {name}={kwargs[name]!r}: pass "
                    f"--{name} {kwargs[name]} instead (the command line owns it)"
                )
    kwargs.update(command_line)
    kwargs.update(model_kwargs(config.model_factory, config.model_weights, config.network))
    kwargs.setdefault("chip_pool", TRAIN_CHIPS)
    pool = kwargs["chip_pool"]
    if isinstance(pool, int) and not 1 <= pool <= VALIDATION_CHIP_OFFSET:
        raise ValueError(
            f"--train-chips must be in 1..{VALIDATION_CHIP_OFFSET} (validation chips start at "
            f"{VALIDATION_CHIP_OFFSET}), got {pool}"
        )
    check_kwargs(config.env, kwargs)
    return kwargs


def resumed_config(config: TrainConfig, saved_run: dict[str, Any]) -> TrainConfig:
    """The saved options of the run being resumed; only the run's length, the comparison, the
    progress bar and where the environments run (--vec-env, --address) may be changed on the
    command line."""
    saved = dict(saved_run.get("args", {}))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    restored = {key: value for key, value in saved.items() if key in fields}
    restored.setdefault("mask_reprogram", False)  # runs from before masking used plain PPO
    for path_field in ("out", "env_config", "init_from", "model_weights", "imitate_params"):
        if restored.get(path_field) is not None:
            restored[path_field] = Path(restored[path_field])
    for tuple_field in ("net_arch", "train_drift_scales"):
        if tuple_field in restored:
            restored[tuple_field] = tuple(restored[tuple_field])
    restored.update(
        out=config.out,
        resume=True,
        progress=config.progress,
        compare_episodes=config.compare_episodes,
        vec_env=config.vec_env,
        address=config.address,
        ray_cpus_per_env=config.ray_cpus_per_env,
        timesteps=config.timesteps if config.timesteps is not None else saved.get("timesteps"),
    )
    return TrainConfig(**restored)


def check_options(config: TrainConfig) -> None:
    """One-line ValueErrors for options that cannot work, before anything is built."""
    if config.timesteps is not None:
        # 0 steps only make sense when they save a transferred agent untouched.
        require_int("timesteps", config.timesteps, 0 if config.init_from is not None else 1)
    if config.max_minutes is not None:
        require_number("max_minutes", config.max_minutes, 0.0, low_open=True)
    require_int("seed", config.seed, 0)
    require_int("n_envs", config.n_envs, 1)
    require_int("n_steps", config.n_steps, 2)
    # SB3's PPO normalises advantages per minibatch: it needs at least two samples.
    require_int("batch_size", config.batch_size, 2)
    require(
        config.batch_size <= config.n_steps * config.n_envs,
        "batch_size",
        config.batch_size,
        f"at most --n-steps x --n-envs = {config.n_steps * config.n_envs} (one rollout)",
    )
    require_int("n_epochs", config.n_epochs, 1)
    require_number("learning_rate", config.learning_rate, 0.0, low_open=True)
    require_number("gamma", config.gamma, 0.0, 1.0, low_open=True)
    require_number("gae_lambda", config.gae_lambda, 0.0, 1.0)
    require_number("ent_coef", config.ent_coef, 0.0)
    require_number("clip_range", config.clip_range, 0.0, low_open=True)
    for width in config.net_arch:
        require_int("net_arch", width, 1)
    require_number("noise_scale", config.noise_scale, 0.0)
    require_number("drift_scale", config.drift_scale, 0.0)
    require(bool(config.train_drift_scales), "train_drift_scales", (), "at least one multiplier")
    for scale in config.train_drift_scales:
        require_number("train_drift_scales", scale, 0.0, low_open=True)
    for option in ("eval_freq", "eval_episodes", "checkpoint_freq", "frame_stack"):
        require_int(option, getattr(config, option), 1)
    require_int("compare_episodes", config.compare_episodes, 0)
    require_int("envelope_chips", config.envelope_chips, 0)
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, got {config.lr_schedule!r}"
        )
    require_int("imitate_episodes", config.imitate_episodes, 1)
    require_int("imitate_epochs", config.imitate_epochs, 1)
    if config.imitate is not None:
        check_rule(config.imitate, config.env)
        if config.init_from is not None:
            raise ValueError("--imitate and --init-from both choose the start: pass one of them")
        if config.frame_stack != 1:
            raise ValueError("--imitate needs --frame-stack 1 (the rule acts on one observation)")
    elif config.imitate_params is not None:
        raise ValueError("--imitate-params names the parameters of --imitate RULE: pass both")
    if config.init_from is not None:
        try:
            resolve_run(config.init_from)
        except RunFolderError as error:
            raise RunFolderError(f"--init-from: {error}") from None
    layer_policy.check_policy_net(config.policy_net, config.init_from)
