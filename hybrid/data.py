"""Multi-task image datasets: images, their tasks, and one target tensor per task.

Every dataset is a :class:`DatasetBundle`: train/val/test :class:`MultiTaskSplit` tensors held in
memory and the :class:`~hybrid.tasks.Task` each model head answers. Three are built in, each
with the paper's two tasks (task 1 the class, task 2 a binary group of that class):

- ``digits`` (default, offline): scikit-learn's 1797 8x8 handwritten digits, shipped inside
  scikit-learn. Group 1 = digits with a closed loop {0, 6, 8, 9}. Stratified 60/20/20 split.
- ``digits32``: the same digits and splits, upsampled to 3x32x32 (bilinear, gray on three
  channels), a CIFAR-sized input for the CIFAR-sized network when CIFAR-10 is not at hand.
- ``cifar10``: CIFAR-10 as in the paper (Yasutake and Yoon; docs/references.md): ToTensor only,
  train/val = seeded 90/10 split of the 50k training images, test = the 10k test batch.
  Group 0 = non-animal (airplane, automobile, ship, truck), group 1 = animal.

Your own data becomes the same thing with :func:`multitask_dataset` (tensors, a torch
``Dataset`` or a function returning either, and any number of tasks), and a built-in dataset
answers other tasks with :meth:`DatasetBundle.with_tasks` (e.g. odd/even digits).

Every split is deterministic for a given ``seed``. Nothing here knows about models or RL.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from hybrid.tasks import Task, check_tasks

__all__ = [
    "CIFAR10_NON_ANIMAL_CLASSES",
    "CIFAR10_TASKS",
    "DATASETS",
    "DIGITS_CLOSED_LOOP_CLASSES",
    "DIGITS_TASKS",
    "DatasetBundle",
    "DatasetNotFoundError",
    "MultiTaskSplit",
    "dataset_input_shape",
    "default_data_dir",
    "load_dataset",
    "require_dataset",
    "multitask_dataset",
]

# One source of truth for the dataset names and their input shapes (C, H, W).
_INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8),
    "digits32": (3, 32, 32),
    "cifar10": (3, 32, 32),
}
DATASETS: tuple[str, ...] = tuple(_INPUT_SHAPES)
"""Names accepted by :func:`load_dataset`."""

DIGITS_CLOSED_LOOP_CLASSES: tuple[int, ...] = (0, 6, 8, 9)
"""Digits drawn with a closed loop: group 1 of the ``digits`` datasets (docs/hybrid-model.md)."""
DIGITS_GROUP_NAMES: tuple[str, str] = ("open", "closed loop")

CIFAR10_NON_ANIMAL_CLASSES: tuple[int, ...] = (0, 1, 8, 9)
"""Airplane, automobile, ship, truck: group 0 of ``cifar10``, as in the paper (REFERENCE s. 1)."""
CIFAR10_GROUP_NAMES: tuple[str, str] = ("non-animal", "animal")
CIFAR10_CLASS_NAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def same_labels(labels: torch.Tensor) -> torch.Tensor:
    """Task targets equal to the dataset's own labels (the class task)."""
    return labels


def digits_closed_loop(labels: torch.Tensor) -> torch.Tensor:
    """1 for the digits drawn with a closed loop (:data:`DIGITS_CLOSED_LOOP_CLASSES`), else 0."""
    return torch.isin(labels, torch.tensor(DIGITS_CLOSED_LOOP_CLASSES, dtype=labels.dtype)).long()


def cifar10_animal(labels: torch.Tensor) -> torch.Tensor:
    """1 for CIFAR-10's animal classes, 0 for :data:`CIFAR10_NON_ANIMAL_CLASSES`."""
    non_animal = torch.tensor(CIFAR10_NON_ANIMAL_CLASSES, dtype=labels.dtype)
    return (~torch.isin(labels, non_animal)).long()


DIGITS_TASKS: tuple[Task, ...] = (
    Task("class", same_labels, num_classes=10, class_names=tuple(str(d) for d in range(10))),
    Task("group", digits_closed_loop, num_classes=2, class_names=DIGITS_GROUP_NAMES),
)
"""The paper's two tasks on the digits: the digit, and closed loop {0, 6, 8, 9} or not."""
CIFAR10_TASKS: tuple[Task, ...] = (
    Task("class", same_labels, num_classes=10, class_names=CIFAR10_CLASS_NAMES),
    Task("group", cifar10_animal, num_classes=2, class_names=CIFAR10_GROUP_NAMES),
)
"""The paper's two tasks on CIFAR-10: the class, and animal or not (Yasutake and Yoon)."""

