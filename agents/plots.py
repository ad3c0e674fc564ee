"""The figures of a policy comparison: the accuracy-energy trade-off and where each layer ran.

Both read the rows and records :mod:`agents.comparison` produces and write PNG files; nothing
here runs an environment.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import Bbox

from agents.evaluation import EpisodeRecord
from envs.actions import ACTION_NAMES
from hybrid.units import time_label

matplotlib.use("Agg")  # figures go to files: no display needed

MAIN = "main"
"""Label of the main weighting (a sweep's are ``key=value``)."""
PLACEMENT_COLOURS = ("#4c72b0", "#f2a541", "#c44e52")
"""Digital, analog, analog+reprogram (the action codes 0, 1, 2)."""


def task_titles(env: Any) -> list[str]:
    """'task 1 (class)', 'task 2 (group)': the deployment's task names."""
    return [f"task {t + 1} ({name})" for t, name in enumerate(env.unwrapped.task_names)]


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
    records_by_policy: Mapping[str, Sequence[EpisodeRecord]],
    layer_names: Sequence[str],
    times_s: Sequence[float],
    titles: Sequence[str],
    digital_accuracies: Sequence[float],
    subtitle: str,
) -> None:
    """Per policy: where each layer ran at each step (majority over episodes), accuracy below."""
    names = list(records_by_policy)
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
        records = records_by_policy[name]
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
    episodes = len(next(iter(records_by_policy.values())))
    how = "majority over" if episodes > 1 else "placement in"
    fig.suptitle(
        f"Where each layer ran ({how} {episodes} episode{'s' * (episodes > 1)}; "
        f"accuracy: mean, band = min-max)\n{subtitle}",
        fontsize=11,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- partitioning during training (HybridTraining-v0) ----------------------------------------------
def plot_training_placements(
    path: Path,
    records_by_policy: Mapping[str, Sequence[EpisodeRecord]],
    layer_names: Sequence[str],
    step_labels: Sequence[str],
    titles: Sequence[str],
    digital_accuracies: Sequence[float],
    subtitle: str,
) -> None:
    """Per policy: where each layer trained at each step of the run (majority over episodes;
    the last column is also the deployed placement; ↺ marks a step most episodes rolled back)
    and, below, each task's accuracy of the deployed network at each deployment age (mean,
    band = min-max over episodes)."""
    names = list(records_by_policy)
    n_cols = min(len(names), min((4, 3), key=lambda c: -len(names) % c))
    n_rows = math.ceil(len(names) / n_cols)
    fig = plt.figure(figsize=(4.4 * n_cols, 4.6 * n_rows + 0.9), layout="constrained")
    cells = np.atleast_1d(fig.subfigures(n_rows, n_cols, wspace=0.02, hspace=0.04)).ravel()
    cmap = ListedColormap(PLACEMENT_COLOURS[:2])
    task_colours = plt.get_cmap("Dark2").colors
    for cell, name in zip(cells, names, strict=False):
        records = records_by_policy[name]
        top, bottom = cell.subplots(2, 1, height_ratios=[1.25, 1])
        analog = np.array([[step["analog"] for step in r.steps] for r in records], dtype=float)
        majority = (analog.mean(axis=0) > 0.5).T.astype(int)  # layers x steps
        top.imshow(majority, aspect="auto", cmap=cmap, vmin=-0.5, vmax=1.5, interpolation="nearest")
        steps = np.arange(len(step_labels))
        rollbacks = np.mean([[bool(s["rolled_back"]) for s in r.steps] for r in records], axis=0)
        labels = [
            f"{label} ↺" if back > 0.5 else label
            for label, back in zip(step_labels, rollbacks, strict=True)
        ]
        top.set_yticks(range(len(layer_names)), layer_names, fontsize=8)
        top.set_xticks(steps, labels, fontsize=8)
        top.set_xticks(steps - 0.5, minor=True)
        top.set_yticks(np.arange(len(layer_names)) - 0.5, minor=True)
        top.grid(which="minor", color="white", lw=0.6)
        top.tick_params(which="minor", length=0)
        top.set_xlabel("training step (the last one's placement is deployed)", fontsize=8)
        top.set_title(name, fontsize=11, fontweight="bold")
        ages = records[0].steps[-1]["deployment_ages_s"]
        accuracies = np.stack([np.array(r.steps[-1]["deployed_accuracies"]) for r in records])
        x = np.arange(len(ages))
        for task in range(len(titles)):
            colour = task_colours[task % len(task_colours)]
            bottom.plot(x, accuracies[:, :, task].mean(axis=0), marker="o", ms=3, color=colour)
            if len(records) > 1:
                bottom.fill_between(
                    x,
                    accuracies[:, :, task].min(axis=0),
                    accuracies[:, :, task].max(axis=0),
                    color=colour,
                    alpha=0.15,
                    lw=0,
                )
            bottom.axhline(digital_accuracies[task], color=colour, ls=":", lw=0.9)
        bottom.set_ylim(-0.02, 1.02)
        bottom.set_ylabel("deployed accuracy", fontsize=9)
        bottom.set_xticks(x, [time_label(a) for a in ages], fontsize=8)
        bottom.set_xlabel("deployment age", fontsize=9)
        bottom.grid(alpha=0.25)
    for cell in cells[len(names) :]:
        cell.set_facecolor("none")
    handles: list[Any] = [
        Patch(color=colour, label=f"trained {label}")
        for colour, label in zip(PLACEMENT_COLOURS[:2], ACTION_NAMES[:2], strict=True)
    ]
    handles.append(Line2D([], [], ls="none", marker="$↺$", color="0.2", label="step rolled back"))
    handles += [
        Line2D([], [], color=task_colours[t], marker="o", ms=3, label=f"{title} accuracy")
        for t, title in enumerate(titles)
    ]
    handles.append(Line2D([], [], color="0.3", ls=":", label="digital pretrained accuracy"))
    fig.legend(
        handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False
    )
    episodes = len(next(iter(records_by_policy.values())))
    fig.suptitle(
        f"Where each layer trained (majority over {episodes} episode"
        f"{'s' * (episodes > 1)}) and how the deployed network held up\n{subtitle}",
        fontsize=11,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- chips that differ ---------------------------------------------------------------------------
def plot_chip_placements(
    path: Path,
    policy: str,
    per_chip: Mapping[str, EpisodeRecord],
    schedule: EpisodeRecord,
    layer_names: Sequence[str],
    times_s: Sequence[float],
    titles: Sequence[str],
    digital_accuracies: Sequence[float],
    subtitle: str,
) -> None:
    """The placements ``policy`` chose on chips of different variation side by side (one panel
    per chip, keyed by a label naming the chip and its variation), against the clock rule's one
    placement (``schedule``: the same on every chip; shown with its accuracy on the first)."""
    records: dict[str, Sequence[EpisodeRecord]] = {
        f"{policy}\n{label}": [record] for label, record in per_chip.items()
    }
    records[f"schedule (the same on every chip)\nchip {schedule.chip}"] = [schedule]
    plot_placements(path, records, layer_names, times_s, titles, digital_accuracies, subtitle)
