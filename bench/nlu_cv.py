"""Cross-validation of the NLU pipeline on our own training data, as openings and as answers.

Usage: ``python bench/nlu_cv.py [--folds 5] [--max-chars N] [--answer-intents all|none|config]``

Settings of the pipeline (which intents are learnt again with the mean embedding, how much
of a long message is embedded) are chosen here, on the training data only, never on the
held-out files of ``tests/data/heldout/``. Each fold trains the real Rasa components of
``config.yml`` on the other folds and classifies its own examples twice:

- as an **opening** (no question asked: the message is embedded), scored by intent
  macro-F1 and by complaint category macro-F1 with complaint recall;
- as an **answer** (a form has just asked: the mean embedding stands in), scored on the
  examples of the answer intents only, by macro-F1 over those intents: the ways out of a
  question ("stop", "why", "a person", yes/no) must be recognised without the embedding.

Folds are stratified by intent with a fixed seed, so two runs print the same figures.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))  # run as a script: make ``nlu`` and ``bot`` importable

import yaml  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier  # noqa: E402
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer  # noqa: E402
from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer  # noqa: E402
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer  # noqa: E402
from rasa.shared.core.events import ActiveLoop, SlotSet  # noqa: E402
from rasa.shared.core.slots import TextSlot  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402
from rasa.shared.nlu.constants import INTENT, TEXT  # noqa: E402
from rasa.shared.nlu.training_data.loading import load_data  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

from nlu.embedding_featurizer import SentenceEmbeddingFeaturizer  # noqa: E402

COMPONENTS = {
    "WhitespaceTokenizer": WhitespaceTokenizer,
    "RegexFeaturizer": RegexFeaturizer,
    "CountVectorsFeaturizer": CountVectorsFeaturizer,
    "nlu.embedding_featurizer.SentenceEmbeddingFeaturizer": SentenceEmbeddingFeaturizer,
    "LogisticRegressionClassifier": LogisticRegressionClassifier,
}
COMPLAINT_PREFIX = "complain_"
SEED = 2026


def pipeline_config(path: Path) -> list[tuple[type, dict[str, Any]]]:
    """The classes and settings of config.yml's pipeline, up to the classifier."""
    steps = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["pipeline"]:
        name = entry["name"]
        if name not in COMPONENTS:
            continue  # the fallback classifier only thresholds what the classifier says
        component = COMPONENTS[name]
        settings = {**component.get_default_config(), **{k: v for k, v in entry.items() if k != "name"}}
        steps.append((component, settings))
    return steps


def folds(examples: Sequence[Message], count: int) -> list[list[int]]:
    """Indices of ``count`` folds, stratified by intent, shuffled with a fixed seed."""
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, message in enumerate(examples):
        by_intent[message.get(INTENT)].append(index)
    chosen: list[list[int]] = [[] for _ in range(count)]
    rng = random.Random(SEED)
    offset = 0
    for intent in sorted(by_intent):
        indices = by_intent[intent]
        rng.shuffle(indices)
        for position, index in enumerate(indices):
            chosen[(position + offset) % count].append(index)
        offset += len(indices)
    return chosen


class Pipeline:
    """The components trained on one fold, in order, as Rasa runs them."""

    def __init__(self, steps: list[tuple[type, dict[str, Any]]], training: TrainingData, directory: Path) -> None:
        storage = LocalModelStorage(directory)
        context = ExecutionContext(GraphSchema({}), "cv")
        self.components = []
        data = training
        for position, (component, settings) in enumerate(steps):
            resource = Resource(f"step{position}")
            trainable = component is not WhitespaceTokenizer
            if trainable:
                component.create(settings, storage, resource, context).train(data)
                loaded = component.load(settings, storage, resource, context)
            else:
                loaded = component.create(settings, storage, resource, context)
            if component is LogisticRegressionClassifier:
                self.components.append(loaded)
                break
            data = loaded.process_training_data(data) or data
            self.components.append(loaded)

    def classify(self, texts: Sequence[str], tracker: DialogueStateTracker | None) -> list[str]:
        """The intent each text gets, parsed as an opening (tracker None) or as an answer."""
        messages = [Message(data={TEXT: text}) for text in texts]
        for component in self.components:
            if isinstance(component, SentenceEmbeddingFeaturizer):
                component.process(messages, tracker=tracker)
            else:
                component.process(messages)
        return [message.get(INTENT)["name"] for message in messages]


def macro_f1(expected: Sequence[str], predicted: Sequence[str]) -> float:
    """Macro-F1 over the labels expected (a label only ever predicted is not averaged in)."""
    return float(f1_score(expected, predicted, labels=sorted(set(expected)), average="macro", zero_division=0))