DIGITS_VAL_FRACTION = 0.2
DIGITS_TEST_FRACTION = 0.2
CIFAR10_VAL_FRACTION = 0.1
"""Fraction of the 50k CIFAR-10 training images held out for validation (the paper's 90/10)."""
VAL_FRACTION = 0.2
"""Default share of the training items :func:`multitask_dataset` holds out for validation when
no validation split is given."""

DATA_DIR_ENV = "HYBRID_DATA_DIR"
CIFAR10_URL_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing and could not be downloaded; the message says what to do."""


@dataclass(frozen=True, eq=False, repr=False)
class MultiTaskSplit:
    """One split of a multi-task dataset, held in memory as aligned tensors.

    Attributes:
        images: float32 ``(N, C, H, W)``.
        targets: one int64 ``(N,)`` tensor of class indices per task, in task (head) order;
            read them with :func:`hybrid.tasks.task_targets`.
        labels: int64 ``(N,)``, the dataset's own labels that task targets can be derived from
            (the digit, the CIFAR-10 class); None when the targets were given directly.
    """

    images: torch.Tensor
    targets: tuple[torch.Tensor, ...]
    labels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = self.images.shape[0] if self.images.dim() == 4 else -1
        if self.images.dim() != 4 or self.images.dtype != torch.float32:
            raise ValueError(
                f"images must be float32 (N, C, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if isinstance(self.targets, torch.Tensor) or not isinstance(self.targets, (tuple, list)):
            raise ValueError("targets must be a tuple of tensors, one per task")
        object.__setattr__(self, "targets", tuple(self.targets))
        named = [(f"targets[{k}]", t) for k, t in enumerate(self.targets)]
        if self.labels is not None:
            named.append(("labels", self.labels))
        for name, tensor in named:
            if not isinstance(tensor, torch.Tensor):
                raise ValueError(f"{name} must be a tensor, got {type(tensor).__name__}")
            if tensor.dtype != torch.int64 or tuple(tensor.shape) != (n,):
                raise ValueError(
                    f"{name} must be int64 ({n},), got {tensor.dtype} {tuple(tensor.shape)}"
                )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"MultiTaskSplit(n={len(self)}, image_shape={tuple(self.images.shape[1:])}, "
            f"tasks={len(self.targets)})"
        )

    def select(self, index: torch.Tensor) -> MultiTaskSplit:
        """The items at ``index`` (int64 positions), in that order."""
        labels = None if self.labels is None else self.labels[index]
        return MultiTaskSplit(self.images[index], tuple(t[index] for t in self.targets), labels)

    def subset(self, n: int, seed: int = 0) -> MultiTaskSplit:
        """A fixed random subset of ``n`` items (same ``seed``, same items), in split order.

        ``n`` at or above the split size returns the whole split.
        """
        if n < 0:
            raise ValueError(f"subset size must be >= 0, got {n}")
        if n >= len(self):
            return self
        generator = torch.Generator().manual_seed(seed)
        return self.select(torch.randperm(len(self), generator=generator)[:n].sort().values)

    def loader(self, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
        """Batches of ``(images, *targets)``; a shuffled order is fixed by ``seed``."""
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        dataset = TensorDataset(self.images, *self.targets)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


@dataclass(frozen=True, eq=False)
class DatasetBundle:
    """A named multi-task dataset: train/val/test splits and the task of each model head.

    Build your own with :func:`multitask_dataset`; ask a built-in one other tasks with
    :meth:`with_tasks`.
    """

    name: str
    train: MultiTaskSplit
    val: MultiTaskSplit
    test: MultiTaskSplit
    tasks: tuple[Task, ...]
    """One task per model head, in head order (each with its number of classes)."""
    input_shape: tuple[int, int, int]
    """Shape (C, H, W) of one image."""
    class_names: tuple[str, ...] = ()
    """Names of the dataset's own labels (``MultiTaskSplit.labels``), when it has them."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", check_tasks(self.tasks))
        for split_name in ("train", "val", "test"):
            split = getattr(self, split_name)
            if tuple(split.images.shape[1:]) != tuple(self.input_shape):
                raise ValueError(
                    f"{self.name}: {split_name} images are {tuple(split.images.shape[1:])}, "
                    f"not the dataset's input shape {tuple(self.input_shape)}"
                )
            if len(split.targets) != len(self.tasks):
                raise ValueError(
                    f"{self.name}: the {split_name} split has {len(split.targets)} target "
                    f"tensor(s) for {len(self.tasks)} task(s)"
                )
            for task, target in zip(self.tasks, split.targets, strict=True):
                _check_target_range(task, target, f"{self.name} {split_name}")

    @property
    def num_classes(self) -> int:
        """Number of the dataset's own label classes (``class_names``)."""
        return len(self.class_names)

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks' names, in head order."""
        return tuple(task.name for task in self.tasks)

    def with_tasks(self, tasks: Sequence[Task], name: str | None = None) -> DatasetBundle:
        """The same images and splits with other tasks, each derived from the dataset's own
        labels by its ``targets`` function (e.g. ``Task("parity", lambda d: d % 2)``).

        ``name`` defaults to ``"<dataset>-<task>-<task>..."``.
        """
        tasks = check_tasks(tasks)
        for task in tasks:
            if task.targets is None:
                raise ValueError(
                    f"task {task.name!r} needs a targets function of the {self.name} labels, "
                    f"e.g. Task({task.name!r}, lambda labels: labels % 2)"
                )
        splits = {}
        for split_name in ("train", "val", "test"):
            split = getattr(self, split_name)
            if split.labels is None:
                raise ValueError(
                    f"{self.name} has no labels to derive tasks from: give every task's "
                    "targets with multitask_dataset"
                )
            targets = tuple(
                _as_targets(task.targets(split.labels), len(split), f"task {task.name!r}")
                for task in tasks
            )
            splits[split_name] = MultiTaskSplit(split.images, targets, split.labels)
        tasks = _with_class_counts(tasks, [s.targets for s in splits.values()])
        return DatasetBundle(
            name=name or "-".join((self.name, *(task.name for task in tasks))),
            tasks=tasks,
            input_shape=self.input_shape,
            class_names=self.class_names,
            **splits,
        )


