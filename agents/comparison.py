"""Comparing policies on the same held-out chips: what ``evaluate.py`` runs.

:func:`evaluate` plans the weightings to run (the main reward, and a sweep of one weight),
runs every policy on the same seeds and chips (common random numbers), and writes the results
folder: ``summary.csv`` and ``summary.json`` (one row per policy and weighting, with the
configuration and seeds), ``steps.csv`` (one row per policy, episode and step: enough to rebuild
any figure and to replay the episodes) and the figures of :mod:`agents.plots`. :func:`validate`
replays a results folder in fresh environments. Every check that can fail runs before any
environment is built; errors are one-line ``ValueError``/``RunFolderError``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

import envs
from agents.base import Policy, make_policy, policy_names
from agents.cli import check_output_dir, require_int
from agents.environments import SWEEP_KEYS, check_kwargs, describe, model_kwargs
from agents.evaluation import replay_episode, run_episode
from agents.heuristics import STREAM_RULES
from agents.plots import MAIN, plot_pareto, plot_placements, task_titles
from agents.ppo import load_agent
from agents.reporting import format_table
from agents.results import (
    STEPS_FILE,
    SUMMARY_FILE,
    Weighting,
    energy_floor,
    read_configurations,
    read_steps,
    reward_weights,
    step_rows,
    summary_rows,
    weights_text,
    write_tables,
)
from agents.run_folder import (
    check_rules_tuned,
    env_id_from_config,
    env_kwargs_from_config,
    heuristic_params,
    make_env_from_config,
    newest_run,
    read_run_config,
    resolve_run,
    tuned_on,
)
from envs.chips import ENV_CHIP_POOL, TEST_CHIP_OFFSET, episode_chips, held_out_pool

REWARD_TOLERANCE = 1e-9
"""Largest |recorded - replayed| reward that :func:`validate` accepts."""


@dataclass
class EvaluationConfig:
    """Compare partitioning policies (PPO and heuristics) on the same held-out chips."""

    model: Path | None = None
    """trained run folder or its model.zip; None: the newest run under --runs-dir (of --env)"""
    env: str | None = None
    """environment: HybridPartition-v0 or HybridTraining-v0; None: the run's, or
    HybridPartition-v0 when there is no run"""
    runs_dir: Path = Path("runs")
    """where to look for the newest trained run when --model is not given"""
    policies: str = ""
    """comma-separated policy names; empty: ppo (when there is a run) and every heuristic"""
    episodes: int = 5
    """episodes per policy; every policy gets the same seeds and chips (common random numbers)"""
    seed: int = 0
    """episode i resets with seed + i; the seed also draws which held-out chips are used"""
    reward_weights: str = ""
    """evaluate under these weights, e.g. 'energy=1,task_loss=50,reprogram=1'; empty: the run's"""
    scenario: str | None = None
    """named scenario; None: the run's, or the default scenario when there is no run"""
    dataset: str | None = None
    """digits, digits32 or cifar10; None: the run's, or digits when there is no run"""
    data_dir: str | None = None
    """folder holding CIFAR-10 (cifar-10-batches-py/); None: the run's, or the default folder"""
    network: str | None = None
    """built-in network: paper, resnet20 or resnet32; None: the run's, or the paper's network"""
    model_factory: str | None = None
    """your own model by import path 'package.module:function' (see train_agent.py); None: the
    run's, or the paper's network when there is no run"""
    model_weights: Path | None = None
    """weights file for that model; None: the run's"""
    heuristic_params: Path | None = None
    """JSON file of heuristic parameters ({"params": {policy: {parameter: value}}}, written by
    benchmarks/tune_heuristics.py --out); None: RUN/heuristics.json when the run has one, else
    the defaults"""
    shield: bool = True
    """the trained agent's shield (agents/shield.py): layers measured beyond what it saw in
    training run digitally; --no-shield evaluates the bare network"""
    out: Path | None = None
    """output folder; None: results/<timestamp>-<run or scenario>"""
    sweep: str = ""
    """re-run the heuristics under several values of one weight, e.g. 'energy=0.5,1,2,4'"""
    sweep_models: str = ""
    """comma-separated PPO runs trained under each --sweep value (same order); optional"""
    validate: Path | None = None
    """replay DIR/steps.csv in fresh environments and confirm the rewards (no evaluation)"""
    progress: bool = True
    """show a progress bar"""
    workers: int = 0
    """run the episodes as Ray tasks, this many at a time (0: one after another in this
    process); the numbers are exactly the serial ones (pip install -e '.[ray]')"""
    address: str | None = None
    """with --workers: the Ray cluster (auto, HOST:PORT); None: RAY_ADDRESS or a local Ray"""


