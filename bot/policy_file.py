"""Reading one policy file of ``settings/`` into its pydantic model, with one clear error.

Every policy is validated when it is loaded, so a typo stops start-up with a message naming
the file and the key instead of surfacing in the middle of a conversation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def dotted(raw: Any, loc: tuple[Any, ...]) -> str:
    """A key as pydantic names it, joined with dots ("wait_estimate.min_claims")."""
    return ".".join(map(str, loc))


def parse_policy_file(
    path: Path, model: type[Model], error: type[ValueError], where: Callable[[Any, tuple[Any, ...]], str] = dotted
) -> Model:
    """``path`` read and validated as ``model``; ``error`` naming the file and each bad key
    (``where`` turns pydantic's location of a key into the name its reader knows it by)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.parse_obj(raw)
    except (OSError, yaml.YAMLError) as problem:
        raise error(f"{path}: {problem}") from problem
    except ValidationError as problem:
        problems = "; ".join(f"{where(raw, e['loc'])}: {e['msg']}" for e in problem.errors())
        raise error(f"{path}: {problems}") from problem


def check_unique_ids(items: list[Any], what: str) -> None:
    """ValueError when two of ``items`` (each with an ``id``) share an id; ``what`` names them ("rule")."""
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"{what} id {item.id!r} is used twice")
        seen.add(item.id)


def where_by_id(section: str, raw: Any, loc: tuple[Any, ...], skip: Callable[[str], bool] = lambda part: False) -> str:
    """A key inside a list of items with ids as its reader knows it: the item by its id
    ("rules[legal_threat].patterns"), not its position; ``skip`` drops parts of pydantic's location
    the file does not have (a rule's class name)."""
    if len(loc) >= 2 and loc[0] == section and isinstance(loc[1], int) and isinstance(raw, dict):
        item = (raw.get(section) or [None] * (loc[1] + 1))[loc[1]]
        name = item.get("id") if isinstance(item, dict) and item.get("id") else loc[1]
        rest = [str(part) for part in loc[2:] if not skip(str(part))]
        return ".".join([f"{section}[{name}]", *rest])
    return dotted(raw, loc)
