"""Datasets: shapes, splits, group rules, determinism, and CIFAR-10 read from its real format."""

from __future__ import annotations

import pickle
import pickletools
import tarfile
from collections import Counter
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from hybrid.data import (
    DATASETS,
    DatasetBundle,
    DatasetNotFoundError,
    MultiTaskSplit,
    dataset_input_shape,
    load_dataset,
    require_dataset,
)

CIFAR10_CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
IMAGES_PER_TRAIN_BATCH = 4
IMAGES_IN_TEST_BATCH = 6
KNOWN_PIXEL = (1, 5, 7)  # (channel, row, column) of test image 0
KNOWN_PIXEL_VALUE = 123


def _splits(bundle: DatasetBundle) -> tuple[MultiTaskSplit, MultiTaskSplit, MultiTaskSplit]:
    return bundle.train, bundle.val, bundle.test


def _image_counter(*splits: MultiTaskSplit) -> Counter[tuple[int, bytes]]:
    """Multiset of (label, image bytes): equal multisets mean the same items."""
    return Counter(
        (int(label), image.numpy().tobytes())
        for split in splits
        for image, label in zip(split.images, split.labels, strict=True)
    )


# --- digits ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return load_dataset("digits", seed=0)


def test_digits_shapes_ranges_and_sizes(digits: DatasetBundle) -> None:
    assert digits.name == "digits"
    assert digits.input_shape == (1, 8, 8) == dataset_input_shape("digits")
    assert [task.num_classes for task in digits.tasks] == [10, 2]
    assert digits.task_names == ("class", "group")
    sizes = [len(split) for split in _splits(digits)]
    assert sum(sizes) == 1797
    assert sizes == [1077, 360, 360]  # 60 / 20 / 20
    for split in _splits(digits):
        assert split.images.shape[1:] == (1, 8, 8)
        assert split.images.dtype == torch.float32
        assert split.labels.dtype == split.targets[1].dtype == torch.int64
        assert split.images.min() >= 0.0 and split.images.max() <= 1.0
    assert digits.train.images.max() == 1.0  # raw 16 -> 1.0
    assert set(digits.train.labels.tolist()) == set(range(10))


def test_digits_splits_partition_the_dataset(digits: DatasetBundle) -> None:
    raw = load_digits()
    original = Counter(
        (int(label), (image / 16.0).astype(np.float32)[None].tobytes())
        for image, label in zip(raw.images, raw.target, strict=True)
    )
    # Same multiset of items: nothing lost, nothing in two splits.
    assert _image_counter(*_splits(digits)) == original


def test_digits_split_is_stratified(digits: DatasetBundle) -> None:
    per_class = Counter(load_digits().target.tolist())
    for split in (digits.val, digits.test):
        counts = Counter(split.labels.tolist())
        for digit, total in per_class.items():
            assert abs(counts[digit] - 0.2 * total) <= 1.0


def test_digits_split_depends_only_on_seed(digits: DatasetBundle) -> None:
    again = load_dataset("digits", seed=0)
    for first, second in zip(_splits(digits), _splits(again), strict=True):
        assert torch.equal(first.images, second.images)
        assert torch.equal(first.labels, second.labels)
    other = load_dataset("digits", seed=1)
    assert not torch.equal(digits.train.labels, other.train.labels)


def test_digits_groups_are_closed_loop_digits(digits: DatasetBundle) -> None:
    assert digits.tasks[1].class_names == ("open", "closed loop")
    for split in _splits(digits):
        for label, group in zip(split.labels.tolist(), split.targets[1].tolist(), strict=True):
            assert group == (1 if label in (0, 6, 8, 9) else 0)
    assert 0 < digits.train.targets[1].float().mean() < 1


def test_digits32_is_the_same_digits_upsampled(digits: DatasetBundle) -> None:
    big = load_dataset("digits32", seed=0)
    assert big.input_shape == (3, 32, 32) == dataset_input_shape("digits32")
    for small_split, big_split in zip(_splits(digits), _splits(big), strict=True):
        assert big_split.images.shape == (len(small_split), 3, 32, 32)
        assert big_split.images.min() >= 0.0 and big_split.images.max() <= 1.0
        assert torch.equal(big_split.labels, small_split.labels)
        assert torch.equal(big_split.targets[1], small_split.targets[1])
    gray = big.test.images
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 0], gray[:, 2])
    small = digits.test.images
    # Upsampling keeps each image's ink, and item i is still digit image i: shrunk back by 4x4
    # averaging (blurred by the interpolation), its nearest 8x8 image is its own source.
    assert torch.allclose(gray.mean(dim=(1, 2, 3)), small.mean(dim=(1, 2, 3)), atol=1e-5)
    back = F.avg_pool2d(gray[:, :1], kernel_size=4)
    nearest = torch.cdist(back.flatten(1), small.flatten(1)).argmin(dim=1)
    assert torch.equal(nearest, torch.arange(len(small)))


