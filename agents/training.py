"""Training a PPO partitioning agent: the options, the vectorised environments, and the run.

:class:`TrainConfig` holds every option (it *is* ``train_agent.py``'s command line) and
:func:`train` runs it: a new run, a resumed one (``resume``), or one started from another run's
agent (``init_from``). Everything it writes follows ``agents.run_folder``. Errors are
``ValueError`` (or ``RunFolderError``) with one line that names the fix; ``KeyboardInterrupt``
during learning saves a checkpoint that ``resume`` continues from.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecFrameStack,
    VecMonitor,
    VecNormalize,
)

import envs
from agents.base import make_policy
from agents.cli import check_output_dir, require, require_int, require_number
from agents.hybrid_training.reporting import compare_training_policies, format_training_table
from agents.imitation import IMITATION_KEY, check_rule, warm_start
from agents.ppo import PPOPolicy, algorithm
from agents.reporting import compare_policies, format_table
from agents.run_folder import (
    BEST_DIR,
    CHECKPOINT_DIR,
    CHECKPOINT_PREFIX,
    CONFIG_FILE,
    EVAL_DIR,
    MODEL_FILE,
    NORMALIZER_FILE,
    TENSORBOARD_DIR,
    RunFolderError,
    checkpoint_paths,
    default_run_dir,
    env_kwargs_from_config,
    heuristic_params,
    is_masked,
    jsonable,
    newest_checkpoint,
    read_run_config,
    resolve_run,
    write_run_config,
)
from agents.shield import (
    ANALOG_ENVELOPE_KEY,
    ENVELOPE_CHIPS,
    OBSERVATION_RANGE_KEY,
    ObservationRange,
    analog_envelope,
)
from envs.chips import TEST_CHIP_OFFSET, TRAIN_CHIPS, VALIDATION_CHIP_OFFSET, VALIDATION_SEED_OFFSET
from envs.hybrid_training.run import TRAINING_RUN_OPTIONS
from envs.options import check_env_options
from envs.rewards import resolve_reward
from hybrid.data import require_dataset
from hybrid.factory import import_factory

DEFAULT_TIMESTEPS = 50_000
"""Chosen by measurement (README, Results): the validation return plateaus from about 20,000
steps; 50,000 train in about 2 minutes with two environment processes on a 2-core CPU."""

# Partitioning during training (issue 16): what differs on HybridTraining-v0.
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    envs.ENV_ID: {
        "timesteps": DEFAULT_TIMESTEPS,
        "n_steps": 256,
        "eval_freq": 4_096,
        "checkpoint_freq": 8_192,
    },
    envs.TRAINING_ENV_ID: {
        "timesteps": 4_096,
        "gamma": 1.0,
        "n_steps": 128,
        "eval_freq": 1_024,
        "checkpoint_freq": 1_024,
    },
}
"""Defaults of the options left unset (None), per environment (HybridPartition-v0's discount
is its scenario's, ``Scenario.discount``). HybridTraining-v0: its reward
comes mostly at the end of a 4-step episode, so no discount; each step trains the network, so
far fewer steps (4,096: 1,024 training runs; README, Partitioning during training) and shorter
rollouts, for as many updates as that allows; validation and a checkpoint every 1,024 steps (a
quarter of the run, so an interrupted default run loses at most a quarter; at 4,096 and 8,192 a
default run had one validation and no checkpoint before its end)."""
TRAINING_ENV_KWARGS: dict[str, dict[str, Any]] = {
    envs.TRAINING_ENV_ID: {"training_streams": 8},
}
"""Keyword arguments of the training environments only (never validation nor evaluation):
HybridTraining-v0's chips share 8 training streams, so that repeated trajectories are served
from its cache of training states and cost only their deployment."""
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
    (transfer, e.g. a digits run to the CIFAR-sized digits32 network: same layer count); the
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
        folder = default_run_dir(name, self.scenario, self.seed)
        return folder if self.env == envs.ENV_ID else folder.with_name(f"training-{folder.name}")


# -- the environments ---------------------------------------------------------------------------
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
        if config.env == envs.ENV_ID:
            # Laid over the scenario's own reward (a streaming scenario keeps its service levels).
            scenario_reward = envs.get_scenario(config.scenario).reward
            weights = resolve_reward(config.reward_weights, scenario_reward)[1]
            command_line["reward"] = weights.to_dict()
        else:
            weights_class = envs.REWARD_WEIGHTS[envs.check_env_id(config.env)]
            command_line["reward"] = weights_class.parse(config.reward_weights).to_dict()
    if config.train_chips is not None:
        command_line["chip_pool"] = config.train_chips

    kwargs: dict[str, Any] = {}
    if config.env_config is not None:
        kwargs = read_env_config(config.env_config, config.env)
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
    if config.model_factory is not None:
        import_factory(config.model_factory)  # a bad import path fails now, in one line
        kwargs["model_factory"] = config.model_factory
    if config.model_weights is not None:
        if not config.model_weights.is_file():
            raise ValueError(f"--model-weights {config.model_weights} does not exist")
        # Absolute: evaluate.py and the workers may run from another folder.
        kwargs["model_weights"] = str(config.model_weights.resolve())
    kwargs.setdefault("chip_pool", TRAIN_CHIPS)
    pool = kwargs["chip_pool"]
    if isinstance(pool, int) and not 1 <= pool <= VALIDATION_CHIP_OFFSET:
        raise ValueError(
            f"--train-chips must be in 1..{VALIDATION_CHIP_OFFSET} (validation chips start at "
            f"{VALIDATION_CHIP_OFFSET}), got {pool}"
        )
    if config.env == envs.ENV_ID:  # HybridTraining-v0 checks its own when the probe is built
        check_env_options(kwargs)
    require_dataset(config.dataset, config.data_dir)
    return kwargs


def read_env_config(path: Path, env_id: str = envs.ENV_ID) -> dict[str, Any]:
    """The environment options of an ``--env-config`` JSON file, checked (one-line errors; the
    options of HybridTraining-v0 by name here, by value when it is built)."""
    where = f"--env-config {path}"
    if not path.is_file():
        raise ValueError(f"{where} does not exist (give a JSON file of environment options)")
    try:
        loaded = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{where} is not valid JSON ({getattr(error, 'msg', error)})") from None
    if env_id == envs.ENV_ID:
        check_env_options(loaded, where)
    elif not isinstance(loaded, dict):
        raise ValueError(f"{where}: environment options must be an object of name: value pairs")
    else:
        known = set(inspect.signature(envs.HybridTrainingEnv.__init__).parameters) - {"self"}
        known = (known - {"run_options"}) | set(TRAINING_RUN_OPTIONS)
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise ValueError(
                f"{where}: unknown {env_id} argument(s) {', '.join(unknown)}; valid: "
                f"{', '.join(sorted(known))}"
            )
    if "chip_offset" in loaded:
        raise ValueError(
            f"{where} sets chip_offset: training uses chips 0..N-1 (set N with --train-chips); "
            "validation and test chips are fixed by envs.chips"
        )
    if "seed" in loaded:
        raise ValueError(f"{where} sets seed: use --seed")
    return dict(loaded)


def make_vec_env(
    kwargs: dict[str, Any],
    n_envs: int,
    seed: int,
    drift_scales: Sequence[float] = (),
    vec_env: str = "subproc",
    address: str | None = None,
    cpus_per_env: float = 1.0,
    env_id: str = envs.ENV_ID,
) -> VecEnv:
    """``n_envs`` monitored copies of environment ``env_id``: one process each when > 1, or with
    ``vec_env="ray"`` one Ray actor each (``cpus_per_env`` CPUs, on the cluster at ``address``).
    With ``drift_scales``, environment ``i`` multiplies the drift by ``drift_scales[i % len]``."""

    def factory(rank: int):
        rank_kwargs = dict(kwargs)
        if drift_scales:
            scale = drift_scales[rank % len(drift_scales)]
            rank_kwargs["drift_scale"] = kwargs.get("drift_scale", 1.0) * scale

        def build():
            import gymnasium as gym

            import envs as registered  # noqa: F401  (registers the environments in the subprocess)

            env = gym.make(env_id, **rank_kwargs)
            env.reset(seed=seed + rank)
            return env

        return build

    builders = [factory(rank) for rank in range(n_envs)]
    if vec_env == "ray":
        from agents.ray_vec_env import RayVecEnv  # Ray only when asked (issue 18)

        venv: VecEnv = RayVecEnv(builders, address, cpus_per_env)
    else:
        venv = SubprocVecEnv(builders) if n_envs > 1 else DummyVecEnv(builders)
    venv.seed(seed)
    return VecMonitor(venv)


def stacked(venv: VecEnv, frame_stack: int) -> VecEnv:
    """``venv`` with the last ``frame_stack`` observations side by side (itself for 1)."""
    return VecFrameStack(venv, frame_stack) if frame_stack > 1 else venv


# -- the agent ----------------------------------------------------------------------------------
def learning_rate_schedule(config: TrainConfig) -> float | LinearSchedule:
    """PPO's learning rate: a number, or SB3's linear decay from it to 0 over the run."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    return LinearSchedule(start=config.learning_rate, end=0.0, end_fraction=1.0)


def new_agent(config: TrainConfig, venv: VecEnv, out: Path) -> BaseAlgorithm:
    """A fresh (Maskable)PPO agent with the configured hyperparameters."""
    return algorithm(config.mask_reprogram)(
        "MlpPolicy",
        venv,
        learning_rate=learning_rate_schedule(config),
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        ent_coef=config.ent_coef,
        clip_range=config.clip_range,
        policy_kwargs={"net_arch": list(config.net_arch)},
        tensorboard_log=str(out / TENSORBOARD_DIR),
        seed=config.seed,
        device="cpu",
        verbose=0,
    )


def transferred(run: Path, venv: VecEnv, gamma: float) -> tuple[VecNormalize, BaseAlgorithm]:
    """``venv`` wrapped in another run's observation statistics, and that run's agent, for
    ``init_from`` (:func:`check_transfer` checks that the spaces match)."""
    folder, model_path = resolve_run(run)
    try:
        masked = is_masked(read_run_config(folder))
    except RunFolderError:  # a bare model.zip: stable-baselines3's PPO
        masked = False
    source = algorithm(masked).load(model_path, device="cpu")
    normaliser = folder / NORMALIZER_FILE
    if normaliser.exists():
        wrapped = VecNormalize.load(str(normaliser), venv)
        wrapped.training, wrapped.norm_reward = True, True
    else:
        wrapped = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=gamma)
    return wrapped, source


