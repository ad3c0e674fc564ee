"""Every results table in README.md and docs/, regenerated from the files under docs/results/.

A table lives in a Markdown file between two markers::

    <!-- results:NAME -->
    ...generated, never edited by hand...
    <!-- /results:NAME -->

``python -m agents.result_tables`` (``make results``) rewrites every such block from the
committed JSON and CSV files; ``--check`` only reports the blocks that are out of date (exit
code 1). Each table says its file, the command recorded in it, the training seeds, the chips and
the image split. The verdict words are computed from the paired 95% confidence interval of the
agent's margin (``ppo - it``), never typed: ``beats`` when the lower bound is above 0,
``behind`` when the upper bound is below 0, ``ties`` otherwise.

NAME is one of :data:`TABLES`, ``run:FILE`` for the policy table of one
``benchmarks/policy_quality.py`` file (``FILE`` relative to ``docs/results/policy_quality/``), or
``field:FILE`` for a ``benchmarks/field_table.py`` file (``docs/results/FILE.json``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import tyro

from agents import field_table, speed_tables
from agents.train_config import TrainConfig
from envs.chips import TEST_CHIP_OFFSET

RESULTS = Path("docs/results")
"""The committed results, relative to the repository root."""

BLOCK = re.compile(
    r"(?P<open><!-- results:(?P<name>[\w./:-]+) -->\n).*?(?P<close><!-- /results:(?P=name) -->)",
    re.S,
)

POLICY_QUALITY_SCENARIOS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("paper", "", ("paper-3seeds.json", "paper-40chips.json")),
    ("no-compensation", "", ("no-compensation-3seeds.json", "no-compensation-40chips.json")),
    (
        "strong-drift",
        "default",
        (
            "strong-drift-3seeds.json",
            "strong-drift-40chips.json",
            "strong-drift-schedule-40chips.json",
        ),
    ),
    ("compensated-3x", "", ("compensated-3x-3seeds.json", "compensated-3x-40chips.json")),
    ("monthly-refresh", "", ("monthly-refresh-3seeds.json", "monthly-refresh-40chips.json")),
    ("varied-chips", "", ("varied-chips-40chips.json",)),
    ("weak-tile", "", ("weak-tile-40chips.json",)),
    (
        "stream-fast-drift",
        "warm start, PPO rate 1e-4",
        (
            "stream-fast-drift-imitate-lr1e-4.json",
            "stream-fast-drift-imitate-lr1e-4-40chips.json",
        ),
    ),
    (
        "stream-strong-drift",
        "warm start",
        ("stream-strong-drift-imitate.json", "stream-strong-drift-imitate-40chips.json"),
    ),
)
"""Scenario, note, and its policy-quality files in the order they were measured (20, 40 chips)."""

TRAINING_FILES = ("quality-imitate.json", "quality-imitate-80.json", "quality.json")
"""The training-time measurements (``HybridTraining-v0``), in ``docs/results/training/``."""


def verdict(margin: float, ci: float) -> str:
    """``beats``, ``ties`` or ``behind``: the agent's paired margin against its 95% CI."""
    if margin - ci > 0:
        return "beats"
    if margin + ci < 0:
        return "behind"
    return "ties"


def _ci(pair: Iterable[float], sign: bool = True) -> str:
    """``+m ± ci``; with three decimals where two would hide which side of 0 the bound is on."""
    mean, ci = pair
    digits = 3 if abs(abs(mean) - ci) < 0.005 and ci > 0 else 2
    return (
        f"{mean:+.{digits}f} ± {ci:.{digits}f}" if sign else f"{mean:.{digits}f} ± {ci:.{digits}f}"
    )


def _margin(pair: Iterable[float]) -> str:
    mean, ci = pair
    return f"{verdict(mean, ci)} ({_ci((mean, ci))})"


def _chips(chips: list[int]) -> str:
    chips = sorted(chips)
    if chips == list(range(chips[0], chips[-1] + 1)):
        return f"{len(chips)} held-out chips, {chips[0]}-{chips[-1]}"
    return f"{len(chips)} held-out chips ({', '.join(map(str, chips))})"


def _seed_of(run: str) -> str:
    found = re.search(r"seed(\d+)$", run.rstrip("/"))
    return found.group(1) if found else run


