"""The user's own documents: .html/.htm, .md, .txt, .pdf and .docx files under the documents folder.

Markdown is rendered to HTML (markdown-it, raw HTML escaped rather than passed through), and PDF and
Word documents are converted to simple HTML (docent.sources.pdf, docent.sources.word), so the cleaner
sees one structure for all of them: headings, paragraphs, list items, code blocks. Files are read as
data; every file not used is counted by reason, and named with the reason in metrics/scrape.json
(`files_skipped_names`) when it has a supported suffix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from markdown_it import MarkdownIt

from docent.cli import UserError
from docent.config import ScrapeParams
from docent.sources.base import Converted, Page, ScrapeReport, UnusableDocument, log, page_id

HTML_SUFFIXES = frozenset({".html", ".htm"})
MARKDOWN_SUFFIXES = frozenset({".md"})
TEXT_SUFFIXES = frozenset({".txt"})
PDF_SUFFIXES = frozenset({".pdf"})
WORD_SUFFIXES = frozenset({".docx"})
FILE_SUFFIXES = HTML_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES | PDF_SUFFIXES | WORD_SUFFIXES
SUFFIX_LIST = ".html, .htm, .md, .txt, .pdf, .docx"
USER_LICENSE = "user-provided"
# Permalink markers and generated numbering inside an <h1>, left out of the title.
_TITLE_NOISE = ".headerlink, .hash-link, .anchor-link, .section-number"


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


def _read(path: Path, suffix: str, params: ScrapeParams,
          report: ScrapeReport) -> tuple[str, Literal["html", "text"], str]:
    """(title, format, content) of one document, or UnusableDocument saying why not."""
    if suffix in PDF_SUFFIXES | WORD_SUFFIXES:
        converted: Converted
        if suffix in PDF_SUFFIXES:
            from docent.sources.pdf import read_pdf

            converted = read_pdf(path, params.max_pdf_pages)
            report.pdf_files += 1
            report.pdf_pages += converted.pdf_pages
            report.pdf_pages_without_text += converted.pdf_pages_without_text
        else:
            from docent.sources.word import read_docx

            converted = read_docx(path, params.max_file_bytes)
            report.docx_files += 1
        return converted.title or _file_title(path), "html", converted.html
    text = decode_document(path.read_bytes())
    if text is None:
        raise UnusableDocument("undecodable")
    if not text.strip():
        raise UnusableDocument("empty")
    if suffix in MARKDOWN_SUFFIXES:
        return _title(path, text, suffix), "html", markdown_to_html(text)
    return _title(path, text, suffix), ("html" if suffix in HTML_SUFFIXES else "text"), text


def scrape_files(documents: Path, report: ScrapeReport, params: ScrapeParams) -> list[Page]:
    if not documents.is_dir():
        raise UserError(f"{documents}: documents folder not found (scrape.source=files reads it)")
    # Hidden files (.gitkeep, editor swap files) are not documents; everything else is counted.
    paths = sorted(p for p in documents.rglob("*") if p.is_file() and not _is_hidden(p, documents))
    pages: list[Page] = []
    for path in paths:
        rel = path.relative_to(documents).as_posix()
        suffix = path.suffix.lower()
        if suffix not in FILE_SUFFIXES:
            report.skipped_extension += 1
            log.warning("%s: skipped, not %s", path, SUFFIX_LIST)
            continue
        report.pages_requested += 1
        size = path.stat().st_size
        if size == 0:
            report.skip_file("empty", rel, "0 bytes")
            continue
        if size > params.max_file_bytes:
            report.skip_file("too_large", rel, f"{size} bytes > {params.max_file_bytes}")
            continue
        try:
            title, fmt, content = _read(path, suffix, params, report)
        except UnusableDocument as exc:
            report.skip_file(exc.reason, rel, exc.detail)
            continue
        pages.append(Page(id=page_id("files", rel), title=title, url=path.as_posix(),
                          source="files", license=USER_LICENSE, format=fmt, content=content))
        report.pages_fetched += 1
        report.characters += len(content)
    if not pages:
        raise UserError(f"{documents}: no usable documents ({SUFFIX_LIST})" + _skipped_summary(report))
    return pages


def _skipped_summary(report: ScrapeReport, shown: int = 5) -> str:
    """'; 3 file(s) skipped: scan.pdf (no text layer, images only), ...' for the one-line error."""
    counted = report.skipped_extension + report.files_skipped()
    if not counted:
        return "; the folder is empty"
    names = report.skipped_files[:shown] + ([f"{len(report.skipped_files) - shown} more"]
                                            if len(report.skipped_files) > shown else [])
    if report.skipped_extension:
        names.append(f"{report.skipped_extension} with another suffix")
    return f"; {counted} file(s) skipped: " + ", ".join(names)


def _file_title(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def _title(path: Path, text: str, suffix: str) -> str:
    """The document's own title (its <h1>, else <title>; a leading '# ' line), else the file name."""
    if suffix in HTML_SUFFIXES:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(text, "lxml")
        for tag in ("h1", "title"):
            found = soup.find(tag)
            if found is None:
                continue
            for noise in found.select(_TITLE_NOISE):
                noise.decompose()
            title = " ".join(found.get_text(" ").split())
            if title:
                return title
    elif suffix in MARKDOWN_SUFFIXES:
        for line in text.splitlines():
            if line.startswith("# ") and line[2:].strip():
                return line[2:].strip()
            if line.strip():
                break
    return _file_title(path)
