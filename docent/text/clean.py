"""Pages -> deduplicated sentences within the word limits, with a count for every drop."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from docent.cli import UserError
from docent.text.html import html_to_paragraphs
from docent.text.plain import text_to_paragraphs
from docent.text.sentences import split_sentences, train_punkt

FORMATS = ("html", "text")


def page_paragraphs(page: dict[str, Any]) -> list[str]:
    content = page["content"]
    return html_to_paragraphs(content) if page["format"] == "html" else text_to_paragraphs(content)


def validate_pages(pages: Sequence[dict[str, Any]], source: str) -> None:
    """`source` names the file in messages; rows are its lines (read_jsonl refuses blank lines)."""
    seen: set[str] = set()
    for lineno, page in enumerate(pages, start=1):
        if page["format"] not in FORMATS:
            raise UserError(f"{source}:{lineno}: format {page['format']!r} must be 'html' or 'text'")
        if not isinstance(page["content"], str):
            raise UserError(f"{source}:{lineno}: 'content' must be a string")
        if page["id"] in seen:
            raise UserError(f"{source}:{lineno}: duplicate id {page['id']!r}")
        seen.add(page["id"])


def clean_pages(pages: Sequence[dict[str, Any]], min_words: int,
                max_words: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Sentence rows (doc_id, title, sent_id, text) and the flat metrics of metrics/clean.json."""
    started = time.perf_counter()
    documents = [(page, page_paragraphs(page)) for page in pages]
    tokenizer, learned_abbreviations = train_punkt(p for _, paragraphs in documents for p in paragraphs)
    counts = dict.fromkeys(("no_letters", "too_short", "too_long", "duplicate"), 0)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    split_total = empty_documents = 0
    for page, paragraphs in documents:
        kept_before = len(rows)
        for paragraph in paragraphs:
            for text in split_sentences(tokenizer, paragraph):
                split_total += 1
                words = len(text.split())
                if not any(ch.isalpha() for ch in text):
                    reason = "no_letters"  # "1945–1954." or a stray "•"
                elif words < min_words:
                    reason = "too_short"
                elif words > max_words:
                    reason = "too_long"
                elif text in seen:
                    reason = "duplicate"
                else:
                    seen.add(text)
                    rows.append({"doc_id": page["id"], "title": page["title"],
                                 "sent_id": f"{page['id']}#{len(rows) - kept_before}", "text": text})
                    continue
                counts[reason] += 1
        if len(rows) == kept_before:
            empty_documents += 1
    metrics: dict[str, Any] = {
        "documents": len(pages),
        "documents_without_sentences": empty_documents,
        "paragraphs": sum(len(paragraphs) for _, paragraphs in documents),
        "sentences_split": split_total,
        "sentences_kept": len(rows),
        **{f"dropped_{reason}": n for reason, n in counts.items()},
        "words_kept": sum(len(row["text"].split()) for row in rows),
        "punkt_learned_abbreviations": learned_abbreviations,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    return rows, metrics