def _seeds(runs: list[str]) -> str:
    if all(re.search(r"seed\d+$", r.rstrip("/")) for r in runs):
        return f"{len(runs)} (seed {', '.join(_seed_of(r) for r in runs)})"
    return f"{len(runs)} (run {', '.join(f'`{r}`' for r in runs)})"


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is missing: restore it from git or drop its table") from None


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _command(argv: list[str]) -> str:
    """The recorded command; an absolute path (a folder outside the repository) as ``.../name``."""
    shown = [f".../{Path(a).name}" if a.startswith("/") else a for a in argv]
    return "`python " + " ".join(shown) + "`"


# ---------------------------------------------------------------- policy quality (pooled seeds)


def _energy(run: dict, policy: str) -> float:
    """Energy over all-digital; per request served (programming included) where recorded."""
    served = run.get("served_energy")
    if served:
        return served[policy]
    if policy == "ppo":
        return run["energy"]
    return next(r["energy_vs_digital"] for r in run["rows"] if r["policy"] == policy)


def _run_name(run: dict) -> str:
    return run.get("run") or run["config"]["args"]["out"]


def _pq_split(data: dict, unseen: bool) -> dict:
    pooled = data.get("pooled")
    run = data["runs"][0]
    if pooled is None:  # one training seed: the run's own margins
        margins = run["unseen_margins"] if unseen else run["margins"]
        first = run["rows"][0]
        agent = run["unseen"]["ppo"] if unseen else [first["return_mean"], first["return_ci95"]]
        return {"agent": agent, "margins": margins, "seeds_beyond_ci": None}
    return pooled["unseen" if unseen else "evaluation"]


def _pq_row(scenario: str, note: str, name: str, unseen: bool, energy: bool) -> list[str]:
    data = _load(RESULTS / "policy_quality" / name)
    split = _pq_split(data, unseen)
    privileged = set(data["runs"][0].get("privileged", {}))
    rules = [p for p in split["margins"] if p not in privileged]
    beyond = split.get("seeds_beyond_ci") or {}
    per_seed = (data.get("pooled") or {}).get("per_seed", [])
    n_seeds = split.get("seeds") or max(len(per_seed), 1)
    key = "unseen" if unseen else "evaluation"
    seed_returns = ", ".join(f"{s[key][0]:.2f}" for s in per_seed)
    agent = _ci(split["agent"], sign=False) + (f" ({seed_returns})" if seed_returns else "")
    words = {p: verdict(*split["margins"][p]) for p in rules}

    def listed(word: str) -> str:
        items = [
            f"{p} {_ci(split['margins'][p])}" + (f" ({beyond[p]}/{n_seeds})" if p in beyond else "")
            for p in rules
            if words[p] == word
        ]
        return "; ".join(items) or "none"

    oracle = split["margins"].get("oracle")
    label = f"`{scenario}`" + (f" ({note})" if note else "")
    row = [
        label,
        str(data["episodes"]),
        agent,
        f"{sum(w == 'beats' for w in words.values())}/{len(rules)}",
        listed("ties"),
        listed("behind"),
        _margin(oracle) if oracle else "not measured",
    ]
    if energy:
        values = [s["served_energy"] or s["energy"] for s in per_seed]
        if values:
            row.append(f"{min(values):.3f}-{max(values):.3f}")
        else:  # the file records the first seed's energy only
            run = data["runs"][0]
            row.append(f"{_energy(run, 'ppo'):.3f} (seed {_seed_of(_run_name(run))})")
    row.append(f"`{name}`")
    return row


def _pq_sources(unseen: bool) -> list[str]:
    lines = ["", "Files (in `docs/results/policy_quality/`) and the commands recorded in them:", ""]
    for scenario, _, names in POLICY_QUALITY_SCENARIOS:
        for name in names:
            data = _load(RESULTS / "policy_quality" / name)
            runs = (data.get("pooled") or {}).get("runs") or [_run_name(data["runs"][0])]
            first = TEST_CHIP_OFFSET
            lines.append(
                f"* `{name}` ({scenario}): {_command(data['command'])}; training seeds "
                f"{_seeds(runs)}; chips {first}-{first + data['episodes'] - 1}"
            )
    return lines


