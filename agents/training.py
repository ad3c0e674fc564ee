"""Training a PPO partitioning agent: the vectorised environments, the agent, and the run.

:class:`TrainConfig` (:mod:`agents.train_config`, re-exported here) holds every option (it *is*
``train_agent.py``'s command line) and :func:`train` runs it: a new run, a resumed one
(``resume``), or one started from another run's agent (``init_from``). Everything it writes
follows ``agents.run_folder``. Errors are ``ValueError`` (or ``RunFolderError``) with one line
that names the fix; ``KeyboardInterrupt`` during learning saves a checkpoint that ``resume``
continues from.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
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
from agents import layer_policy
from agents.base import make_policy
from agents.cli import check_output_dir
from agents.environments import DEFAULT_TIMESTEPS, describe, read_env_config
from agents.imitation import IMITATION_KEY, warm_start
from agents.ppo import PPOPolicy, algorithm
from agents.run_folder import (
    BEST_DIR,
    CHECKPOINT_DIR,
    CHECKPOINT_PREFIX,
    CONFIG_FILE,
    EVAL_DIR,
    MODEL_FILE,
    NORMALIZER_FILE,
    TENSORBOARD_DIR,
    TUNABLE_RULES,
    RunFolderError,
    checkpoint_paths,
    env_kwargs_from_config,
    heuristic_params,
    is_masked,
    jsonable,
    network_label,
    newest_checkpoint,
    read_run_config,
    resolve_run,
    tune_command,
    write_run_config,
)
from agents.shield import (
    ANALOG_ENVELOPE_KEY,
    OBSERVATION_RANGE_KEY,
    ObservationRange,
    analog_envelope,
)
from agents.train_config import (
    CHIP_OFFSET_FIX,
    ENV_DEFAULTS,
    FINAL_BASELINES,
    LR_SCHEDULES,
    TRAINING_ENV_KWARGS,
    VEC_ENVS,
    TrainConfig,
    check_options,
    env_kwargs,
    resumed_config,
)
from envs.chips import TEST_CHIP_OFFSET, VALIDATION_CHIP_OFFSET, VALIDATION_SEED_OFFSET

__all__ = [
    "CHIP_OFFSET_FIX",
    "DEFAULT_TIMESTEPS",
    "ENV_DEFAULTS",
    "FINAL_BASELINES",
    "LR_SCHEDULES",
    "TRAINING_ENV_KWARGS",
    "VEC_ENVS",
    "StopAfter",
    "TrainConfig",
    "check_options",
    "check_transfer",
    "env_kwargs",
    "evaluation_callback",
    "final_comparison",
    "learning_rate_schedule",
    "make_vec_env",
    "new_agent",
    "prepare",
    "read_env_config",
    "resumed_config",
    "save_checkpoint",
    "stacked",
    "train",
    "training_env_kwargs",
    "transferred",
]


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
        from agents.ray_vec_env import RayVecEnv  # Ray only when asked (an optional extra)

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
    policy, policy_kwargs = layer_policy.policy_choice(
        config.policy_net, config.mask_reprogram, venv, config.net_arch
    )
    return algorithm(config.mask_reprogram)(
        policy,
        venv,
        learning_rate=learning_rate_schedule(config),
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        ent_coef=config.ent_coef,
        clip_range=config.clip_range,
        policy_kwargs=policy_kwargs,
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
        wrapped = layer_policy.transferred_normaliser(normaliser, venv, source)
    else:
        wrapped = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=gamma)
    return wrapped, source


def check_transfer(run: Path, source: BaseAlgorithm, venv: VecEnv) -> None:
    """A one-line ValueError unless ``source`` observes and acts like ``venv``."""
    if layer_policy.is_layer_policy(source.policy):  # any layer count
        return layer_policy.check_layer_transfer(run, source, venv)
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


class WallClockBudget(BaseCallback):
    """Stop PPO at the first step after ``seconds`` have passed since ``start``
    (``time.perf_counter()``): a training budget in wall-clock time."""

    def __init__(self, start: float, seconds: float) -> None:
        super().__init__()
        self.start, self.seconds = start, seconds
        self.stopped = False

    def _on_step(self) -> bool:
        if time.perf_counter() - self.start >= self.seconds:
            self.stopped = True
            return False
        return True


def save_checkpoint(model: BaseAlgorithm, venv: VecNormalize, out: Path, tag: str) -> Path:
    """Save the model and its normaliser under checkpoints/ with the step count in the name."""
    model_path, normaliser_path = checkpoint_paths(out, model.num_timesteps, tag)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(model_path)
    venv.save(str(normaliser_path))
    return model_path


# -- the run ------------------------------------------------------------------------------------
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
    defaults = describe(config.env).train_defaults
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
    """The training environments' keyword arguments: ``kwargs`` with the environment's
    ``training_kwargs`` added where the user's own (``--env-config``) did not set them."""
    train_kwargs = dict(kwargs)
    for key, value in describe(env_id).training_kwargs.items():
        if key not in kwargs:
            train_kwargs[key] = (
                min(value, kwargs["chip_pool"]) if key == "training_streams" else value
            )
    return train_kwargs


def train(config: TrainConfig, extra_callbacks: Sequence[BaseCallback] = ()) -> Path:
    """Train (or resume) and return the run folder."""
    began = time.perf_counter()
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
            normalised = layer_policy.new_normaliser(config.policy_net, venv, config.gamma)
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
    budget = None
    if config.max_minutes is not None:
        budget = WallClockBudget(began, config.max_minutes * 60.0)
        callbacks.append(budget)
    run["result"] = {"status": "running", "num_timesteps": model.num_timesteps}
    write_run_config(out, run)

    remaining = config.timesteps - model.num_timesteps
    steps_before = model.num_timesteps
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
        "steps_per_s": round((model.num_timesteps - steps_before) / wall_s, 1)
        if wall_s > 0 and remaining > 0
        else None,
    }
    if budget is not None:
        run["result"]["max_minutes"] = config.max_minutes
        run["result"]["stopped_by_max_minutes"] = budget.stopped
        run["result"]["invocation_wall_s"] = round(time.perf_counter() - began, 1)
    write_run_config(out, run)
    venv.close()
    eval_env.close()
    if interrupted:
        return out
    print(f"trained {model.num_timesteps} steps in {wall_s:.0f} s; run folder: {out}")
    if describe(config.env).measures_envelope and config.envelope_chips > 0:  # for the shield
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
    environment = describe(env_id)
    params = heuristic_params(None, out)
    baselines = [
        name
        for name in environment.final_baselines
        if network_label(kwargs) is None or name not in TUNABLE_RULES or name in params
    ]
    for name in sorted(set(environment.final_baselines) - set(baselines)):
        print(
            f"note: {name} left out of the comparison: its default parameters were tuned on the "
            f"paper's network; tune them with {tune_command(kwargs, out)}, then run evaluate.py"
        )
    policies = {
        "ppo": PPOPolicy(path=out),
        **{name: make_policy(name, **params.get(name, {})) for name in baselines},
    }
    seeds = list(range(seed, seed + episodes))
    rows = environment.compare(env, policies, seeds)
    table = environment.format_table(rows)
    print(f"\ncomparison on {len(seeds)} held-out chips (seeds {seeds[0]}..{seeds[-1]}):")
    print(table)
    return rows
