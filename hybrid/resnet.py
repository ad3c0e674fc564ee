"""The CIFAR ResNets the analog-AI literature measures on, with one head per task.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, section 4.2: a 3x3
convolution with 16 filters, then three stages of ``n`` basic blocks (two 3x3 convolutions
each, with BatchNorm and ReLU) at 16, 32 and 64 channels on 32x32, 16x16 and 8x8 feature maps,
global average pooling, and a linear classifier: ``6n + 2`` layers (ResNet-20: n = 3; ResNet-32:
n = 5). Where a block changes the shape, its shortcut is a 1x1 convolution with stride 2 and
BatchNorm (the projection shortcut, option B of the paper), as LionHeart (Lammie et al., IEEE
TETC 2025), the mixed-precision supernetwork search (Benmeziane et al., Nature Communications
2026) and AIHWKit's ResNet examples use. Every convolution and linear layer becomes a
:class:`~hybrid.layers.HybridLayer` (ResNet-20 with two heads: 23 toggleable layers,
about 0.27 M weights); BatchNorm, ReLU, the residual additions and the pooling stay digital.

The multi-task form has one linear head per task on the pooled 64 features, as the paper's
network has two heads on its shared trunk.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hybrid.hardware import HardwareConfig
from hybrid.layers import make_hybrid

RESNET_DEPTHS: dict[str, int] = {"resnet20": 20, "resnet32": 32}
"""The built-in CIFAR ResNets by name: depth ``6n + 2``."""


@dataclass(frozen=True)
class ResNetConfig:
    """Architecture of a CIFAR-style multi-task ResNet.

    Attributes:
        depth: ``6n + 2`` weight layers along the main path (20, 32, 44, 56, ...).
        in_channels: input channels (3 for CIFAR-10 and ``digits32``).
        widths: channels of the three stages (He et al.: 16, 32, 64).
        task_classes: outputs of each task's head, in task order.
    """

    depth: int = 20
    in_channels: int = 3
    widths: tuple[int, int, int] = (16, 32, 64)
    task_classes: tuple[int, ...] = (10, 2)

    def __post_init__(self) -> None:
        if self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (20, 32, ...), got {self.depth}")
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ValueError(f"widths are the three stages' channels, got {self.widths}")
        if not self.task_classes or min(self.task_classes) < 2:
            raise ValueError(f"each task head needs 2 or more classes, got {self.task_classes}")

    @property
    def blocks_per_stage(self) -> int:
        """``n``: basic blocks in each of the three stages."""
        return (self.depth - 2) // 6

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResNetConfig:
        """Inverse of :meth:`to_dict` (lists become tuples)."""
        data = dict(data)
        for key in ("widths", "task_classes"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm, and the identity or a 1x1 projection shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A CIFAR ResNet (He et al. 2016) with one linear head per task.

    ``forward`` returns a tuple of logits, one per task. Built digital (plain ``Conv2d`` and
    ``Linear``); :func:`build_resnet` makes its layers hybrid.
    """

    def __init__(self, config: ResNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or ResNetConfig()
        c = self.config
        self.conv1 = nn.Conv2d(c.in_channels, c.widths[0], 3, 1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c.widths[0])
        stages = []
        in_channels = c.widths[0]
        for stage, width in enumerate(c.widths):
            blocks = []
            for block in range(c.blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(in_channels, width, stride))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.heads = nn.ModuleList(nn.Linear(c.widths[2], n) for n in c.task_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Logits of every task for a batch of images (N, C, H, W)."""
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        x = torch.flatten(self.pool(x), 1)
        return tuple(head(x) for head in self.heads)


def build_resnet(
    config: ResNetConfig, hardware: str | HardwareConfig | None = None
) -> CifarResNet:
    """A digital-initialised CIFAR ResNet whose convolutions and linear layers are hybrid."""
    return make_hybrid(CifarResNet(config), hardware)
