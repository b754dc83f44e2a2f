"""The mixed tokenizer: English exactly as the WhitespaceTokenizer, Chinese segmented by
jieba, offsets that point at the token's own characters, and a pipeline that trains on
mixed text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.mixed_tokenizer import MixedTokenizer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mixed() -> MixedTokenizer:
    return MixedTokenizer(MixedTokenizer.get_default_config())


def _tokens(tokenizer: WhitespaceTokenizer, text: str) -> list[tuple[str, int, int]]:
    return [(t.text, t.start, t.end) for t in tokenizer.tokenize(Message(data={TEXT: text}), TEXT)]


def _english_texts() -> list[str]:
    texts = []
    for path in [ROOT / "data" / "nlu.yml", *sorted((ROOT / "data" / "nlu").glob("*.yml"))]:
        texts += [example.get(TEXT) for example in load_data(str(path)).training_examples]
    return texts


def test_english_tokens_are_the_whitespace_tokenizers(mixed: MixedTokenizer) -> None:
    whitespace = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    texts = _english_texts()
    assert len(texts) > 3000
    different = [text for text in texts if _tokens(mixed, text) != _tokens(whitespace, text)]
    assert different == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("你好，我买的手机屏幕有裂痕，要求退货", ["你好", "我", "买", "的", "手机", "屏幕", "有", "裂痕", "要求", "退货"]),
        ("我的iPhone 13屏幕坏了，订单号:GR-88210457", ["我", "的", "iPhone", "13", "屏幕", "坏", "了", "订单号", "GR-88210457"]),
        ("单号：88412，请尽快处理！", ["单", "号", "88412", "请", "尽快", "处理"]),
        ("退货　 退款", ["退货", "退款"]),
        ("My order 88412 还没到 and nobody answers", ["My", "order", "88412", "还", "没到", "and", "nobody", "answers"]),
        ("螢幕有裂痕，要求退貨", ["螢幕", "有", "裂痕", "要求", "退貨"]),
    ],
)
def test_chinese_is_segmented_and_offsets_point_at_each_token(mixed: MixedTokenizer, text: str, words: list[str]) -> None:
    tokens = _tokens(mixed, text)
    assert [word for word, _, _ in tokens] == words
    assert all(text[start:end] == word for word, start, end in tokens)
    assert all(word.strip() == word and word for word, _, _ in tokens)
    starts = [start for _, start, _ in tokens]
    assert starts == sorted(starts)


def test_a_message_of_punctuation_or_emoji_keeps_one_token(mixed: MixedTokenizer) -> None:
    assert _tokens(mixed, "？？") == [("？？", 0, 2)]
    assert _tokens(mixed, "👍") == [("👍", 0, 1)]
    assert _tokens(mixed, "好的👍 thanks 😀") == [("好", 0, 1), ("的", 1, 2), ("thanks", 4, 10)]


def test_chinese_words_between_spaces_are_not_taken_for_emoji(mixed: MixedTokenizer) -> None:
    whitespace = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    text = "order 88412 还没到 please"
    assert [word for word, _, _ in _tokens(whitespace, text)] == ["order", "88412", "please"]  # rasa drops it
    assert _tokens(mixed, text) == [("order", 0, 5), ("88412", 6, 11), ("还", 12, 13), ("没到", 13, 15), ("please", 16, 22)]


def test_tokens_are_set_on_the_message_for_the_featurizers(mixed: MixedTokenizer) -> None:
    message = Message(data={TEXT: "快递三天了还没到"})
    mixed.process([message])
    tokens: list[Token] = message.get(TOKENS_NAMES[TEXT])
    assert [t.text for t in tokens] == ["快递", "三天", "了", "还", "没到"]


def test_a_pipeline_trains_and_predicts_on_mixed_chinese_and_english(tmp_path: Path) -> None:
    examples = {
        "complain_delivery": ["快递三天了还没到", "包裹一直没有送到", "my parcel never arrived", "订单号88412还没发货"],
        "complain_product": ["手机屏幕有裂痕", "耳机左边没有声音", "the screen is cracked", "质量太差了，用两天就坏了"],
        "greet": ["你好", "您好，在吗", "hello", "hi there"],
    }
    data = TrainingData([Message(data={TEXT: t, INTENT: i}) for i, texts in examples.items() for t in texts])
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), node_name="test")
    tokenizer = MixedTokenizer.create(MixedTokenizer.get_default_config(), storage, Resource("tok"), context)
    featurizer = CountVectorsFeaturizer.create(CountVectorsFeaturizer.get_default_config(), storage, Resource("cvf"), context)
    classifier = LogisticRegressionClassifier.create(
        {**LogisticRegressionClassifier.get_default_config(), "random_state": 2026}, storage, Resource("lr"), context
    )
    tokenizer.process_training_data(data)
    featurizer.train(data)
    featurizer.process_training_data(data)
    classifier.train(data)
    messages = [Message(data={TEXT: text}) for text in ("我的快递还没到", "屏幕有裂痕", "你好啊")]
    tokenizer.process(messages)
    featurizer.process(messages)
    classifier.process(messages)
    assert [m.get(INTENT)["name"] for m in messages] == ["complain_delivery", "complain_product", "greet"]


async def test_the_project_config_trains_with_the_mixed_tokenizer_in_place_of_the_whitespace_one(tmp_path: Path) -> None:
    """config.yml with its one tokenizer line changed (language stays ``en``) validates, trains
    and parses Chinese; the embedding featurizer is left out to keep the test short."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    pipeline = [step for step in config["pipeline"] if step["name"] != "nlu.embedding_featurizer.SentenceEmbeddingFeaturizer"]
    assert pipeline[0] == {"name": "WhitespaceTokenizer"}
    pipeline[0] = {"name": "nlu.mixed_tokenizer.MixedTokenizer"}
    (tmp_path / "config.yml").write_text(yaml.safe_dump({**config, "pipeline": pipeline, "policies": []}), encoding="utf-8")
    (tmp_path / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: complain_delivery\n  examples: |\n    - 快递三天了还没到\n    - 包裹一直没有送到\n    - my parcel never arrived\n"
        "- intent: complain_product\n  examples: |\n    - 手机屏幕有裂痕\n    - 耳机左边没有声音\n    - the screen is cracked\n"
        "- intent: greet\n  examples: |\n    - 你好\n    - 您好，在吗\n    - hello\n",
        encoding="utf-8",
    )
    model = train_nlu(str(tmp_path / "config.yml"), str(tmp_path / "nlu.yml"), str(tmp_path / "models"))
    agent = Agent.load(model)
    parsed = await agent.parse_message("我的快递还没到")
    assert parsed["intent"]["name"] == "complain_delivery"
    assert [tuple(span) for span in parsed["text_tokens"]] == [(0, 1), (1, 2), (2, 4), (4, 5), (5, 7)]