def check_transfer(run: Path, source: BaseAlgorithm, venv: VecEnv) -> None:
    """A one-line ValueError unless ``source`` observes and acts like ``venv``."""
    if (
        source.observation_space.shape != venv.observation_space.shape
        or source.action_space != venv.action_space
    ):
        raise ValueError(
            f"--init-from {run}: its agent sees observations of shape "
            f"{source.observation_space.shape} and acts in {source.action_space}, this "
            f"environment {venv.observation_space.shape} and {venv.action_space}: transfer needs "
            "a model with the same number of layers (and the same --frame-stack)"
        )


def evaluation_callback(masked: bool) -> type[EvalCallback]:
    """SB3's EvalCallback, or sb3-contrib's masked version for a MaskablePPO agent."""
    if masked:
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback

        return MaskableEvalCallback
    return EvalCallback


class StopAfter(BaseCallback):
    """Raise KeyboardInterrupt after ``steps`` (tests use it to simulate Ctrl-C)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.steps:
            raise KeyboardInterrupt
        return True


def save_checkpoint(model: BaseAlgorithm, venv: VecNormalize, out: Path, tag: str) -> Path:
    """Save the model and its normaliser under checkpoints/ with the step count in the name."""
    model_path, normaliser_path = checkpoint_paths(out, model.num_timesteps, tag)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(model_path)
    venv.save(str(normaliser_path))
    return model_path


# -- the run ------------------------------------------------------------------------------------
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


def prepare(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any], dict[str, Any]]:
    """The options in force, the environment's keyword arguments and the run's config.json
    content: a resumed run's saved ones, or the new run's."""
    out = config.run_dir
    check_output_dir(out)
    if config.vec_env not in VEC_ENVS:
        raise ValueError(f"--vec-env must be one of {', '.join(VEC_ENVS)}, got {config.vec_env!r}")
    if config.vec_env == "ray":
        from agents.distributed import require_ray

        require_ray("--vec-env ray")
    if config.resume:
        if not (out / CONFIG_FILE).exists():
            raise RunFolderError(
                f"nothing to resume in {out}: no {CONFIG_FILE} (train without --resume)"
            )
        saved = read_run_config(out)
        return resumed_config(config, saved), env_kwargs_from_config(saved), saved
    defaults = ENV_DEFAULTS[envs.check_env_id(config.env)]
    unset = {key: value for key, value in defaults.items() if getattr(config, key) is None}
    config = dataclasses.replace(config, **unset)
    if config.gamma is None:
        config = dataclasses.replace(config, gamma=envs.get_scenario(config.scenario).discount)
    check_options(config)
    kwargs = env_kwargs(config)
    run: dict[str, Any] = {"args": jsonable(dataclasses.asdict(config)), "env": kwargs}
    if config.imitate is not None:  # read once; a bad file fails here, before anything is built
        params = heuristic_params(config.imitate_params, None).get(config.imitate, {})
        run[IMITATION_KEY] = {"rule": config.imitate, "params": params}
    return config, kwargs, run


def training_env_kwargs(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The training environments' keyword arguments: ``kwargs`` with ``TRAINING_ENV_KWARGS``
    added where the user's own (``--env-config``) did not set them."""
    train_kwargs = dict(kwargs)
    for key, value in TRAINING_ENV_KWARGS.get(env_id, {}).items():
        if key not in kwargs:
            train_kwargs[key] = (
                min(value, kwargs["chip_pool"]) if key == "training_streams" else value
            )
    return train_kwargs


