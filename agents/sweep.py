"""Sweeps on Ray Tune: one agent per combination of options, each compared on held-out chips.

    python -m agents.sweep --seeds 0 1 --scenarios paper strong-drift --out runs/sweep
    python -m agents.sweep --reward-weights "" energy=2,task_loss=50 --grid gamma=0.5,0.8
    python -m agents.sweep --out runs/sweep      # again after Ctrl-C or a crash: resumes
    python -m agents.sweep --address auto ...    # on the cluster of `ray start --head`

Every combination of ``--datasets`` x ``--scenarios`` x ``--seeds`` x ``--reward-weights`` x
``--grid`` (any ``train_agent.py`` option) is one Ray Tune trial: it trains a normal run folder
(``OUT/runs/<trial>``, exactly what ``train_agent.py --out`` writes), then runs
``evaluate.py``'s comparison on it (``OUT/runs/<trial>/comparison``: the agent and every
heuristic on the same held-out chips, seeds ``0..episodes-1`` for every trial). The trials'
rows are gathered into one table, ``OUT/results.csv`` and ``OUT/results.json`` (one row per
trial and policy, with the paired difference ppo - policy), which is printed.

Faults, as Ray offers them: a trial whose worker dies is retried (``--max-failures``) and
continues its run folder from the newest checkpoint; a finished trial is never run again (its
``trial.json`` is its result), so nothing is lost or counted twice. Re-running the same command
resumes an interrupted sweep (Tune's ``Tuner.restore``). README, "Running on Ray (a cluster)".
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import envs
from agents.reporting import mean_ci95
from agents.run_folder import CONFIG_FILE, MODEL_FILE, read_run_config, write_json

SWEEP_FILE, RESULTS_STEM, TRIAL_FILE = "sweep.json", "results", "trial.json"
RUNS_DIR, TUNE_DIR, COMPARISON_DIR = "runs", "tune", "comparison"
SWEPT = ("dataset", "scenario", "seed", "reward_weights")
"""TrainConfig fields with their own sweep option; --grid takes any other."""
FIXED = ("out", "resume", "progress", "compare_episodes", "init_from", "timesteps", "n_envs")
"""TrainConfig fields a sweep sets itself (--timesteps and --n-envs apply to every trial)."""


@dataclass
class SweepConfig:
    """Train and compare one PPO agent per combination of options, as Ray Tune trials."""

    seeds: tuple[int, ...] = (0,)
    """training seeds"""
    scenarios: tuple[str, ...] = (envs.DEFAULT_SCENARIO,)
    """named scenarios"""
    datasets: tuple[str, ...] = ("digits",)
    """datasets (digits, digits32, cifar10)"""
    reward_weights: tuple[str, ...] = ("",)
    """reward weightings, e.g. '' (the defaults) energy=2,task_loss=50,reprogram=1"""
    grid: tuple[str, ...] = ()
    """more train_agent.py options to cross, each KEY=V1,V2 (e.g. gamma=0.5,0.8
    learning_rate=1e-3,3e-4; tuples as 64/64)"""
    timesteps: int | None = None
    """training steps of every trial (default: train_agent.py's)"""
    n_envs: int = 2
    """training environments (processes) of every trial"""
    episodes: int = 10
    """held-out chips of each trial's comparison (seeds 0..episodes-1, the same for all)"""
    policies: str = ""
    """policies of the comparison (comma-separated; empty: ppo and every heuristic)"""
    out: Path = Path("runs/sweep")
    """the sweep folder: runs/<trial>/, tune/, results.csv, results.json"""
    address: str | None = None
    """the Ray cluster (auto, HOST:PORT); None: RAY_ADDRESS or a local Ray"""
    num_cpus: int | None = None
    """CPUs of a local Ray (default: all); ignored with --address"""
    cpus_per_trial: float | None = None
    """CPUs Ray reserves for each trial (default: --n-envs)"""
    max_failures: int = 2
    """retries of a trial whose worker dies (it continues from its newest checkpoint)"""

    def sweep_options(self) -> dict[str, Any]:
        """The options that define the trials and their results (a resumed sweep must match)."""
        keys = ("seeds", "scenarios", "datasets", "reward_weights", "grid", "timesteps", "n_envs")
        return json.loads(
            json.dumps({k: getattr(self, k) for k in keys + ("episodes", "policies")})
        )


@dataclass(frozen=True)
class Trial:
    """One combination: its name (the run folder's) and its train_agent.py options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


# -- planning: every check that can fail runs before Ray starts ----------------------------------
def parse_grid(entries: Sequence[str]) -> dict[str, list[Any]]:
    """``["gamma=0.5,0.8"]`` -> ``{"gamma": [0.5, 0.8]}``, each value of its TrainConfig type."""
    from agents.training import TrainConfig

    defaults = TrainConfig()
    allowed = {f.name for f in dataclasses.fields(TrainConfig)} - set(SWEPT) - set(FIXED)
    grid: dict[str, list[Any]] = {}
    for entry in entries:
        key, _, raw = (part.strip() for part in entry.partition("="))
        key = key.replace("-", "_")
        if key not in allowed or not raw:
            hint = "use --seeds/--scenarios/--datasets/--reward-weights" if key in SWEPT else ""
            raise ValueError(
                f"--grid {entry!r} must be KEY=V1,V2 with KEY a train_agent.py option other than "
                f"{', '.join(SWEPT + FIXED)} {hint}".rstrip()
            )
        default = getattr(defaults, key)
        if default is None:  # an option whose default depends on the env: typed by annotation
            annotation = str(next(f.type for f in dataclasses.fields(TrainConfig) if f.name == key))
            default = 0.0 if "float" in annotation else 0 if "int" in annotation else ""
        grid[key] = [typed(key, value.strip(), default) for value in raw.split(",")]
    return grid


def typed(key: str, text: str, default: Any) -> Any:
    """``text`` as a value of the type of ``default`` (tuples written ``64/64``)."""
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if isinstance(default, tuple):
            return [json.loads(part) for part in text.split("/")]
        if isinstance(default, int | float):
            number = json.loads(text)
            if not isinstance(number, int | float) or isinstance(number, bool):
                raise ValueError
            if isinstance(default, float):
                return float(number)
            if number != int(number):
                raise ValueError
            return int(number)
        return text
    except (ValueError, json.JSONDecodeError):
        kind = type(default).__name__
        raise ValueError(
            f"--grid {key}={text!r}: expected type {kind} (like {default!r})"
        ) from None


def slug(text: str) -> str:
    """``text`` as a folder-name part."""
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_")


def plan(sweep: SweepConfig) -> list[Trial]:
    """The trials of ``sweep``, in a fixed order, each with a distinct name."""
    from envs.rewards import RewardWeights

    for scenario in sweep.scenarios:
        envs.get_scenario(scenario)  # an unknown scenario fails now, listing the known ones
    for weights in sweep.reward_weights:
        if weights:
            RewardWeights.parse(weights)
    if sweep.episodes < 1 or sweep.n_envs < 1 or sweep.max_failures < 0:
        raise ValueError("--episodes and --n-envs must be >= 1, --max-failures >= 0")
    if not (sweep.seeds and sweep.scenarios and sweep.datasets and sweep.reward_weights):
        raise ValueError("--seeds, --scenarios, --datasets and --reward-weights need a value each")
    grid = parse_grid(sweep.grid)
    out = sweep.out.resolve()
    trials = []
    combinations = itertools.product(
        sweep.datasets, sweep.scenarios, sweep.reward_weights, *grid.values(), sweep.seeds
    )
    for dataset, scenario, weights, *values, seed in combinations:
        overrides = dict(zip(grid, values, strict=True))
        parts = [dataset, scenario]
        parts += [slug(weights)] if weights else []
        parts += [
            f"{key}={'x'.join(map(str, v)) if isinstance(v, list) else v}"
            for key, v in overrides.items()
        ]
        name = slug("-".join(parts + [f"seed{seed}"]))
        options = dict(
            dataset=dataset,
            scenario=scenario,
            seed=int(seed),
            reward_weights=weights,
            n_envs=sweep.n_envs,
            timesteps=sweep.timesteps,
            **overrides,
        )
        trials.append(Trial(name, {**options, "out": str(out / RUNS_DIR / name)}))
    names = [trial.name for trial in trials]
    if len(set(names)) != len(names):
        raise ValueError("two trials share a name: list each seed, scenario and value once")
    return trials


# -- one trial (runs in a Ray worker) ------------------------------------------------------------
def train_config(options: dict[str, Any]) -> Any:
    """The TrainConfig of a trial's options (lists back to tuples, paths to Path)."""
    from agents.training import TrainConfig

    values = dict(options)
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = tuple(value)
    for key in ("out", "env_config"):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    return TrainConfig(**values, progress=False, compare_episodes=0)


def train_trial(options: dict[str, Any]) -> Path:
    """Train the trial's run folder, or finish it: a run a killed worker left behind resumes
    from its newest checkpoint, a finished one is kept."""
    from agents.run_folder import newest_checkpoint
    from agents.training import train

    config = train_config(options)
    out = config.run_dir
    if (out / CONFIG_FILE).exists():
        status = read_run_config(out).get("result", {}).get("status")
        if status == "finished" and (out / MODEL_FILE).exists():
            return out
        if newest_checkpoint(out) is not None:
            config = dataclasses.replace(config, resume=True)
    train(config)
    if read_run_config(out).get("result", {}).get("status") != "finished":
        raise RuntimeError(f"training of {out} was interrupted: the trial is retried or resumed")
    return out


def compare_trial(run: Path, episodes: int, policies: str) -> list[dict[str, Any]]:
    """``evaluate.py --model RUN --episodes N --seed 0`` into ``RUN/comparison``; one row per
    policy: its summary and the paired difference ppo - it over the same episodes."""
    from agents.comparison import EvaluationConfig, evaluate
    from agents.results import STEPS_FILE, SUMMARY_FILE

    folder = run / COMPARISON_DIR
    evaluate(
        EvaluationConfig(
            model=run, episodes=episodes, policies=policies, out=folder, progress=False
        )
    )
    rows = json.loads((folder / SUMMARY_FILE).read_text())["rows"]
    returns: dict[str, dict[int, float]] = {}
    with (folder / STEPS_FILE).open(newline="") as handle:
        for step in csv.DictReader(handle):
            episode = returns.setdefault(step["policy"], {})
            episode[int(step["episode"])] = episode.get(int(step["episode"]), 0.0) + float(
                step["reward"]
            )
    for row in rows:
        mine = returns[row["policy"]]
        if "ppo" in returns:
            diffs = [returns["ppo"][e] - mine[e] for e in sorted(mine)]
            row["ppo_minus"], row["ppo_minus_ci95"] = mean_ci95(diffs)
    return rows


def run_trial(config: dict[str, Any], episodes: int = 10, policies: str = "") -> None:
    """The Tune trainable: train, compare, write ``trial.json``, report the agent's return.
    A trial whose ``trial.json`` exists is done: its result is reported again, nothing re-run."""
    from ray import tune

    trial = Trial(**config["trial"])
    run = Path(trial.options["out"])
    result_path = run / TRIAL_FILE
    if result_path.exists():
        result = json.loads(result_path.read_text())
    else:
        train_trial(trial.options)
        rows = compare_trial(run, episodes, policies)
        result = {"trial": trial.name, "options": trial.options, "rows": rows}
        result["train"] = read_run_config(run).get("result", {})
        write_json(result_path, result)  # atomically: a trial is either done or not
    ppo = next((row for row in result["rows"] if row["policy"] == "ppo"), {})
    tune.report({"trial": trial.name, "ppo_return": ppo.get("return_mean", float("nan"))})


# -- the sweep -----------------------------------------------------------------------------------
def run_sweep(sweep: SweepConfig, trainable: Callable[..., None] = run_trial) -> Path:
    """Run (or resume) the sweep on Ray Tune, gather the table; returns ``OUT/results.csv``.
    ``trainable`` replaces :func:`run_trial` (tests: a trial that dies once)."""
    from agents.distributed import connect

    trials = plan(sweep)
    out = sweep.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    recorded = out / SWEEP_FILE
    if recorded.exists() and json.loads(recorded.read_text()) != sweep.sweep_options():
        raise ValueError(
            f"{out} holds another sweep ({recorded}): rerun it with the same options to resume, "
            "or pass another --out"
        )
    write_json(recorded, sweep.sweep_options())

    ray = connect(sweep.address, sweep.num_cpus, option="python -m agents.sweep")
    from ray import tune

    cpus = sweep.cpus_per_trial if sweep.cpus_per_trial is not None else float(sweep.n_envs)
    resources = tune.with_resources(
        tune.with_parameters(trainable, episodes=sweep.episodes, policies=sweep.policies),
        {"cpu": cpus},
    )
    del ray
    experiment = out / TUNE_DIR
    if tune.Tuner.can_restore(str(experiment)):
        print(f"resuming the sweep in {out}")
        tuner = tune.Tuner.restore(str(experiment), resources, resume_errored=True)
    else:
        tuner = tune.Tuner(
            resources,
            param_space={"trial": tune.grid_search([dataclasses.asdict(t) for t in trials])},
            tune_config=tune.TuneConfig(trial_dirname_creator=trial_dirname),
            run_config=tune.RunConfig(
                name=TUNE_DIR,
                storage_path=str(out),
                failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
                verbose=1,
            ),
        )
    try:
        grid = tuner.fit()
    except RuntimeError as error:  # Tune's controller gave up (e.g. a trial killed for memory)
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"the sweep stopped ({first[:200]}): rerun the same command to resume it"
        ) from None
    errors = [str(error).splitlines()[0] for error in grid.errors]
    path, missing = gather(out, trials)
    if missing:  # failed, or stopped by Ctrl-C (Tune stops the trials and returns)
        cause = f"first error: {errors[0][:200]}" if errors else "interrupted"
        raise ValueError(
            f"{len(missing)} of {len(trials)} trials did not finish ({cause}): rerun the same "
            "command to resume them; the finished ones are kept"
        )
    return path


