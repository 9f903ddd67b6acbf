"""The hand-written natural questions (data/eval/natural_questions.jsonl), one file for every domain,
and the everyday questions no domain should admit (data/eval/everyday_questions.txt).

Each row: domain, question, answer (a reference sentence), short_answer (the span a right answer
must state), doc_title and sentence (the corpus sentence that states the fact). Written by people
reading the corpus, never generated; a domain's rows are those whose `domain` is `assistant.domain`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.io import read_jsonl
from docent.text.normalize import normalize_unicode


def everyday_questions(path: str | Path) -> list[str]:
    """Hand-written everyday questions, one a line ("how do i boil an egg"): what a kiosk hears that
    belongs to no domain. Blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def natural_questions(path: str | Path, domain: str) -> list[dict[str, Any]]:
    """This domain's rows ([] when the file is missing)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = read_jsonl(path, required=("domain", "question", "answer", "short_answer"),
                      nonempty=("question", "answer", "short_answer"), allow_empty_file=True)
    return [r for r in rows if str(r["domain"]) == domain]


def split_by_sources(rows: Sequence[dict[str, Any]],
                     source_titles: Iterable[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(questions on the sources, questions on held-out documents): a natural question whose
    document (`doc_title`) is not among the sources' titles was held out by split.absent_documents,
    so its answer is in no source (a test_absent question, counted apart by evaluate and the
    classifier stage). Titles compare NFC-normalised and case-folded; a row without `doc_title`
    counts as on the sources."""
    titles = {normalize_unicode(t).casefold() for t in source_titles}
    on_sources: list[dict[str, Any]] = []
    held_out: list[dict[str, Any]] = []
    for r in rows:
        missing = r.get("doc_title") and normalize_unicode(str(r["doc_title"])).casefold() not in titles
        (held_out if missing else on_sources).append(r)
    return on_sources, held_out
