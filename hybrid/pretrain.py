"""Pretraining of the multi-task network, optionally hardware-aware, cached on disk.

The environment must never retrain at start-up, so :func:`load_or_pretrain` keys a cache file by
everything that determines the weights (dataset, architecture, training settings, hardware when
training is hardware-aware, file format). A cache file that cannot be read, or that was written
for another key, is reported in one line and rebuilt: it is never loaded as a wrong model.

The default digits network also ships inside the package (``hybrid/pretrained/``): pretraining is
not bitwise reproducible across CPUs (float summation order differs between, say, Intel and AMD
kernels; the digits network trained on two machines scored 0.972 and 0.969 class accuracy, and
every return in the benchmarks moved with it), so every machine starts from the same weights
unless ``rebuild=True``. Any other configuration is trained and cached as before.

:func:`train_multitask` trains any other multi-task model on any :class:`DatasetBundle` with the
same loop (digitally; one cross-entropy per task, weighted by the tasks' weights).

Run ``python -m hybrid.pretrain --dataset digits`` to train (or load) the model and print its
accuracy on both tasks with all layers digital, and all layers analog at 1 s and 1 year of drift.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hybrid.data import DatasetBundle, MultiTaskSplit, load_dataset
from hybrid.hardware import HardwareConfig, get_hardware
from hybrid.layers import HybridLayer, hybrid_layers
from hybrid.models import MTLNet, MTLNetConfig, build_model, layer_specs, model_config_for
from hybrid.tasks import task_targets
from hybrid.units import SECONDS_PER_YEAR, time_label

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Bumped whenever the cache file layout or the training code changes its result."""
CACHE_DIR_ENV = "HYBRID_CACHE_DIR"
BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained"
"""Pretrained cache files shipped with the package (same names and format as the cache's)."""


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of one pretraining run.

    Attributes:
        epochs: passes over the training split.
        batch_size: images per step (the paper: 100).
        learning_rate: Adam learning rate. Hardware-aware training uses AIHWKit's AnalogSGD
            (momentum 0.9) at 5x this rate: 0.01 by default, the paper's setting.
        weight_decay: Adam L2 penalty.
        hardware_aware: train through the analog tiles with AIHWKit's multiplicative weight
            noise modifier (std from the hardware preset), as the paper's notebook does.
        task_weights: weight of each task's cross-entropy in the training loss of the paper's
            network (:func:`train_multitask` uses each ``Task.weight`` instead).
        seed: seeds initialisation and batch order.
    """

    epochs: int = 40
    batch_size: int = 100
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    hardware_aware: bool = False
    task_weights: tuple[float, float] = (1.0, 1.0)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"pretrain {name} must be an integer >= 1, got {value!r}")
        for name, positive in (("learning_rate", True), ("weight_decay", False)):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and (value > 0 if positive else value >= 0)):
                bound = "> 0" if positive else ">= 0"
                raise ValueError(f"pretrain {name} must be a finite number {bound}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PretrainConfig:
        """Settings from a JSON-style mapping; an unknown key is a one-line error."""
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"unknown pretrain setting(s) {unknown}; valid: {', '.join(valid)}")
        values = dict(values)
        if "task_weights" in values:
            values["task_weights"] = tuple(values["task_weights"])
        return cls(**values)


@dataclass(frozen=True)
class PretrainedModel:
    """A pretrained network with what produced it.

    Attributes:
        model: the MTL network, all layers digital, in eval mode.
        dataset: the dataset it was trained on.
        key: the cache key (everything that determines the weights).
        metrics: digital validation accuracy per task after training.
        path: the cache file.
    """

    model: MTLNet
    dataset: DatasetBundle
    key: dict[str, Any]
    metrics: dict[str, float]
    path: Path

    def instantiate(self, hardware: str | HardwareConfig | None = None) -> MTLNet:
        """A fresh copy of the pretrained network whose analog tiles use ``hardware``."""
        model = build_model(self.dataset.input_shape, hardware, self.model.config)
        _load_weights(model, _weights(self.model, from_analog=False))
        return model.eval()


def default_cache_dir() -> Path:
    """``$HYBRID_CACHE_DIR`` if set, else ``~/.cache/hybrid_partition/models``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hybrid_partition" / "models"


