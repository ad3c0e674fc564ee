"""The field's table: per policy, energy and accuracy loss a day, a month, a year after programming.

    python benchmarks/field_table.py --model runs/digits-strong-drift-seed0 --chips 20
    python benchmarks/field_table.py --model RUN_SEED0 RUN_SEED1 RUN_SEED2 --chips 20 \\
        --out docs/results/resnet20/field-table.json      # seeds pooled
    python benchmarks/field_table.py --model RUN --policies all-digital,greedy,ppo --ages-s 86400

The format of Benmeziane et al.'s mixed-precision supernetwork paper (docs/references.md): per
policy and per age after programming, the energy per inference of the placement in force at
that age relative to all-digital, and each task's accuracy loss against all-digital in
percentage points (mean over held-out chips with its 95% CI), on unseen images (the test
split). Each policy runs its deployment on the run's own timeline as it would in the field; at
age T the placement and tiles of the step whose interval holds T are evaluated at T, with the
episode's noise draws (``agents.field_table`` defines it exactly). Given several runs
(training seeds of one scenario) the rules run once and the agent's seeds are pooled by chip.

Writes ``--out`` (JSON: ``seeds``, ``chips``, ``ages_s``, ``command``, the runs' configurations,
per policy and age the figures, per seed for the agent), a CSV next to it (one row per policy,
age and task) and a figure (PNG: accuracy loss against energy). ``make results`` renders a
committed file into the documentation between ``<!-- results:field:FILE -->`` markers.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import tyro

from agents.cli import check_output_dir, run_main
from agents.field_table import DEFAULT_AGES_S, DEFAULT_POLICIES, measure, table_lines, write

SCRIPT = "benchmarks/field_table.py"
"""How the report's ``command`` names this script."""


@dataclasses.dataclass
class Options:
    """The field's table of trained runs: energy and accuracy loss per policy and age."""

    model: list[Path]
    """trained runs: training seeds of one scenario (the rules run once, the seeds are pooled)"""
    chips: int = 20
    """held-out chips (1000, 1001, ..) every policy runs on, each once"""
    ages_s: tuple[float, ...] = DEFAULT_AGES_S
    """ages after programming (s), each in (0, horizon]: a day, 30 days, the year (3.15e7 s)"""
    policies: str = ",".join(DEFAULT_POLICIES)
    """comma-separated policies, in the table's order (ppo: the agent of every --model run)"""
    heuristic_params: Path | None = None
    """rules' tuned parameters (tune_heuristics.py --out); default: first run's heuristics.json"""
    out: Path = Path("results/field_table.json")
    """JSON file of the table; its CSV and figure go next to it (.csv, .png)"""


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: bad input exits with code 2 and one line (``agents.cli.run_main``)."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    command = [SCRIPT, *(sys.argv[1:] if argv is None else argv)]
    return run_main(lambda: benchmark(options, command))


def benchmark(args: Options, command: list[str]) -> None:
    """Measure the table, write the JSON, CSV and figure with the ``command`` that made them."""
    check_output_dir(args.out.parent)
    policies = [name.strip() for name in args.policies.split(",") if name.strip()]
    data = measure(args.model, args.chips, args.ages_s, policies, args.heuristic_params)
    data = {"command": command, **data}
    print("\n" + "\n".join(table_lines(data, str(args.out))) + "\n")
    for path in write(data, args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
