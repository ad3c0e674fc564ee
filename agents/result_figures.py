"""The figures drawn from the files under docs/results/ (``make figures``).

Kept apart from :mod:`agents.result_tables`: a PNG's bytes depend on the matplotlib version,
so ``make results`` (which must change no committed file on a clean checkout) leaves them
alone. ``python -m agents.result_figures`` redraws them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents import result_tables

TRAINING_FIGURE = "training/training-energy.png"
"""The training-time trade-off figure, relative to ``docs/results/``."""


def training_energy_figure(out: Path | None = None) -> Path:
    """Deployed accuracy against *training* energy for every ``HybridTraining-v0`` policy.

    One panel per task, from the 80-chip file; each training seed of the agent is its own mark.
    Policies are told apart by marker and colour in the legend (no text next to the marks, so
    no label can overlap another), and the legend lists only what is drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = "quality-imitate-80.json"
    data = result_tables._load(result_tables.RESULTS / "training" / name)
    runs = data["runs"]
    out = out or result_tables.RESULTS / TRAINING_FIGURE
    styles = {
        "all-digital-training": ("s", "tab:orange"),
        "all-analog-training": ("s", "tab:green"),
        "random-training": ("X", "tab:red"),
        "threshold-training": ("v", "tab:purple"),
        "lionheart-training": ("D", "tab:brown"),
    }
    seed_markers = ("o", "^", "P", "*", "h")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
    for task, (ax, label) in enumerate(
        zip(axes, ("task 1 (class)", "task 2 (group)"), strict=True)
    ):
        key = f"task{task + 1}_acc_mean"
        for policy, (marker, colour) in styles.items():
            row = next(r for r in runs[0]["rows"] if r["policy"] == policy)
            ax.scatter(
                row["training_energy"],
                row[key],
                marker=marker,
                s=70,
                color=colour,
                edgecolor="black",
                linewidth=0.6,
                label=policy,
                zorder=3,
            )
        for i, run in enumerate(runs):
            row = run["rows"][0]
            ax.scatter(
                row["training_energy"],
                row[key],
                marker=seed_markers[i % 5],
                s=80,
                color="tab:blue",
                edgecolor="black",
                linewidth=0.6,
                zorder=4,
                label=f"ppo, warm-started, seed {result_tables._seed_of(run['run'])}",
            )
        ax.set_xlabel("training energy / all-digital training (mean over chips)")
        ax.set_ylabel("deployed accuracy, mean over deployment ages")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    chips = runs[0]["chips"]
    fig.suptitle(
        f"HybridTraining-v0: deployed accuracy against training energy ({name}, "
        f"{len(chips)} held-out chips {min(chips)}-{max(chips)}, evaluation images)",
        fontsize=10,
    )
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out


def main() -> int:
    """Redraw every figure; print where."""
    print(f"drawn: {training_energy_figure()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