def answering_tracker() -> DialogueStateTracker:
    """A conversation in which a form has just asked a question."""
    return DialogueStateTracker.from_events(
        "cv", [ActiveLoop("intake_form"), SlotSet("requested_slot", "what")], slots=[TextSlot("requested_slot", [])]
    )


def complaint_scores(expected: Sequence[str], predicted: Sequence[str]) -> tuple[float, float]:
    """Category macro-F1 on the complaint examples, and the share of them read as any complaint."""
    pairs = [(e, p) for e, p in zip(expected, predicted) if e.startswith(COMPLAINT_PREFIX)]
    recall = sum(p.startswith(COMPLAINT_PREFIX) for _, p in pairs) / len(pairs)
    return macro_f1([e for e, _ in pairs], [p for _, p in pairs]), recall


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml")
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT / "data")
    parser.add_argument(
        "--max-chars", type=int, nargs="+", default=[0], help="the featurizer's max_chars to try (0: config.yml's)"
    )
    parser.add_argument(
        "--answer-intents",
        choices=("config", "all", "none"),
        nargs="+",
        default=["config"],
        help="which intents are learnt again with the mean embedding: config.yml's list, every intent, none",
    )
    return parser.parse_args(argv)


def nlu_examples(data: Path) -> list[Message]:
    """The intent examples of every NLU file under ``data`` (stories and rules are skipped)."""
    files = [path for path in sorted(data.rglob("*.yml")) if "nlu" in (yaml.safe_load(path.read_text(encoding="utf-8")) or {})]
    return TrainingData().merge(*(load_data(str(path)) for path in files)).intent_examples


def variant_steps(
    steps: list[tuple[type, dict[str, Any]]], answer_intents: str, max_chars: int
) -> list[tuple[type, dict[str, Any]]]:
    """config.yml's pipeline with the featurizer's settings of one variant."""
    varied = []
    for component, settings in steps:
        settings = dict(settings)
        if component is SentenceEmbeddingFeaturizer:
            settings["cache_size"] = 100_000  # one encoder and cache serve every fold and variant
            if max_chars:
                settings["max_chars"] = max_chars
            if answer_intents == "all":
                settings["answer_intents"] = None
            elif answer_intents == "none":
                settings["answer_intents"] = []
        varied.append((component, settings))
    return varied


def evaluate(steps: list[tuple[type, dict[str, Any]]], examples: list[Message], count: int, answer_intents: frozenset[str]) -> str:
    """Figures of one variant over all folds, as one printable paragraph."""
    expected_open: list[str] = []
    predicted_open: list[str] = []
    expected_answer: list[str] = []
    predicted_answer: list[str] = []
    tracker = answering_tracker()
    for held in folds(examples, count):
        held_set = set(held)
        training = TrainingData([Message(data=dict(m.data)) for i, m in enumerate(examples) if i not in held_set])
        texts = [examples[i].get(TEXT) for i in held]
        labels = [examples[i].get(INTENT) for i in held]
        with tempfile.TemporaryDirectory() as directory:
            pipeline = Pipeline(steps, training, Path(directory))
            predicted_open += pipeline.classify(texts, None)
            answers = [(text, label) for text, label in zip(texts, labels) if label in answer_intents]
            predicted_answer += pipeline.classify([text for text, _ in answers], tracker)
        expected_open += labels
        expected_answer += [label for _, label in answers]
    category_f1, recall = complaint_scores(expected_open, predicted_open)
    return (
        f"  openings: intent macro-F1 {macro_f1(expected_open, predicted_open):.3f}, "
        f"complaint category macro-F1 {category_f1:.3f}, complaint recall {recall:.3f}\n"
        f"  answers ({len(expected_answer)} examples, mean embedding): "
        f"macro-F1 {macro_f1(expected_answer, predicted_answer):.3f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    steps = pipeline_config(args.config)
    configured = next(s.get("answer_intents") for c, s in steps if c is SentenceEmbeddingFeaturizer)
    if not configured:
        print("config.yml names no answer_intents; the answer score needs them", file=sys.stderr)
        return 2
    examples = nlu_examples(args.data)
    for max_chars in args.max_chars:
        for answer_intents in args.answer_intents:
            steps_of_variant = variant_steps(steps, answer_intents, max_chars)
            figures = evaluate(steps_of_variant, examples, args.folds, frozenset(configured))
            print(f"answer_intents={answer_intents} max_chars={max_chars or 'config'} folds={args.folds}")
            print(figures, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
