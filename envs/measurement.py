"""The observation's per-layer measurements of a chip: each layer's noise and sensitivity.

What a deployed controller measures of each layer's tiles at every decision, with calibration
images (never the evaluation batch the reward uses):

* ``noise``: the layer's relative output error ``||y_analog - y_digital|| / ||y_digital||`` on
  digital inputs (:meth:`hybrid.simulator.CachedEvaluator.layer_noise`);
* ``sensitivity``: the excess calibration cross-entropy (nats, summed over tasks) of the whole
  network with only that layer analog.

Two ways to measure them, one concept each (:data:`MEASUREMENTS`):

* ``"full"``: noise on ``probe_size`` calibration images for every layer, and sensitivity by one
  evaluation of the calibration batch per layer. That evaluation runs the layer and everything
  after it, so a step's cost grows with the square of the number of layers: on a 23-layer
  ResNet-20 the sensitivity evaluations alone were 41 % of a cold step.
* ``"light"``: noise on as few calibration images as give each layer at least
  :data:`NOISE_PROBE_VALUES` output values (a 16-channel 32x32 convolution: 4 images; a
  classifier head: all ``probe_size``), and sensitivity predicted from that noise by a curve of
  the layer's own, measured once per deployment: the full measurement at
  :data:`CURVE_POINTS` reference states of a reference chip that is never deployed
  (:data:`REFERENCE_CHIP`), interpolated in the measured noise (:class:`SensitivityCurves`).
  A step then costs one small analog forward per layer: linear in depth. The curves are kept
  on disk (:mod:`envs.curve_cache`): a process whose deployment was measured before, by any
  process using the same cache folder (the environment's ``cache_dir``, next to the pretrained
  models), reads back the very floats the measurement gave instead of measuring again. The file
  is keyed by everything the curves depend on, this module's source and :data:`CURVES_FORMAT`
  included (a user's model by its weights and the source files of its module classes), and
  ``HYBRID_CURVE_CACHE=0`` turns the cache off.

``"auto"`` (the default) is ``"full"`` up to :data:`FULL_MEASUREMENT_MAX_LAYERS` layers, where
it is affordable and where every published result of this project was measured, and
``"light"`` beyond. ``benchmarks/env_throughput.py`` compares the two side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from envs import curve_cache
from hybrid.simulator import LayerState

Deployment = Any
"""An ``envs.deployment.Deployment`` (which builds its meters here, so not imported)."""

MEASUREMENTS: tuple[str, ...] = ("auto", "full", "light")
"""The ways to measure noise and sensitivity (module docstring)."""

FULL_MEASUREMENT_MAX_LAYERS = 8
"""``"auto"`` measures in full up to this many layers (the paper's network has 6; the
exhaustive oracle stops at 8 too): beyond it the quadratic cost dominates a step."""

NOISE_PROBE_VALUES = 2**16
"""Output values a ``"light"`` noise measurement sees at least (images are added until the
layer's outputs reach it, up to the probe size): the relative error over 65,536 values has a
relative standard error of about 0.4 % for Gaussian noise, well below the chip-to-chip spread."""

CURVE_POINTS = 3
"""Reference states per layer of a ``"light"`` sensitivity curve: the timeline's decision times
spread evenly in log time, first and last included."""

REFERENCE_CHIP = -1
"""Programming id of the reference chip the sensitivity curves are measured on. Deployed chips
are numbered from 0, so no episode ever reads this chip's draws."""

CURVES_FORMAT = 1
"""Version of the sensitivity curves' measurement, part of their cache key
(``envs.curve_cache``, which also digests this module's source and the simulation's): bump it
whenever a change to other code changes a curve."""


def resolve_measurement(measurement: str, n_layers: int) -> str:
    """``"full"`` or ``"light"`` for ``measurement`` on a network of ``n_layers`` layers."""
    if measurement not in MEASUREMENTS:
        raise ValueError(
            f"measurement must be one of {', '.join(MEASUREMENTS)}, got {measurement!r}"
        )
    if measurement == "auto":
        return "full" if n_layers <= FULL_MEASUREMENT_MAX_LAYERS else "light"
    return measurement


def probe_images(out_values: int, probe_size: int) -> int:
    """Calibration images a ``"light"`` noise measurement uses for a layer with ``out_values``
    output values per image: enough for :data:`NOISE_PROBE_VALUES`, at most ``probe_size``."""
    return int(min(probe_size, max(1, math.ceil(NOISE_PROBE_VALUES / max(1, out_values)))))


def exact_sensitivity(deployment: Deployment, index: int, state: LayerState) -> float:
    """Excess calibration cross-entropy (nats, summed over tasks) with only layer ``index``
    analog, in ``state``: one evaluation of the calibration batch."""
    if state is None:
        return 0.0
    states: list[LayerState] = [None] * deployment.n_layers
    states[index] = state
    losses = deployment.evaluator.evaluate(states, batch="calibration").losses
    digital = deployment.calibration_digital.losses
    return float(np.maximum(losses - digital, 0.0).sum())


class SensitivityCurves:
    """Each layer's sensitivity as a function of its measured noise, for ``"light"``.

    For every layer, the pairs (noise, sensitivity) at the reference states (the reference
    chip at :data:`CURVE_POINTS` decision times), both measured as ``"full"`` does, plus
    (0, 0); sensitivity is made non-decreasing in noise and interpolated linearly, and beyond
    the largest measured noise extrapolated in proportion to the noise (the observation clips
    at its maximum anyway). Measured lazily, once per deployment, on first use, or read from
    the cache file of an earlier process that measured them (``envs.curve_cache``).
    """

    def __init__(
        self, deployment: Deployment, times_s: Sequence[float], probe_sizes: Sequence[int]
    ) -> None:
        self.deployment = deployment
        times = np.asarray(sorted(set(float(t) for t in times_s)))
        picks = np.unique(np.round(np.linspace(0, len(times) - 1, CURVE_POINTS)).astype(int))
        self.reference_ages_s = tuple(float(times[i]) for i in picks)
        self._probe_sizes = tuple(int(k) for k in probe_sizes)
        self._curves: list[tuple[np.ndarray, np.ndarray]] | None = None
        self.loaded_from: Path | None = None
        """The cache file the curves were read from; None: measured in this process (or not
        yet)."""

    def curves(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per layer, the curve's noise points and the sensitivity at each (measured, or read
        from the cache, on first use)."""
        if self._curves is None:
            self._curves = self._cached_or_measured()
        return self._curves

    def _cached_or_measured(self) -> list[tuple[np.ndarray, np.ndarray]]:
        key = curve_cache.curves_key(
            self.deployment,
            {
                "format": CURVES_FORMAT,
                "reference_chip": REFERENCE_CHIP,
                "curve_points": CURVE_POINTS,
                "reference_ages_s": list(self.reference_ages_s),
                "probe_sizes": list(self._probe_sizes),
            },
        )
        if key is None:
            return self._measure()
        path = curve_cache.curves_file(self.deployment, key)
        curves = curve_cache.load_curves(path, key, self.deployment.n_layers)
        if curves is not None:
            self.loaded_from = path
            return curves
        curves = self._measure()
        curve_cache.save_curves(path, key, curves)
        return curves

    def _measure(self) -> list[tuple[np.ndarray, np.ndarray]]:
        evaluator = self.deployment.evaluator
        curves = []
        for index in range(self.deployment.n_layers):
            noise, excess = [0.0], [0.0]
            for age_s in self.reference_ages_s:
                state = (REFERENCE_CHIP, age_s)
                noise.append(evaluator.layer_noise(index, state, self._probe_sizes[index]))
                excess.append(exact_sensitivity(self.deployment, index, state))
            order = np.argsort(noise, kind="stable")
            xs = np.asarray(noise)[order]
            ys = np.maximum.accumulate(np.asarray(excess)[order])
            curves.append((xs, ys))
        return curves

    def predict(self, index: int, noise: float) -> float:
        """Layer ``index``'s sensitivity (nats) at measured ``noise``."""
        xs, ys = self.curves()[index]
        if noise <= xs[-1] or xs[-1] <= 0.0:
            return float(np.interp(noise, xs, ys))
        return float(ys[-1] * noise / xs[-1])


class LayerMeter:
    """Measures every layer's noise and sensitivity for the observation, ``"full"`` or
    ``"light"`` (module docstring), for one deployment."""

    def __init__(
        self, deployment: Deployment, measurement: str, times_s: Sequence[float]
    ) -> None:
        self.deployment = deployment
        self.measurement = resolve_measurement(measurement, deployment.n_layers)
        probe = deployment.evaluator.probe_size
        self.probe_sizes = tuple(
            probe_images(spec.out_activations, probe) if self.measurement == "light" else probe
            for spec in deployment.specs
        )
        self._curves = (
            SensitivityCurves(deployment, times_s, self.probe_sizes)
            if self.measurement == "light"
            else None
        )

    def noise(self, index: int, state: LayerState) -> float:
        """Layer ``index``'s relative output error in ``state`` (0 if digital)."""
        if self.measurement == "full":
            return self.deployment.evaluator.layer_noise(index, state)
        return self.deployment.evaluator.layer_noise(index, state, self.probe_sizes[index])

    def sensitivity(self, index: int, state: LayerState, noise: float) -> float:
        """Layer ``index``'s sensitivity in ``state`` (0 if digital); ``noise`` is its
        measured noise there (what ``"light"`` predicts from)."""
        if state is None:
            return 0.0
        if self._curves is None:
            return exact_sensitivity(self.deployment, index, state)
        return self._curves.predict(index, noise)