def _policy_quality(unseen: bool) -> list[str]:
    split = (
        "unseen images (the test split, 360 images no policy, tuning or training reward scored)"
        if unseen
        else "evaluation images (the validation split the training reward and the tuning use)"
    )
    lines = [
        f"Scored on the {split}; held-out chips from {TEST_CHIP_OFFSET} on, the number in the "
        "`chips` column; three training seeds pooled by chip (the agent's return per chip is "
        "the mean over the seeds, each rule's is subtracted: `ppo − it`, 95% CI over chips). "
        "A scenario first measured on 20 chips was measured again on 40, and both measurements "
        "are shown; `varied-chips` and `weak-tile` were measured once, on 40 chips fixed before "
        "the first look. `strong-drift-schedule-40chips.json` measures the default scenario "
        "again, on the same 40 chips, with the `schedule` rule (which the earlier files predate) "
        "among the rules: agents retrained with today's code, the same seeds and defaults, every "
        "rule retuned. "
        "A file recorded with `--skip oracle` says so in the oracle column. In brackets after "
        "a margin: how many seeds beat that rule beyond the CI on their own.",
        "",
    ]
    header = [
        "scenario",
        "chips",
        "agent return (each seed)",
        "deployable rules beaten",
        "ties (ppo − it)",
        "behind (ppo − it)",
        "ppo − oracle (privileged)",
    ]
    if unseen:
        header.append("energy / all-digital (per seed)")
    header.append("file")
    rows = [
        _pq_row(scenario, note, name, unseen, unseen)
        for scenario, note, names in POLICY_QUALITY_SCENARIOS
        for name in names
    ]
    lines += _table(header, rows)
    return lines + _pq_sources(unseen)


def _drift_scale(command: list[str]) -> float:
    if "--drift-scale" in command:
        return float(command[command.index("--drift-scale") + 1])
    return 2.0  # benchmarks/policy_quality.py's default


def _stronger_drift() -> list[str]:
    lines = [
        "The first training seed's agent of each file (the run named first in its command) and "
        "the static placements under a stronger drift than training saw (training: 1x and 1.5x), "
        "on the same held-out chips, scored on the evaluation images (validation split). "
        "`ppo − it` is paired over chips (95% CI).",
        "",
    ]
    header = [
        "scenario",
        "chips",
        "drift",
        "agent return",
        "ppo − all-digital",
        "ppo − all-analog",
        "ppo − keep-first-last-digital",
        "digital layers per step (1x -> stronger)",
        "reprogrammings (1x -> stronger)",
        "file",
    ]
    rows = []
    for scenario, note, names in POLICY_QUALITY_SCENARIOS:
        for name in names:
            data = _load(RESULTS / "policy_quality" / name)
            general = data["generalisation"]
            nominal, stronger = general["nominal"], general["stronger"]
            margins = stronger["margins"]
            rows.append(
                [
                    f"`{scenario}`" + (f" ({note})" if note else ""),
                    str(data["episodes"]),
                    f"{_drift_scale(data['command']):g}x",
                    _ci(stronger["returns"]["ppo"], sign=False),
                    *(
                        _margin(margins[p]) if p in margins else ""
                        for p in ("all-digital", "all-analog", "keep-first-last-digital")
                    ),
                    f"{nominal['digital_layers']:.2f} -> {stronger['digital_layers']:.2f}",
                    f"{nominal['reprogrammings']:.1f} -> {stronger['reprogrammings']:.1f}",
                    f"`{name}`",
                ]
            )
    return lines + _table(header, rows) + ["", "Files and commands: as in the headline tables."]


# ------------------------------------------------------------------ policy quality (one file)


def _run_table(name: str) -> list[str]:
    data = _load(RESULTS / "policy_quality" / name)
    pooled = data.get("pooled")
    run = data["runs"][0]
    runs = (pooled or {}).get("runs") or [_run_name(run)]
    privileged = set(run.get("privileged", {}))
    unseen, evaluation = _pq_split(data, True), _pq_split(data, False)
    rows_by_policy = {r["policy"]: r for r in run["rows"]}
    rows = [
        [
            "ppo (learned)",
            "learned",
            _ci(unseen["agent"], sign=False),
            "",
            _ci(evaluation["agent"], sign=False),
            "",
            f"{_energy(run, 'ppo'):.3f}",
        ]
    ]
    for policy, margin in unseen["margins"].items():
        seen = run["unseen"].get(policy)
        rows.append(
            [
                policy,
                "privileged" if policy in privileged else "rule",
                _ci(seen, sign=False) if seen else "",
                _margin(margin),
                _ci(
                    (rows_by_policy[policy]["return_mean"], rows_by_policy[policy]["return_ci95"]),
                    sign=False,
                )
                if policy in rows_by_policy
                else "",
                _margin(evaluation["margins"][policy]),
                f"{_energy(run, policy):.3f}" if policy in rows_by_policy else "",
            ]
        )
    first = TEST_CHIP_OFFSET
    note = (
        f"`docs/results/policy_quality/{name}`: {_command(data['command'])}; training seeds "
        f"{_seeds(runs)}"
        + (
            " (the agent's return and the margins pool the seeds by chip; the agent's energy is "
            f"seed {_seed_of(_run_name(run))}'s)"
            if pooled
            else ""
        )
        + f"; chips {first}-{first + data['episodes'] - 1}; "
        "unseen images = the test split, evaluation images = the validation split."
    )
    header = [
        "policy",
        "kind",
        "return, unseen images",
        "ppo − it, unseen",
        "return, evaluation images",
        "ppo − it, evaluation",
        "energy / all-digital",
    ]
    return [note, "", *_table(header, rows)]


