"""The built-in networks by name: the paper's CNN and the CIFAR ResNets, pretrained and cached.

``network="paper"`` is the paper's two-head CNN (:mod:`hybrid.models`, pretrained by
:func:`hybrid.pretrain.load_or_pretrain`); ``"resnet20"`` and ``"resnet32"`` are the CIFAR
ResNets of He et al. 2016 (:mod:`hybrid.resnet`) with one head per task of the dataset.

A ResNet is trained digitally by :func:`hybrid.pretrain.train_multitask` (Adam, the settings of
:data:`RESNET_PRETRAIN`) and cached on disk like the paper's network, keyed by everything that
determines its weights. ResNet-20 and ResNet-32 on ``digits32`` ship inside the package
(``hybrid/pretrained/``), so a clean clone deploys them at once; on ``cifar10`` they are
trained on first use.

Run ``python -m hybrid.networks --network resnet20 --dataset digits32`` to train (or load) one
and print its validation accuracy.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from hybrid.data import DatasetBundle, load_dataset
from hybrid.hardware import HardwareConfig, get_hardware
from hybrid.layers import make_hybrid
from hybrid.pretrain import (
    PretrainConfig,
    _key_digest,
    accuracy,
    cache_file,
    save_cache,
    train_multitask,
)
from hybrid.resnet import RESNET_DEPTHS, CifarResNet, ResNetConfig

log = logging.getLogger(__name__)

PAPER_NETWORK = "paper"
NETWORKS: tuple[str, ...] = (PAPER_NETWORK, *RESNET_DEPTHS)
"""Every built-in network name."""

RESNET_CACHE_FORMAT = 1
"""Bumped whenever a ResNet cache file's layout or training code changes its result."""

RESNET_PRETRAIN = PretrainConfig(epochs=30, batch_size=100, learning_rate=2e-3, weight_decay=1e-4)
"""Digital pretraining of the built-in ResNets: Adam at 2e-3, 30 epochs, batch 100 (on
``digits32``: 0.99+ validation accuracy on both tasks; He et al. train CIFAR-10 with SGD for
164 epochs, which a user can ask for with ``pretrain=``)."""


def check_network(name: str) -> str:
    """``name`` if it is a built-in network, else a one-line ValueError listing them."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; built-in networks: {', '.join(NETWORKS)}")
    return name


def resnet_config(name: str, bundle: DatasetBundle) -> ResNetConfig:
    """The ResNet ``name`` sized for the dataset's input channels and tasks."""
    check_network(name)
    if name not in RESNET_DEPTHS:
        raise ValueError(f"{name!r} is not a ResNet; ResNets: {', '.join(RESNET_DEPTHS)}")
    channels = int(bundle.input_shape[0])
    if bundle.input_shape[1] < 8:
        raise ValueError(
            f"{name} needs inputs of at least 8x8 pixels (it halves them twice), "
            f"{bundle.name} has {bundle.input_shape[1]}x{bundle.input_shape[2]}: use digits32"
        )
    classes = tuple(int(task.num_classes) for task in bundle.tasks)
    return ResNetConfig(depth=RESNET_DEPTHS[name], in_channels=channels, task_classes=classes)


@dataclass(frozen=True)
class PretrainedNetwork:
    """A pretrained built-in network's weights and what produced them.

    Attributes:
        name: the network's name (:data:`NETWORKS`).
        config: its architecture.
        state_dict: the digital weights and BatchNorm statistics.
        key: the cache key.
        metrics: validation accuracy per task and the epoch kept.
        path: the cache file.
    """

    name: str
    config: ResNetConfig
    state_dict: dict[str, torch.Tensor]
    key: dict[str, Any]
    metrics: dict[str, float]
    path: Path

    def instantiate(self, hardware: str | HardwareConfig | None = None) -> nn.Module:
        """A fresh copy with hybrid layers whose analog tiles use ``hardware``, in eval mode."""
        model = CifarResNet(self.config)
        model.load_state_dict(self.state_dict)
        return make_hybrid(model, get_hardware(hardware)).eval()


