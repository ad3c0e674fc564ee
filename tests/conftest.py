"""Shared fixtures: one pretrained digits model per test session, trained into a temporary cache."""

from __future__ import annotations

import pytest

from hybrid.pretrain import PretrainedModel, load_or_pretrain


@pytest.fixture(scope="session")
def digits_pretrained(tmp_path_factory: pytest.TempPathFactory) -> PretrainedModel:
    """The default pretrained digits model (about 3 s to train), cached in a temporary folder.

    Shared by every test: tests must not change its weights or placement (copy it instead).
    """
    cache_dir = tmp_path_factory.mktemp("pretrained")
    return load_or_pretrain("digits", cache_dir=cache_dir, progress=False)
