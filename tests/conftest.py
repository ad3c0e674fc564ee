"""Shared fixtures: one pretrained digits model per test session, trained into a temporary cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid.pretrain import PretrainedModel, load_or_pretrain


@pytest.fixture(scope="session")
def digits_pretrained(tmp_path_factory: pytest.TempPathFactory) -> PretrainedModel:
    """The default pretrained digits model (about 3 s to train), cached in a temporary folder.

    Shared by every test: tests must not change its weights or placement (copy it instead).
    """
    cache_dir = tmp_path_factory.mktemp("pretrained")
    return load_or_pretrain("digits", cache_dir=cache_dir, progress=False)


@pytest.fixture(scope="session")
def cache_dir(digits_pretrained: PretrainedModel) -> Path:
    """The folder of the session's pretrained model: pass it as ``cache_dir=`` to environments
    so they load that model instead of training into the user's cache."""
    return digits_pretrained.path.parent


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory):
    """A PPO run folder from ``train_agent.py --timesteps 2048`` (about a minute), shared by the
    train_agent and evaluate tests: read it, copy it to change it."""
    import sys

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:  # the scripts live at the repository root, outside the packages
        sys.path.insert(0, root)
    import train_agent

    out = tmp_path_factory.mktemp("runs") / "smoke"
    argv = ["--timesteps", "2048", "--out", str(out), "--seed", "0"]
    return train_agent.main([*argv, "--no-progress", "--compare-episodes", "0"])