def _check_target_range(task: Task, target: torch.Tensor, where: str) -> None:
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= task.num_classes):
        raise ValueError(
            f"{where}: task {task.name!r} has targets in {int(target.min())}..{int(target.max())}"
            f", outside its classes 0..{task.num_classes - 1}"
        )


def _with_class_counts(
    tasks: Sequence[Task], targets_per_split: Sequence[Sequence[torch.Tensor]]
) -> tuple[Task, ...]:
    """Each task with ``num_classes`` set: its own, or the largest target of any split + 1."""
    resolved = []
    for index, task in enumerate(tasks):
        if task.num_classes is not None:
            resolved.append(task)
            continue
        largest = max(int(split[index].max()) for split in targets_per_split if len(split[index]))
        resolved.append(task.with_num_classes(max(largest + 1, 2)))
    return tuple(resolved)


def _tensor(values: Any) -> torch.Tensor:
    return values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))


def _as_targets(values: Any, n: int, what: str) -> torch.Tensor:
    """``values`` as an int64 ``(n,)`` tensor of class indices, or a one-line ValueError."""
    tensor = _tensor(values)
    if tensor.dtype.is_floating_point:
        if not torch.equal(tensor, tensor.round()):
            raise ValueError(f"{what}: targets must be class indices (integers)")
    elif tensor.dtype == torch.bool:
        tensor = tensor.long()
    if tuple(tensor.shape) != (n,):
        raise ValueError(f"{what}: expected {n} targets, got shape {tuple(tensor.shape)}")
    return tensor.long()


SplitSource = Any
"""What :func:`multitask_dataset` accepts for a split: ``(images, targets)``, a torch ``Dataset``
of ``(image, target)`` items, or a function of no arguments returning either."""


