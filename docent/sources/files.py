"""The user's own documents: .html/.htm, .md and .txt files under the documents folder.

Markdown is rendered to HTML (markdown-it, raw HTML escaped rather than passed through) so the
cleaner sees one structure for both: headings, paragraphs, list items. Files are read as data;
anything not used is counted by reason.
"""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

from docent.cli import UserError
from docent.sources.base import Page, ScrapeReport, log, page_id

HTML_SUFFIXES = frozenset({".html", ".htm"})
MARKDOWN_SUFFIXES = frozenset({".md"})
TEXT_SUFFIXES = frozenset({".txt"})
USER_LICENSE = "user-provided"


def markdown_to_html(text: str) -> str:
    # "commonmark" with html=False: an inline <script> in a .md file becomes visible text, never markup.
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def decode_document(data: bytes) -> str | None:
    """UTF-8 (a BOM is dropped), or UTF-16 when it starts with a BOM; None when neither."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def scrape_files(documents: Path, report: ScrapeReport, max_bytes: int) -> list[Page]:
    if not documents.is_dir():
        raise UserError(f"{documents}: documents folder not found (scrape.source=files reads it)")
    # Hidden files (.gitkeep, editor swap files) are not documents; everything else is counted.
    paths = sorted(p for p in documents.rglob("*") if p.is_file() and not _is_hidden(p, documents))
    pages: list[Page] = []
    for path in paths:
        rel = path.relative_to(documents).as_posix()
        suffix = path.suffix.lower()
        if suffix not in HTML_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES:
            report.skipped_extension += 1
            log.warning("%s: skipped, not .html/.htm/.md/.txt", path)
            continue
        report.pages_requested += 1
        if path.stat().st_size > max_bytes:
            report.skipped_too_large += 1
            log.warning("%s: skipped, larger than scrape.max_page_bytes (%d)", path, max_bytes)
            continue
        text = decode_document(path.read_bytes())
        if text is None:
            report.skipped_undecodable += 1
            log.warning("%s: skipped, not UTF-8 text", path)
            continue
        if not text.strip():
            report.skipped_empty += 1
            log.warning("%s: skipped, empty", path)
            continue
        if suffix in MARKDOWN_SUFFIXES:
            content, fmt = markdown_to_html(text), "html"
        else:
            content, fmt = text, ("html" if suffix in HTML_SUFFIXES else "text")
        pages.append(Page(id=page_id("files", rel), title=_title(path, text, suffix), url=path.as_posix(),
                          source="files", license=USER_LICENSE, format=fmt, content=content))
        report.pages_fetched += 1
        report.characters += len(content)
    if not pages:
        counted = (report.skipped_extension + report.skipped_undecodable + report.skipped_empty
                   + report.skipped_too_large)
        raise UserError(
            f"{documents}: no usable documents (.html, .htm, .md, .txt)"
            + (f"; {counted} file(s) skipped, see the log" if counted else "; the folder is empty")
        )
    return pages


def _title(path: Path, text: str, suffix: str) -> str:
    """The document's own title (<title>/<h1>, a leading '# ' line), else the file name."""
    if suffix in HTML_SUFFIXES:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(text, "lxml")
        for tag in ("title", "h1"):
            found = soup.find(tag)
            if found is not None and found.get_text(strip=True):
                return " ".join(found.get_text(" ").split())
    elif suffix in MARKDOWN_SUFFIXES:
        for line in text.splitlines():
            if line.startswith("# ") and line[2:].strip():
                return line[2:].strip()
            if line.strip():
                break
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name
