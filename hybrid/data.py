"""Multi-task image datasets: task 1 is the class, task 2 a binary group of that class.

Three datasets share one shape of answer, a :class:`DatasetBundle` of train/val/test
:class:`MultiTaskSplit` tensors held in memory:

- ``digits`` (default, offline): scikit-learn's 1797 8x8 handwritten digits, shipped inside
  scikit-learn. Group 1 = digits with a closed loop {0, 6, 8, 9}. Stratified 60/20/20 split.
- ``digits32``: the same digits and splits, upsampled to 3x32x32 (bilinear, gray on three
  channels), a CIFAR-sized input for the CIFAR-sized network when CIFAR-10 is not at hand.
- ``cifar10``: CIFAR-10 as in the paper (see ``shared/REFERENCE.md`` section 1): ToTensor only,
  train/val = seeded 90/10 split of the 50k training images, test = the 10k test batch.
  Group 0 = non-animal (airplane, automobile, ship, truck), group 1 = animal.

Every split is deterministic for a given ``seed``. Nothing here knows about models or RL.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import extract_archive

__all__ = [
    "CIFAR10_NON_ANIMAL_CLASSES",
    "DATASETS",
    "DIGITS_CLOSED_LOOP_CLASSES",
    "DatasetBundle",
    "DatasetNotFoundError",
    "MultiTaskSplit",
    "dataset_input_shape",
    "default_data_dir",
    "load_dataset",
    "require_dataset",
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
"""Digits drawn with a closed loop: group 1 of the ``digits`` datasets (REFERENCE.md s. 6)."""
DIGITS_GROUP_NAMES: tuple[str, str] = ("open", "closed loop")

CIFAR10_NON_ANIMAL_CLASSES: tuple[int, ...] = (0, 1, 8, 9)
"""Airplane, automobile, ship, truck: group 0 of ``cifar10``, as in the paper (REFERENCE s. 1)."""
CIFAR10_GROUP_NAMES: tuple[str, str] = ("non-animal", "animal")

DIGITS_VAL_FRACTION = 0.2
DIGITS_TEST_FRACTION = 0.2
CIFAR10_VAL_FRACTION = 0.1
"""Fraction of the 50k CIFAR-10 training images held out for validation (the paper's 90/10)."""

DATA_DIR_ENV = "HYBRID_DATA_DIR"
CIFAR10_URL_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing and could not be downloaded; the message says what to do."""


@dataclass(frozen=True, eq=False, repr=False)
class MultiTaskSplit:
    """One split of a multi-task dataset, held in memory as aligned tensors.

    Attributes:
        images: float32 ``(N, C, H, W)``, values in [0, 1].
        labels: int64 ``(N,)``, task 1: the class index.
        groups: int64 ``(N,)``, task 2: the binary group (0/1) of the class.
    """

    images: torch.Tensor
    labels: torch.Tensor
    groups: torch.Tensor

    def __post_init__(self) -> None:
        n = self.images.shape[0] if self.images.dim() == 4 else -1
        if self.images.dim() != 4 or self.images.dtype != torch.float32:
            raise ValueError(
                f"images must be float32 (N, C, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        for name, tensor in (("labels", self.labels), ("groups", self.groups)):
            if tensor.dtype != torch.int64 or tuple(tensor.shape) != (n,):
                raise ValueError(
                    f"{name} must be int64 ({n},), got {tensor.dtype} {tuple(tensor.shape)}"
                )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return f"MultiTaskSplit(n={len(self)}, image_shape={tuple(self.images.shape[1:])})"

    def subset(self, n: int, seed: int = 0) -> MultiTaskSplit:
        """A fixed random subset of ``n`` items (same ``seed``, same items), in split order.

        ``n`` at or above the split size returns the whole split.
        """
        if n < 0:
            raise ValueError(f"subset size must be >= 0, got {n}")
        if n >= len(self):
            return self
        generator = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(self), generator=generator)[:n].sort().values
        return MultiTaskSplit(self.images[index], self.labels[index], self.groups[index])

    def loader(self, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
        """Batches of ``(images, labels, groups)``; a shuffled order is fixed by ``seed``."""
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        dataset = TensorDataset(self.images, self.labels, self.groups)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


@dataclass(frozen=True, eq=False)
class DatasetBundle:
    """A named dataset: train/val/test splits plus the names of its classes and groups."""

    name: str
    train: MultiTaskSplit
    val: MultiTaskSplit
    test: MultiTaskSplit
    class_names: tuple[str, ...]
    group_names: tuple[str, str]
    input_shape: tuple[int, int, int]
    """Shape (C, H, W) of one image."""

    @property
    def num_classes(self) -> int:
        """Number of task-1 classes."""
        return len(self.class_names)

    @property
    def num_groups(self) -> int:
        """Number of task-2 groups (2)."""
        return len(self.group_names)


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
        if not _CIFAR10Files.files_present(root) and not (root / CIFAR10.filename).is_file():
            raise DatasetNotFoundError(_cifar10_missing_message(root))


def _groups_from_labels(labels: torch.Tensor, group1_classes: tuple[int, ...]) -> torch.Tensor:
    return torch.isin(labels, torch.tensor(group1_classes, dtype=labels.dtype)).long()


def _split(
    images: torch.Tensor,
    labels: torch.Tensor,
    index: torch.Tensor | np.ndarray | None,
    group1_classes: tuple[int, ...],
) -> MultiTaskSplit:
    """The items at ``index`` (all when None), with groups from the group-1 class list.

    ``uint8`` images are raw 8-bit pixels, scaled to [0, 1] after indexing (4x fewer bytes
    to copy than indexing floats).
    """
    if index is not None:
        index = torch.as_tensor(index, dtype=torch.long)
        images, labels = images[index], labels[index]
    if images.dtype == torch.uint8:
        images = images.to(torch.float32).div_(255.0)
    return MultiTaskSplit(images, labels, _groups_from_labels(labels, group1_classes))


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
        train=_split(images, labels, train, DIGITS_CLOSED_LOOP_CLASSES),
        val=_split(images, labels, val, DIGITS_CLOSED_LOOP_CLASSES),
        test=_split(images, labels, test, DIGITS_CLOSED_LOOP_CLASSES),
        class_names=tuple(str(d) for d in range(10)),
        group_names=DIGITS_GROUP_NAMES,
        input_shape=_INPUT_SHAPES[name],
    )


class _CIFAR10Files(CIFAR10):
    """torchvision's CIFAR-10 reader with the md5 checks relaxed to "all batch files exist".

    The pickle parsing stays torchvision's; only the checksum test is replaced, so that a
    small file in the real format (as the tests write) loads too.
    """

    @classmethod
    def required_files(cls) -> list[str]:
        """Names of the files that must exist under ``cifar-10-batches-py/``."""
        batches = [file_name for file_name, _md5 in cls.train_list + cls.test_list]
        return [*batches, cls.meta["filename"]]

    @classmethod
    def files_present(cls, root: Path) -> bool:
        """Whether every required file exists under ``root/cifar-10-batches-py/``."""
        folder = root / cls.base_folder
        return all((folder / file_name).is_file() for file_name in cls.required_files())

    def _check_integrity(self) -> bool:
        return self.files_present(Path(self.root))

    def _load_meta(self) -> None:
        # torchvision's _load_meta without its md5 check.
        path = Path(self.root) / self.base_folder / self.meta["filename"]
        with open(path, "rb") as infile:
            meta = pickle.load(infile, encoding="latin1")
        self.classes = meta[self.meta["key"]]
        self.class_to_idx = {class_name: i for i, class_name in enumerate(self.classes)}


def _cifar10_missing_message(root: Path, download_error: str = "") -> str:
    """One line: where CIFAR-10 was looked for and how to put it there."""
    message = (
        f"CIFAR-10 not found in {root}: download {CIFAR10.filename} from {CIFAR10_URL_PAGE} "
        f"and extract it there (it must contain {CIFAR10.base_folder}/)"
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
    if _CIFAR10Files.files_present(root):
        return
    archive = root / CIFAR10.filename
    if archive.is_file():  # downloaded by hand but not extracted: extracting needs no network
        extract_archive(str(archive), str(root))
        if _CIFAR10Files.files_present(root):
            return
    if not download:
        raise DatasetNotFoundError(_cifar10_missing_message(root))
    try:
        root.mkdir(parents=True, exist_ok=True)
        _CIFAR10Files(str(root), train=True, download=True)
    except (OSError, RuntimeError) as err:
        raise DatasetNotFoundError(_cifar10_missing_message(root, str(err))) from err
    if not _CIFAR10Files.files_present(root):
        raise DatasetNotFoundError(_cifar10_missing_message(root, "files still missing"))


def _cifar10_tensors(dataset: CIFAR10) -> tuple[torch.Tensor, torch.Tensor]:
    # Whole-array conversion instead of ToTensor per image: HWC uint8 -> CHW uint8; _split
    # then scales to float in [0, 1], the same values as ToTensor.
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return images, labels


def _load_cifar10(root: Path, download: bool, seed: int) -> DatasetBundle:
    _ensure_cifar10_files(root, download)
    train_set = _CIFAR10Files(str(root), train=True)
    test_set = _CIFAR10Files(str(root), train=False)
    train_images, train_labels = _cifar10_tensors(train_set)
    test_images, test_labels = _cifar10_tensors(test_set)

    animal = tuple(c for c in range(10) if c not in CIFAR10_NON_ANIMAL_CLASSES)
    n_val = round(CIFAR10_VAL_FRACTION * len(train_labels))
    order = torch.randperm(len(train_labels), generator=torch.Generator().manual_seed(seed))
    val_index, train_index = order[:n_val].sort().values, order[n_val:].sort().values
    return DatasetBundle(
        name="cifar10",
        train=_split(train_images, train_labels, train_index, animal),
        val=_split(train_images, train_labels, val_index, animal),
        test=_split(test_images, test_labels, None, animal),
        class_names=tuple(train_set.classes),
        group_names=CIFAR10_GROUP_NAMES,
        input_shape=_INPUT_SHAPES["cifar10"],
    )