# --- MultiTaskSplit -------------------------------------------------------------------------


def test_subset_is_fixed_by_seed(digits: DatasetBundle) -> None:
    first = digits.train.subset(100, seed=3)
    assert len(first) == 100
    assert torch.equal(first.images, digits.train.subset(100, seed=3).images)
    assert not torch.equal(first.labels, digits.train.subset(100, seed=4).labels)
    # Items come from the split, with their own labels and groups.
    assert _image_counter(first) - _image_counter(digits.train) == Counter()
    assert torch.equal(
        first.targets[1], torch.isin(first.labels, torch.tensor([0, 6, 8, 9])).long()
    )
    assert len(digits.train.subset(10_000)) == len(digits.train)
    with pytest.raises(ValueError):
        digits.train.subset(-1)


def test_loader_yields_seeded_batches(digits: DatasetBundle) -> None:
    batches = list(digits.val.loader(batch_size=100, shuffle=False))
    assert [len(labels) for _, labels, _ in batches] == [100, 100, 100, 60]
    images, labels, groups = batches[0]
    assert images.shape == (100, 1, 8, 8)
    assert torch.equal(labels, digits.val.labels[:100])
    assert torch.equal(groups, digits.val.targets[1][:100])

    def order(seed: int) -> torch.Tensor:
        loader = digits.val.loader(batch_size=64, shuffle=True, seed=seed)
        return torch.cat([images.flatten(1) for images, _, _ in loader])

    assert torch.equal(order(0), order(0))
    assert not torch.equal(order(0), order(1))
    assert not torch.equal(order(0), digits.val.images.flatten(1))


def test_split_rejects_misaligned_tensors() -> None:
    with pytest.raises(ValueError, match=r"targets\[0\] must be int64 \(3,\)"):
        MultiTaskSplit(torch.zeros(3, 1, 8, 8), (torch.zeros(2, dtype=torch.long),))
    with pytest.raises(ValueError, match="labels"):
        MultiTaskSplit(torch.zeros(3, 1, 8, 8), (torch.zeros(3, dtype=torch.long),), torch.zeros(3))


# --- names ----------------------------------------------------------------------------------


def test_unknown_name_lists_known_names() -> None:
    for call in (lambda: load_dataset("mnist"), lambda: dataset_input_shape("mnist")):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and "mnist" in message
        assert all(name in message for name in DATASETS)


def test_input_shapes_without_loading() -> None:
    assert DATASETS == ("digits", "digits32", "cifar10")
    assert dataset_input_shape("cifar10") == (3, 32, 32)


# --- CIFAR-10 in its real on-disk format ----------------------------------------------------


def _py2_pickle(obj: object, byte_strings: set[str]) -> bytes:
    """Pickle ``obj`` as Python 2 wrote the CIFAR-10 files: ``byte_strings`` as py2 ``str``.

    Such text then loads as ``str`` with ``encoding="latin1"`` (torchvision) and as ``bytes``
    with ``encoding="bytes"`` (the CIFAR-10 page's recipe: ``dict[b"data"]``).
    """
    raw = pickle.dumps(obj, protocol=2)
    ops = list(pickletools.genops(raw))
    ends = [pos for _, _, pos in ops[1:]] + [len(raw)]
    out = bytearray()
    for (op, arg, pos), end in zip(ops, ends, strict=True):
        if op.name == "BINUNICODE" and arg in byte_strings:
            text = arg.encode("ascii")
            out += b"U" + bytes([len(text)]) + text  # SHORT_BINSTRING: a py2 str
        else:
            out += raw[pos:end]
    return bytes(out)


def _write_batch(path: Path, record: dict[str, object]) -> None:
    strings = {key for key in record} | {
        value for values in record.values() if isinstance(values, list) for value in values
        if isinstance(value, str)
    } | {value for value in record.values() if isinstance(value, str)}  # fmt: skip
    path.write_bytes(_py2_pickle(record, strings))


