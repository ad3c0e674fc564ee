"""Bring your own model: a three-task network on the embedded digits, by import path.

The network is the user's own (not the paper's): a shared trunk of two convolutions and one
linear layer, then three heads: the digit (10 classes), odd or even, and digit >= 5. Its tasks
are the built-in digits with other targets (``DatasetBundle.with_tasks``). Train it and save its
weights, then hand it to the command lines by reference::

    python -m examples.three_tasks --out three_tasks.pt       # train it (about a minute)
    python train_agent.py --model-factory examples.three_tasks:build \\
        --model-weights three_tasks.pt --out runs/three-tasks
    python evaluate.py --model runs/three-tasks

``build`` is the factory: it returns the untrained model and its data; the weights come from
the file. Results: README, "Your own model, tasks and data".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import tyro
from torch import nn

from hybrid.data import DatasetBundle, load_dataset, same_labels
from hybrid.pretrain import PretrainConfig, train_multitask
from hybrid.tasks import Task


def odd(digits: torch.Tensor) -> torch.Tensor:
    """1 for odd digits, 0 for even ones."""
    return digits % 2


def five_or_more(digits: torch.Tensor) -> torch.Tensor:
    """1 for digits 5 to 9, 0 for 0 to 4."""
    return (digits >= 5).long()


TASKS: tuple[Task, ...] = (
    Task("digit", same_labels, class_names=tuple(str(d) for d in range(10))),
    Task("parity", odd, class_names=("even", "odd")),
    Task("five+", five_or_more, class_names=("0-4", "5-9")),
)
"""The three tasks, in the order of the network's heads."""


class ThreeTaskNet(nn.Module):
    """Two convolutions and a linear layer shared by three linear heads (six layers to place).

    Args:
        width: features of the shared linear layer.
    """

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 8, 3),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, width),
            nn.ReLU(),
        )
        self.digit = nn.Linear(width, 10)
        self.parity = nn.Linear(width, 2)
        self.five_or_more = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits of the three tasks, in the order of :data:`TASKS`."""
        features = self.trunk(x)
        return self.digit(features), self.parity(features), self.five_or_more(features)


def data(seed: int = 0) -> DatasetBundle:
    """The embedded digits (same splits as ``load_dataset("digits", seed=seed)``) with the
    three tasks."""
    return load_dataset("digits", seed=seed).with_tasks(TASKS, name="digits-three-tasks")


def build(width: int = 128) -> tuple[ThreeTaskNet, DatasetBundle]:
    """The factory: a fresh (untrained) network and its data. Give trained weights with
    ``--model-weights`` (or ``model_weights=``)."""
    return ThreeTaskNet(width), data()


def train(epochs: int = 40, seed: int = 0, width: int = 128) -> tuple[ThreeTaskNet, dict]:
    """Train the network digitally on the training split; the best epoch on validation."""
    torch.manual_seed(seed)
    model, dataset = build(width)
    metrics = train_multitask(model, dataset, PretrainConfig(epochs=epochs, seed=seed))
    return model, metrics


@dataclass
class Options:
    """Train the three-task network digitally and save its weights."""

    out: Path = Path("three_tasks.pt")
    """weights file"""
    epochs: int = 40
    """passes over the training split"""
    seed: int = 0
    """seeds initialisation and batch order"""


def main(argv: list[str] | None = None) -> None:
    """Command line: train and save the weights."""
    args = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    model, metrics = train(args.epochs, args.seed)
    torch.save(model.state_dict(), args.out)
    accuracies = " / ".join(
        f"{task.name} {metrics[f'val_{task.name}_accuracy']:.3f}" for task in TASKS
    )
    print(f"validation accuracy (epoch {metrics['epoch']:.0f}): {accuracies}; weights: {args.out}")


if __name__ == "__main__":
    main()
