"""The tasks of a multi-task problem: what each head of a model is asked, and how it is checked.

A :class:`Task` names one head's job: its name, how many classes it has, its weight, and
optionally how its targets follow from a dataset's own labels (a function, e.g. ``lambda digit:
digit % 2`` for odd/even). A dataset (:class:`hybrid.data.DatasetBundle`) carries its tasks and
one target tensor per task in every split; the paper's two tasks on ``digits`` and ``cifar10``
are built-in instances (:data:`hybrid.data.DIGITS_TASKS`, :data:`hybrid.data.CIFAR10_TASKS`).

Every access to a split's task targets goes through :func:`task_targets`. The checks here turn a
mismatch between a model and its tasks into a one-line ``ValueError`` before any simulation:
:func:`check_heads` (as many heads as tasks, each wide enough for its classes) and
:func:`heads_at_chance` (a head no better than always answering the most frequent class: the
targets are likely not the ones it was trained for).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

TargetFunction = Callable[[torch.Tensor], torch.Tensor]
"""Maps a dataset's own labels (int64, shape (N,)) to one task's targets (int64, shape (N,))."""

CHANCE_MARGIN_SE = 2.0
"""How many binomial standard errors above the most-frequent-class share a head's accuracy must
be to count as better than chance (:func:`heads_at_chance`): 2 SE is about a 2.5% one-sided
false alarm for a head that truly sits at that share."""


@dataclass(frozen=True)
class Task:
    """One task of a multi-task model: one head's classification problem.

    Attributes:
        name: a short name, unique within the problem (``"digit"``, ``"parity"``).
        targets: optional function from the dataset's own labels to this task's targets (int64
            class indices), e.g. ``lambda digit: digit % 2``; without one the targets are given
            directly (see :func:`hybrid.data.multitask_dataset`).
        weight: the task's weight in the reward's task term and in pretraining's loss, unless
            the reward gives its own ``task_weights``.
        num_classes: number of classes; None: inferred from the targets (largest index + 1).
        class_names: optional names of the classes, for tables and plots.
    """

    name: str
    targets: TargetFunction | None = None
    weight: float = 1.0
    num_classes: int | None = None
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"a task needs a non-empty name, got {self.name!r}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)):
            raise ValueError(f"task {self.name!r}: weight must be a number, got {self.weight!r}")
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ValueError(f"task {self.name!r}: weight must be finite and >= 0")
        if self.num_classes is not None and self.num_classes < 2:
            raise ValueError(f"task {self.name!r}: needs num_classes >= 2, not {self.num_classes}")
        if self.class_names and self.num_classes not in (None, len(self.class_names)):
            raise ValueError(
                f"task {self.name!r}: {len(self.class_names)} class_names for "
                f"{self.num_classes} classes"
            )
        if self.targets is not None and not callable(self.targets):
            raise ValueError(f"task {self.name!r}: targets must be a function of the labels")

    def describe(self) -> dict[str, Any]:
        """JSON-friendly form (the target function is code, not recorded)."""
        return {"name": self.name, "num_classes": self.num_classes, "weight": float(self.weight)}

    def with_num_classes(self, num_classes: int) -> Task:
        """This task with ``num_classes`` set (from ``class_names`` when it has them)."""
        return dataclasses.replace(self, num_classes=len(self.class_names) or num_classes)


class HasTargets(Protocol):
    """Anything holding one target tensor per task (``hybrid.data.MultiTaskSplit``)."""

    targets: tuple[torch.Tensor, ...]


def task_targets(split: HasTargets) -> tuple[torch.Tensor, ...]:
    """The targets of every task of ``split``, in task (head) order: the one accessor."""
    return tuple(split.targets)


def check_tasks(tasks: Sequence[Task]) -> tuple[Task, ...]:
    """``tasks`` as a tuple, or a one-line ValueError (none, not Task objects, duplicate names)."""
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError("a multi-task problem needs at least one Task")
    for task in tasks:
        if not isinstance(task, Task):
            raise ValueError(f"tasks must be hybrid.tasks.Task objects, got {type(task).__name__}")
    names = [task.name for task in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {', '.join(names)}")
    return tasks


def _task_list(tasks: Sequence[Task]) -> str:
    return ", ".join(f"{task.name} ({task.num_classes} classes)" for task in tasks)


def check_heads(outputs: Any, tasks: Sequence[Task]) -> None:
    """A one-line ValueError unless the model's ``outputs`` (its forward on a batch) hold one
    ``(batch, classes)`` logits tensor per task, each with at least the task's classes."""
    if isinstance(outputs, torch.Tensor) or not isinstance(outputs, (tuple, list)):
        raise ValueError(
            f"the model's forward must return a tuple of logits tensors, one per task "
            f"({_task_list(tasks)}); it returned {type(outputs).__name__} (for one task, return "
            "(logits,))"
        )
    if len(outputs) != len(tasks):
        raise ValueError(
            f"the model has {len(outputs)} head(s) (its forward returns {len(outputs)} logits "
            f"tensors) but the problem has {len(tasks)} task(s): {_task_list(tasks)}; give one "
            "Task per head, in the order the forward returns them"
        )
    for index, (logits, task) in enumerate(zip(outputs, tasks, strict=True)):
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
            raise ValueError(
                f"head {index + 1} ({task.name}) must return logits of shape (batch, classes), "
                f"got {shape}"
            )
        if task.num_classes is not None and logits.shape[1] < task.num_classes:
            raise ValueError(
                f"head {index + 1} has {logits.shape[1]} outputs but task {task.name!r} has "
                f"{task.num_classes} classes: the heads are in another order than the tasks, or "
                "the head is too narrow"
            )


def chance_accuracy(targets: torch.Tensor) -> float:
    """The accuracy of always answering the most frequent class of ``targets``."""
    if targets.numel() == 0:
        return 0.0
    return float(torch.bincount(targets).max().item() / targets.numel())


def heads_at_chance(
    accuracies: Sequence[float], targets: Sequence[torch.Tensor], tasks: Sequence[Task]
) -> list[str]:
    """One line per head whose accuracy is not above chance on its targets: not more than
    ``CHANCE_MARGIN_SE`` binomial standard errors above the most-frequent-class share."""
    problems = []
    for index, (accuracy, target, task) in enumerate(zip(accuracies, targets, tasks, strict=True)):
        chance = chance_accuracy(target)
        margin = CHANCE_MARGIN_SE * math.sqrt(chance * (1 - chance) / max(target.numel(), 1))
        if accuracy <= chance + margin:
            problems.append(
                f"head {index + 1} ({task.name}) scores {accuracy:.3f} on its {target.numel()} "
                f"targets, no better than always answering its most frequent class "
                f"({chance:.3f})"
            )
    return problems
