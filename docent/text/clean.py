"""Pages -> deduplicated sentences within the word limits and code blocks, with a count for every drop.

Two outputs, so nothing that reads sentences has to know about code: sentence rows (prose and
definitions, each with its section path) for data/clean/sentences.jsonl, and code rows (each block
whole, with its section and the paragraph before it) for data/clean/code.jsonl.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from docent.cli import UserError, log
from docent.config import CleanParams
from docent.text.code import option_descriptions
from docent.text.html import html_to_units
from docent.text.page_kind import PAGE_KINDS
from docent.text.plain import text_to_paragraphs
from docent.text.sentences import prose_share, split_sentences, train_punkt
from docent.text.units import Unit

FORMATS = ("html", "text")
SENTENCE_KIND = {"prose": "sentence", "definition": "definition"}
# Pages whose code is not marked as code: plain text, and generic HTML (PDF and Word files arrive
# as generic HTML, docent.sources.pdf / word); there a "sentence" may be a listing line.
UNMARKED_CODE_KINDS = frozenset({"text", "generic"})


# A list item that documents a name: "env_dir - The location of the virtual environment. Used for
# __VENV_DIR__ in activation scripts." The name is code-like or lower case (prose opens on a capital),
# then a spaced hyphen or dash.
_LISTED_TERM = re.compile(r"^([a-z_][\w.]*(?:\(\))?|[A-Za-z_][\w]*[._][\w.]*(?:\(\))?) [-–] (\S.*)$", re.DOTALL)


def listed_term(unit: Unit) -> Unit:
    """A prose unit that documents a name, as the definition it is, so that each of its sentences
    names its term ("env_dir: Used for __VENV_DIR__ in activation scripts ..."); other units as they are."""
    match = _LISTED_TERM.match(unit.text) if unit.kind == "prose" else None
    return Unit("definition", match.group(2), unit.section, term=match.group(1)) if match else unit


def page_units(page: dict[str, Any], params: CleanParams | None = None) -> tuple[str, list[Unit]]:
    """('text' or the HTML page's kind, its units in document order); without `params` API
    signatures are kept whole."""
    content = page["content"]
    if page["format"] == "html":
        document = html_to_units(content, params.max_signature_chars if params else None)
        return document.kind, [listed_term(unit) for unit in document.units]
    return "text", [listed_term(Unit("prose", paragraph)) for paragraph in text_to_paragraphs(content)]


def page_paragraphs(page: dict[str, Any]) -> list[str]:
    """The page's prose paragraphs (definitions as "term: description"), code left out."""
    return [unit.paragraph for unit in page_units(page)[1] if unit.kind != "code"]


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


def _unit_sentences(tokenizer: Any, unit: Unit) -> list[str]:
    if unit.kind != "definition":
        return split_sentences(tokenizer, unit.text)
    # Each sentence of a definition names its term, so none is left without its subject; the
    # description's paragraphs (one per line) are split one by one.
    return [f"{unit.term}: {s}" for part in unit.text.split("\n") for s in split_sentences(tokenizer, part)]


def option_units(code: Unit) -> list[Unit]:
    """A help listing's options as definitions of the block's section ("--without-pip: Skips
    installing or upgrading pip ..."): "what does --without-pip do" is asked of a sentence, and the
    block stays whole as a code passage. The listing's own terse style is made a sentence: first
    letter capitalised, a full stop added ("show this help message and exit")."""
    units = []
    for option, description in option_descriptions(code.text):
        text = description[:1].upper() + description[1:]
        units.append(Unit("definition", text if text[-1:] in ".!?" else f"{text}.", code.section, term=option))
    return units


def _with_options(units: Sequence[Unit]) -> Iterator[tuple[Unit, bool]]:
    """The page's units in order, each code block followed by its options (`option_units`), each
    marked whether it is such an option."""
    for unit in units:
        yield unit, False
        if unit.kind == "code":
            yield from ((option, True) for option in option_units(unit))


def _code_row(page: dict[str, Any], number: int, unit: Unit, text: str, context: str) -> dict[str, Any]:
    return {"doc_id": page["id"], "title": page["title"], "code_id": f"{page['id']}#code{number}",
            "section": unit.section, "kind": "code", "language": unit.language, "context": context, "text": text}


def clean_pages(pages: Sequence[dict[str, Any]],
                params: CleanParams) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Sentence rows (doc_id, title, sent_id, text, section, kind), code rows (doc_id, title, code_id,
    section, kind, language, context: the sentence before the block in its section, text) and the
    flat metrics of metrics/clean.json."""
    started = time.perf_counter()
    documents = [(page, *page_units(page, params)) for page in pages]
    prose = [unit for _, _, units in documents for unit in units if unit.kind != "code"]
    tokenizer, learned_abbreviations = train_punkt(unit.text for unit in prose)
    counts = dict.fromkeys(("no_letters", "too_short", "too_long", "duplicate", "code_too_long",
                            "code_duplicate", "not_prose"), 0)
    rows: list[dict[str, Any]] = []
    code_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    seen_code: set[str] = set()
    kinds: Counter[str] = Counter()
    split_total = code_total = listings = 0
    without_sentences: list[str] = []
    options = 0
    for page, kind, units in documents:
        kinds[kind] += 1
        kept_before, code_before = len(rows), len(code_rows)
        previous = Unit("prose", "")  # the last prose unit: a code block's context, in its section
        for unit, is_option in _with_options(units):
            options += is_option
            if unit.kind == "code":
                code_total += 1
                if unit.text.count("\n") + 1 > params.max_code_lines:
                    counts["code_too_long"] += 1
                elif unit.text in seen_code:
                    counts["code_duplicate"] += 1
                else:
                    seen_code.add(unit.text)
                    # the sentence that introduces the block ("To deactivate a virtual environment, type:")
                    intro = _unit_sentences(tokenizer, previous)[-1:] if previous.section == unit.section else []
                    code_rows.append(_code_row(page, len(code_rows) - code_before, unit, unit.text,
                                               intro[0] if intro else ""))
                continue
            if not is_option:  # an option introduces no block
                previous = unit
            last_sentence = ""  # the sentence before a listing line of a PDF: its context
            for text in _unit_sentences(tokenizer, unit):
                split_total += 1
                words = len(text.split())
                if not any(ch.isalpha() for ch in text):
                    reason = "no_letters"  # "1945–1954." or a stray "•"
                elif words < params.min_words:
                    reason = "too_short"
                elif words > params.max_words:
                    reason = "too_long"
                elif (kind in UNMARKED_CODE_KINDS and unit.kind == "prose"
                      and prose_share(text) < params.min_prose_share):
                    # a table row or markup in a text layer (a PDF: no <pre> marks it), not a sentence to
                    # ask about; a passage for retrieval. A documentation generator marks its code, and
                    # a definition's description may be code-like ("list.append(x): Equivalent to
                    # a[len(a):] = [x].")
                    counts["not_prose"] += 1
                    if text not in seen_code:
                        seen_code.add(text)
                        listings += 1
                        code_rows.append(_code_row(page, len(code_rows) - code_before, unit, text, last_sentence))
                    continue
                elif text in seen:
                    reason = "duplicate"
                else:
                    seen.add(text)
                    rows.append({"doc_id": page["id"], "title": page["title"],
                                 "sent_id": f"{page['id']}#{len(rows) - kept_before}", "text": text,
                                 "section": unit.section, "kind": SENTENCE_KIND[unit.kind]})
                    last_sentence = text
                    continue
                counts[reason] += 1
        if len(rows) == kept_before:
            without_sentences.append(page["id"])
            if len(code_rows) == code_before:
                log.warning("%s: no sentence and no code kept (navigation only, or nothing within the limits)",
                            page["id"])
    metrics: dict[str, Any] = {
        "documents": len(pages),
        "documents_without_sentences": len(without_sentences),
        # named, " | "-joined: metrics stay flat, and a page that held only navigation is found by name
        "documents_without_sentences_ids": " | ".join(without_sentences),
        "pages_text": kinds["text"],
        **{f"pages_html_{kind}": kinds[kind] for kind in PAGE_KINDS},
        "paragraphs": len(prose),
        "definitions": sum(unit.kind == "definition" for unit in prose),
        "sentences_split": split_total,
        "sentences_kept": len(rows),
        "sentences_from_definitions": sum(row["kind"] == "definition" for row in rows),
        # options of a command's help listing in a code block, each a definition (docent.text.code)
        "option_definitions": options,
        "sentences_with_section": sum(bool(row["section"]) for row in rows),
        **{f"dropped_{reason}": counts[reason] for reason in ("no_letters", "too_short", "too_long", "duplicate")},
        "words_kept": sum(len(row["text"].split()) for row in rows),
        "code_blocks": code_total,
        "code_blocks_kept": len(code_rows) - listings,
        # split "sentences" that are table rows or markup (a PDF's listing): code rows, once each
        "sentences_not_prose": counts["not_prose"],
        "sentences_not_prose_kept_as_code": listings,
        "dropped_code_too_long": counts["code_too_long"],
        "dropped_code_duplicate": counts["code_duplicate"],
        "punkt_learned_abbreviations": learned_abbreviations,
        "total_s": round(time.perf_counter() - started, 3),
    }
    return rows, code_rows, metrics
