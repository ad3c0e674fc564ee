"""``python -m agents.measure_envelope RUN``: (re)measure a run's behaviour envelope into its
config.json, for runs trained before the shield recorded it (``agents.shield``).

A command line, not library code: nothing in the packages imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from agents.cli import run_main
from agents.ppo import load_agent
from agents.run_folder import (
    env_id_from_config,
    env_kwargs_from_config,
    read_run_config,
    write_run_config,
)
from agents.shield import ANALOG_ENVELOPE_KEY, analog_envelope


@dataclass
class Options:
    """``python -m agents.measure_envelope RUN``: (re)measure a run's behaviour envelope into
    its config.json (runs trained before it existed)."""

    run: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="RUN")]]
    """run folder"""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and measure; bad input exits with code 2 and one line."""
    args = tyro.cli(Options, args=argv)

    def measure() -> None:
        config = read_run_config(args.run)
        policy = load_agent(args.run)
        policy.shield = False
        scales = config["args"].get("train_drift_scales") or [1.0]
        kwargs = env_kwargs_from_config(config)
        config[ANALOG_ENVELOPE_KEY] = analog_envelope(
            policy, kwargs, scales, env_id_from_config(config)
        )
        write_run_config(args.run, config)
        print(f"{args.run}: {ANALOG_ENVELOPE_KEY} {config[ANALOG_ENVELOPE_KEY]}")

    return run_main(measure)


if __name__ == "__main__":
    raise SystemExit(main())
