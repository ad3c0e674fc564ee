"""The paper's multi-task CNN, built from hybrid layers, and shape tracing for any hybrid model.

The reference network (Yasutake and Yoon) is a small CNN with one shared trunk and two heads:
conv1 -> ReLU -> maxpool -> conv2 -> ReLU -> maxpool -> flatten -> fc1 -> ReLU -> dropout ->
fc2 -> ReLU -> dropout, then head fc3 (the 10-class label) and head fc4 (the binary group).
Six toggleable layers. For 3x32x32 CIFAR-10 the pools are 3x3; for the 8x8 digits the pools are
dropped (the feature map is already tiny), which gives fc1 256 inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hybrid.energy import LayerSpec
from hybrid.hardware import HardwareConfig
from hybrid.layers import HybridLayer, hybrid_layers, make_hybrid


@dataclass(frozen=True)
class MTLNetConfig:
    """Architecture of the multi-task network.

    Attributes:
        in_channels: input channels (1 for digits, 3 for CIFAR-10).
        input_size: input height = width, in pixels.
        conv_channels: output channels of conv1 and conv2.
        kernel_size: convolution kernel size (stride 1, no padding).
        pool_size: max-pool window after each convolution; 1 = no pooling.
        hidden: widths of fc1 and fc2.
        num_classes: outputs of head 1 (fc3).
        num_groups: outputs of head 2 (fc4).
        dropout: dropout after fc1 and fc2 (training only).
    """

    in_channels: int = 3
    input_size: int = 32
    conv_channels: tuple[int, int] = (8, 16)
    kernel_size: int = 3
    pool_size: int = 3
    hidden: tuple[int, int] = (256, 128)
    num_classes: int = 10
    num_groups: int = 2
    dropout: float = 0.3

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MTLNetConfig:
        """Inverse of :meth:`to_dict` (lists become tuples)."""
        data = dict(data)
        for key in ("conv_channels", "hidden"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    @property
    def flat_features(self) -> int:
        """Number of features entering fc1."""
        size = self.input_size
        for _ in range(2):
            size = size - self.kernel_size + 1
            size = size // self.pool_size
        if size < 1:
            raise ValueError(f"input of {self.input_size} px is too small for this network")
        return self.conv_channels[1] * size * size


MODEL_PRESETS: dict[str, MTLNetConfig] = {
    "paper-cifar": MTLNetConfig(),
    "digits": MTLNetConfig(in_channels=1, input_size=8, pool_size=1),
}


def model_config_for(input_shape: Sequence[int]) -> MTLNetConfig:
    """The paper's network adapted to an input of shape (C, H, W)."""
    channels, height, width = input_shape
    if height != width:
        raise ValueError(f"the MTL network needs square inputs, got {height}x{width}")
    if height <= 12:
        return dataclasses.replace(MODEL_PRESETS["digits"], in_channels=channels, input_size=height)
    return dataclasses.replace(
        MODEL_PRESETS["paper-cifar"], in_channels=channels, input_size=height
    )