# ------------------------------------------------------------------------------ training time


def _training() -> list[str]:
    lines = [
        "`HybridTraining-v0`, three training seeds pooled by chip (`ppo − it`: the agent's "
        "return per chip averaged over the seeds, minus the baseline's; 95% CI over chips; in "
        "brackets how many seeds beat that baseline beyond the CI on their own). The "
        "warm-started agents were measured on 40 chips, then again on 80: both measurements "
        "are shown.",
        "",
    ]
    header = [
        "agent",
        "chips",
        "agent return, evaluation images (each seed)",
        "baseline",
        "ppo − it, evaluation images",
        "ppo − it, unseen images",
        "training energy / all-digital: agent (per seed), baseline",
        "file",
    ]
    rows, sources = [], []
    for name in TRAINING_FILES:
        data = _load(RESULTS / "training" / name)
        pooled, runs = data["pooled"], data["runs"]
        agent = "warm-started from lionheart-training" if "imitate" in name else "from scratch"
        seeds = ", ".join(f"{r['rows'][0]['return_mean']:.2f}" for r in runs)
        n = len(runs)
        agent_energy = [r["rows"][0]["training_energy"] for r in runs]
        baseline_energy = {r["policy"]: r["training_energy"] for r in runs[0]["rows"]}
        for baseline, margin in pooled["margins"].items():
            beyond = pooled.get("seeds_beyond_ci", {})
            beyond_unseen = pooled.get("unseen_seeds_beyond_ci", {})
            unseen = pooled["unseen_margins"][baseline]
            rows.append(
                [
                    agent,
                    str(runs[0]["episodes"]),
                    _ci(pooled["ppo"], sign=False) + f" ({seeds})",
                    baseline,
                    _margin(margin) + (f" ({beyond[baseline]}/{n})" if baseline in beyond else ""),
                    _margin(unseen)
                    + (f" ({beyond_unseen[baseline]}/{n})" if baseline in beyond_unseen else ""),
                    f"{min(agent_energy):.3f}-{max(agent_energy):.3f}, "
                    f"{baseline_energy[baseline]:.3f}",
                    f"`{name}`",
                ]
            )
        argv = ["benchmarks/training_quality.py", "--model", *(r["run"] for r in runs)]
        argv += ["--episodes", str(runs[0]["episodes"]), "--out", f"docs/results/training/{name}"]
        split = runs[0]["environment"]["eval_split"]
        sources.append(
            f"* `docs/results/training/{name}`: {_command(argv)} (rebuilt from the runs and "
            f"chips the file records; it records no command); training seeds "
            f"{_seeds([r['run'] for r in runs])}; {_chips(runs[0]['chips'])}; evaluation "
            f"images = the `{split}` split, unseen images = the test split"
        )
    return lines + _table(header, rows) + ["", "Files:", "", *sources]


# ----------------------------------------------------------------------- the default run


def _trained_with(run: dict) -> str:
    """How the evaluated agent was trained: the options among network, dataset, policy_net,
    init_from and max_minutes that differ from ``train_agent.py``'s defaults, and its steps."""
    args, defaults = run["args"], dataclasses.asdict(TrainConfig())
    shown = ("network", "dataset", "policy_net", "init_from", "max_minutes")
    changed = {key: args[key] for key in shown if args.get(key) not in (None, defaults[key])}
    if not changed:
        return f"`train_agent.py` defaults, scenario `{args['scenario']}`"
    plain = {k: format(v, "g") if isinstance(v, float) else v for k, v in changed.items()}
    words = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in plain.items())
    steps = (run.get("result") or {}).get("num_timesteps")
    done = f", {steps:,} PPO steps" if steps is not None else ""
    return f"`train_agent.py {words}`, scenario `{args['scenario']}`{done}"


