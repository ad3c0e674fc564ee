"""Compare partitioning policies on the same held-out chips; save every step, plot, validate.

    python evaluate.py                                # newest run under runs/ vs every heuristic
    python evaluate.py --model runs/mine --episodes 10 --out results/mine
    python evaluate.py --policies greedy,oracle --scenario no-compensation
    python evaluate.py --sweep energy=0.5,1,2,4       # the heuristics under several weightings
    python evaluate.py --validate results/mine        # replay steps.csv, compare the rewards

Every policy runs on the same seeds and the same chips (common random numbers): distinct chips
the agents never saw in training (``agents.ppo.EVAL_CHIP_OFFSET``). The output folder gets
``summary.csv`` and ``summary.json`` (one row per policy and weighting, with the configuration
and seeds), ``steps.csv`` (one row per policy, episode and step: enough to rebuild any figure and
to replay the episodes with ``--validate``), ``pareto.png`` and ``placements.png``. Every option
is a field of :class:`Args` below (its docstring is the ``--help`` text).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import tyro
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import Bbox
from tqdm import tqdm

import agents
import envs
from agents.evaluation import EpisodeRecord, replay_episode
from agents.ppo import (
    EVAL_CHIP_OFFSET,
    MODEL_FILE,
    RunFolderError,
    env_kwargs_from_config,
    make_env_from_config,
    read_run_config,
    resolve_run,
)
from agents.reporting import format_table, summarise
from envs.partition_env import ACTION_NAMES
from envs.rewards import DEFAULT_REWARD_WEIGHTS, RewardWeights, resolve_reward

matplotlib.use("Agg")  # figures go to files: no display needed

REWARD_TOLERANCE = 1e-9
"""Largest |recorded - replayed| reward that ``--validate`` accepts."""
SWEEP_KEYS = ("energy", "task_loss", "reprogram")
"""Reward weights ``--sweep`` can vary (the numeric ones of ``RewardWeights``)."""
MAIN = "main"
"""Label of the main weighting (the sweep's are ``key=value``)."""
PLACEMENT_COLOURS = ("#4c72b0", "#f2a541", "#c44e52")
"""Digital, analog, analog+reprogram (the action codes 0, 1, 2)."""
SUMMARY_FILE, STEPS_FILE = "summary.json", "steps.csv"


@dataclass
class Args:
    """Compare partitioning policies (PPO and heuristics) on the same held-out chips."""

    model: Path | None = None
    """trained run folder or its model.zip; None: the newest run under --runs-dir"""
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


@dataclass
class Weighting:
    """One reward weighting to evaluate: the environment, the policies and the PPO run."""

    label: str
    env_kwargs: dict[str, Any]
    policies: list[str]
    model: Path | None = None
    sweep_key: str = ""
    sweep_value: float | None = None
    records: dict[str, list[EpisodeRecord]] = field(default_factory=dict)


# -- planning: every check that can fail runs before any environment is built ------------------
def newest_run(runs_dir: Path) -> Path | None:
    """The run folder under ``runs_dir`` whose model.zip was written last (None if none)."""
    models = [path for path in runs_dir.rglob(MODEL_FILE) if path.is_file()]
    return max(models, key=lambda path: path.stat().st_mtime).parent if models else None


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """``"energy=0.5,1,2"`` -> ``("energy", [0.5, 1.0, 2.0])``, or a one-line ValueError."""
    key, _, raw = (part.strip() for part in text.partition("="))
    if key not in SWEEP_KEYS or not raw:
        raise ValueError(
            f"--sweep {text!r} must be KEY=V1,V2,... with KEY one of {', '.join(SWEEP_KEYS)}"
        )
    try:
        values = [float(value) for value in raw.split(",") if value.strip()]
    except ValueError:
        raise ValueError(f"--sweep {text!r}: the values must be numbers") from None
    if len(set(values)) != len(values):
        raise ValueError(f"--sweep {text!r}: list each value once")
    return key, values


def weights_text(weights: RewardWeights) -> str:
    """The ``--reward-weights`` string of ``weights`` (task weights and metric only if unusual)."""
    text = f"energy={weights.energy:g},task_loss={weights.task_loss:g}"
    text += f",reprogram={weights.reprogram:g}"
    if tuple(weights.task_weights) != DEFAULT_REWARD_WEIGHTS.task_weights:
        text += ",task_weights=" + "/".join(f"{w:g}" for w in weights.task_weights)
    if weights.task_metric != DEFAULT_REWARD_WEIGHTS.task_metric:
        text += f",task_metric={weights.task_metric}"
    return text


def check_run(path: Path) -> Path:
    """The run folder of ``path`` after checking it loads (one-line RunFolderError if not)."""
    folder, _ = resolve_run(path)
    read_run_config(folder)
    agents.load_agent(folder)  # a corrupt archive fails here, before any simulation
    return folder


def plan(args: Args) -> tuple[list[Weighting], dict[str, Any]]:
    """The weightings to evaluate and the run configuration (empty without a run)."""
    if args.episodes < 1:
        raise ValueError("--episodes must be at least 1")
    known = list(agents.policy_names())
    requested = [name.strip() for name in args.policies.split(",") if name.strip()]
    for name in requested:
        if name not in known:
            raise ValueError(f"unknown policy {name!r}: choose from {', '.join(known)}")

    model = args.model
    if model is None and (not requested or "ppo" in requested):
        model = newest_run(args.runs_dir)
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
    for key in ("dataset", "scenario"):
        value = getattr(args, key)
        if value is not None:
            if model is not None and kwargs.get(key) not in (None, value):
                print(
                    f"note: run {model} was trained with {key} {kwargs[key]!r}; "
                    f"evaluating it on {value!r}"
                )
            kwargs[key] = value
    kwargs.setdefault("dataset", "digits")
    kwargs.setdefault("scenario", envs.DEFAULT_SCENARIO)
    envs.get_scenario(kwargs["scenario"])  # an unknown scenario fails now, listing the known
    kwargs["chip_offset"] = EVAL_CHIP_OFFSET
    if args.reward_weights:
        kwargs["reward"] = RewardWeights.parse(args.reward_weights).to_dict()

    heuristics = [name for name in requested or known if name != "ppo"]
    policies = ["ppo"] if model is not None and "ppo" in (requested or ["ppo"]) else []
    weightings = [Weighting(MAIN, kwargs, policies + heuristics, model)]

    if args.sweep:
        key, values = parse_sweep(args.sweep)
        sweep_models = [Path(p.strip()) for p in args.sweep_models.split(",") if p.strip()]
        if sweep_models and len(sweep_models) != len(values):
            raise ValueError(
                f"--sweep-models lists {len(sweep_models)} runs for {len(values)} --sweep "
                "values: give one run per value, in the same order"
            )
        base = resolve_reward(kwargs.get("reward"))[1] or DEFAULT_REWARD_WEIGHTS
        for index, value in enumerate(values):
            weights = RewardWeights.from_dict({**base.to_dict(), key: value})
            sweep_model = check_run(sweep_models[index]) if sweep_models else None
            weightings.append(
                Weighting(
                    f"{key}={value:g}",
                    {**kwargs, "reward": weights.to_dict()},
                    (["ppo"] if sweep_model else []) + heuristics,
                    sweep_model,
                    key,
                    value,
                )
            )
    return weightings, run_config


# -- running -----------------------------------------------------------------------------------
def episode_chips(env: Any, seed: int, episodes: int) -> list[int]:
    """The chip of each episode: distinct chips of the environment's (held-out) pool, in an
    order drawn from ``seed``, cycling only when there are more episodes than chips."""
    unwrapped = env.unwrapped
    order = np.random.default_rng(seed).permutation(unwrapped.chip_pool)
    return [unwrapped.chip_offset + int(order[i % unwrapped.chip_pool]) for i in range(episodes)]


def run_weighting(weighting: Weighting, seeds: Sequence[int], progress: tqdm) -> Any:
    """Run every policy of ``weighting`` on every seed in one environment; returns the env."""
    env = make_env_from_config({"env": weighting.env_kwargs})
    chips = episode_chips(env, seeds[0], len(seeds))
    for name in weighting.policies:
        if name == "ppo":
            policy: agents.Policy = agents.make_policy("ppo", env, path=weighting.model)
        else:
            policy = agents.make_policy(name, env)
        records = []
        for seed, chip in zip(seeds, chips, strict=True):
            progress.set_description(f"{weighting.label} {name}")
            records.append(agents.run_episode(env, policy, seed, chip=chip))
            progress.update()
        weighting.records[name] = records
    return env


def energy_floor(env: Any) -> tuple[float, float]:
    """Energy per inference relative to all-digital: (all-analog, cheapest placement)."""
    unwrapped = env.unwrapped

    def ratio(placement: Sequence[bool]) -> float:
        return unwrapped.cost_ratios(np.asarray(placement, dtype=int))[0]

    all_analog = ratio([True] * unwrapped.n_layers)
    if unwrapped.n_layers > 12:  # 4096 placements is plenty; beyond, all-analog stands in
        return all_analog, all_analog
    cheapest = min(ratio(p) for p in itertools.product([False, True], repeat=unwrapped.n_layers))
    return all_analog, cheapest


def step_rows(weighting: Weighting, layer_names: Sequence[str]) -> list[dict[str, Any]]:
    """One ``steps.csv`` row per policy, episode and step."""
    rows = []
    for name, records in weighting.records.items():
        for episode, record in enumerate(records):
            for step in record.steps:
                row: dict[str, Any] = {
                    "weighting": weighting.label,
                    "policy": name,
                    "episode": episode,
                    "seed": record.seed,
                    "chip": record.chip,
                    "step": step["step"],
                    "time_s": step["time_s"],
                }
                row.update(zip(layer_names, step["placement"], strict=True))
                row["action"] = " ".join(str(int(a)) for a in step["action"])
                for task, accuracy in enumerate(step["accuracies"]):
                    row[f"task{task + 1}_acc"] = accuracy
                for task, loss in enumerate(step["losses"]):
                    row[f"task{task + 1}_loss"] = loss
                row["energy_ratio"] = step["energy_ratio"]
                row["energy_pj"] = step["energy_pj"]
                row["reprogram_energy_pj"] = step["reprogram_energy_pj"]
                row["n_reprogrammed"] = step["n_reprogrammed"]
                row["reward"] = step["reward"]
                rows.append(row)
    return rows


def summary_rows(weighting: Weighting, floor: float, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One ``summary.csv`` row per policy: reporting.summarise plus the configuration."""
    kwargs = weighting.env_kwargs
    weights = resolve_reward(kwargs.get("reward"))[1] or DEFAULT_REWARD_WEIGHTS
    rows = []
    for name, records in weighting.records.items():
        row = {
            "weighting": weighting.label,
            "sweep_key": weighting.sweep_key,
            "sweep_value": "" if weighting.sweep_value is None else weighting.sweep_value,
            **summarise(name, records),
        }
        # Share of the largest saving any placement could give (REFERENCE.md section 4).
        row["saving_of_ceiling"] = (1.0 - row["energy_vs_digital"]) / (1.0 - floor)
        row.update(
            reward_weights=weights_text(weights),
            scenario=kwargs["scenario"],
            dataset=kwargs["dataset"],
            chip_offset=kwargs["chip_offset"],
            seeds=" ".join(str(s) for s in seeds),
            chips=" ".join(str(r.chip) for r in records),
            model=str(weighting.model) if name == "ppo" else "",
        )
        rows.append(row)
    return rows


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows as CSV; the header is the union of the keys in first-seen order."""
    header = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


# -- figures -----------------------------------------------------------------------------------
def time_label(seconds: float) -> str:
    """A short human label for a deployment time: 1s, 9min, 3h, 16d, 1y."""
    for unit, size in (("y", 3.15e7), ("d", 86_400.0), ("h", 3_600.0), ("min", 60.0)):
        if seconds >= size * 0.999:
            return f"{seconds / size:.2g}{unit}".replace("e+0", "e")
    return f"{seconds:.2g}s"


def task_titles(env: Any) -> list[str]:
    """'task 1 (class)', 'task 2 (group)': the model's task names where it has them."""
    n_tasks = env.unwrapped.n_tasks
    names = getattr(env.unwrapped.model, "task_names", ())
    return [
        f"task {t + 1} ({names[t]})" if t < len(names) else f"task {t + 1}" for t in range(n_tasks)
    ]


def policy_colours(names: Sequence[str]) -> dict[str, Any]:
    """One colour per policy name, stable across figures."""
    tab10 = plt.get_cmap("tab10").colors
    palette = [*tab10[:7], *tab10[8:], "#1b1b6f", "#7a4b00"]  # no grey: the guides are grey
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def plot_pareto(
    path: Path,
    rows: Sequence[Mapping[str, Any]],
    titles: Sequence[str],
    all_analog_energy: float,
    subtitle: str,
) -> None:
    """Energy relative to all-digital against mean accuracy, one subplot per task; sweep points
    share their policy's colour and take one marker per weight value."""
    main = [row for row in rows if row["weighting"] == MAIN]
    swept = [row for row in rows if row["weighting"] != MAIN]
    colours = policy_colours(list(dict.fromkeys(row["policy"] for row in rows)))
    markers = dict(
        zip(
            dict.fromkeys(row["sweep_value"] for row in swept),
            itertools.cycle("^sDvP<>Xp"),
            strict=False,
        )
    )
    evaluated = {row["policy"] for row in main}
    fig, axes = plt.subplots(
        1, len(titles), figsize=(6.4 * len(titles), 5.4), squeeze=False, layout="constrained"
    )
    for task, ax in enumerate(axes[0]):
        key = f"task{task + 1}_acc_mean"
        digital = rows[0][f"task{task + 1}_acc_digital"]
        ax.axvline(1.0, color="0.45", ls="--", lw=1)
        ax.axvline(all_analog_energy, color="0.45", ls=":", lw=1.2)
        ax.axhline(digital, color="0.65", lw=0.8, zorder=0)
        if "all-digital" not in evaluated:
            ax.plot([1.0], [digital], marker="*", ms=16, color="0.3", ls="none", zorder=4)
        for name in dict.fromkeys(row["policy"] for row in swept):
            points = sorted(
                (row["sweep_value"], row["energy_vs_digital"], row[key])
                for row in swept
                if row["policy"] == name
            )
            ax.plot(
                [p[1] for p in points],
                [p[2] for p in points],
                color=colours[name],
                lw=0.8,
                alpha=0.45,
                zorder=1,
            )
            for value, energy, accuracy in points:
                ax.scatter(
                    energy,
                    accuracy,
                    marker=markers[value],
                    s=40,
                    color=colours[name],
                    edgecolor="white",
                    linewidth=0.5,
                    alpha=0.9,
                    zorder=2,
                )
        for row in main:
            corner = row["policy"] in ("all-digital", "all-analog")
            ax.scatter(
                row["energy_vs_digital"],
                row[key],
                s=95 if corner else 75,
                marker="s" if corner else "o",
                color=colours[row["policy"]],
                edgecolor="black",
                linewidth=0.8,
                zorder=3,
            )
        ax.set_title(f"{titles[task]}: accuracy vs energy")
        ax.set_xlabel("energy per inference / all-digital (mean over deployment)")
        ax.set_ylabel("accuracy (mean over deployment)")
        ax.grid(alpha=0.25)
        low, high = ax.get_xlim()
        ax.set_xlim(min(low, all_analog_energy - 0.06), max(high, 1.12))
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.04 * (high - low))  # room for labels at the top
    guides = [
        Line2D([], [], color="0.45", ls="--", label="all-digital corner (energy 1)"),
        Line2D(
            [],
            [],
            color="0.45",
            ls=":",
            lw=1.2,
            label=f"all-analog corner (energy {all_analog_energy:.2f})",
        ),
        Line2D([], [], color="0.65", label="all-digital accuracy"),
        Line2D([], [], marker="s", ls="none", color="0.6", mec="black", label="corner policies"),
    ]
    if "all-digital" not in evaluated:
        guides.append(
            Line2D([], [], marker="*", ms=12, ls="none", color="0.3", label="all-digital corner")
        )
    guides += [
        Line2D(
            [],
            [],
            marker=marker,
            ls="none",
            color="0.5",
            label=f"{swept[0]['sweep_key']}={value:g}",
        )
        for value, marker in markers.items()
    ]
    axes[0][-1].legend(
        handles=guides,
        fontsize=8,
        loc="lower right",
        framealpha=0.9,
        title="sweep: colour = policy, marker = weight" if swept else None,
        title_fontsize=8,
    )
    fig.suptitle(f"Accuracy-energy trade-off per policy\n{subtitle}", fontsize=11)
    fig.canvas.draw()  # fix the layout, then place labels where they overlap nothing
    fig.set_layout_engine("none")
    for task, ax in enumerate(axes[0]):
        points = [(row["energy_vs_digital"], row[f"task{task + 1}_acc_mean"]) for row in main]
        others = [(row["energy_vs_digital"], row[f"task{task + 1}_acc_mean"]) for row in swept]
        label_points(
            ax,
            points,
            [row["policy"] for row in main],
            [colours[row["policy"]] for row in main],
            avoid=others,
        )
    fig.savefig(path, dpi=130)
    plt.close(fig)


def label_points(
    ax: Any,
    points: Sequence[tuple[float, float]],
    labels: Sequence[str],
    colours: Sequence[Any],
    avoid: Sequence[tuple[float, float]] = (),
) -> None:
    """Annotate each point with the first nearby position that overlaps no other label, no
    point (of ``points`` or ``avoid``), no legend and stays inside the axes."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pixels = ax.transData.transform(np.asarray(points, dtype=float))
    radius = 7.0  # marker half-size, pixels
    obstacles = [
        Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)
        for x, y in [*pixels, *ax.transData.transform(np.asarray(avoid, float).reshape(-1, 2))]
    ]
    legend = ax.get_legend()
    if legend is not None:
        obstacles.append(legend.get_window_extent(renderer))
    candidates = [(dx, dy) for dy in (0, 10, -10, 20, -20, 30, -30) for dx in (9, -9)]
    for index in np.argsort(-pixels[:, 1]):  # top first: the crowded corner is the good one
        for dx, dy in candidates:
            text = ax.annotate(
                labels[index],
                points[index],
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx > 0 else "right",
                va="center",
                fontsize=9,
                fontweight="bold",
                color=colours[index],
            )
            box = text.get_window_extent(renderer)
            inside = (
                frame.containsx(box.x0)
                and frame.containsx(box.x1)
                and frame.containsy(box.y0)
                and frame.containsy(box.y1)
            )
            if inside and not any(box.overlaps(other) for other in obstacles):
                break
            text.remove()
        else:  # nowhere free: fall back to the first choice
            text = ax.annotate(
                labels[index],
                points[index],
                xytext=candidates[0],
                textcoords="offset points",
                va="center",
                fontsize=9,
                fontweight="bold",
                color=colours[index],
            )
            box = text.get_window_extent(renderer)
        obstacles.append(box)


def majority_placement(records: Sequence[EpisodeRecord]) -> np.ndarray:
    """Placement codes (layers x steps) most frequent over the episodes (ties: lowest code)."""
    codes = np.array([[step["action"] for step in record.steps] for record in records])
    counts = np.stack([(codes == code).sum(axis=0) for code in range(len(ACTION_NAMES))])
    return counts.argmax(axis=0).T


def plot_placements(
    path: Path,
    weighting: Weighting,
    layer_names: Sequence[str],
    times_s: Sequence[float],
    titles: Sequence[str],
    digital_accuracies: Sequence[float],
    subtitle: str,
) -> None:
    """Per policy: where each layer ran at each step (majority over episodes), accuracy below."""
    names = list(weighting.records)
    # Three or four columns, whichever leaves fewer empty cells (ties: four).
    n_cols = min(len(names), min((4, 3), key=lambda c: -len(names) % c))
    n_rows = math.ceil(len(names) / n_cols)
    fig = plt.figure(figsize=(4.4 * n_cols, 4.6 * n_rows + 0.9), layout="constrained")
    cells = np.atleast_1d(fig.subfigures(n_rows, n_cols, wspace=0.02, hspace=0.04)).ravel()
    cmap = ListedColormap(PLACEMENT_COLOURS)
    steps = np.arange(len(times_s))
    labels = [time_label(t) for t in times_s]
    tick_steps = steps if len(steps) <= 12 else steps[:: math.ceil(len(steps) / 12)]
    task_colours = plt.get_cmap("Dark2").colors
    for cell, name in zip(cells, names, strict=False):
        records = weighting.records[name]
        top, bottom = cell.subplots(2, 1, sharex=True, height_ratios=[1.25, 1])
        top.imshow(
            majority_placement(records),
            aspect="auto",
            cmap=cmap,
            vmin=-0.5,
            vmax=2.5,
            interpolation="nearest",
        )
        top.set_yticks(range(len(layer_names)), layer_names, fontsize=8)
        top.set_xticks(steps - 0.5, minor=True)
        top.set_yticks(np.arange(len(layer_names)) - 0.5, minor=True)
        top.grid(which="minor", color="white", lw=0.6)
        top.tick_params(which="minor", length=0)
        top.set_title(name, fontsize=11, fontweight="bold")
        accuracies = np.stack([record.accuracies for record in records])  # episodes, steps, tasks
        for task, title in enumerate(titles):
            colour = task_colours[task % len(task_colours)]
            mean = accuracies[:, :, task].mean(axis=0)
            bottom.plot(steps, mean, marker="o", ms=3, color=colour, label=title)
            if len(records) > 1:
                bottom.fill_between(
                    steps,
                    accuracies[:, :, task].min(axis=0),
                    accuracies[:, :, task].max(axis=0),
                    color=colour,
                    alpha=0.15,
                    lw=0,
                )
            bottom.axhline(digital_accuracies[task], color=colour, ls=":", lw=0.9)
        bottom.set_ylim(-0.02, 1.02)
        bottom.set_ylabel("accuracy", fontsize=9)
        bottom.set_xticks(tick_steps, [labels[i] for i in tick_steps], rotation=45, fontsize=8)
        bottom.set_xlabel("deployment time (end of step)", fontsize=9)
        bottom.grid(alpha=0.25)
    for cell in cells[len(names) :]:
        cell.set_facecolor("none")
    handles: list[Any] = [
        Patch(color=colour, label=name)
        for colour, name in zip(PLACEMENT_COLOURS, ACTION_NAMES, strict=True)
    ]
    handles += [
        Line2D([], [], color=task_colours[t], marker="o", ms=3, label=f"{title} accuracy")
        for t, title in enumerate(titles)
    ]
    handles.append(Line2D([], [], color="0.3", ls=":", label="all-digital accuracy"))
    fig.legend(
        handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False
    )
    episodes = len(next(iter(weighting.records.values())))
    how = "majority over" if episodes > 1 else "placement in"
    fig.suptitle(
        f"Where each layer ran ({how} {episodes} episode{'s' * (episodes > 1)}; "
        f"accuracy: mean, band = min-max)\n{subtitle}",
        fontsize=11,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- validation --------------------------------------------------------------------------------
def validate(folder: Path, progress: bool = True) -> int:
    """Replay ``folder/steps.csv`` in fresh environments; 0 if every reward matches, else 1."""
    summary_path, steps_path = folder / SUMMARY_FILE, folder / STEPS_FILE
    for path in (summary_path, steps_path):
        if not path.exists():
            raise ValueError(
                f"{path} is missing: write it with `python evaluate.py --out {folder}`"
            )
    try:
        configurations = json.loads(summary_path.read_text())["configurations"]
    except (json.JSONDecodeError, KeyError):
        raise ValueError(
            f"{summary_path} is not an evaluate.py summary: re-run the evaluation"
        ) from None
    with steps_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    episodes: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for row in rows:
        episodes.setdefault((row["weighting"], row["policy"], row["episode"]), []).append(row)
    differences = []
    environments: dict[str, Any] = {}
    for (label, name, _), steps in tqdm(episodes.items(), desc="replaying", disable=not progress):
        if label not in configurations:
            raise ValueError(f"{steps_path} names weighting {label!r}, absent from {summary_path}")
        if label not in environments:
            environments[label] = make_env_from_config({"env": configurations[label]["env"]})
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


# -- the script --------------------------------------------------------------------------------
def evaluate(args: Args) -> Path:
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
        environments = [run_weighting(weighting, seeds, progress) for weighting in weightings]
    env = environments[0].unwrapped
    all_analog, cheapest = energy_floor(env)
    summary = [row for w in weightings for row in summary_rows(w, cheapest, seeds)]
    steps = [row for w in weightings for row in step_rows(w, env.layer_names)]
    write_csv(out / "summary.csv", summary)
    write_csv(out / STEPS_FILE, steps)
    (out / SUMMARY_FILE).write_text(
        json.dumps(
            {
                "created": datetime.now().isoformat(timespec="seconds"),
                "args": json.loads(json.dumps(dataclasses.asdict(args), default=str)),
                "seeds": seeds,
                "chips": {str(r.seed): r.chip for r in next(iter(main.records.values()), [])},
                "layers": list(env.layer_names),
                "times_s": env.times_s.tolist(),
                "all_analog_energy_ratio": all_analog,
                "cheapest_energy_ratio": cheapest,
                "configurations": {
                    w.label: {
                        "env": w.env_kwargs,
                        "env_resolved": e.unwrapped.config,
                        "policies": w.policies,
                        "model": None if w.model is None else str(w.model),
                    }
                    for w, e in zip(weightings, environments, strict=True)
                },
                "run_config": run_config,
                "rows": summary,
                "wall_s": round(time.perf_counter() - start, 1),
            },
            indent=2,
            default=str,
        )
    )

    titles = task_titles(environments[0])
    weights = resolve_reward(main.env_kwargs.get("reward"))[1] or DEFAULT_REWARD_WEIGHTS
    subtitle = (
        f"{main.env_kwargs['dataset']}, scenario {main.env_kwargs['scenario']}, "
        f"{len(seeds)} held-out chip episode{'s' * (len(seeds) > 1)}, "
        f"reward {weights_text(weights)}"
    )
    plot_pareto(out / "pareto.png", summary, titles, all_analog, subtitle)
    plot_placements(
        out / "placements.png",
        main,
        env.layer_names,
        env.times_s,
        titles,
        env.all_digital_accuracies,
        subtitle,
    )

    chips = [record.chip for record in next(iter(main.records.values()), [])]
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


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and evaluate (or validate); configuration errors exit 2."""
    args = tyro.cli(Args, args=argv, description=__doc__.split("\n\n")[0])
    try:
        if args.validate is not None:
            return validate(args.validate, args.progress)
        evaluate(args)
        return 0
    except (RunFolderError, ValueError) as error:  # one line with the fix, no traceback
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: nothing written for the unfinished evaluation", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
