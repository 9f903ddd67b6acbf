"""Passages: what retrieval returns and what a prompt carries as a source.

A passage is consecutive sentences of one document, in order, up to `retrieval.passage_words`
words; a sentence longer than that is a passage on its own (never cut: a cut sentence would
drop the very fact it holds). A code block (clean's code rows: `pre`, fenced Markdown code, a
PDF's table or listing lines) is a passage of its own, led by the sentence that introduces it
("Creation of virtual environments is done by executing the command venv:\npython3 -m venv
/path/to/new/virtual/environment"): "how do I create a virtual environment" is answered by the
command, which no sentence holds. Each passage keeps its document's title, url and section, so an
answer can show where it came from, and the ids of its sentences, so training knows which
passage holds a QA pair's answer (the "gold" passage).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from docent.qa.records import sentence_key

PASSAGE_KEYS = ("passage_id", "doc_id", "title", "url", "section", "text", "sent_ids")


@dataclass(frozen=True)
class Passage:
    passage_id: str
    doc_id: str
    title: str
    url: str
    section: str
    text: str
    sent_ids: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "sent_ids": list(self.sent_ids)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Passage:
        return cls(**{**{k: row[k] for k in PASSAGE_KEYS}, "sent_ids": tuple(row["sent_ids"])})


@dataclass(frozen=True)
class Retrieved:
    passage: Passage
    score: float
    # Share of the question's weight (the IDF of its indexed terms) that the passage contains:
    # 1.0 when every searched word is in it. An engine that cannot say leaves it at 1.0.
    match: float = 1.0
    # Cosine similarity of the passage's embedding to the question's; None without embeddings.
    similarity: float | None = None


def row_key(row: dict[str, Any]) -> str:
    """A clean sentence row's corpus-wide key (docent.qa.records.sentence_key)."""
    return sentence_key(str(row["doc_id"]), row["sent_id"])


def _order(row: dict[str, Any]) -> int:
    tail = row_key(row).rsplit("#", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def build_passages(
    sentences: Iterable[dict[str, Any]],
    passage_words: int,
    urls: dict[str, str] | None = None,
    exclude_docs: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[Passage]:
    """Sentences (clean's rows) -> passages, documents in first-seen order, sentences in document order.

    A new passage also starts where the section changes (rows may carry a `section` path).
    """
    urls = urls or {}
    by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sentences:
        if str(row["doc_id"]) not in exclude_docs:
            by_doc[str(row["doc_id"])].append(row)
    passages: list[Passage] = []
    for doc_id, rows in by_doc.items():
        chunks: list[list[dict[str, Any]]] = []
        words = 0
        for row in sorted(rows, key=_order):
            n = len(str(row["text"]).split())
            section = str(row.get("section", "") or "")
            if chunks and (words + n > passage_words or section != str(chunks[-1][0].get("section", "") or "")):
                chunks.append([])
                words = 0
            elif not chunks:
                chunks.append([])
            chunks[-1].append(row)
            words += n
        for i, chunk in enumerate(chunks):
            passages.append(Passage(
                passage_id=f"{doc_id}@{i}", doc_id=doc_id, title=str(chunk[0]["title"]), url=urls.get(doc_id, ""),
                section=str(chunk[0].get("section", "") or ""),
                text=" ".join(str(r["text"]).strip() for r in chunk),
                sent_ids=tuple(row_key(r) for r in chunk)))
    return passages


def code_passages(code: Iterable[dict[str, Any]], lead_words: int, urls: dict[str, str] | None = None,
                  exclude_docs: set[str] = frozenset()) -> list[Passage]:  # type: ignore[assignment]
    """Code rows (doc_id, title, code_id, section, context, text) -> one passage each: the sentence
    that introduces the block (clean's `context`, "To deactivate a virtual environment, type:"; at
    most its last `lead_words` words, `retrieval.code_lead_words`: a bound of its own, since the
    prose passages' length cut the purpose off such sentences), then the code as written. Only that sentence: the
    paragraph's others are in their own passage, and repeated here they made the code block the
    first hit for questions about them (3 of the documents folder's 16 natural questions)."""
    urls = urls or {}
    passages = []
    for row in code:
        doc_id = str(row["doc_id"])
        if doc_id in exclude_docs:
            continue
        words = str(row.get("context") or "").split()
        lead = " ".join(words[-lead_words:])
        if len(words) > lead_words:
            lead = "… " + lead
        passages.append(Passage(
            passage_id=f"{doc_id}@{str(row['code_id']).rsplit('#', 1)[-1]}", doc_id=doc_id, title=str(row["title"]),
            url=urls.get(doc_id, ""), section=str(row.get("section") or ""),
            # the block's own id stands in for sentence ids: a "how do I" pair names it (docent/qa/howto.py)
            text=f"{lead}\n{row['text']}" if lead else str(row["text"]), sent_ids=(str(row["code_id"]),)))
    return passages


def gold_passages(passages: Sequence[Passage], sent_ids: Iterable[str | int], doc_id: str = "") -> set[str]:
    """Ids of the passages holding any of these sentences (bare numbers are read within `doc_id`)."""
    wanted = {sentence_key(doc_id, s) if doc_id else str(s) for s in sent_ids}
    return {p.passage_id for p in passages if wanted & set(p.sent_ids)}
