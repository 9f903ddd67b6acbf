"""PDF documents -> simple HTML (headings and paragraphs) for the cleaner, through pypdf.

pypdf reports each run of text with its position and font size; lines are rebuilt from those and
grouped into paragraphs where the vertical gap is larger than the document's usual line spacing,
the font size changes, or a short line ends a sentence. A paragraph that runs on over a page break
is joined, and a word hyphenated at a line end is joined again ("infor-" + "mation").

Headings come from the outline (bookmarks) when the file has one: each entry's title is matched to a
line of its page, or placed at the top of it; without an outline, short lines set clearly larger
than the body text are headings. Running headers and footers (a line that recurs at the top or
bottom of most pages) and page numbers are dropped.

Encrypted files (unless they open with the empty password), files without any text (scanned
images) and files pypdf cannot parse raise UnusableDocument with the reason.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docent.sources.base import Converted, UnusableDocument, log

_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–—]?\s*\d{1,5}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,5})?$", re.IGNORECASE)
_ROMAN_PAGE = re.compile(r"^[ivxlc]{1,7}$", re.IGNORECASE)
_EDGE_NUMBER = re.compile(r"^(\d{1,5})\s|\s(\d{1,5})$")  # a number opening or closing a header/footer line
_TOC_LEADER = re.compile(r"(?:\.\s?){4,}\s*(?:\d{1,5}|[ivxlc]{1,7})$|…{2,}\s*\d{1,5}$", re.IGNORECASE)
_BULLET = re.compile(r"^[•◦▪▫‣∙●○■□–*-]\s+")
_SENTENCE_END = re.compile(r"[.!?:;…]['\"”’)\]]*$")
_TITLE_NUMBERING = re.compile(r"^(?:chapter\s+|part\s+|section\s+)?(?:\d+|[ivxlc]+|[a-z])?(?:[.\d]*\d)?[.):]?\s+",
                              re.IGNORECASE)
# Titles the producer wrote, not the author: "Microsoft Word - report.docx", "untitled".
_PRODUCER_TITLE = re.compile(r"^(?:microsoft (?:word|powerpoint) - |untitled\b)|\.(?:docx?|pdf|odt|tex|rtf)$",
                             re.IGNORECASE)
_MONOSPACE_FONT = re.compile(r"mono|courier|consol|menlo|monaco|typewriter|cmtt|sftt|lmtt|fixed|code",
                             re.IGNORECASE)
HEADING_SIZE_RATIO = 1.2  # no outline: a line this much larger than the body text may be a heading
HEADING_MAX_WORDS = 12


@dataclass
class _Line:
    text: str
    y: float  # baseline, in the page's coordinates (for rotated text: along the page's text direction)
    x: float  # where the line starts, across the text direction
    size: float  # effective font size: Tf size scaled by the text and transformation matrices
    mono: bool = False  # every character in a monospace font: a line of code


@dataclass
class _Page:
    lines: list[_Line] = field(default_factory=list)
    headings: list[tuple[int, str, float | None]] = field(default_factory=list)  # (level, title, top)


def _mult(m: list[float], n: list[float]) -> list[float]:
    """Product of two PDF matrices [a b c d e f]."""
    return [
        m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2], m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4], m[4] * n[1] + m[5] * n[3] + n[5],
    ]


def _is_mono(font: Any) -> bool:
    try:
        name = str(font.get("/BaseFont", "")) if font is not None else ""
    except Exception:  # a font entry that is not a dictionary
        return False
    return bool(_MONOSPACE_FONT.search(name.split("+")[-1]))


def _page_lines(page: Any) -> list[_Line]:
    lines: list[_Line] = []
    parts: list[tuple[str, float, float, float, bool]] = []  # (text, y, x, size, mono) of the current line

    def close() -> None:
        text = " ".join("".join(p[0] for p in parts).split())
        if text:
            inked = [p for p in parts if p[0].strip()]
            size = max(inked, key=lambda p: len(p[0].strip()))[3]
            lines.append(_Line(text, inked[0][1], inked[0][2], size, all(p[4] for p in inked)))
        parts.clear()

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if not text:
            return
        m = _mult([float(v) for v in tm], [float(v) for v in cm])
        y, x = (m[5], m[4]) if abs(m[3]) >= abs(m[1]) else (m[4], m[5])
        effective = abs(float(size)) * math.hypot(m[2], m[3])
        mono = _is_mono(font)
        for k, piece in enumerate(text.split("\n")):
            if k:
                close()
            if piece.strip() or (piece and parts):
                parts.append((piece, y, x, effective, mono))

    page.extract_text(visitor_text=visit)
    close()
    return lines


def _edge(k: int, n: int) -> bool:
    """One of the first or last two lines of a page: where headers and footers sit."""
    return k < 2 or k >= n - 2


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.casefold().split()))


def _furniture_keys(pages: list[_Page]) -> set[str]:
    """Lines at the top or bottom of most pages (a running title, a footer), digits ignored."""
    with_text = [p for p in pages if p.lines]
    if len(with_text) < 3:
        return set()
    counts: Counter[str] = Counter()
    for page in with_text:
        counts.update({_furniture_key(line.text) for k, line in enumerate(page.lines) if _edge(k, len(page.lines))})
    needed = max(3, math.ceil(0.5 * len(with_text)))
    return {key for key, n in counts.items() if n >= needed}


def _page_number_offset(pages: list[_Page]) -> int | None:
    """Printed page number minus page index, when header/footer lines carry one ("Chapter 4: Function
    reference 9" on the 17th page): a running head that changes with the chapter, found by its number."""
    offsets: Counter[int] = Counter()
    for index, page in enumerate(pages):
        found = set()
        for k, line in enumerate(page.lines):
            number = _EDGE_NUMBER.search(line.text)
            if _edge(k, len(page.lines)) and number:
                found.add(int(number.group(1) or number.group(2)) - index)
        offsets.update(found)
    if not offsets:
        return None
    offset, n = offsets.most_common(1)[0]
    return offset if n >= max(3, math.ceil(0.3 * sum(bool(p.lines) for p in pages))) else None


def _strip_furniture(pages: list[_Page]) -> None:
    """Page numbers, running heads and footers, and table-of-contents lines ("2 Naming . . . 3") go."""
    keys = _furniture_keys(pages)
    offset = _page_number_offset(pages)
    for index, page in enumerate(pages):
        n = len(page.lines)
        kept = []
        for k, line in enumerate(page.lines):
            if _PAGE_NUMBER.match(line.text) or _TOC_LEADER.search(line.text):
                continue
            if _edge(k, n):
                number = _EDGE_NUMBER.search(line.text)
                if (_ROMAN_PAGE.match(line.text) or _furniture_key(line.text) in keys
                        or (offset is not None and number
                            and int(number.group(1) or number.group(2)) == index + offset)):
                    continue
            kept.append(line)
        page.lines = kept


def _outline(reader: Any) -> list[tuple[int, int, str, float | None]]:
    """(page index, depth, title, top) of every outline entry, in outline order."""
    entries: list[tuple[int, int, str, float | None]] = []

    def walk(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            try:
                index = reader.get_destination_page_number(item)
                title = " ".join(str(item.title or "").split())
                top = item.get("/Top")
                top = float(top) if isinstance(top, int | float) else None
            except Exception as exc:  # an outline entry pointing nowhere: the entry goes, the text stays
                log.debug("outline entry skipped: %s", exc)
                continue
            if index is not None and index >= 0 and title:
                entries.append((index, depth, title, top))

    try:
        walk(list(reader.outline), 0)
    except Exception as exc:  # a broken outline tree is not a reason to drop the document
        log.debug("outline unreadable: %s", exc)
    return entries


def _normal_title(text: str) -> str:
    return " ".join(_TITLE_NUMBERING.sub("", " ".join(text.split())).casefold().split())


class _Paragraphs:
    """Lines -> HTML blocks, a paragraph kept open across a page break when it continues there."""

    def __init__(self, line_gap: float, line_chars: float) -> None:
        self.line_gap, self.line_chars = line_gap, line_chars
        self.blocks: list[str] = []
        self.lines: list[str] = []
        self.last: _Line | None = None
        self.item = False  # the open paragraph is a bulleted list item
        self.code: list[_Line] = []  # the open code block

    def flush(self) -> None:
        if self.code:
            left = min(line.x for line in self.code)
            # indentation back from the x offset, a monospace character being about 0.6 em wide
            text = "\n".join(" " * round((line.x - left) / (0.6 * line.size)) + line.text for line in self.code)
            self.blocks.append(f"<pre><code>{html.escape(text)}</code></pre>")
            self.code = []
        if self.lines:
            text = html.escape(_join_lines(self.lines))
            self.blocks.append(f"<ul><li>{text}</li></ul>" if self.item else f"<p>{text}</p>")
        self.lines, self.last, self.item = [], None, False

    def heading(self, level: int, title: str) -> None:
        self.flush()
        self.blocks.append(f"<h{level}>{html.escape(title)}</h{level}>")

    def add_code(self, line: _Line) -> None:
        if self.lines:
            self.flush()
        self.code.append(line)

    def add(self, line: _Line, new_page: bool) -> None:
        if self.code:
            self.flush()
        last = self.last
        bullet = _BULLET.match(line.text)
        if bullet:
            self.flush()
            self.item = True
            line = _Line(line.text[bullet.end():], line.y, line.x, line.size)
        elif last is not None:
            if new_page:
                # a paragraph that runs on over the page break: no full stop, next page starts in lower case
                continues = not _SENTENCE_END.search(last.text) and line.text[:1].islower()
                if not continues:
                    self.flush()
            elif self._breaks(last, line):
                self.flush()
        self.lines.append(line.text)
        self.last = line

    def _breaks(self, last: _Line, line: _Line) -> bool:
        size = max(last.size, line.size)
        if abs(last.size - line.size) > 0.15 * size:
            return True
        gap = abs(last.y - line.y)
        if gap > 1.3 * self.line_gap + 0.1 * size:
            return True
        # a short line that ends a sentence ends its paragraph
        return len(last.text) < 0.65 * self.line_chars and bool(_SENTENCE_END.search(last.text))


def _join_lines(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        if re.search(r"[a-zà-ÿ]-$", text) and line[:1].islower():
            text = text[:-1] + line  # "infor-" + "mation"
        else:
            text += " " + line
    return text


def _layout_statistics(pages: list[_Page]) -> tuple[float, float, float]:
    """(body font size, usual gap between two lines of body text, usual characters per body line)."""
    by_size: Counter[float] = Counter()
    for page in pages:
        for line in page.lines:
            by_size[round(line.size * 2) / 2] += len(line.text)
    body = by_size.most_common(1)[0][0] if by_size else 10.0
    gaps, chars = [], []
    for page in pages:
        for prev, line in zip(page.lines, page.lines[1:], strict=False):
            if abs(prev.size - body) <= 0.15 * body and abs(line.size - body) <= 0.15 * body:
                gap = abs(prev.y - line.y)
                if 0.5 * body < gap < 3 * body:
                    gaps.append(gap)
        chars += [len(line.text) for line in page.lines if abs(line.size - body) <= 0.15 * body]
    line_gap = statistics.median(gaps) if gaps else 1.2 * body
    line_chars = statistics.quantiles(chars, n=10)[7] if len(chars) >= 2 else (chars[0] if chars else 60.0)
    return body, line_gap, line_chars


def _size_headings(pages: list[_Page], body: float) -> dict[float, int]:
    """No outline: heading levels by font size, for short lines clearly larger than the body text."""
    sizes = sorted({round(line.size * 2) / 2 for page in pages for line in page.lines
                    if line.size >= HEADING_SIZE_RATIO * body and len(line.text.split()) <= HEADING_MAX_WORDS},
                   reverse=True)
    return {size: min(level, 6) for level, size in enumerate(sizes, start=1)}


def pdf_title(reader: Any) -> str:
    try:
        title = " ".join(str((reader.metadata or {}).get("/Title") or "").split())
    except Exception:  # metadata in a broken object: the file name will do
        return ""
    return "" if not title or _PRODUCER_TITLE.search(title) else title


def read_pdf(path: Path, max_pages: int) -> Converted:
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises many types on a damaged file; each means "cannot be parsed"
        raise UnusableDocument("corrupt", f"{type(exc).__name__}: {exc}") from None
    if encrypted:
        try:
            opened = bool(reader.decrypt(""))  # owner-password-only files open without a password
        except Exception as exc:
            raise UnusableDocument("encrypted", f"{type(exc).__name__}: {exc}") from None
        if not opened:
            raise UnusableDocument("encrypted")
    try:
        n_pages = len(reader.pages)
    except Exception as exc:
        raise UnusableDocument("corrupt", f"{type(exc).__name__}: {exc}") from None
    if n_pages > max_pages:
        raise UnusableDocument("too_many_pages", f"{n_pages} pages")
    pages: list[_Page] = []
    failed = 0
    for index in range(n_pages):
        try:
            pages.append(_Page(_page_lines(reader.pages[index])))
        except Exception as exc:  # one unreadable page: counted as a page without text
            failed += 1
            log.warning("%s: page %d unreadable (%s: %s)", path, index + 1, type(exc).__name__, exc)
            pages.append(_Page())
    if n_pages and failed == n_pages:
        raise UnusableDocument("corrupt", "no page could be read")
    without_text = sum(not page.lines for page in pages)
    if without_text == n_pages:
        raise UnusableDocument("no_text", f"{n_pages} page(s) without text")
    _strip_furniture(pages)
    outline = _outline(reader)
    for index, depth, title, top in outline:
        if index < len(pages):
            pages[index].headings.append((min(depth + 1, 6), title, top))
    body, line_gap, line_chars = _layout_statistics(pages)
    size_levels = {} if outline else _size_headings(pages, body)
    out = _Paragraphs(line_gap, line_chars)
    level: int | None  # a placed heading's level, then the font size's (None: body text)
    for page in pages:
        placed, matched = _place_headings(page)
        new_page = True
        for k, line in enumerate(page.lines):
            for level, title in placed.get(k, ()):
                out.heading(level, title)
            if k in matched:
                continue  # the outline entry's own line, now its heading
            level = size_levels.get(round(line.size * 2) / 2)
            if line.mono:
                out.add_code(line)
            elif level and len(line.text.split()) <= HEADING_MAX_WORDS and not line.text.endswith("."):
                out.heading(level, line.text)
            else:
                out.add(line, new_page)
            new_page = False
        for level, title in placed.get(len(page.lines), ()):
            out.heading(level, title)
    out.flush()
    return Converted(title=pdf_title(reader), html="\n".join(out.blocks),
                     pdf_pages=n_pages, pdf_pages_without_text=without_text)


def _place_headings(page: _Page) -> tuple[dict[int, list[tuple[int, str]]], set[int]]:
    """Where each outline entry of the page goes: before the line that reads its title (that line is
    then `matched` and not text), else where its destination's top points, else at the page top."""
    placed: dict[int, list[tuple[int, str]]] = {}
    matched: set[int] = set()
    start = 0
    for level, title, top in page.headings:
        wanted = _normal_title(title)
        index = next((k for k in range(start, len(page.lines)) if _normal_title(page.lines[k].text) == wanted), None)
        if index is not None:
            matched.add(index)
        elif top is not None:
            index = next((k for k in range(start, len(page.lines)) if page.lines[k].y <= top + 1), len(page.lines))
        else:
            index = start
        placed.setdefault(index, []).append((level, title))
        start = index + (index in matched)
    return placed, matched