# -- planning: every check that can fail runs before any environment is built ------------------
def parse_sweep(text: str, keys: Sequence[str] = SWEEP_KEYS) -> tuple[str, list[float]]:
    """``"energy=0.5,1,2"`` -> ``("energy", [0.5, 1.0, 2.0])``, or a one-line ValueError."""
    key, _, raw = (part.strip() for part in text.partition("="))
    if key not in keys or not raw:
        raise ValueError(
            f"--sweep {text!r} must be KEY=V1,V2,... with KEY one of {', '.join(keys)}"
        )
    try:
        values = [float(value) for value in raw.split(",") if value.strip()]
    except ValueError:
        raise ValueError(f"--sweep {text!r}: the values must be numbers") from None
    if len(set(values)) != len(values):
        raise ValueError(f"--sweep {text!r}: list each value once")
    return key, values


def check_run(path: Path) -> Path:
    """The run folder of ``path`` after checking it loads (one-line RunFolderError if not)."""
    folder, _ = resolve_run(path)
    read_run_config(folder)
    load_agent(folder)  # a corrupt archive fails here, before any simulation
    return folder


def plan(args: EvaluationConfig) -> tuple[list[Weighting], dict[str, Any]]:
    """The weightings to evaluate and the run configuration (empty without a run)."""
    if args.episodes < 1:
        raise ValueError("--episodes must be at least 1")
    require_int("seed", args.seed, 0)
    if args.out is not None:
        check_output_dir(args.out)
    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0 (0: no Ray), got {args.workers}")
    if args.workers > 0:
        from agents.distributed import require_ray

        require_ray("--workers")
    env_id = envs.check_env_id(args.env) if args.env is not None else None
    requested = [name.strip() for name in args.policies.split(",") if name.strip()]
    for name in requested:
        if name not in policy_names(env_id):
            raise ValueError(
                f"unknown policy {name!r}: choose from {', '.join(policy_names(env_id))}"
            )

    model = args.model
    if model is None and (not requested or "ppo" in requested):
        model = newest_run(args.runs_dir, env_id)
        if model is None and "ppo" in requested:
            raise ValueError(
                f"policy ppo needs a trained run: pass --model RUN or train one under "
                f"{args.runs_dir} with `python train_agent.py`"
            )
        if model is None:
            print(
                f"no trained run under {args.runs_dir}/: evaluating the heuristics alone "
                "(train one with `python train_agent.py`)"
            )
    run_config: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    if model is not None:
        model = check_run(model)
        run_config = read_run_config(model)
        kwargs = env_kwargs_from_config(run_config)
        trained_on = env_id_from_config(run_config)
        if env_id not in (None, trained_on):
            raise ValueError(
                f"run {model} was trained on {trained_on}, not --env {env_id}: pass a run of "
                f"{env_id} (or no --model)"
            )
        env_id = trained_on
    env_id = env_id or envs.ENV_ID
    known = list(policy_names(env_id))
    for name in requested:
        if name not in known:
            raise ValueError(f"policy {name!r} does not act in {env_id}: choose from {known}")
    environment = describe(env_id)
    model_options = model_kwargs(args.model_factory, args.model_weights, args.network)
    if args.network is not None:
        kwargs.pop("network", None)
        kwargs.update({k: v for k, v in model_options.items() if k == "network"})
    if "model_weights" in model_options:
        kwargs["model_weights"] = model_options["model_weights"]
    for key in ("dataset", "scenario", "model_factory"):
        value = getattr(args, key)
        if value is not None:
            if model is not None and kwargs.get(key) not in (None, value):
                print(
                    f"note: run {model} was trained with {key} {kwargs[key]!r}; "
                    f"evaluating it on {value!r}"
                )
            kwargs[key] = value
    if args.data_dir is not None:
        kwargs["data_dir"] = args.data_dir
    kwargs.setdefault("dataset", "digits")
    kwargs.setdefault("scenario", envs.DEFAULT_SCENARIO)
    envs.get_scenario(kwargs["scenario"])  # an unknown scenario fails now, listing the known
    kwargs["chip_offset"] = TEST_CHIP_OFFSET
    kwargs["chip_pool"] = held_out_pool(kwargs.get("chip_pool", ENV_CHIP_POOL), args.episodes)
    if args.reward_weights:
        kwargs["reward"] = environment.reward(args.reward_weights, kwargs["scenario"])
    check_kwargs(env_id, kwargs)

    heuristics = [name for name in requested or known if name != "ppo"]
    if not requested and envs.get_scenario(kwargs["scenario"]).workload is None:
        heuristics = [name for name in heuristics if name not in STREAM_RULES]
    policies = ["ppo"] if model is not None and "ppo" in (requested or ["ppo"]) else []
    params = heuristic_params(args.heuristic_params, model)
    check_rules_tuned(
        heuristics, params, kwargs, model, tuned_on(args.heuristic_params, model)
    )
    weightings = [
        Weighting(
            MAIN, kwargs, policies + heuristics, model, params, env_id=env_id, shield=args.shield
        )
    ]

    if args.sweep:
        key, values = parse_sweep(args.sweep, environment.sweep_keys)
        sweep_models = [Path(p.strip()) for p in args.sweep_models.split(",") if p.strip()]
        if sweep_models and len(sweep_models) != len(values):
            raise ValueError(
                f"--sweep-models lists {len(sweep_models)} runs for {len(values)} --sweep "
                "values: give one run per value, in the same order"
            )
        base = environment.weights(kwargs)
        for index, value in enumerate(values):
            weights = type(base).from_dict({**base.to_dict(), key: value})
            sweep_model = check_run(sweep_models[index]) if sweep_models else None
            weightings.append(
                Weighting(
                    f"{key}={value:g}",
                    {**kwargs, "reward": weights.to_dict()},
                    (["ppo"] if sweep_model else []) + heuristics,
                    sweep_model,
                    params,
                    key,
                    value,
                    env_id=env_id,
                    shield=args.shield,
                )
            )
    return weightings, run_config


