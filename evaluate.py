"""Compare partitioning policies on the same held-out chips; save every step, plot, validate.

    python evaluate.py                                # newest run under runs/ vs every heuristic
    python evaluate.py --model runs/mine --episodes 10 --out results/mine
    python evaluate.py --policies greedy,oracle --scenario no-compensation
    python evaluate.py --sweep energy=0.5,1,2,4       # the heuristics under several weightings
    python evaluate.py --validate results/mine        # replay steps.csv, compare the rewards

Every policy runs on the same seeds and the same chips (common random numbers): distinct chips
the agents never saw in training (``envs.chips.TEST_CHIP_OFFSET``). The output folder gets
``summary.csv`` and ``summary.json`` (one row per policy and weighting, with the configuration
and seeds), ``steps.csv`` (one row per policy, episode and step: enough to rebuild any figure and
to replay the episodes with ``--validate``), ``pareto.png`` and ``placements.png``. Every option
is a field of ``agents.comparison.EvaluationConfig`` (its docstring is the ``--help`` text).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import tyro

from agents.cli import run_main
from agents.comparison import EvaluationConfig, evaluate, validate


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and evaluate (or validate); bad options exit with code 2 and one
    line, a replay that differs with code 1."""
    config = tyro.cli(EvaluationConfig, args=argv, description=__doc__.split("\n\n")[0])
    if config.validate is not None:
        outcome: list[int] = []
        code = run_main(lambda: outcome.append(validate(config.validate, config.progress)))
        return code or outcome[0]
    return run_main(
        lambda: evaluate(config), "interrupted: nothing written for the unfinished evaluation"
    )


if __name__ == "__main__":
    sys.exit(main())
