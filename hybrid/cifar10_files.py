"""torchvision's CIFAR-10 reader, as :func:`hybrid.data.load_dataset` uses it.

Its own module so that importing :mod:`hybrid.data` does not import torchvision's datasets
(which pull in ``torch._dynamo``: about 160 MB resident and 1.5 s per process); it is imported
when CIFAR-10 is asked for.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import extract_archive

__all__ = ["ARCHIVE", "FOLDER", "CIFAR10Files", "extract_archive"]

ARCHIVE: str = CIFAR10.filename
"""The archive torchvision downloads (``cifar-10-python.tar.gz``)."""
FOLDER: str = CIFAR10.base_folder
"""The folder the archive holds (``cifar-10-batches-py``)."""


class CIFAR10Files(CIFAR10):
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