class MTLNet(nn.Module):
    """The paper's multi-task CNN with six toggleable (hybrid) layers.

    ``forward`` returns a tuple of logits, one per task: ``(class_logits, group_logits)``.
    """

    task_names: tuple[str, str] = ("class", "group")

    def __init__(
        self,
        config: MTLNetConfig | None = None,
        hardware: str | HardwareConfig | None = None,
        hardware_aware: bool = False,
    ) -> None:
        super().__init__()
        self.config = config or MTLNetConfig()
        c = self.config
        self.conv1 = nn.Conv2d(c.in_channels, c.conv_channels[0], c.kernel_size)
        self.conv2 = nn.Conv2d(c.conv_channels[0], c.conv_channels[1], c.kernel_size)
        self.pool = nn.MaxPool2d(c.pool_size) if c.pool_size > 1 else nn.Identity()
        self.fc1 = nn.Linear(c.flat_features, c.hidden[0])
        self.fc2 = nn.Linear(c.hidden[0], c.hidden[1])
        self.fc3 = nn.Linear(c.hidden[1], c.num_classes)
        self.fc4 = nn.Linear(c.hidden[1], c.num_groups)
        self.dropout = nn.Dropout(c.dropout)
        make_hybrid(self, hardware, training=hardware_aware)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of both tasks for a batch of images (N, C, H, W)."""
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.dropout(torch.relu(self.fc1(x)))
        x = self.dropout(torch.relu(self.fc2(x)))
        return self.fc3(x), self.fc4(x)


def layer_specs(model: nn.Module, input_shape: Sequence[int]) -> list[LayerSpec]:
    """Crossbar shapes of every hybrid layer of ``model`` for one input of ``input_shape``.

    Runs one digital forward pass on zeros and traces, through autograd, which hybrid layer
    feeds each one (``parent``), so it works for any model made hybrid by ``make_hybrid``.
    Layers are listed in forward (execution) order.
    """
    layers = hybrid_layers(model)
    records: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    output_nodes: dict[Any, int] = {}

    def hook(module: HybridLayer, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        index = len(order)
        order.append(id(module))
        x = inputs[0]
        records[id(module)] = {
            "in_shape": tuple(x.shape[1:]),
            "out_shape": tuple(output.shape[1:]),
            "parent": _nearest_producer(x, output_nodes),
        }
        output_nodes[output.grad_fn] = index

    placement = [layer.is_analog for _, layer in layers]
    handles = [layer.register_forward_hook(hook) for _, layer in layers]
    was_training = model.training
    try:
        for _, layer in layers:
            layer.set_analog(False)
        model.eval()
        with torch.enable_grad():
            model(torch.zeros(1, *input_shape, requires_grad=True))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
        for (_, layer), analog in zip(layers, placement, strict=True):
            layer.set_analog(analog)

    by_id = {id(layer): (name, layer) for name, layer in layers}
    specs = []
    for module_id in order:
        name, layer = by_id[module_id]
        rec = records[module_id]
        digital = layer.digital
        if isinstance(digital, nn.Conv2d):
            kh, kw = digital.kernel_size
            rows = digital.in_channels // digital.groups * kh * kw
            cols = digital.out_channels
            mvms = rec["out_shape"][1] * rec["out_shape"][2]
            kind = "conv"
        else:
            rows, cols, kind = digital.in_features, digital.out_features, "linear"
            mvms = (
                int(torch.tensor(rec["out_shape"][:-1]).prod().item())
                if len(rec["out_shape"]) > 1
                else 1
            )
        specs.append(
            LayerSpec(
                name=name,
                kind=kind,
                rows=rows,
                cols=cols,
                mvms_per_sample=mvms,
                in_activations=int(torch.tensor(rec["in_shape"]).prod().item()),
                out_activations=int(torch.tensor(rec["out_shape"]).prod().item()),
                parent=rec["parent"],
            )
        )
    return specs


def _nearest_producer(x: torch.Tensor, output_nodes: dict[Any, int]) -> int | None:
    """Walk the autograd graph back from ``x`` to the latest hybrid layer output it depends on."""
    frontier = [x.grad_fn]
    seen = set()
    found: list[int] = []
    while frontier:
        node = frontier.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node in output_nodes:
            found.append(output_nodes[node])
            continue
        frontier.extend(next_node for next_node, _ in node.next_functions)
    return max(found) if found else None


def build_model(
    input_shape: Sequence[int],
    hardware: str | HardwareConfig | None = None,
    config: MTLNetConfig | None = None,
    hardware_aware: bool = False,
) -> MTLNet:
    """The paper's MTL network for inputs of ``input_shape`` (C, H, W).

    ``hardware_aware`` builds the analog tiles with the training weight-noise modifier."""
    return MTLNet(config or model_config_for(input_shape), hardware, hardware_aware)
