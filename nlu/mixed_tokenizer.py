"""One tokenizer for messages in English, Chinese or both at once.

Rasa's JiebaTokenizer accepts only ``language: zh`` and emits whitespace tokens on mixed
text, which break training (rasa#7910); the WhitespaceTokenizer leaves a Chinese sentence
as one token. This one is the WhitespaceTokenizer with one step added: inside each of its
tokens, every run of Han characters is segmented by jieba and the text around the runs
becomes tokens of its own. A token without Han characters is left exactly as the
WhitespaceTokenizer made it, so the English pipeline sees the same tokens as before.
Offsets are kept, since entity extraction and the featurizers rely on them.
"""

from __future__ import annotations

import logging
from typing import Any

import jieba
import regex
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

HAN_RUN = regex.compile(r"\p{Han}+")
EDGE = regex.compile(r"^[^\w#@&]+|[^\w#@&]+$")
"""What the WhitespaceTokenizer strips from a word's edges; the text between two Han runs
("：" in "单号：88412") loses it the same way."""


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class MixedTokenizer(WhitespaceTokenizer):
    """WhitespaceTokenizer that segments the Chinese inside its tokens with jieba."""

    @staticmethod
    def not_supported_languages() -> list[str] | None:
        """Scripts without spaces that jieba does not segment (Chinese is supported)."""
        return ["ja", "th"]

    @staticmethod
    def required_packages() -> list[str]:
        """The segmenter."""
        return ["jieba"]

    def __init__(self, config: dict[str, Any]) -> None:
        """Load jieba's dictionary now, so the first customer message does not wait for it."""
        super().__init__(config)
        jieba.setLogLevel(logging.WARNING)
        self._segmenter = jieba.Tokenizer()
        self._segmenter.initialize()

    def remove_emoji(self, text: str) -> str:
        """Keep words with Han characters: Rasa's emoji pattern spans U+24C2 to U+1F251, so the
        WhitespaceTokenizer drops every all-Chinese word between spaces ("my order 还没到")."""
        return text if HAN_RUN.search(text) else super().remove_emoji(text)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """The WhitespaceTokenizer's tokens, each one holding Han characters split further."""
        tokens: list[Token] = []
        for token in super().tokenize(message, attribute):
            if HAN_RUN.search(token.text):
                tokens += self._split(token.text, token.start)
            else:
                tokens.append(token)
        return tokens

    def _split(self, word: str, start: int) -> list[Token]:
        """jieba's words for each Han run of ``word``, and the text between the runs."""
        pieces: list[Token] = []
        position = 0
        for run in HAN_RUN.finditer(word):
            pieces += _between(word[position : run.start()], start + position)
            for segment, begin, _ in self._segmenter.tokenize(run.group(), HMM=True):
                if segment.strip():
                    pieces.append(Token(segment, start + run.start() + begin))
            position = run.end()
        pieces += _between(word[position:], start + position)
        return pieces


def _between(text: str, start: int) -> list[Token]:
    """The text next to a Han run as one token, without edge punctuation; none if blank."""
    lead = EDGE.match(text)
    offset = lead.end() if lead else 0
    core = EDGE.sub("", text)
    return [Token(core, start + offset)] if core.strip() else []
