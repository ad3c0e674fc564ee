"""Train a PPO agent that decides where each layer of a hybrid analog-digital network runs.

    python train_agent.py                       # embedded digits dataset, default scenario
    python train_agent.py --timesteps 50000 --n-envs 2 --out runs/mine
    python train_agent.py --out runs/mine --resume   # continue an interrupted run

Every option is a field of :class:`Args` below (its docstring is the ``--help`` text). The run
folder gets ``model.zip``, ``vecnormalize.pkl`` (observation statistics), ``config.json``
(everything needed to rebuild the environment), checkpoints, evaluation logs and tensorboard
logs (``tensorboard --logdir DIR/tb``). Ctrl-C saves a checkpoint; ``--resume`` continues from
the newest one with the step count carried on. At the end the agent is compared with
all-digital and greedy on chips it never saw.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tyro
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

import agents
import envs
from agents.ppo import (
    CONFIG_FILE,
    EVAL_CHIP_OFFSET,
    MODEL_FILE,
    NORMALIZER_FILE,
    PPOPolicy,
    RunFolderError,
    algorithm,
    is_masked,
    read_run_config,
    resolve_run,
)
from agents.reporting import compare_policies, format_table
from envs.rewards import RewardWeights

DEFAULT_TIMESTEPS = 50_000
"""Chosen by measurement (README, Results): with the default hyperparameters the validation
return plateaus from about 20,000 steps (where it reaches the privileged greedy-preview's); 50,000
steps train in about 2 minutes with two environment processes on a 2-core CPU (111-131 s in the
five scenarios, masked, 64 chips; the caches warm up as the policy settles). 150,000 steps gained
nothing (README, Results)."""
VALIDATION_CHIP_OFFSET = 500
"""EvalCallback selects on chips 500..; the final comparison uses chips 1000.. (never seen)."""
DEFAULT_TRAIN_CHIPS = 64
"""Training chips 0..63 (the environment's own default pool is 16). Measured (README, Results):
with 16 chips the agent partly learns its chips' particular noise; 64 chips gained 0.15-0.4 of
held-out return in four of five scenarios for about 1.5x the training time."""


@dataclass
class Args:
    """Train a PPO partitioning agent (stable-baselines3) on HybridPartition-v0."""

    dataset: str = "digits"
    """digits (embedded, offline), digits32 (CIFAR-sized net on upsampled digits) or cifar10"""
    scenario: str = envs.DEFAULT_SCENARIO
    """named scenario (hardware + timeline): paper, no-compensation, strong-drift, ..."""
    timesteps: int | None = None
    """total environment steps (default 50000; --resume keeps the run's own total unless given;
    the steps already done count towards it)"""
    seed: int = 0
    """seeds PPO, the environments' chip draws and the comparison"""
    train_chips: int | None = None
    """chips the training environments draw from (0..N-1; default 64, or the --env-config's
    chip_pool); validation uses as many from chip 500, the held-out comparison chips 1000.."""
    n_envs: int = 2
    """parallel environments (SubprocVecEnv when > 1, one process each)"""
    reward_weights: str = ""
    """reward weights, e.g. 'energy=1,task_loss=50,reprogram=1' (empty: the defaults)"""
    env_config: Path | None = None
    """JSON file of extra HybridPartition-v0 keyword arguments (timeline, energy_table, ...)"""
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
    """run folder (default runs/<dataset>-<scenario>-seed<seed>)"""
    resume: bool = False
    """continue the run in --out from its newest checkpoint"""
    init_from: Path | None = None
    """start from another run's policy and observation statistics instead of from scratch
    (transfer, e.g. a digits run to the CIFAR-sized digits32 network: same layer count); the
    steps count from 0, and --timesteps 0 saves the transferred agent untouched"""

    # PPO hyperparameters: the best of a small search (benchmarks/tune_ppo.py, README Results).
    learning_rate: float = 1e-3
    """PPO Adam learning rate"""
    lr_schedule: str = "constant"
    """constant, or linear: the learning rate decays linearly to 0 at --timesteps (the
    rl-baselines3-zoo ``lin_`` schedule), so the last updates fine-tune instead of jumping"""
    n_steps: int = 256
    """rollout length per environment between updates"""
    batch_size: int = 128
    """minibatch size of the PPO update"""
    n_epochs: int = 10
    """PPO epochs per update"""
    gamma: float = 0.5
    """discount factor: the decision is nearly myopic (drift does not depend on the placement),
    and a short horizon lowers the variance of the advantages"""
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

    eval_freq: int = 4096
    """environment steps between evaluations on validation chips"""
    eval_episodes: int = 4
    """episodes per evaluation"""
    checkpoint_freq: int = 8192
    """environment steps between checkpoints"""
    compare_episodes: int = 5
    """episodes (held-out chips) of the final comparison; 0 skips it"""
    progress: bool = True
    """show a progress bar"""


def env_kwargs(args: Args) -> dict[str, Any]:
    """The HybridPartition-v0 keyword arguments for these options (validated early)."""
    kwargs: dict[str, Any] = {}
    if args.env_config is not None:
        if not args.env_config.exists():
            sys.exit(f"error: --env-config {args.env_config} does not exist")
        try:
            kwargs.update(json.loads(args.env_config.read_text()))
        except json.JSONDecodeError as error:
            sys.exit(f"error: --env-config {args.env_config} is not valid JSON ({error.msg})")
    kwargs.update(dataset=args.dataset, scenario=args.scenario)
    if args.train_chips is not None:
        kwargs["chip_pool"] = args.train_chips
    kwargs.setdefault("chip_pool", DEFAULT_TRAIN_CHIPS)
    if not 1 <= kwargs["chip_pool"] <= VALIDATION_CHIP_OFFSET:
        sys.exit(
            f"error: --train-chips must be in 1..{VALIDATION_CHIP_OFFSET} (validation chips start "
            f"at {VALIDATION_CHIP_OFFSET}), got {kwargs['chip_pool']}"
        )
    if args.noise_scale != 1.0:
        kwargs["noise_scale"] = args.noise_scale
    if args.drift_scale != 1.0:
        kwargs["drift_scale"] = args.drift_scale
    if args.data_dir is not None:
        kwargs["data_dir"] = args.data_dir
    if args.reward_weights:
        kwargs["reward"] = RewardWeights.parse(args.reward_weights).to_dict()
    return kwargs


LR_SCHEDULES = ("constant", "linear")


def learning_rate_schedule(args: Args) -> float | LinearSchedule:
    """PPO's learning rate: a number, or SB3's linear decay from it to 0 over the run."""
    if args.lr_schedule == "constant":
        return args.learning_rate
    return LinearSchedule(start=args.learning_rate, end=0.0, end_fraction=1.0)


def make_vec_env(
    kwargs: dict[str, Any], n_envs: int, seed: int, drift_scales: Sequence[float] = ()
) -> VecEnv:
    """``n_envs`` monitored copies of the environment (one process each when > 1). With
    ``drift_scales``, environment ``i`` multiplies the drift by ``drift_scales[i % len]``."""

    def factory(rank: int):
        env_kwargs = dict(kwargs)
        if drift_scales:
            scale = drift_scales[rank % len(drift_scales)]
            env_kwargs["drift_scale"] = kwargs.get("drift_scale", 1.0) * scale

        def build():
            import gymnasium as gym

            import envs as registered  # noqa: F401  (registers the environment in the subprocess)

            env = gym.make(envs.ENV_ID, **env_kwargs)
            env.reset(seed=seed + rank)
            return env

        return build

    builders = [factory(rank) for rank in range(n_envs)]
    venv = SubprocVecEnv(builders) if n_envs > 1 else DummyVecEnv(builders)
    venv.seed(seed)
    return VecMonitor(venv)


def stacked(venv: VecEnv, frame_stack: int) -> VecEnv:
    """``venv`` with the last ``frame_stack`` observations side by side (itself for 1)."""
    return VecFrameStack(venv, frame_stack) if frame_stack > 1 else venv


def evaluation_callback(masked: bool) -> type[EvalCallback]:
    """SB3's EvalCallback, or sb3-contrib's masked version for a MaskablePPO agent."""
    if masked:
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback

        return MaskableEvalCallback
    return EvalCallback


def newest_checkpoint(out: Path) -> tuple[Path, Path | None, int] | None:
    """The newest saved model of a run: (model.zip, vecnormalize.pkl, steps)."""
    found = []
    for path in (out / "checkpoints").glob("ppo_*_steps.zip"):
        match = re.search(r"_(\d+)_steps\.zip$", path.name)
        if match:
            steps = int(match.group(1))
            normaliser = path.with_name(f"ppo_vecnormalize_{steps}_steps.pkl")
            found.append((path, normaliser if normaliser.exists() else None, steps))
    final = out / MODEL_FILE
    if final.exists():
        state = json.loads((out / CONFIG_FILE).read_text()).get("result", {})
        normaliser = out / NORMALIZER_FILE
        found.append(
            (final, normaliser if normaliser.exists() else None, int(state.get("num_timesteps", 0)))
        )
    return max(found, key=lambda item: item[2]) if found else None


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
    folder = out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ppo_{tag}_{model.num_timesteps}_steps.zip"
    model.save(path)
    venv.save(str(folder / f"ppo_vecnormalize_{model.num_timesteps}_steps.pkl"))
    return path


def transferred(run: Path, venv: VecEnv, gamma: float) -> tuple[VecNormalize, BaseAlgorithm]:
    """``venv`` wrapped in another run's observation statistics, and that run's agent, for
    --init-from (the caller checks that the spaces match)."""
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
    """A one-line exit unless ``source`` observes and acts like ``venv``."""
    if (
        source.observation_space.shape != venv.observation_space.shape
        or source.action_space != venv.action_space
    ):
        venv.close()
        sys.exit(
            f"error: --init-from {run}: its agent sees observations of shape "
            f"{source.observation_space.shape} and acts in {source.action_space}, this "
            f"environment {venv.observation_space.shape} and {venv.action_space}: transfer needs "
            "a model with the same number of layers (and the same --frame-stack)"
        )


def resumed_args(args: Args, config: dict[str, Any]) -> Args:
    """The saved options of the run being resumed; only the run's length, the comparison and
    the progress bar may be changed on the command line."""
    saved = dict(config.get("args", {}))
    fields = {f.name for f in dataclasses.fields(Args)}
    restored = {key: value for key, value in saved.items() if key in fields}
    restored.setdefault("mask_reprogram", False)  # runs from before masking used plain PPO
    for path_field in ("out", "env_config"):
        if restored.get(path_field) is not None:
            restored[path_field] = Path(restored[path_field])
    for tuple_field in ("net_arch", "train_drift_scales"):
        if tuple_field in restored:
            restored[tuple_field] = tuple(restored[tuple_field])
    restored.update(
        out=args.out,
        resume=True,
        progress=args.progress,
        compare_episodes=args.compare_episodes,
        timesteps=args.timesteps if args.timesteps is not None else saved.get("timesteps"),
    )
    return Args(**restored)


def train(args: Args, extra_callbacks: Sequence[BaseCallback] = ()) -> Path:
    """Train (or resume) and return the run folder."""
    out = args.out or Path("runs") / f"{args.dataset}-{args.scenario}-seed{args.seed}"
    config_path = out / CONFIG_FILE
    if args.resume:
        if not config_path.exists():
            sys.exit(
                f"error: nothing to resume in {out}: no {CONFIG_FILE} (train without --resume)"
            )
        config = json.loads(config_path.read_text())
        kwargs = config["env"]
        args = resumed_args(args, config)
    else:
        if args.timesteps is None:
            args = dataclasses.replace(args, timesteps=DEFAULT_TIMESTEPS)
        kwargs = env_kwargs(args)
        if args.frame_stack < 1:
            sys.exit(f"error: --frame-stack must be >= 1, got {args.frame_stack}")
        if args.lr_schedule not in LR_SCHEDULES:
            sys.exit(
                f"error: --lr-schedule must be one of {', '.join(LR_SCHEDULES)}, "
                f"got {args.lr_schedule!r}"
            )
        if args.init_from is not None:
            try:
                resolve_run(args.init_from)
            except RunFolderError as error:
                sys.exit(f"error: --init-from: {error}")
        config = {"args": _jsonable(dataclasses.asdict(args)), "env": kwargs}
    out.mkdir(parents=True, exist_ok=True)

    # Pretrain (or load) the model once here, so the worker processes find it cached, and
    # record the fully resolved environment configuration.
    probe = envs.HybridPartitionEnv(**kwargs)
    config["env_resolved"] = probe.config
    config["layers"] = list(probe.layer_names)
    del probe

    venv = make_vec_env(kwargs, args.n_envs, args.seed, args.train_drift_scales)
    eval_env = make_vec_env(
        {**kwargs, "chip_offset": VALIDATION_CHIP_OFFSET}, 1, args.seed + 10_000
    )
    resumed_from = newest_checkpoint(out) if args.resume else None
    if args.resume and resumed_from is None:
        sys.exit(f"error: no checkpoint or model in {out} to resume from")
    if resumed_from is not None:
        model_path, normaliser_path, done = resumed_from
        normalised = (
            VecNormalize.load(str(normaliser_path), venv)
            if normaliser_path
            else VecNormalize(venv, gamma=args.gamma)
        )
        venv = stacked(normalised, args.frame_stack)
        model = algorithm(args.mask_reprogram).load(
            model_path, env=venv, device="cpu", tensorboard_log=str(out / "tb")
        )
        print(f"resuming from {model_path} at {model.num_timesteps} steps")
    else:
        source = None
        if args.init_from is not None:
            normalised, source = transferred(args.init_from, venv, args.gamma)
        else:
            normalised = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=args.gamma)
        venv = stacked(normalised, args.frame_stack)
        if source is not None:
            check_transfer(args.init_from, source, venv)
        model = algorithm(args.mask_reprogram)(
            "MlpPolicy",
            venv,
            learning_rate=learning_rate_schedule(args),
            n_steps=args.n_steps,
            batch_size=args.batch_size,
            n_epochs=args.n_epochs,
            gamma=args.gamma,
            gae_lambda=args.gae_lambda,
            ent_coef=args.ent_coef,
            clip_range=args.clip_range,
            policy_kwargs={"net_arch": list(args.net_arch)},
            tensorboard_log=str(out / "tb"),
            seed=args.seed,
            device="cpu",
            verbose=0,
        )
        if source is not None:
            model.set_parameters(source.get_parameters(), exact_match=True, device="cpu")
            print(f"starting from the policy of {args.init_from}")
    eval_env = stacked(
        VecNormalize(eval_env, training=False, norm_reward=False, gamma=args.gamma),
        args.frame_stack,
    )
    callbacks: list[BaseCallback] = [
        CheckpointCallback(
            save_freq=max(args.checkpoint_freq // args.n_envs, 1),
            save_path=str(out / "checkpoints"),
            name_prefix="ppo",
            save_vecnormalize=True,
        ),
        evaluation_callback(args.mask_reprogram)(
            eval_env,
            n_eval_episodes=args.eval_episodes,
            eval_freq=max(args.eval_freq // args.n_envs, 1),
            log_path=str(out / "eval"),
            best_model_save_path=str(out / "best"),
            deterministic=True,
            verbose=0,
        ),
        *extra_callbacks,
    ]
    config["result"] = {"status": "running", "num_timesteps": model.num_timesteps}
    _write_json(config_path, config)

    remaining = args.timesteps - model.num_timesteps
    start = time.perf_counter()
    interrupted = False
    try:
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=callbacks,
                progress_bar=args.progress,
                reset_num_timesteps=resumed_from is None,
                tb_log_name="ppo",
            )
    except KeyboardInterrupt:
        interrupted = True
        path = save_checkpoint(model, normalised, out, "interrupted")
        print(
            f"\ninterrupted at {model.num_timesteps} steps; checkpoint {path}\n"
            f"resume with: python train_agent.py --out {out} --resume --timesteps {args.timesteps}"
        )
    wall_s = time.perf_counter() - start
    if not interrupted:
        model.save(out / MODEL_FILE)
        normalised.save(str(out / NORMALIZER_FILE))
    config["result"] = {
        "status": "interrupted" if interrupted else "finished",
        "num_timesteps": int(model.num_timesteps),
        "train_wall_s": round(wall_s, 1),
        "steps_per_s": round(max(remaining, 0) / wall_s, 1)
        if wall_s > 0 and remaining > 0
        else None,
    }
    _write_json(config_path, config)
    venv.close()
    eval_env.close()
    if interrupted:
        return out
    print(f"trained {model.num_timesteps} steps in {wall_s:.0f} s; run folder: {out}")

    if args.compare_episodes > 0:
        import gymnasium as gym

        env = gym.make(envs.ENV_ID, **{**kwargs, "chip_offset": EVAL_CHIP_OFFSET})
        policies = {
            "ppo": PPOPolicy(path=out),
            "all-digital": agents.make_policy("all-digital"),
            "greedy": agents.make_policy("greedy"),
        }
        seeds = list(range(args.seed, args.seed + args.compare_episodes))
        rows = compare_policies(env, policies, seeds)
        print(f"\ncomparison on {len(seeds)} held-out chips (seeds {seeds[0]}..{seeds[-1]}):")
        print(format_table(rows))
        config["comparison"] = rows
        _write_json(config_path, config)
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_jsonable(payload), indent=2))
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> Path:
    """Parse the command line and train."""
    args = tyro.cli(Args, args=argv, description=__doc__.split("\n\n")[0])
    try:
        return train(args)
    except ValueError as error:  # configuration errors: one line, no traceback
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