# -- running ---------------------------------------------------------------------------------------
def run_weighting(weighting: Weighting, seeds: Sequence[int], progress: tqdm) -> Any:
    """Run every policy of ``weighting`` on every seed in one environment; returns the env."""
    env = make_env_from_config({"env": weighting.env_kwargs, "env_id": weighting.env_id})
    unwrapped = env.unwrapped
    chips = episode_chips(unwrapped.chip_offset, unwrapped.chip_pool, seeds[0], len(seeds))
    for name in weighting.policies:
        if name == "ppo":
            policy: Policy = make_policy("ppo", env, path=weighting.model, shield=weighting.shield)
        else:
            policy = make_policy(name, env, **weighting.heuristic_params.get(name, {}))
        records = []
        for seed, chip in zip(seeds, chips, strict=True):
            progress.set_description(f"{weighting.label} {name}")
            records.append(run_episode(env, policy, seed, chip=chip))
            progress.update()
        weighting.records[name] = records
    return env


# -- the comparison ------------------------------------------------------------------------------
def evaluate(args: EvaluationConfig) -> Path:
    """Run the comparison, write the results folder and return it."""
    weightings, run_config = plan(args)
    main = weightings[0]
    name = main.model.name if main.model is not None else main.env_kwargs["scenario"]
    out = args.out or Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seed, args.seed + args.episodes))
    total = sum(len(w.policies) for w in weightings) * len(seeds)
    start = time.perf_counter()
    with tqdm(total=total, unit="episode", disable=not args.progress) as progress:
        if args.workers > 0 and not describe(main.env_id).ray_episodes:
            raise ValueError(
                f"--workers runs {envs.ENV_ID} episodes only; drop it for {main.env_id}"
            )
        if args.workers > 0:
            from agents.distributed import run_weightings  # Ray only when asked (an optional extra)

            environments = run_weightings(weightings, seeds, args.workers, args.address, progress)
        else:
            environments = [run_weighting(weighting, seeds, progress) for weighting in weightings]
    write_results = describe(main.env_id).write_results
    if write_results is not None:  # HybridTraining-v0: its own tables and figures
        return write_results(args, weightings, environments, run_config, out, seeds, start)
    env = environments[0].unwrapped
    all_analog, cheapest = energy_floor(env)
    summary = [row for w in weightings for row in summary_rows(w, cheapest, seeds)]
    steps = [row for w in weightings for row in step_rows(w, env.layer_names)]
    records = next(iter(main.records.values()), [])
    fields = {
        "seeds": seeds,
        "chips": {str(r.seed): r.chip for r in records},
        "layers": list(env.layer_names),
        "times_s": env.times_s.tolist(),
        "all_analog_energy_ratio": all_analog,
        "cheapest_energy_ratio": cheapest,
    }
    write_tables(out, args, weightings, environments, run_config, summary, steps, fields, start)

    titles = task_titles(environments[0])
    weights = reward_weights(main.env_kwargs)
    subtitle = (
        f"{env.config['dataset']}, scenario {main.env_kwargs['scenario']}, "
        f"{len(seeds)} held-out chip episode{'s' * (len(seeds) > 1)}, "
        f"reward {weights_text(weights)}"
    )
    plot_pareto(out / "pareto.png", summary, titles, all_analog, subtitle)
    plot_placements(
        out / "placements.png",
        main.records,
        env.layer_names,
        env.times_s,
        titles,
        env.all_digital_accuracies,
        subtitle,
    )

    chips = [record.chip for record in records]
    print(
        f"\n{subtitle}\nseeds {seeds[0]}..{seeds[-1]} on held-out chips "
        f"{' '.join(map(str, chips))}, the same for every policy:"
    )
    if main.records:
        print(format_table([r for r in summary if r["weighting"] == MAIN]))
    swept = [
        dict(r, policy=f"{r['policy']} @ {r['weighting']}")
        for r in summary
        if r["weighting"] != MAIN
    ]
    if swept:
        print(f"\nsweep over {weightings[1].sweep_key}:")
        print(format_table(swept))
    print(
        f"energy floor: all-analog {all_analog:.3f}, cheapest placement {cheapest:.3f} "
        f"of all-digital; results in {out}/"
    )
    return out


