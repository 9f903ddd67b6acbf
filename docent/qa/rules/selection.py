"""Which of a fact's valid questions are kept: up to `qa.per_fact`, as many different forms as possible."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docent.qa.rules.questions import Candidate

QTYPE_ORDER = ("define", "who", "what", "when", "where", "which", "how_many", "how_long")


def pick(candidates: list[Candidate], per_fact: int) -> list[Candidate]:
    """Up to per_fact questions, as many different forms as possible (first of each type, then the rest)."""
    first_of_type: list[Candidate] = []
    others: list[Candidate] = []
    seen_types: set[str] = set()
    for cand in candidates:
        if cand.qtype in seen_types:
            others.append(cand)
        else:
            seen_types.add(cand.qtype)
            first_of_type.append(cand)
    first_of_type.sort(key=lambda c: QTYPE_ORDER.index(c.qtype) if c.qtype in QTYPE_ORDER else len(QTYPE_ORDER))
    return (first_of_type + others)[:per_fact]