def trial_dirname(trial: Any) -> str:
    """Tune's folder of a trial (under ``OUT/tune``): the trial's name, as its run folder's."""
    return str(trial.config["trial"]["name"])


def gather(out: Path, trials: Sequence[Trial]) -> tuple[Path, list[str]]:
    """``results.csv`` and ``results.json`` from the finished trials' ``trial.json``, printed;
    returns the table's path and the names of the trials not finished."""
    from agents.results import write_csv

    rows, missing = [], []
    for trial in trials:
        path = Path(trial.options["out"]) / TRIAL_FILE
        if not path.exists():
            missing.append(trial.name)
            continue
        result = json.loads(path.read_text())
        swept = {k: v for k, v in trial.options.items() if k not in ("out", "n_envs", "timesteps")}
        for row in result["rows"]:
            rows.append(
                {
                    "trial": trial.name,
                    **{
                        k: "/".join(map(str, v)) if isinstance(v, list) else v
                        for k, v in swept.items()
                    },
                    **row,
                    "train_wall_s": result["train"].get("train_wall_s"),
                    "run": trial.options["out"],
                }
            )
    if rows:
        write_csv(out / f"{RESULTS_STEM}.csv", rows)
    write_json(
        out / f"{RESULTS_STEM}.json",
        {"trials": [t.name for t in trials], "missing": missing, "rows": rows},
    )
    if rows:
        print(format_results(rows))
        print(f"table: {out / RESULTS_STEM}.csv and .json")
    if missing:
        print(f"{len(missing)} trials unfinished: {', '.join(missing)}")
    return out / f"{RESULTS_STEM}.csv", missing