def resnet_cache_key(
    name: str, config: ResNetConfig, dataset_name: str, pretrain: PretrainConfig
) -> dict[str, Any]:
    """Everything that determines a built-in ResNet's pretrained weights."""
    key = {
        "format": RESNET_CACHE_FORMAT,
        "network": name,
        "architecture": config.to_dict(),
        "dataset": dataset_name,
        "data_seed": 0,
        "pretrain": pretrain.to_dict(),
    }
    return json.loads(json.dumps(key))


def load_or_pretrain_resnet(
    name: str,
    dataset: str | DatasetBundle = "digits32",
    pretrain: PretrainConfig | None = None,
    cache_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    rebuild: bool = False,
    progress: bool = True,
) -> PretrainedNetwork:
    """The built-in ResNet ``name`` trained on ``dataset``: from the cache (or the copy shipped
    with the package), else trained now and cached."""
    bundle = dataset if isinstance(dataset, DatasetBundle) else load_dataset(dataset, data_dir)
    config = resnet_config(name, bundle)
    pretrain = pretrain or RESNET_PRETRAIN
    if pretrain.hardware_aware:
        raise ValueError(f"{name} is pretrained digitally: drop hardware_aware from pretrain=")
    key = resnet_cache_key(name, config, bundle.name, pretrain)
    path = cache_file(cache_dir, f"{bundle.name}-{name}-{_key_digest(key)}.pt", rebuild)
    if path.exists() and not rebuild:
        loaded = _read(path, name, config, key)
        if loaded is not None:
            return loaded
    torch.manual_seed(pretrain.seed)
    model = CifarResNet(config)
    metrics = train_multitask(model, bundle, pretrain, progress=progress)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    save_cache(path, {"key": key, "state_dict": state, "metrics": metrics})
    return PretrainedNetwork(name, config, state, key, metrics, path)


def _read(
    path: Path, name: str, config: ResNetConfig, key: dict[str, Any]
) -> PretrainedNetwork | None:
    """A cache file's network, or a one-line warning and None (it is then rebuilt)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("key") != key:
            raise ValueError("it was written for another dataset or configuration")
        CifarResNet(config).load_state_dict(payload["state_dict"])
    except Exception as error:  # noqa: BLE001 - any unreadable file is rebuilt, never trusted
        log.warning(
            "pretrained cache %s is unusable (%s); retraining", path, str(error).splitlines()[0]
        )
        return None
    metrics = dict(payload.get("metrics", {}))
    return PretrainedNetwork(name, config, payload["state_dict"], key, metrics, path)


ResNetName = Literal[tuple(RESNET_DEPTHS)]  # type: ignore[valid-type]
"""The ResNets by name, as ``--network``'s choices."""


@dataclass
class ResNetOptions:
    """The options of ``python -m hybrid.networks``: train (or load) a built-in ResNet."""

    network: ResNetName = "resnet20"
    """the ResNet"""
    dataset: str = "digits32"
    """digits32 or cifar10"""
    data_dir: str | None = None
    """folder holding CIFAR-10"""
    cache_dir: str | None = None
    """folder of pretrained files; None: $HYBRID_CACHE_DIR, else ~/.cache/hybrid_partition/models"""
    rebuild: bool = False
    """retrain even if cached"""


def main(argv: list[str] | None = None) -> None:
    """Train (or load) a built-in ResNet and print its validation accuracy per task."""
    import tyro  # the command line only: the library never parses options

    args = tyro.cli(ResNetOptions, args=argv, description=__doc__.splitlines()[0])
    pretrained = load_or_pretrain_resnet(
        args.network, args.dataset, None, args.cache_dir, args.data_dir, args.rebuild
    )
    bundle = load_dataset(args.dataset, args.data_dir)
    model = pretrained.instantiate()
    val = accuracy(model, bundle.val)
    test = accuracy(model, bundle.test)
    print(f"{args.network} on {bundle.name} ({pretrained.path}):")
    for task, v, t in zip(bundle.task_names, val, test, strict=True):
        print(f"  {task}: validation {v:.3f}, test {t:.3f}")


if __name__ == "__main__":
    import sys

    from hybrid.cli import run_main

    sys.exit(run_main(main))
