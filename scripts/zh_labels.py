"""Categories of the Chinese held-out reviews, given by reading each text.

Every label was given by reading the review against the category definitions in
../shared/evaluation/README.md, before any model saw the file, never from a model's
output. A review that names several problems takes the one it dwells on or asks to fix;
a review with no problem (praise, a neutral remark) is ``none``.
"""

from __future__ import annotations

READ_LABELS: dict[str, str] = {}

SKIPPED: frozenset[str] = frozenset()
"""Sampled reviews left out: not about a purchase, or too unclear to place."""