def multitask_dataset(
    tasks: Sequence[Task],
    train: SplitSource,
    val: SplitSource | None = None,
    test: SplitSource | None = None,
    name: str = "custom",
    class_names: Sequence[str] = (),
    val_fraction: float = VAL_FRACTION,
    seed: int = 0,
) -> DatasetBundle:
    """Your own multi-task data as a :class:`DatasetBundle`, for any number of tasks.

    Each split is ``(images, targets)``, a torch ``Dataset`` of ``(image, target)`` items, or a
    function of no arguments returning either. Images are float ``(N, C, H, W)`` (or ``(N, H,
    W)``: one channel). Targets are, per split or per item:

    * one label per image (a tensor ``(N,)``, an int): each task derives its targets with its
      ``targets`` function (a single task without one uses the labels as they are);
    * one target per task: a sequence of tensors in task order, a tensor ``(N, n_tasks)``, or
      a dict by task name.

    Args:
        tasks: one :class:`~hybrid.tasks.Task` per model head, in head order.
        train: the training split (pretraining, and the environment's calibration images).
        val: the validation split (the reward's evaluation images); default: ``val_fraction``
            of ``train``, drawn with ``seed``.
        test: images nothing is tuned on (``eval_split="test"``); default: ``val``.
        name: the dataset's name (run folders and caches record it).
        class_names: names of the labels, when targets are derived from labels.
        val_fraction: share of ``train`` held out when ``val`` is None.
        seed: fixes that hold-out.
    """
    tasks = check_tasks(tasks)
    train_split = _to_split(train, tasks, "train")
    if val is None:
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        order = torch.randperm(len(train_split), generator=torch.Generator().manual_seed(seed))
        n_val = max(1, round(val_fraction * len(train_split)))
        val_split = train_split.select(order[:n_val].sort().values)
        train_split = train_split.select(order[n_val:].sort().values)
    else:
        val_split = _to_split(val, tasks, "val")
    test_split = val_split if test is None else _to_split(test, tasks, "test")
    splits = (train_split, val_split, test_split)
    tasks = _with_class_counts(tasks, [split.targets for split in splits])
    return DatasetBundle(
        name=name,
        train=train_split,
        val=val_split,
        test=test_split,
        tasks=tasks,
        input_shape=tuple(int(d) for d in train_split.images.shape[1:]),  # type: ignore[arg-type]
        class_names=tuple(class_names),
    )


def _to_split(source: SplitSource, tasks: tuple[Task, ...], where: str) -> MultiTaskSplit:
    """One split from ``(images, targets)``, a Dataset, or a function returning either."""
    if callable(source) and not isinstance(source, (Dataset, tuple, list)):
        source = source()
    if isinstance(source, Dataset):
        items = [source[i] for i in range(len(source))]  # type: ignore[arg-type]
        if not items:
            raise ValueError(f"the {where} dataset is empty")
        images = torch.stack([torch.as_tensor(item[0]) for item in items])
        first = items[0][1]
        if isinstance(first, Mapping):
            targets: Any = {key: [item[1][key] for item in items] for key in first}
        elif isinstance(first, (tuple, list)):
            targets = [[item[1][k] for item in items] for k in range(len(first))]
        else:
            targets = [int(item[1]) for item in items]
    elif isinstance(source, (tuple, list)) and len(source) == 2:
        images, targets = source
    else:
        raise ValueError(
            f"the {where} split must be (images, targets), a torch Dataset of (image, target) "
            f"items, or a function returning either; got {type(source).__name__}"
        )
    images = torch.as_tensor(images)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if not images.dtype.is_floating_point:
        raise ValueError(
            f"the {where} images are {images.dtype}: give floating-point pixels (e.g. uint8 / 255)"
        )
    images = images.to(torch.float32)
    n = int(images.shape[0])
    per_task, labels = _split_targets(targets, tasks, n, where)
    return MultiTaskSplit(images, per_task, labels)


