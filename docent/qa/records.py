"""The row types generate_qa reads and writes (data/clean/sentences.jsonl -> data/qa/qa.jsonl)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docent.cli import UserError

SENTENCE_KEYS = ("doc_id", "title", "sent_id", "text")
QA_KEYS = ("id", "question", "answer", "short_answer", "doc_id", "sent_ids", "generator", "fact_id", "qtype",
           "variant_of")
UNRELATED_KEYS = ("id", "question", "source")


def sentence_key(doc_id: str, sent_id: int | str) -> str:
    """A clean sentence's corpus-wide key, as QA rows' sent_ids name it (clean writes sent_id as
    "<doc_id>#<n>"; a bare number gets the doc)."""
    if isinstance(sent_id, str) and sent_id.startswith(doc_id):
        return sent_id
    return f"{doc_id}#{sent_id}"


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    title: str
    sent_id: int | str
    text: str
    section: str = ""  # the heading path above it ("Virtual Environments > Creating Virtual Environments")
    kind: str = "sentence"  # "definition": a definition-list item's sentence, "term: sentence" (docent/text/units.py)

    @property
    def key(self) -> str:
        return sentence_key(self.doc_id, self.sent_id)


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    short_answer: str  # the span the question asks for; a correct answer states it
    doc_id: str
    sent_ids: tuple[int | str, ...]
    fact_id: str
    qtype: str
    generator: str
    variant_of: str = ""  # a visitor form of this question (colloquial.py); "" for a checked question

    def row(self, row_id: str) -> dict[str, Any]:
        return {
            "id": row_id,
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "doc_id": self.doc_id,
            "sent_ids": list(self.sent_ids),
            "generator": self.generator,
            "fact_id": self.fact_id,
            "qtype": self.qtype,
            "variant_of": self.variant_of,
        }


def sentences_from_rows(rows: list[dict[str, Any]], path: str) -> list[Sentence]:
    """Validate sentences.jsonl rows (read_jsonl already checked the keys exist)."""
    sentences = []
    for lineno, row in enumerate(rows, start=1):
        sent_id = row["sent_id"]
        if not isinstance(sent_id, int | str) or isinstance(sent_id, bool):
            raise UserError(f"{path}:{lineno}: 'sent_id' must be an integer or a string, got {sent_id!r}")
        for key in ("doc_id", "title", "text"):
            if not isinstance(row[key], str):
                raise UserError(f"{path}:{lineno}: '{key}' must be a string")
        section = row.get("section", "")
        if not isinstance(section, str):
            raise UserError(f"{path}:{lineno}: 'section' must be a string")
        kind = row.get("kind", "sentence")
        if kind not in ("sentence", "definition"):
            raise UserError(f"{path}:{lineno}: 'kind' must be 'sentence' or 'definition', got {kind!r}")
        sentences.append(Sentence(doc_id=row["doc_id"], title=row["title"], sent_id=sent_id, text=row["text"],
                                  section=section, kind=kind))
    return sentences


ABSENT_SPLIT = "test_absent.jsonl"


def read_absent_split(split_dir: str | Path) -> tuple[list[dict[str, Any]], set[str]]:
    """The test_absent questions and their documents: held out of training, the index and the
    classifier's positives (read here once for the index and the classifier stages)."""
    from docent.io import read_jsonl

    rows = read_jsonl(Path(split_dir) / ABSENT_SPLIT, required=("question", "doc_id"), nonempty=("question",),
                      allow_empty_file=True)
    return rows, {str(r["doc_id"]) for r in rows}