# -- validation ------------------------------------------------------------------------------
def validate(folder: Path, progress: bool = True) -> int:
    """Replay ``folder/steps.csv`` in fresh environments; 0 if every reward matches, else 1."""
    summary_path, steps_path = folder / SUMMARY_FILE, folder / STEPS_FILE
    configurations = read_configurations(folder)
    rows = read_steps(folder)
    episodes: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for row in rows:
        episodes.setdefault((row["weighting"], row["policy"], row["episode"]), []).append(row)
    differences = []
    environments: dict[str, Any] = {}
    for (label, name, _), steps in tqdm(episodes.items(), desc="replaying", disable=not progress):
        if label not in configurations:
            raise ValueError(f"{steps_path} names weighting {label!r}, absent from {summary_path}")
        if label not in environments:
            environments[label] = make_env_from_config(
                {
                    "env": configurations[label]["env"],
                    "env_id": configurations[label].get("env_id", envs.ENV_ID),
                }
            )
        steps = sorted(steps, key=lambda row: int(row["step"]))
        actions = [[int(a) for a in row["action"].split()] for row in steps]
        rewards = replay_episode(
            environments[label], int(steps[0]["seed"]), int(steps[0]["chip"]), actions
        )
        for row, replayed in zip(steps, rewards, strict=True):
            recorded = float(row["reward"])
            if not abs(replayed - recorded) <= REWARD_TOLERANCE:
                differences.append((label, name, row["seed"], row["step"], recorded, replayed))
    if not differences:
        print(f"validated {len(episodes)} episodes, no differences")
        return 0
    print(f"{len(differences)} of {len(rows)} steps differ (tolerance {REWARD_TOLERANCE:g}):")
    for label, name, seed, step, recorded, replayed in differences:
        where = "" if label == MAIN else f" [{label}]"
        print(
            f"  policy {name}{where} seed {seed} step {step}: recorded {recorded!r}, "
            f"replayed {replayed!r}"
        )
    return 1
