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