def format_results(rows: Sequence[dict[str, Any]]) -> str:
    """One line per trial: the agent's return, and ppo - the best deployable heuristic (the one
    with the highest return among those that use no preview), paired over the same chips."""
    from agents.base import make_policy

    by_trial: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_trial.setdefault(row["trial"], []).append(row)
    privileged = {
        name
        for name in {r["policy"] for r in rows}
        if name != "ppo" and make_policy(name).uses_preview
    }
    header = [
        "trial",
        "ppo return",
        "best deployable rule",
        "ppo - it",
        "rules beaten",
        "ppo energy",
    ]
    lines = []
    for name, trial_rows in by_trial.items():
        ppo = next((r for r in trial_rows if r["policy"] == "ppo"), None)
        rules = [r for r in trial_rows if r["policy"] != "ppo" and r["policy"] not in privileged]
        if ppo is None or not rules:
            continue
        best = max(rules, key=lambda r: r["return_mean"])
        beaten = sum(r["ppo_minus"] - r["ppo_minus_ci95"] > 0 for r in rules)
        lines.append(
            [
                name,
                f"{ppo['return_mean']:.2f} ± {ppo['return_ci95']:.2f}",
                f"{best['policy']} {best['return_mean']:.2f}",
                f"{best['ppo_minus']:+.2f} ± {best['ppo_minus_ci95']:.2f}",
                f"{beaten}/{len(rules)}",
                f"{ppo['energy_vs_digital']:.3f}",
            ]
        )
    lines += summary_over_seeds(by_trial, privileged)
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    render = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([render(header), render(["-" * w for w in widths]), *map(render, lines)])


