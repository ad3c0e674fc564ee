"""The ``"light"`` measurement's sensitivity curves, kept on disk from one process to the next.

A deployment's curves (:class:`envs.measurement.SensitivityCurves`) take one calibration
evaluation per layer and reference age to measure, and every process that builds the
deployment (each training worker, every evaluation or benchmark run) would measure them again.
They are a pure function of the deployment (every analog draw is seeded by what it belongs
to), so the first process writes them to a file keyed by everything they depend on, and a
later one that builds the same deployment reads back the very floats the measurement gave.

Where: next to the pretrained models, in the environment's ``cache_dir`` (default
``$HYBRID_CACHE_DIR``, else ``~/.cache/hybrid_partition/models``), one file per key named
``<dataset>-<16 hex digits of the key>.curves.pt``. Writes are atomic
(:func:`hybrid.pretrain.save_cache`): processes that measure at once each write a whole file
and the last one renamed stays. A file that cannot be read, or holds another key, is reported
in one line, measured again and rewritten; one that cannot be written is reported, and the
curves just measured are used.

The key (:func:`curves_key`): the measurement's own settings (format version, reference chip,
curve points, reference ages, probe images per layer), the evaluator's base seed, the
deployment's resolved settings (``Deployment.config``: dataset, scenario, hardware with its
noise and drift scales, timeline, ...), the hardware of every layer's tiles, the chip variation
the evaluator applies, the model's class, layers and a digest of its weights in memory, digests
of the calibration images and targets (and the batch's number, part of every seed) and of the
probe images, a digest of the source of the simulation (the ``hybrid`` package) and of the
measurement (``envs/measurement.py``), so that any change to that code measures afresh, and what
decides the floats' last bits: the torch, AIHWKit and NumPy versions, the CPU's architecture,
model name and vector instructions, and the number of torch threads.

A user's model (``model=`` or ``model_factory=``) is keyed by its weights and by the source
files of the classes of all its modules (torch's and AIHWKit's own are keyed by their
versions): editing the file that defines a block measures afresh; a change in code the forward
calls from elsewhere is not seen (delete the ``.curves.pt`` files, or set
``HYBRID_CURVE_CACHE=0``).

Not cached (measured as before): a model with a module class whose source file cannot be found
(defined in a notebook cell or a ``python -c`` string), a deployment built without
:func:`envs.deployment.build_deployment`, an evaluator with a ``tile_variation`` other than
:class:`hybrid.variation.TileVariation`, settings that are not JSON, and any process with
``HYBRID_CURVE_CACHE=0`` in its environment.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
import platform
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aihwkit
import numpy as np
import torch

import hybrid
from hybrid.factory import state_digest, tensor_digest
from hybrid.pretrain import save_cache
from hybrid.variation import TileVariation

log = logging.getLogger(__name__)

Deployment = Any
"""An ``envs.deployment.Deployment`` (whose meters import this module, so not imported)."""
Curves = list[tuple[np.ndarray, np.ndarray]]
"""Per layer, the curve's noise points and the sensitivity at each (float64 arrays)."""

CURVE_CACHE_ENV = "HYBRID_CURVE_CACHE"
"""Set to ``0`` to measure the curves in every process (nothing read or written)."""
SUFFIX = ".curves.pt"
"""The cache files' ending (a pretrained model's file ends in its digest and ``.pt``)."""


