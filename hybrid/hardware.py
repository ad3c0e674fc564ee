"""Analog hardware configurations as named, documented presets.

Each preset is a :class:`HardwareConfig`, a small frozen record of the physical knobs a user
changes (noise and drift scales, drift compensation, converter resolution, tile size), turned
into AIHWKit's own ``TorchInferenceRPUConfig`` by :meth:`HardwareConfig.rpu_config`.

Sources (docs/references.md):

* The ``paper-pcm`` preset is the configuration of the paper's notebook: AIHWKit's
  ``PCMLikeNoiseModel`` (fitted on about one million IBM PCM devices, g_max = 25 uS), global
  drift compensation, digital bias, column-wise weight scaling (omega 1.0) with a learned output
  scale, tiles of at most 512 x 512, channel-wise symmetric remapping, weights clipped to 1.0,
  forward output noise 0.05 and 8-bit input/output resolution 1 / (2^8 - 2). Hardware-aware
  training uses a multiplicative Gaussian weight modifier with std 0.07.
* ``PCMLikeNoiseModel``: programming noise sigma = max(-1.1731 g^2 + 1.9650 g + 0.2635, 0) uS,
  drift g(t) = g_prog ((t + t0) / t0)^-nu with t0 = 20 s, 1/f read noise. Its scale knobs
  ``prog_noise_scale``, ``read_noise_scale`` and ``drift_scale`` are exposed here unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel
from aihwkit.simulator.configs import (
    TorchInferenceRPUConfig,
    WeightClipType,
    WeightModifierType,
    WeightRemapType,
)


@dataclass(frozen=True)
class HardwareConfig:
    """Physical settings of the simulated PCM analog tiles.

    Attributes:
        name: preset name, for reports.
        description: one line on what the preset models.
        g_max_us: maximum device conductance in microsiemens (PCMLikeNoiseModel ``g_max``).
        prog_noise_scale: multiplier of the PCM programming noise (1 = measured devices).
        read_noise_scale: multiplier of the 1/f read noise (1 = measured devices).
        drift_scale: multiplier of the drift exponent nu (1 = measured devices).
        drift_compensation: apply AIHWKit's global drift compensation (a per-tile output scale
            re-estimated at each drift time from a reference read-out).
        out_noise: Gaussian noise on each analog output, relative to the output range.
        io_bits: resolution of the input DAC and output ADC in bits; 0 turns quantisation off.
        tile_size: largest crossbar (rows and columns) one AIHWKit tile holds; bigger layers
            are split across tiles.
        weight_modifier_std: std of the multiplicative weight noise injected during
            hardware-aware training (0 = plain training).
        ideal: turn every non-ideality off (no noise, no drift, no quantisation). Used to check
            that the analog and digital paths of a layer compute the same function.
    """

    name: str = "paper-pcm"
    description: str = "The paper's PCM settings with global drift compensation."
    g_max_us: float = 25.0
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0
    drift_compensation: bool = True
    out_noise: float = 0.05
    io_bits: int = 8
    tile_size: int = 512
    weight_modifier_std: float = 0.07
    ideal: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in (
            "g_max_us",
            "prog_noise_scale",
            "read_noise_scale",
            "drift_scale",
            "out_noise",
            "weight_modifier_std",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"hardware {name} must be a finite number >= 0, got {value!r}")
        if self.g_max_us <= 0:
            raise ValueError(f"hardware g_max_us must be > 0, got {self.g_max_us!r}")
        if int(self.io_bits) != self.io_bits or not 0 <= self.io_bits <= 16:
            raise ValueError(f"hardware io_bits must be an integer in 0..16, got {self.io_bits!r}")
        if int(self.tile_size) != self.tile_size or self.tile_size < 1:
            raise ValueError(
                f"hardware tile_size must be a positive integer, got {self.tile_size!r}"
            )

    def replace(self, **changes: Any) -> HardwareConfig:
        """A copy with some fields changed; an unknown field is a one-line error."""
        valid = {f.name for f in dataclasses.fields(self)} - {"extra"}
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise ValueError(f"unknown hardware field(s) {unknown}; valid: {sorted(valid)}")
        return dataclasses.replace(self, **changes)

    def scaled(self, noise_scale: float = 1.0, drift_scale: float = 1.0) -> HardwareConfig:
        """Scale programming/read noise by ``noise_scale`` and drift by ``drift_scale``."""
        return self.replace(
            prog_noise_scale=self.prog_noise_scale * noise_scale,
            read_noise_scale=self.read_noise_scale * noise_scale,
            drift_scale=self.drift_scale * drift_scale,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (round-trips through :func:`get_hardware`)."""
        data = dataclasses.asdict(self)
        data.pop("extra")
        return data

    def rpu_config(self, training: bool = False) -> TorchInferenceRPUConfig:
        """AIHWKit's pure-PyTorch inference tile configuration for these settings.

        Args:
            training: include the hardware-aware-training weight modifier.
        """
        config = TorchInferenceRPUConfig()
        config.mapping.digital_bias = True
        config.mapping.weight_scaling_omega = 1.0
        config.mapping.weight_scaling_columnwise = True
        config.mapping.learn_out_scaling = True
        config.mapping.out_scaling_columnwise = False
        config.mapping.max_input_size = self.tile_size
        config.mapping.max_output_size = self.tile_size
        config.remap.type = WeightRemapType.CHANNELWISE_SYMMETRIC
        config.clip.type = WeightClipType.FIXED_VALUE
        config.clip.fixed_value = 1.0
        if training and self.weight_modifier_std > 0:
            config.modifier.type = WeightModifierType.MULT_NORMAL
            config.modifier.std_dev = self.weight_modifier_std
        if self.ideal:
            config.forward.is_perfect = True
            config.noise_model = PCMLikeNoiseModel(
                g_max=self.g_max_us, prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0
            )
            config.drift_compensation = None
            return config
        config.noise_model = PCMLikeNoiseModel(
            g_max=self.g_max_us,
            prog_noise_scale=self.prog_noise_scale,
            read_noise_scale=self.read_noise_scale,
            drift_scale=self.drift_scale,
        )
        config.drift_compensation = GlobalDriftCompensation() if self.drift_compensation else None
        config.forward.out_noise = self.out_noise
        resolution = 1.0 / (2**self.io_bits - 2) if self.io_bits > 0 else -1.0
        config.forward.inp_res = resolution
        config.forward.out_res = resolution
        return config