def summary_over_seeds(
    by_trial: dict[str, list[dict[str, Any]]], privileged: set[str]
) -> list[list[str]]:
    """One line per combination run with several seeds: the mean over seeds (± 95% CI over the
    seeds) of the agent's return and of ppo - the best deployable rule."""
    groups: dict[str, list[list[dict[str, Any]]]] = {}
    for name, trial_rows in by_trial.items():
        groups.setdefault(re.sub(r"-seed\d+$", "", name), []).append(trial_rows)
    lines = []
    for group, members in groups.items():
        if len(members) < 2:
            continue
        returns, margins, energies = [], [], []
        for trial_rows in members:
            ppo = next(r for r in trial_rows if r["policy"] == "ppo")
            rules = [r for r in trial_rows if r["policy"] not in privileged | {"ppo"}]
            returns.append(ppo["return_mean"])
            energies.append(ppo["energy_vs_digital"])
            margins.append(max(rules, key=lambda r: r["return_mean"])["ppo_minus"])
        mean, ci = mean_ci95(returns)
        margin, margin_ci = mean_ci95(margins)
        lines.append(
            [
                f"{group} ({len(members)} seeds)",
                f"{mean:.2f} ± {ci:.2f}",
                "",
                f"{margin:+.2f} ± {margin_ci:.2f}",
                "",
                f"{np.mean(energies):.3f}",
            ]
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and sweep; bad options exit with code 2 and one line."""
    import tyro

    from agents.cli import run_main

    config = tyro.cli(SweepConfig, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(
        lambda: run_sweep(config),
        f"interrupted: rerun the same command to resume the sweep in {config.out}",
    )


if __name__ == "__main__":
    sys.exit(main())
