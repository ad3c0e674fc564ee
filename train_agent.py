"""Train a PPO agent that decides where each layer of a hybrid analog-digital network runs.

    python train_agent.py                       # embedded digits dataset, default scenario
    python train_agent.py --timesteps 50000 --n-envs 2 --out runs/mine
    python train_agent.py --out runs/mine --resume   # continue an interrupted run
    python train_agent.py --model-factory examples.three_tasks:build --model-weights w.pt

Every option is a field of ``agents.training.TrainConfig`` (its docstring is the ``--help``
text). The run folder (``agents.run_folder``) gets ``model.zip``, ``vecnormalize.pkl``
(observation statistics), ``config.json`` (everything needed to rebuild the environment),
checkpoints, evaluation logs and tensorboard logs (``tensorboard --logdir DIR/tb``). Ctrl-C saves
a checkpoint; ``--resume`` continues from the newest one with the step count carried on. At the
end the agent is compared with all-digital and greedy on chips it never saw.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import tyro

from agents.cli import run_main
from agents.training import TrainConfig, train


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and train; bad options exit with code 2 and one line."""
    config = tyro.cli(TrainConfig, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(lambda: train(config))


if __name__ == "__main__":
    sys.exit(main())