def _split_targets(
    targets: Any, tasks: tuple[Task, ...], n: int, where: str
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
    """Per-task target tensors (and the labels they came from, if any) of one split."""
    names = [task.name for task in tasks]
    if isinstance(targets, Mapping):
        missing = [name for name in names if name not in targets]
        unknown = [key for key in targets if key not in names]
        if missing or unknown:
            raise ValueError(
                f"the {where} targets are keyed {', '.join(map(str, targets))} but the tasks are "
                f"{', '.join(names)}"
            )
        return tuple(_as_targets(targets[k], n, f"{where} task {k!r}") for k in names), None
    if isinstance(targets, (tuple, list)) and targets and not np.isscalar(targets[0]):
        if len(targets) != len(tasks):
            raise ValueError(
                f"the {where} split gives {len(targets)} target sequence(s) for {len(tasks)} "
                f"task(s) ({', '.join(names)}): give one per task, in head order"
            )
        return tuple(
            _as_targets(c, n, f"{where} task {k!r}") for k, c in zip(names, targets, strict=True)
        ), None
    tensor = _tensor(targets)
    if tensor.dim() == 2:
        if tensor.shape[1] != len(tasks):
            raise ValueError(
                f"the {where} targets have {tensor.shape[1]} column(s) for {len(tasks)} task(s)"
            )
        return tuple(
            _as_targets(tensor[:, k], n, f"{where} task {name!r}") for k, name in enumerate(names)
        ), None
    labels = _as_targets(tensor, n, f"{where} labels")
    derived = []
    for task in tasks:
        if task.targets is None:
            if len(tasks) > 1:
                raise ValueError(
                    f"the {where} split gives one label per image but task {task.name!r} has no "
                    "targets function: give Task(..., targets=fn) or one target per task"
                )
            derived.append(labels)
        else:
            derived.append(_as_targets(task.targets(labels), n, f"{where} task {task.name!r}"))
    return tuple(derived), labels


def _check_name(name: str) -> None:
    if name not in _INPUT_SHAPES:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")


def dataset_input_shape(name: str) -> tuple[int, int, int]:
    """Image shape (C, H, W) of dataset ``name`` without loading any data."""
    _check_name(name)
    return _INPUT_SHAPES[name]


def default_data_dir() -> Path:
    """Data folder: ``$HYBRID_DATA_DIR`` if set, else ``~/.cache/hybrid_partition/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "hybrid_partition" / "data"


def load_dataset(
    name: str = "digits",
    data_dir: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
) -> DatasetBundle:
    """Load dataset ``name`` (one of :data:`DATASETS`) with splits fixed by ``seed``.

    Args:
        name: ``"digits"`` (embedded, offline), ``"digits32"`` or ``"cifar10"``.
        data_dir: folder holding ``cifar-10-batches-py/`` (or the archive); default
            :func:`default_data_dir`. Unused by the embedded digits.
        download: let torchvision download CIFAR-10 when it is missing.
        seed: fixes the train/val(/test) split.

    Raises:
        ValueError: unknown ``name``.
        DatasetNotFoundError: CIFAR-10 is missing and was not downloaded.
    """
    _check_name(name)
    if name == "digits":
        return _load_digits(seed, upsample=False)
    if name == "digits32":
        return _load_digits(seed, upsample=True)
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return _load_cifar10(root, download, seed)


def require_dataset(name: str, data_dir: str | Path | None = None) -> None:
    """Check, without loading it, that dataset ``name`` can be loaded: a known name, and for
    CIFAR-10 its files (or the archive) in ``data_dir``. Raises what :func:`load_dataset` would."""
    _check_name(name)
    if name == "cifar10":
        root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        files = _cifar10_files()
        if not files.CIFAR10Files.files_present(root) and not (root / files.ARCHIVE).is_file():
            raise DatasetNotFoundError(_cifar10_missing_message(root))


def _groups_from_labels(labels: torch.Tensor, group1_classes: tuple[int, ...]) -> torch.Tensor:
    return torch.isin(labels, torch.tensor(group1_classes, dtype=labels.dtype)).long()


def _split(
    images: torch.Tensor,
    labels: torch.Tensor,
    index: torch.Tensor | np.ndarray | None,
    tasks: Sequence[Task],
) -> MultiTaskSplit:
    """The items at ``index`` (all when None), with each task's targets from the labels.

    ``uint8`` images are raw 8-bit pixels, scaled to [0, 1] after indexing (4x fewer bytes
    to copy than indexing floats).
    """
    if index is not None:
        index = torch.as_tensor(index, dtype=torch.long)
        images, labels = images[index], labels[index]
    if images.dtype == torch.uint8:
        images = images.to(torch.float32).div_(255.0)
    return MultiTaskSplit(images, tuple(task.targets(labels) for task in tasks), labels)


def _load_digits(seed: int, upsample: bool) -> DatasetBundle:
    # Imported here so that the CIFAR-only path does not pay for scikit-learn's import.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().div_(16.0).unsqueeze(1)  # 0..16 -> [0, 1]
    if upsample:
        # Bilinear weights are convex, so values stay in [0, 1].
        images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
        images = images.repeat(1, 3, 1, 1)
    labels = torch.from_numpy(digits.target).long()

    all_index = np.arange(len(labels))
    rest, test = train_test_split(
        all_index, test_size=DIGITS_TEST_FRACTION, stratify=digits.target, random_state=seed
    )
    train, val = train_test_split(
        rest,
        test_size=DIGITS_VAL_FRACTION / (1.0 - DIGITS_TEST_FRACTION),
        stratify=digits.target[rest],
        random_state=seed,
    )
    name = "digits32" if upsample else "digits"
    return DatasetBundle(
        name=name,
        train=_split(images, labels, train, DIGITS_TASKS),
        val=_split(images, labels, val, DIGITS_TASKS),
        test=_split(images, labels, test, DIGITS_TASKS),
        tasks=DIGITS_TASKS,
        input_shape=_INPUT_SHAPES[name],
        class_names=tuple(str(d) for d in range(10)),
    )


def _cifar10_files() -> Any:
    """:mod:`hybrid.cifar10_files`, imported on first use: it imports torchvision's datasets,
    which pull in ``torch._dynamo`` (about 160 MB resident and a second and a half of import
    time in every process), and only CIFAR-10 needs them."""
    from hybrid import cifar10_files

    return cifar10_files


def _cifar10_missing_message(root: Path, download_error: str = "") -> str:
    """One line: where CIFAR-10 was looked for and how to put it there."""
    files = _cifar10_files()
    message = (
        f"CIFAR-10 not found in {root}: download {files.ARCHIVE} from {CIFAR10_URL_PAGE} and "
        f"extract it there (it must contain {files.FOLDER}/)"
    )
    if download_error:
        message += f"; the download failed: {download_error}"
    else:
        message += (
            ", or point --data-dir (or the HYBRID_DATA_DIR variable) at the folder that holds "
            "it; load_dataset('cifar10', download=True) downloads it where the network allows"
        )
    return " ".join(message.split())  # one line, whatever the path or error text holds


def _ensure_cifar10_files(root: Path, download: bool) -> None:
    files = _cifar10_files()
    if files.CIFAR10Files.files_present(root):
        return
    archive = root / files.ARCHIVE
    if archive.is_file():  # downloaded by hand but not extracted: extracting needs no network
        files.extract_archive(str(archive), str(root))
        if files.CIFAR10Files.files_present(root):
            return
    if not download:
        raise DatasetNotFoundError(_cifar10_missing_message(root))
    try:
        root.mkdir(parents=True, exist_ok=True)
        files.CIFAR10Files(str(root), train=True, download=True)
    except (OSError, RuntimeError) as err:
        raise DatasetNotFoundError(_cifar10_missing_message(root, str(err))) from err
    if not files.CIFAR10Files.files_present(root):
        raise DatasetNotFoundError(_cifar10_missing_message(root, "files still missing"))


def _cifar10_tensors(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    # Whole-array conversion instead of ToTensor per image: HWC uint8 -> CHW uint8; _split
    # then scales to float in [0, 1], the same values as ToTensor.
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return images, labels


def _load_cifar10(root: Path, download: bool, seed: int) -> DatasetBundle:
    _ensure_cifar10_files(root, download)
    reader = _cifar10_files().CIFAR10Files
    train_set = reader(str(root), train=True)
    test_set = reader(str(root), train=False)
    train_images, train_labels = _cifar10_tensors(train_set)
    test_images, test_labels = _cifar10_tensors(test_set)

    class_names = tuple(train_set.classes)
    tasks = (dataclasses.replace(CIFAR10_TASKS[0], class_names=class_names), CIFAR10_TASKS[1])
    n_val = round(CIFAR10_VAL_FRACTION * len(train_labels))
    order = torch.randperm(len(train_labels), generator=torch.Generator().manual_seed(seed))
    val_index, train_index = order[:n_val].sort().values, order[n_val:].sort().values
    return DatasetBundle(
        name="cifar10",
        train=_split(train_images, train_labels, train_index, tasks),
        val=_split(train_images, train_labels, val_index, tasks),
        test=_split(test_images, test_labels, None, tasks),
        tasks=tasks,
        input_shape=_INPUT_SHAPES["cifar10"],
        class_names=class_names,
    )