def _evaluation(folder: str) -> list[str]:
    """The table of an ``evaluate.py --out docs/results/FOLDER`` run."""
    data = _load(RESULTS / folder / "summary.json")
    run = data["run_config"]
    chips = sorted(int(c) for c in data["chips"].values())
    split = data["configurations"]["main"]["env_resolved"]["eval_split"]
    given = data["args"]
    options = f"--model {given['model']} --episodes {given['episodes']}"
    if given.get("policies"):
        options += f" --policies {given['policies']}"
    if given.get("heuristic_params"):
        options += f" --heuristic-params {given['heuristic_params']}"
    lines = [
        f"`docs/results/{folder}/summary.json`: `python evaluate.py {options} --out "
        f"{given['out']}`; training seed {run['args']['seed']} ({_trained_with(run)}); "
        f"{_chips(chips)}; scored on the evaluation images (the `{split}` split). Return with "
        "its 95% CI over the episodes (not paired).",
        "",
    ]
    header = [
        "policy",
        "return (95% CI)",
        "energy / all-digital",
        "class acc mean / worst step",
        "group acc mean / worst step",
        "reprogrammings",
    ]
    rows = [
        [
            r["policy"],
            _ci((r["return_mean"], r["return_ci95"]), sign=False),
            f"{r['energy_vs_digital']:.3f}",
            f"{r['task1_acc_mean']:.3f} / {r['task1_acc_worst']:.3f}",
            f"{r['task2_acc_mean']:.3f} / {r['task2_acc_worst']:.3f}",
            f"{r['reprogrammings']:.1f}",
        ]
        for r in data["rows"]
        if r.get("weighting", "main") == "main"
    ]
    return lines + _table(header, rows)


# ------------------------------------------------------------------------- generalisation


def _generalisation() -> list[str]:
    data = _load(RESULTS / "generalisation" / "generalisation.json")
    rows = data["rows"]
    seeds = sorted({r["train_seed"] for r in rows})
    scales = sorted({r["drift_scale"] for r in rows})
    by = {(r["train_seed"], r["drift_scale"], r["policy"]): r for r in rows}
    episodes = rows[0]["episodes"]
    lines = [
        f"`docs/results/generalisation/generalisation.json`: {_command(data['command'])}; "
        "training seeds "
        f"{', '.join(map(str, seeds))}; {episodes} held-out chips from {TEST_CHIP_OFFSET} on; "
        "evaluation images (validation split). Each cell: the shielded agent's return minus "
        "all-digital's, paired over chips (95% CI), its verdict, and in brackets the "
        "unshielded agent's margin.",
        "",
    ]
    header = ["drift", *(f"seed {s}" for s in seeds)]
    table = []
    for scale in scales:
        cells = []
        for seed in seeds:
            shielded = by.get((seed, scale, "ppo"))
            bare = by.get((seed, scale, "ppo-bare"))
            if shielded is None:
                cells.append("")
                continue
            pair = (shielded["minus_all_digital"], shielded["minus_all_digital_ci95"])
            cell = _margin(pair)
            if bare is not None:
                cell += f" ({bare['minus_all_digital']:+.2f})"
            cells.append(cell)
        table.append([f"{scale:g}x", *cells])
    return lines + _table(header, table)


# --------------------------------------------------------------------- the three-task example


def _csv_rows(path: Path) -> list[dict]:
    if not path.exists():
        raise ValueError(f"{path} is missing: restore it from git or drop its table")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _three_tasks() -> list[str]:
    path = RESULTS / "three-tasks" / "summary.csv"
    rows = [r for r in _csv_rows(path) if r["weighting"] == "main"]
    first = rows[0]
    chips = sorted(int(c) for c in first["chips"].split())
    args = _load(RESULTS / "three-tasks" / "summary.json")["args"]
    lines = [
        f"`docs/results/three-tasks/summary.csv`: `python evaluate.py --model {args['model']} "
        f"--episodes {args['episodes']} --out {args['out']}`; one training seed; {_chips(chips)}; "
        "evaluation images (validation split). Return with its 95% CI over episodes (not "
        "paired).",
        "",
    ]
    header = ["policy", "return (95% CI)", "energy / all-digital", "task accuracies, mean"]
    table = [
        [
            r["policy"],
            _ci((float(r["return_mean"]), float(r["return_ci95"])), sign=False),
            f"{float(r['energy_vs_digital']):.3f}",
            " / ".join(
                f"{float(r[f'task{k}_acc_mean']):.3f}"
                for k in (1, 2, 3)
                if r.get(f"task{k}_acc_mean")
            ),
        ]
        for r in rows
    ]
    return lines + _table(header, table)