def _write_tiny_cifar10(root: Path) -> dict[str, np.ndarray]:
    """A few images per batch in the real CIFAR-10 python layout; returns what was written."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written: dict[str, np.ndarray] = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    start = 0
    for name in names:
        n = IMAGES_IN_TEST_BATCH if name == "test_batch" else IMAGES_PER_TRAIN_BATCH
        labels = [(start + i) % 10 for i in range(n)]
        start += n
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        if name == "test_batch":
            channel, row, column = KNOWN_PIXEL
            data[0, channel * 1024 + row * 32 + column] = KNOWN_PIXEL_VALUE
        _write_batch(
            folder / name,
            {
                "batch_label": f"{name} of 6",
                "labels": labels,
                "data": data,
                "filenames": [f"image_{start + i}.png" for i in range(n)],
            },
        )
        written[f"{name}/data"] = data
        written[f"{name}/labels"] = np.array(labels)
    meta = {"num_cases_per_batch": IMAGES_PER_TRAIN_BATCH, "label_names": list(CIFAR10_CLASS_NAMES),
            "num_vis": 3072}  # fmt: skip
    _write_batch(folder / "batches.meta", meta)
    return written


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("cifar")
    return root, _write_tiny_cifar10(root)


def test_fixture_is_in_the_real_python_format(tiny_cifar: tuple[Path, dict]) -> None:
    root, written = tiny_cifar
    with open(root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # as on the CIFAR-10 page
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (4, 3072)
    assert batch[b"labels"] == written["data_batch_1/labels"].tolist()


def test_cifar10_round_trips_images_labels_and_groups(tiny_cifar: tuple[Path, dict]) -> None:
    root, written = tiny_cifar
    bundle = load_dataset("cifar10", data_dir=root)
    assert bundle.name == "cifar10"
    assert bundle.class_names == CIFAR10_CLASS_NAMES
    assert bundle.tasks[1].class_names == ("non-animal", "animal")
    assert bundle.input_shape == (3, 32, 32) and bundle.num_classes == 10
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (18, 2, 6)  # 90/10

    for split in _splits(bundle):
        assert split.images.shape[1:] == (3, 32, 32) and split.images.dtype == torch.float32
        assert split.images.min() >= 0.0 and split.images.max() <= 1.0
        expected = torch.isin(split.labels, torch.tensor([0, 1, 8, 9]), invert=True).long()
        assert torch.equal(split.targets[1], expected)

    # The test batch keeps its order; its pixels are value / 255, in CHW layout.
    test_data = written["test_batch/data"]
    assert bundle.test.labels.tolist() == written["test_batch/labels"].tolist()
    assert bundle.test.images[(0, *KNOWN_PIXEL)].item() == pytest.approx(KNOWN_PIXEL_VALUE / 255)
    expected_test = torch.from_numpy(test_data.reshape(-1, 3, 32, 32)).float() / 255
    assert torch.allclose(bundle.test.images, expected_test)

    # Train and val together hold exactly the five training batches.
    train_batches = [f"data_batch_{i}" for i in range(1, 6)]
    written_train = Counter(
        (int(label), (row.reshape(3, 32, 32).astype(np.float32) / 255).tobytes())
        for name in train_batches
        for row, label in zip(written[f"{name}/data"], written[f"{name}/labels"], strict=True)
    )
    assert _image_counter(bundle.train, bundle.val) == written_train


def test_cifar10_groups_follow_the_animal_rule(tiny_cifar: tuple[Path, dict]) -> None:
    bundle = load_dataset("cifar10", data_dir=tiny_cifar[0])
    pairs = zip(bundle.test.labels.tolist(), bundle.test.targets[1].tolist(), strict=True)
    group_of = dict(pairs)
    # Test labels are 0..5: airplane, automobile -> non-animal; bird, cat, deer, dog -> animal.
    assert group_of == {0: 0, 1: 0, 2: 1, 3: 1, 4: 1, 5: 1}


def test_cifar10_validation_split_follows_seed(tiny_cifar: tuple[Path, dict]) -> None:
    root = tiny_cifar[0]
    first = load_dataset("cifar10", data_dir=root, seed=0)
    assert torch.equal(first.val.images, load_dataset("cifar10", data_dir=root, seed=0).val.images)
    other = load_dataset("cifar10", data_dir=root, seed=1)
    assert _image_counter(first.val) != _image_counter(other.val)


def test_cifar10_data_dir_defaults_to_env_var(
    tiny_cifar: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRID_DATA_DIR", str(tiny_cifar[0]))
    assert len(load_dataset("cifar10").test) == IMAGES_IN_TEST_BATCH


def test_cifar10_archive_is_extracted_without_network(tmp_path: Path) -> None:
    source = tmp_path / "source"
    _write_tiny_cifar10(source)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with tarfile.open(data_dir / "cifar-10-python.tar.gz", "w:gz") as archive:
        archive.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    assert len(load_dataset("cifar10", data_dir=data_dir).test) == IMAGES_IN_TEST_BATCH


def _assert_one_line_naming(error: pytest.ExceptionInfo, directory: Path) -> None:
    message = str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    assert "\n" not in message
    assert str(directory) in message and "cifar-10-batches-py" in message


def test_missing_cifar10_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cifar10", data_dir=tmp_path)
    _assert_one_line_naming(error, tmp_path)
    assert "--data-dir" in str(error.value)  # what the command lines take
    with pytest.raises(DatasetNotFoundError) as early:  # the same, without loading anything
        require_dataset("cifar10", tmp_path)
    assert str(early.value) == str(error.value)


def test_incomplete_cifar10_is_missing(tmp_path: Path) -> None:
    _write_tiny_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cifar10", data_dir=tmp_path)
    _assert_one_line_naming(error, tmp_path)


def test_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -2] Name or service not known\nsecond line")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cifar10", data_dir=tmp_path / "new", download=True)
    _assert_one_line_naming(error, tmp_path / "new")
    assert "Name or service not known" in str(error.value)