def curves_key(deployment: Deployment, measurement: Mapping[str, Any]) -> dict[str, Any] | None:
    """Everything the curves of ``deployment`` depend on, with ``measurement`` (the
    measurement's own settings, JSON), or None when they cannot be keyed (module docstring)."""
    if os.environ.get(CURVE_CACHE_ENV, "1").strip() == "0":
        return None
    if getattr(deployment, "curve_cache_dir", None) is None:
        return None
    evaluator = deployment.evaluator
    variation = evaluator.tile_variation
    if variation is not None and type(variation) is not TileVariation:
        return None
    model_source = _model_source_digest(evaluator.model)
    if model_source is None:
        return None
    batch, images, targets = evaluator.batch("calibration")
    key = {
        "measurement": dict(measurement),
        "seed": evaluator.seed,
        "config": deployment.config,
        "hardware": deployment.hardware.to_dict(),
        "layer_hardware": [_hardware(layer) for layer in evaluator.layers],
        "chip_variation": None
        if variation is None
        else {
            "variation": variation.variation.to_dict(),
            "hardware": variation.hardware.to_dict(),
            "layers": variation.n_layers,
        },
        "model": {
            "class": f"{type(evaluator.model).__module__}.{type(evaluator.model).__qualname__}",
            "layers": list(evaluator.layer_names),
            "weights": state_digest(evaluator.model),
            "source": model_source,
        },
        "calibration": {
            "batch": batch,
            "images": tensor_digest(images),
            "targets": tensor_digest(*targets),
        },
        "probe_images": tensor_digest(evaluator.probe_images),
        "source": _source_digest(),
        "platform": {
            "torch": torch.__version__,
            "aihwkit": aihwkit.__version__,
            "numpy": np.__version__,
            "machine": platform.machine(),
            "cpu": _cpu_name(),
            "vector": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
        },
    }
    try:
        return json.loads(json.dumps(key))
    except (TypeError, ValueError):  # settings that are not JSON: no key describes them
        return None


@functools.cache
def _source_digest() -> str:
    """The first 16 hex digits of a SHA-256 over the simulation's source (every module of
    ``hybrid``, the compiled kernel's included) and the measurement's (``envs/measurement.py``):
    a checkout whose code differs never reads another's curves."""
    root = Path(hybrid.__file__).resolve().parent
    files = sorted(root.rglob("*.py")) + [Path(__file__).resolve().parent / "measurement.py"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(root.parent)}:".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


LIBRARY_MODULES = ("torch", "aihwkit")
"""Packages whose module classes are keyed by the package's version, not by their files."""


def _model_source_digest(model: torch.nn.Module) -> str | None:
    """A digest of the source files defining the classes of ``model``'s modules (outside
    :data:`LIBRARY_MODULES`), or None when one of them has no readable file."""
    files: set[str] = set()
    for module in model.modules():
        cls = type(module)
        if cls.__module__.split(".")[0] in LIBRARY_MODULES:
            continue
        try:
            path = inspect.getsourcefile(cls)
        except (TypeError, OSError):  # a built-in or a class with no file
            return None
        if path is None or not Path(path).is_file():
            return None
        files.add(str(Path(path).resolve()))
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def _cpu_name() -> str:
    """The processor's model name (kernels differ between vendors and generations)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:  # not Linux
        pass
    return platform.processor()


def _hardware(layer: Any) -> dict[str, Any] | None:
    hardware = getattr(layer, "hardware", None)
    return hardware.to_dict() if hardware is not None else None


def curves_file(deployment: Deployment, key: Mapping[str, Any]) -> Path:
    """The file the curves of ``key`` are cached in (module docstring)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(deployment.config.get("dataset", "data")))
    return Path(deployment.curve_cache_dir) / f"{dataset}-{digest}{SUFFIX}"


def load_curves(path: Path, key: Mapping[str, Any], n_layers: int) -> Curves | None:
    """The curves cached at ``path`` for ``key``; None when there is no file, or (reported in
    one line) when it cannot be read or holds another key or shape."""
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("key") != key:
            raise ValueError("it was written for another deployment or measurement")
        curves = [
            (np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))
            for xs, ys in payload["curves"]
        ]
        if len(curves) != n_layers or any(
            xs.ndim != 1 or xs.shape != ys.shape or len(xs) < 1 for xs, ys in curves
        ):
            raise ValueError(f"it does not hold one curve for each of {n_layers} layers")
    except Exception as error:  # noqa: BLE001 - any unreadable file is measured again, never used
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.warning("sensitivity curves %s are unusable (%s); measuring them again", path, reason)
        return None
    return curves


def save_curves(path: Path, key: Mapping[str, Any], curves: Sequence[tuple[Any, Any]]) -> None:
    """Cache ``curves`` for ``key`` at ``path`` atomically; a failure is reported in one line
    (the measured curves are used all the same)."""
    payload = {
        "key": dict(key),
        "curves": [[np.asarray(xs).tolist(), np.asarray(ys).tolist()] for xs, ys in curves],
    }
    try:
        save_cache(path, payload)
    except Exception as error:  # noqa: BLE001 - a cache that cannot be written is not an error
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.warning("sensitivity curves could not be cached at %s (%s)", path, reason)