def _three_tasks_sweep() -> list[str]:
    path = RESULTS / "three-tasks-sweep" / "summary.csv"
    rows = [r for r in _csv_rows(path) if r["sweep_key"]]
    values = sorted({r["sweep_value"] for r in rows}, key=float)
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    energy = {(r["policy"], r["sweep_value"]): r["energy_vs_digital"] for r in rows}
    first = rows[0]
    chips = sorted(int(c) for c in first["chips"].split())
    args = _load(RESULTS / "three-tasks-sweep" / "summary.json")["args"]
    lines = [
        "`docs/results/three-tasks-sweep/summary.csv`: "
        f"`python evaluate.py --model {args['model']} --sweep {args['sweep']} "
        f"--episodes {args['episodes']} --out {args['out']}`; one training "
        f"seed; {_chips(chips)}; evaluation images. Energy per inference relative to "
        "all-digital, per energy weight:",
        "",
    ]
    header = [f"{first['sweep_key']} weight", *values]
    table = [
        [p, *(f"{float(energy[(p, v)]):.3f}" if (p, v) in energy else "" for v in values)]
        for p in policies
    ]
    return lines + _table(header, table)


TABLES: dict[str, Callable[[], list[str]]] = {
    "policy-quality-unseen": lambda: _policy_quality(unseen=True),
    "policy-quality-evaluation": lambda: _policy_quality(unseen=False),
    "policy-quality-stronger-drift": _stronger_drift,
    "training-time": _training,
    "default-run": lambda: _evaluation("default"),
    "generalisation": _generalisation,
    "three-tasks": _three_tasks,
    "three-tasks-sweep": _three_tasks_sweep,
    "depth-throughput": lambda: speed_tables.depth_throughput(RESULTS),
    "depth-reference": lambda: speed_tables.depth_reference(RESULTS),
    "schedule-gap": lambda: speed_tables.schedule_gap(RESULTS),
    "resnet-rules": lambda: speed_tables.resnet_rules(RESULTS),
}
"""The named tables; ``run:FILE`` adds one per policy-quality file, ``evaluate:FOLDER`` one
per ``evaluate.py --out docs/results/FOLDER`` run, ``field:FILE`` one per field table."""


def render(name: str) -> str:
    """The Markdown of table ``name`` (without its markers)."""
    if name.startswith("run:"):
        lines = _run_table(name[len("run:") :])
    elif name.startswith("evaluate:"):
        lines = _evaluation(name[len("evaluate:") :])
    elif name.startswith("field:"):
        lines = field_table.markdown(RESULTS, name[len("field:") :])
    elif name in TABLES:
        lines = TABLES[name]()
    else:
        raise ValueError(
            f"unknown results table {name!r}: use one of {', '.join(TABLES)}, run:FILE, "
            "evaluate:FOLDER or field:FILE"
        )
    return "\n".join(lines) + "\n"


def regenerate(text: str) -> str:
    """``text`` with every ``<!-- results:NAME -->`` block rewritten from the files."""

    def replace(match: re.Match) -> str:
        return match["open"] + "\n" + render(match["name"]) + "\n" + match["close"]

    return BLOCK.sub(replace, text)


def markdown_files(root: Path) -> list[Path]:
    """README.md and every Markdown page under docs/ (the files that may hold tables)."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


@dataclass
class Options:
    """``python -m agents.result_tables``: rewrite every results table from docs/results/."""

    root: Path = Path(".")
    """the repository root"""
    check: bool = False
    """change nothing; exit 1 if a table is out of date"""


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` only list) the stale tables; exit 0, 1 (stale with
    ``--check``) or 2 (a results file is missing or malformed)."""
    args = tyro.cli(Options, args=argv, description=__doc__.splitlines()[0])
    global RESULTS
    default, RESULTS = RESULTS, args.root / "docs" / "results"
    stale = []
    try:
        for path in markdown_files(args.root):
            if not path.exists():
                continue
            text = path.read_text()
            new = regenerate(text)
            if new != text:
                stale.append(path)
                if not args.check:
                    path.write_text(new)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        RESULTS = default
    verb = "out of date" if args.check else "rewritten"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
