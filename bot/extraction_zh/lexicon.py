"""The Chinese extraction lexicon (``settings/extraction_zh.yml``), read and checked once.

The words around a detail are data, like the English lexicons of ``settings/triage.yml``,
so an operator can add a label or a city without a release. A missing list or an empty
entry stops start-up with a message naming the file and the key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from bot.domain_config import DomainConfigError

FILE_NAME = "extraction_zh.yml"


@dataclass(frozen=True)
class ChineseLexicon:
    """Word lists of ``extraction_zh.yml``, each sorted longest first for matching."""

    order_labels: tuple[str, ...]
    venue_suffixes: tuple[str, ...]
    place_cues: tuple[str, ...]
    not_place_words: tuple[str, ...]
    cities: tuple[str, ...]
    afternoon_words: tuple[str, ...]
    morning_words: tuple[str, ...]


def _words(data: dict, key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise DomainConfigError(f"{FILE_NAME}: {key} = {value!r}: expected a non-empty list of words")
    if not all(isinstance(word, str) and word.strip() for word in value):
        raise DomainConfigError(f"{FILE_NAME}: {key} = {value!r}: every entry must be a non-empty text")
    return tuple(sorted({word.strip() for word in value}, key=len, reverse=True))


@functools.lru_cache(maxsize=4)
def load_chinese_lexicon(config_dir: Path) -> ChineseLexicon:
    """Read ``extraction_zh.yml`` from ``config_dir``; raise DomainConfigError naming a bad key."""
    path = Path(config_dir) / FILE_NAME
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DomainConfigError(f"{FILE_NAME}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise DomainConfigError(f"{FILE_NAME}: is not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise DomainConfigError(f"{FILE_NAME}: expected a mapping of word lists")
    return ChineseLexicon(**{field.name: _words(data, field.name) for field in fields(ChineseLexicon)})
