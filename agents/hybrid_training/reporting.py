"""Summaries of training-time episodes (``HybridTraining-v0``) as table rows.

A training-time episode ends with a deployment, so its row reports what was deployed (the
inference energy of the final placement and each task's accuracy over the deployment ages)
beside what the training cost (its energy relative to training every layer digitally). Every
policy runs on the same seeds and chips (common random numbers), as ``agents.reporting`` does
for deployments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.base import Policy
from agents.evaluation import EpisodeRecord, run_episode
from agents.reporting import mean_ci95


def deployed_accuracies(record: EpisodeRecord) -> np.ndarray:
    """Accuracy per deployment age and task of the episode's deployed network, (ages, tasks)."""
    return np.array(record.steps[-1]["deployed_accuracies"])


def summarise_training(name: str, records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """One table row: return with its 95% CI, training energy relative to all-digital training,
    deployed inference energy relative to all-digital, each task's deployed accuracy (mean over
    the ages, and the worst age), analog layers deployed, rollbacks and wall time, averaged over
    episodes."""
    returns = [record.episode_return for record in records]
    mean_return, ci = mean_ci95(returns)
    accuracies = np.stack([deployed_accuracies(record) for record in records])  # ep, ages, tasks
    digital = np.array(records[0].steps[-1]["digital_accuracies"])
    row: dict[str, Any] = {
        "policy": name,
        "episodes": len(records),
        "return_mean": mean_return,
        "return_ci95": ci,
        "training_energy": float(np.mean([r.steps[-1]["training_energy_spent"] for r in records])),
        "energy_vs_digital": float(np.mean([r.steps[-1]["energy_ratio"] for r in records])),
        "analog_layers_deployed": float(np.mean([sum(r.steps[-1]["analog"]) for r in records])),
        "analog_layer_steps": float(
            np.mean([sum(sum(step["analog"]) for step in r.steps) for r in records])
        ),
        "rollbacks": float(
            np.mean([sum(bool(step["rolled_back"]) for step in r.steps) for r in records])
        ),
        "wall_s_per_episode": float(np.mean([r.wall_s for r in records])),
    }
    for task in range(accuracies.shape[2]):
        row[f"task{task + 1}_acc_mean"] = float(accuracies[:, :, task].mean())
        row[f"task{task + 1}_acc_worst"] = float(accuracies[:, :, task].min(axis=1).mean())
        row[f"task{task + 1}_acc_digital"] = float(digital[task])
    return row


def compare_training_policies(
    env: Any, policies: Mapping[str, Policy], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Run every policy on every seed; one summary row per policy."""
    rows = []
    for name, policy in policies.items():
        policy.bind(env)
        records = [run_episode(env, policy, seed) for seed in seeds]
        rows.append(summarise_training(name, records))
    return rows


def format_training_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A fixed-width text table of training summary rows."""
    n_tasks = sum(1 for key in rows[0] if key.endswith("_acc_mean"))
    header = ["policy", "return (95% CI)", "training energy", "deployed energy"]
    header += [f"task{t + 1} acc mean/worst age" for t in range(n_tasks)]
    header += ["analog deployed", "rollbacks", "s/episode"]
    lines = []
    for row in rows:
        cells = [
            str(row["policy"]),
            f"{row['return_mean']:.2f} ± {row['return_ci95']:.2f}",
            f"{row['training_energy']:.3f}",
            f"{row['energy_vs_digital']:.3f}",
        ]
        cells += [
            f"{row[f'task{t + 1}_acc_mean']:.3f} / {row[f'task{t + 1}_acc_worst']:.3f}"
            for t in range(n_tasks)
        ]
        cells += [
            f"{row['analog_layers_deployed']:.1f}",
            f"{row['rollbacks']:.1f}",
            f"{row['wall_s_per_episode']:.2f}",
        ]
        lines.append(cells)
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([render(header), render(["-" * w for w in widths]), *map(render, lines)])