_PAPER = HardwareConfig()

HARDWARE_PRESETS: dict[str, HardwareConfig] = {
    "paper-pcm": _PAPER,
    "pcm-no-compensation": _PAPER.replace(
        name="pcm-no-compensation",
        description="Paper PCM settings without drift compensation: accuracy holds for hours "
        "and falls after days.",
        drift_compensation=False,
    ),
    "pcm-strong-drift": _PAPER.replace(
        name="pcm-strong-drift",
        description="No drift compensation and 2x programming noise, read noise and drift: "
        "collapse within a day for sensitive layers.",
        drift_compensation=False,
        prog_noise_scale=2.0,
        read_noise_scale=2.0,
        drift_scale=2.0,
    ),
    "pcm-compensated-3x": _PAPER.replace(
        name="pcm-compensated-3x",
        description="Global drift compensation on, but 3x noise and drift.",
        prog_noise_scale=3.0,
        read_noise_scale=3.0,
        drift_scale=3.0,
    ),
    "ideal": _PAPER.replace(
        name="ideal",
        description="Every non-ideality off: the analog tile computes the digital function.",
        ideal=True,
        out_noise=0.0,
        io_bits=0,
        weight_modifier_std=0.0,
    ),
}


def get_hardware(spec: str | HardwareConfig | dict[str, Any] | None = None) -> HardwareConfig:
    """Resolve a preset name, a config, or a dict (``{"preset": name, **overrides}``)."""
    if spec is None:
        return _PAPER
    if isinstance(spec, HardwareConfig):
        return spec
    if isinstance(spec, str):
        if spec not in HARDWARE_PRESETS:
            raise ValueError(
                f"unknown hardware preset {spec!r}; known: {', '.join(HARDWARE_PRESETS)}"
            )
        return HARDWARE_PRESETS[spec]
    if isinstance(spec, dict):
        overrides = dict(spec)
        preset = overrides.pop("preset", None)
        if preset is None:
            preset = (
                overrides.get("name") if overrides.get("name") in HARDWARE_PRESETS else "paper-pcm"
            )
        return get_hardware(preset).replace(**overrides)
    raise TypeError(f"hardware must be a preset name, HardwareConfig or dict, got {type(spec)}")
