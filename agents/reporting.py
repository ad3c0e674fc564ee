"""Compare policies on the same episodes and summarise them as table rows.

Every policy runs on the same seeds, hence the same chips (common random numbers), so
differences between rows are differences between policies, not between noise draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from agents.base import Policy
from agents.evaluation import EpisodeRecord, run_episode


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval (Student t; 0 for one value)."""
    array = np.asarray(values, dtype=float)
    if array.size < 2:
        return float(array.mean()) if array.size else float("nan"), 0.0
    half = stats.t.ppf(0.975, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size)
    return float(array.mean()), float(half)


def paired_ci95(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mean and 95% CI half-width of the per-episode difference ``a - b`` (same chips)."""
    return mean_ci95([x - y for x, y in zip(a, b, strict=True)])


def beyond_ci(margin: tuple[float, float]) -> bool:
    """Whether a paired difference (mean, 95% CI half-width) is positive beyond its CI."""
    return margin[0] - margin[1] > 0


def pool_seeds(
    agent_runs: Sequence[Sequence[float]], rivals: Mapping[str, Sequence[float]]
) -> dict[str, Any]:
    """Training seeds of one method pooled against rivals on the same episodes (chips): per
    episode the agent's return averaged over the seeds, its mean with the 95% CI over episodes,
    the paired margin against each rival (the training seed counts as part of the method), and
    how many seeds beat each rival beyond the CI on their own."""
    agent = list(np.mean(np.asarray(agent_runs, dtype=float), axis=0))
    margins = {name: paired_ci95(agent, values) for name, values in rivals.items()}
    alone = {
        name: sum(beyond_ci(paired_ci95(run, values)) for run in agent_runs)
        for name, values in rivals.items()
    }
    return {
        "seeds": len(agent_runs),
        "agent": mean_ci95(agent),
        "margins": margins,
        "seeds_beyond_ci": alone,
    }


def summarise(name: str, records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """One table row: return with CI, energy relative to all-digital, accuracy per task (mean
    over the deployment and worst step), reprogrammings and wall time, averaged over episodes."""
    returns = [record.episode_return for record in records]
    mean_return, ci = mean_ci95(returns)
    accuracies = np.stack([record.accuracies for record in records])  # episodes, steps, tasks
    digital = np.array(records[0].steps[0]["digital_accuracies"])
    row: dict[str, Any] = {
        "policy": name,
        "episodes": len(records),
        "return_mean": mean_return,
        "return_ci95": ci,
        "energy_vs_digital": float(np.mean([r.mean_energy_ratio for r in records])),
        "reprogrammings": float(np.mean([r.n_reprogrammed for r in records])),
        "wall_s_per_episode": float(np.mean([r.wall_s for r in records])),
    }
    if "served_energy_pj" in records[0].steps[0]:
        # A request stream: energy actually spent (programming included) per request served.
        row["served_energy_vs_digital"] = float(
            np.mean([served_energy_ratio(record) for record in records])
        )
    for task in range(accuracies.shape[2]):
        row[f"task{task + 1}_acc_mean"] = float(accuracies[:, :, task].mean())
        row[f"task{task + 1}_acc_worst"] = float(accuracies[:, :, task].min(axis=1).mean())
        row[f"task{task + 1}_acc_digital"] = float(digital[task])
    return row


def served_energy_ratio(record: EpisodeRecord) -> float:
    """A streaming episode's energy, programming included, over serving the same requests all
    digitally."""
    spent = sum(step["served_energy_pj"] for step in record.steps)
    return spent / sum(step["served_digital_energy_pj"] for step in record.steps)


def compare_policies(
    env: Any, policies: Mapping[str, Policy], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Run every policy on every seed; one summary row per policy."""
    rows = []
    for name, policy in policies.items():
        policy.bind(env)
        records = [run_episode(env, policy, seed) for seed in seeds]
        rows.append(summarise(name, records))
    return rows


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A fixed-width text table of summary rows."""
    n_tasks = sum(1 for key in rows[0] if key.endswith("_acc_mean"))
    header = ["policy", "return (95% CI)", "energy/digital"]
    header += [f"task{t + 1} acc mean/worst" for t in range(n_tasks)]
    header += ["reprog", "s/episode"]
    lines = []
    for row in rows:
        cells = [
            str(row["policy"]),
            f"{row['return_mean']:.2f} ± {row['return_ci95']:.2f}",
            f"{row['energy_vs_digital']:.3f}",
        ]
        cells += [
            f"{row[f'task{t + 1}_acc_mean']:.3f} / {row[f'task{t + 1}_acc_worst']:.3f}"
            for t in range(n_tasks)
        ]
        cells += [f"{row['reprogrammings']:.1f}", f"{row['wall_s_per_episode']:.2f}"]
        lines.append(cells)
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    render = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([render(header), render(["-" * w for w in widths]), *map(render, lines)])