def train(config: TrainConfig, extra_callbacks: Sequence[BaseCallback] = ()) -> Path:
    """Train (or resume) and return the run folder."""
    out = config.run_dir
    config, kwargs, run = prepare(config)
    # Build one environment here first: pretrain (or load) the model once so the worker
    # processes find it cached, fail on bad settings before any folder or process exists, and
    # record the fully resolved environment configuration.
    probe = gym.make(config.env, **kwargs).unwrapped
    run["env_id"] = config.env
    run["env_resolved"] = probe.config
    run["layers"] = list(probe.layer_names)
    del probe
    out.mkdir(parents=True, exist_ok=True)

    venv = make_vec_env(
        training_env_kwargs(config.env, kwargs),
        config.n_envs,
        config.seed,
        config.train_drift_scales,
        config.vec_env,
        config.address,
        config.ray_cpus_per_env,
        config.env,
    )
    # The envelope of what the agent acts on, for the deployment shield (agents/shield.py).
    envelope = ObservationRange(venv, run.get(OBSERVATION_RANGE_KEY))
    venv = envelope
    eval_env = make_vec_env(
        {**kwargs, "chip_offset": VALIDATION_CHIP_OFFSET},
        1,
        config.seed + VALIDATION_SEED_OFFSET,
        env_id=config.env,
    )
    # The same wrapper layers as training: SB3's EvalCallback walks both stacks side by side.
    eval_env = ObservationRange(eval_env)
    resumed_from = newest_checkpoint(out) if config.resume else None
    if config.resume and resumed_from is None:
        raise RunFolderError(f"no checkpoint or model in {out} to resume from")
    if resumed_from is not None:
        model_path, normaliser_path, _ = resumed_from
        normalised = (
            VecNormalize.load(str(normaliser_path), venv)
            if normaliser_path
            else VecNormalize(venv, gamma=config.gamma)
        )
        venv = stacked(normalised, config.frame_stack)
        model = algorithm(config.mask_reprogram).load(
            model_path, env=venv, device="cpu", tensorboard_log=str(out / TENSORBOARD_DIR)
        )
        print(f"resuming from {model_path} at {model.num_timesteps} steps")
    else:
        source = None
        if config.init_from is not None:
            normalised, source = transferred(config.init_from, venv, config.gamma)
        else:
            normalised = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=config.gamma)
        venv = stacked(normalised, config.frame_stack)
        if source is not None:
            try:
                check_transfer(config.init_from, source, venv)
            except ValueError:
                venv.close()
                eval_env.close()
                raise
        model = new_agent(config, venv, out)
        if config.imitate is not None:
            run[IMITATION_KEY] = warm_start(
                model,
                normalised,
                config.imitate,
                run[IMITATION_KEY]["params"],
                training_env_kwargs(config.env, kwargs),
                config.env,
                config.imitate_episodes,
                config.imitate_epochs,
                config.seed,
                config.train_drift_scales,
                config.mask_reprogram,
            )
        if source is not None:
            model.set_parameters(source.get_parameters(), exact_match=True, device="cpu")
            print(f"starting from the policy of {config.init_from}")
    eval_env = stacked(
        VecNormalize(eval_env, training=False, norm_reward=False, gamma=config.gamma),
        config.frame_stack,
    )
    callbacks: list[BaseCallback] = [
        CheckpointCallback(
            save_freq=max(config.checkpoint_freq // config.n_envs, 1),
            save_path=str(out / CHECKPOINT_DIR),
            name_prefix=CHECKPOINT_PREFIX,
            save_vecnormalize=True,
        ),
        evaluation_callback(config.mask_reprogram)(
            eval_env,
            n_eval_episodes=config.eval_episodes,
            eval_freq=max(config.eval_freq // config.n_envs, 1),
            log_path=str(out / EVAL_DIR),
            best_model_save_path=str(out / BEST_DIR),
            deterministic=True,
            verbose=0,
        ),
        *extra_callbacks,
    ]
    run["result"] = {"status": "running", "num_timesteps": model.num_timesteps}
    write_run_config(out, run)

    remaining = config.timesteps - model.num_timesteps
    start = time.perf_counter()
    interrupted = False
    try:
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=callbacks,
                progress_bar=config.progress,
                reset_num_timesteps=resumed_from is None,
                tb_log_name=CHECKPOINT_PREFIX,
            )
    except KeyboardInterrupt:
        interrupted = True
        path = save_checkpoint(model, normalised, out, "interrupted")
        print(
            f"\ninterrupted at {model.num_timesteps} steps; checkpoint {path}\n"
            f"resume with: python train_agent.py --out {out} --resume --timesteps "
            f"{config.timesteps}"
        )
    wall_s = time.perf_counter() - start
    if envelope.to_dict() is not None:
        run[OBSERVATION_RANGE_KEY] = envelope.to_dict()
    if not interrupted:
        model.save(out / MODEL_FILE)
        normalised.save(str(out / NORMALIZER_FILE))
    run["result"] = {
        "status": "interrupted" if interrupted else "finished",
        "num_timesteps": int(model.num_timesteps),
        "train_wall_s": round(wall_s, 1),
        "steps_per_s": round(max(remaining, 0) / wall_s, 1)
        if wall_s > 0 and remaining > 0
        else None,
    }
    write_run_config(out, run)
    venv.close()
    eval_env.close()
    if interrupted:
        return out
    print(f"trained {model.num_timesteps} steps in {wall_s:.0f} s; run folder: {out}")
    if config.env == envs.ENV_ID and config.envelope_chips > 0:  # for the shield
        agent = PPOPolicy(path=out, shield=False)
        run[ANALOG_ENVELOPE_KEY] = analog_envelope(
            agent, kwargs, config.train_drift_scales, config.env, config.envelope_chips
        )
        write_run_config(out, run)
    if config.compare_episodes > 0:
        run["comparison"] = final_comparison(
            out, kwargs, config.seed, config.compare_episodes, config.env
        )
        write_run_config(out, run)
    return out


def final_comparison(
    out: Path, kwargs: dict[str, Any], seed: int, episodes: int, env_id: str = envs.ENV_ID
) -> list[dict[str, Any]]:
    """The trained agent against all-digital and greedy (on HybridTraining-v0: all-digital and
    LionHeart-style training) on held-out chips, printed as a table."""
    env = gym.make(env_id, **{**kwargs, "chip_offset": TEST_CHIP_OFFSET})
    baselines = FINAL_BASELINES[env_id]
    policies = {"ppo": PPOPolicy(path=out), **{name: make_policy(name) for name in baselines}}
    seeds = list(range(seed, seed + episodes))
    if env_id == envs.TRAINING_ENV_ID:
        rows = compare_training_policies(env, policies, seeds)
        table = format_training_table(rows)
    else:
        rows = compare_policies(env, policies, seeds)
        table = format_table(rows)
    print(f"\ncomparison on {len(seeds)} held-out chips (seeds {seeds[0]}..{seeds[-1]}):")
    print(table)
    return rows


FINAL_BASELINES: dict[str, tuple[str, ...]] = {
    envs.ENV_ID: ("all-digital", "greedy"),
    envs.TRAINING_ENV_ID: ("all-digital-training", "lionheart-training"),
}
"""The heuristics the end of a training run compares the agent with, per environment."""