@torch.no_grad()
def accuracy(model: nn.Module, split: MultiTaskSplit, batch_size: int = 1000) -> tuple[float, ...]:
    """Accuracy of every task on ``split`` with the model's current placement."""
    model.eval()
    correct = torch.zeros(len(task_targets(split)))
    for images, *targets in split.loader(batch_size, shuffle=False):
        for task, (logits, target) in enumerate(zip(model(images), targets, strict=True)):
            correct[task] += (logits.argmax(1) == target).sum()
    return tuple((correct / len(split)).tolist())


def pretrain(
    dataset: DatasetBundle,
    config: PretrainConfig | None = None,
    hardware: str | HardwareConfig | None = None,
    model_config: MTLNetConfig | None = None,
    progress: bool = True,
) -> tuple[MTLNet, dict[str, float]]:
    """Train the MTL network on ``dataset``; keep the epoch with the best validation accuracy.

    Returns the model (all layers digital, eval mode) and its validation accuracies.
    """
    config = config or PretrainConfig()
    hardware = get_hardware(hardware)
    torch.manual_seed(config.seed)
    model = build_model(dataset.input_shape, hardware, model_config, config.hardware_aware)
    layers = [layer for _, layer in hybrid_layers(model)]
    if config.hardware_aware:
        from aihwkit.optim import AnalogSGD

        for layer in layers:
            layer.set_analog(True)
            layer.analog.train()
        analog_lr = config.learning_rate * 5  # 0.01 at the default: the paper's AnalogSGD rate
        optimizer = AnalogSGD(model.parameters(), lr=analog_lr, momentum=0.9)
        optimizer.regroup_param_groups(model)
    else:
        optimizer = torch.optim.Adam(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
    best_state, best_metrics = _fit(
        model,
        dataset,
        config,
        config.task_weights,
        optimizer,
        snapshot=lambda m: _weights(m, from_analog=config.hardware_aware),
        analog_layers=layers if config.hardware_aware else [],
        progress=progress,
    )
    digital = build_model(dataset.input_shape, hardware, model_config)
    _load_weights(digital, best_state)
    digital.eval()
    return digital, best_metrics


def train_multitask(
    model: nn.Module,
    dataset: DatasetBundle,
    config: PretrainConfig | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Train any multi-task model digitally on ``dataset`` (Adam, ``config``'s epochs, batch
    size, learning rate and seed), in place, and keep the epoch with the best validation
    accuracy summed over tasks.

    The model's forward returns one logits tensor per task of ``dataset.tasks``; the loss is
    the sum of the tasks' cross-entropies, each times its ``Task.weight``. Returns the kept
    epoch's validation accuracy per task (``val_<task>_accuracy``) and the epoch.
    """
    config = config or PretrainConfig()
    if config.hardware_aware:
        raise ValueError(
            "train_multitask trains digitally: hardware-aware training is available for the "
            "paper's network (load_or_pretrain)"
        )
    torch.manual_seed(config.seed)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    best_state, metrics = _fit(
        model,
        dataset,
        config,
        tuple(task.weight for task in dataset.tasks),
        optimizer,
        snapshot=lambda m: {k: v.detach().clone() for k, v in m.state_dict().items()},
        analog_layers=[],
        progress=progress,
    )
    model.load_state_dict(best_state)
    model.eval()
    return metrics


def _fit(
    model: nn.Module,
    dataset: DatasetBundle,
    config: PretrainConfig,
    task_weights: Sequence[float],
    optimizer: torch.optim.Optimizer,
    snapshot: Callable[[nn.Module], dict[str, torch.Tensor]],
    analog_layers: Sequence[HybridLayer],
    progress: bool,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The training loop shared by :func:`pretrain` and :func:`train_multitask`: the weights
    (``snapshot``) and validation accuracies of the best epoch."""
    if len(task_weights) != len(dataset.tasks):
        raise ValueError(
            f"{len(task_weights)} task weights for the {len(dataset.tasks)} tasks of "
            f"{dataset.name}: give one per task"
        )
    names = dataset.task_names
    best_score, best_state, best_metrics = -1.0, None, {}
    bar = tqdm(range(config.epochs), desc=f"pretrain {dataset.name}", disable=not progress)
    for epoch in bar:
        model.train()
        for layer in analog_layers:
            layer.analog.train()
        for images, *targets in dataset.train.loader(config.batch_size, True, config.seed + epoch):
            optimizer.zero_grad()
            outputs = model(images)
            loss = task_weights[0] * F.cross_entropy(outputs[0], targets[0])
            for weight, logits, target in zip(
                task_weights[1:], outputs[1:], targets[1:], strict=True
            ):
                loss = loss + weight * F.cross_entropy(logits, target)
            loss.backward()
            optimizer.step()
        for layer in analog_layers:
            layer.analog.eval()
        val = accuracy(model, dataset.val)
        score = sum(val)
        if score > best_score:
            best_score = score
            best_state = snapshot(model)
            best_metrics = {f"val_{name}_accuracy": v for name, v in zip(names, val, strict=True)}
            best_metrics["epoch"] = float(epoch + 1)
        bar.set_postfix(
            loss=f"{loss.item():.3f}",
            **{f"val_{name}": f"{v:.3f}" for name, v in zip(names, val, strict=True)},
        )
    assert best_state is not None
    return best_state, best_metrics


def _weights(model: MTLNet, from_analog: bool) -> dict[str, torch.Tensor]:
    """The digital weights of every hybrid layer, by qualified name."""
    state: dict[str, torch.Tensor] = {}
    for name, layer in hybrid_layers(model):
        if from_analog:
            weight, bias = layer.analog.get_weights()
            state[f"{name}.weight"] = weight.detach().clone().view_as(layer.digital.weight)
            if bias is not None:
                state[f"{name}.bias"] = bias.detach().clone()
        else:
            state[f"{name}.weight"] = layer.digital.weight.detach().clone()
            if layer.digital.bias is not None:
                state[f"{name}.bias"] = layer.digital.bias.detach().clone()
    return state


def _load_weights(model: MTLNet, state: dict[str, torch.Tensor]) -> None:
    expected = set(_weights(model, from_analog=False))
    if set(state) != expected:
        raise ValueError(f"weights do not match the network: {sorted(set(state) ^ expected)}")
    with torch.no_grad():
        for name, layer in hybrid_layers(model):
            layer.digital.weight.copy_(state[f"{name}.weight"])
            if layer.digital.bias is not None:
                layer.digital.bias.copy_(state[f"{name}.bias"])


def cache_key(
    dataset_name: str,
    model_config: MTLNetConfig,
    config: PretrainConfig,
    hardware: HardwareConfig,
    data_seed: int = 0,
) -> dict[str, Any]:
    """Everything that determines the pretrained weights."""
    key: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "dataset": dataset_name,
        "data_seed": data_seed,
        "model": model_config.to_dict(),
        "pretrain": config.to_dict(),
    }
    if config.hardware_aware:
        key["hardware"] = hardware.to_dict()
    return json.loads(json.dumps(key))


def _key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_or_pretrain(
    dataset: str | DatasetBundle = "digits",
    config: PretrainConfig | None = None,
    hardware: str | HardwareConfig | None = None,
    model_config: MTLNetConfig | None = None,
    cache_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    rebuild: bool = False,
    progress: bool = True,
) -> PretrainedModel:
    """The pretrained model from the disk cache, training it first if it is not there.

    Args:
        dataset: a dataset name (``load_dataset``) or a loaded bundle.
        config: pretraining settings (default :class:`PretrainConfig`).
        hardware: the analog hardware (matters only for hardware-aware training).
        model_config: the architecture (default: the paper's network for the input shape).
        cache_dir: where cache files live (default :func:`default_cache_dir`).
        data_dir: where CIFAR-10 lives.
        rebuild: retrain even when a valid cache file exists.
        progress: show a progress bar while training.
    """
    bundle = dataset if isinstance(dataset, DatasetBundle) else load_dataset(dataset, data_dir)
    config = config or PretrainConfig()
    hardware = get_hardware(hardware)
    model_config = model_config or model_config_for(bundle.input_shape)
    key = cache_key(bundle.name, model_config, config, hardware)
    path = cache_file(cache_dir, f"{bundle.name}-{_key_digest(key)}.pt", rebuild)
    if path.exists() and not rebuild:
        loaded = _read_cache(path, key, model_config, bundle, hardware)
        if loaded is not None:
            return loaded
    model, metrics = pretrain(bundle, config, hardware, model_config, progress)
    save_cache(path, {"key": key, "weights": _weights(model, False), "metrics": metrics})
    return PretrainedModel(model, bundle, key, metrics, path)


def cache_file(cache_dir: str | Path | None, name: str, rebuild: bool = False) -> Path:
    """The cache file ``name`` (in ``cache_dir``, default :func:`default_cache_dir`), first
    copied from the package's shipped files when it is one of them and not cached yet."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / name
    bundled = BUNDLED_DIR / name
    if not rebuild and not path.exists() and bundled.exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundled, path)  # into the cache: the package folder is never written
    return path


def save_cache(path: Path, payload: dict[str, Any]) -> None:
    """Write a cache file atomically: an interrupted save never leaves a half-written file, and
    processes saving the same file at once each write a temporary file of their own (the last
    one renamed wins; a reader sees one whole file or another)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # only left over when the save failed


def _read_cache(
    path: Path,
    key: dict[str, Any],
    model_config: MTLNetConfig,
    bundle: DatasetBundle,
    hardware: HardwareConfig,
) -> PretrainedModel | None:
    """Load a cache file, or say in one line why it is unusable and return None (rebuild)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("key") != key:
            raise ValueError("it was written for another dataset or configuration")
        model = build_model(bundle.input_shape, hardware, model_config)
        _load_weights(model, payload["weights"])
    except Exception as error:  # noqa: BLE001 - any unreadable file is rebuilt, never trusted
        log.warning(
            "pretrained cache %s is unusable (%s); retraining", path, str(error).splitlines()[0]
        )
        return None
    model.eval()
    return PretrainedModel(model, bundle, key, dict(payload.get("metrics", {})), path)


def accuracy_report(
    pretrained: PretrainedModel,
    hardware: str | HardwareConfig | None = None,
    ages_s: tuple[float, ...] = (1.0, SECONDS_PER_YEAR),
    repeats: int = 3,
    eval_size: int | None = None,
) -> list[dict[str, Any]]:
    """Test accuracy of both tasks with all layers digital, then all analog at each drift age
    (mean over ``repeats`` programming draws)."""
    from hybrid.simulator import CachedEvaluator

    split = (
        pretrained.dataset.test if eval_size is None else pretrained.dataset.test.subset(eval_size)
    )
    model = pretrained.instantiate(hardware)
    names = [spec.name for spec in layer_specs(model, pretrained.dataset.input_shape)]
    evaluator = CachedEvaluator(model, split.images, task_targets(split), seed=0, layer_names=names)
    rows = []
    digital = evaluator.evaluate([None] * evaluator.n_layers)
    rows.append(
        {
            "placement": "all digital",
            "age_s": 0.0,
            "class_accuracy": digital.accuracies[0],
            "group_accuracy": digital.accuracies[1],
        }
    )
    for age in ages_s:
        results = [
            evaluator.evaluate([(draw, age)] * evaluator.n_layers) for draw in range(repeats)
        ]
        rows.append(
            {
                "placement": "all analog",
                "age_s": age,
                "class_accuracy": sum(r.accuracies[0] for r in results) / repeats,
                "group_accuracy": sum(r.accuracies[1] for r in results) / repeats,
            }
        )
    return rows


@dataclass
class PretrainOptions:
    """The options of ``python -m hybrid.pretrain``: pretrain (or load) the paper's network and
    print its accuracy."""

    dataset: str = "digits"
    """digits, digits32 or cifar10"""
    data_dir: str | None = None
    """folder holding CIFAR-10"""
    hardware: str = "paper-pcm"
    """hardware preset for the analog rows"""
    epochs: int = PretrainConfig.epochs
    """passes over the training split"""
    hardware_aware: bool = False
    """train with weight noise"""
    rebuild: bool = False
    """retrain even if cached"""
    repeats: int = 3
    """programming draws per analog row"""


def main(argv: list[str] | None = None) -> None:
    """Command line: pretrain (or load) and print the accuracy table."""
    import tyro  # the command line only: the library never parses options

    args = tyro.cli(PretrainOptions, args=argv, description=__doc__.split("\n\n")[0])
    config = PretrainConfig(epochs=args.epochs, hardware_aware=args.hardware_aware)
    pretrained = load_or_pretrain(
        args.dataset, config, args.hardware, data_dir=args.data_dir, rebuild=args.rebuild
    )
    print(f"model: {pretrained.path}")
    header = f"{'placement':<12} {'drift age':>10} {'class acc':>10} {'group acc':>10}"
    print(f"{header}   ({args.hardware})")
    for row in accuracy_report(pretrained, args.hardware, repeats=args.repeats):
        age = "-" if row["placement"] == "all digital" else time_label(row["age_s"])
        accuracies = f"{row['class_accuracy']:>10.3f} {row['group_accuracy']:>10.3f}"
        print(f"{row['placement']:<12} {age:>10} {accuracies}")


if __name__ == "__main__":
    import sys

    from hybrid.cli import run_main

    sys.exit(run_main(main))
