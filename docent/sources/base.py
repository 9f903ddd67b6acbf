"""What every source produces: pages (the rows of data/raw/pages.jsonl) and a flat report."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

log = logging.getLogger("docent.sources")

WIKIPEDIA_LICENSE = "CC BY-SA 4.0"
# Titles go into URLs with spaces as underscores and the rest percent-encoded as UTF-8,
# the way Wikipedia writes its own article links ("Hồ_Chí_Minh" -> "H%E1%BB%93_Ch%C3%AD_Minh").
_URL_SAFE = "/:()',!*_-.~"


# Why a document with a supported suffix was not used: ScrapeReport counter suffix -> words in metrics.
SKIP_REASONS = {
    "empty": "empty",
    "too_large": "larger than scrape.max_file_bytes",
    "undecodable": "not UTF-8 text",
    "encrypted": "encrypted, needs a password",
    "no_text": "no text layer, images only",
    "corrupt": "corrupt or not the format its name says",
    "too_many_pages": "more pages than scrape.max_pdf_pages",
}


@dataclass(frozen=True, kw_only=True)
class Page:
    """One scraped page: a row of data/raw/pages.jsonl."""

    id: str
    title: str
    url: str
    source: Literal["snapshot", "wikipedia", "files"]
    license: str
    format: Literal["html", "text"]
    content: str

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ScrapeReport:
    """Counters for metrics/scrape.json: every page asked for is fetched, missing, failed or skipped."""

    source: str
    pages_requested: int = 0
    pages_fetched: int = 0
    missing_titles: list[str] = field(default_factory=list)
    failed_titles: list[str] = field(default_factory=list)
    skipped_duplicate: int = 0  # wikipedia: two titles redirect to one article
    skipped_extension: int = 0  # files: not a supported suffix (FILE_SUFFIXES)
    skipped_undecodable: int = 0  # files: .html/.md/.txt not UTF-8 (or UTF-16 with a BOM)
    skipped_empty: int = 0  # files: 0 bytes, nothing but whitespace, or a .docx without text
    skipped_too_large: int = 0  # files: over scrape.max_file_bytes
    skipped_encrypted: int = 0  # files: a PDF that opens only with a password
    skipped_no_text: int = 0  # files: a PDF without a text layer (scanned images)
    skipped_corrupt: int = 0  # files: a PDF or .docx that cannot be parsed
    skipped_too_many_pages: int = 0  # files: a PDF over scrape.max_pdf_pages
    # files: every document with a supported suffix that was not used, as "path (reason)"
    skipped_files: list[str] = field(default_factory=list)
    pdf_pages: int = 0  # files: pages of the PDFs read
    pdf_pages_without_text: int = 0  # files: of those, pages with no text (an image, or blank)
    docx_files: int = 0  # files: Word documents read
    pdf_files: int = 0  # files: PDFs read
    links_followed: int = 0  # wikipedia: pages queued from links (follow_links > 0)
    http_requests: int = 0
    http_cache_hits: int = 0
    http_retries: int = 0
    characters: int = 0

    def to_metrics(self, wall_s: float) -> dict[str, Any]:
        skipped = self.skipped_duplicate + self.skipped_extension + self.files_skipped()
        # Titles go in as one " | "-joined string: metrics stay flat (dvc metrics diff shows them).
        return {
            "source": self.source,
            "pages_requested": self.pages_requested,
            "pages_fetched": self.pages_fetched,
            "pages_missing": len(self.missing_titles),
            "pages_missing_titles": " | ".join(self.missing_titles),
            "pages_failed": len(self.failed_titles),
            "pages_failed_titles": " | ".join(self.failed_titles),
            "pages_skipped": skipped,
            "pages_skipped_duplicate": self.skipped_duplicate,
            "files_skipped_extension": self.skipped_extension,
            "files_skipped_undecodable": self.skipped_undecodable,
            "files_skipped_empty": self.skipped_empty,
            "files_skipped_too_large": self.skipped_too_large,
            "files_skipped_encrypted": self.skipped_encrypted,
            "files_skipped_no_text": self.skipped_no_text,
            "files_skipped_corrupt": self.skipped_corrupt,
            "files_skipped_too_many_pages": self.skipped_too_many_pages,
            "files_skipped_names": " | ".join(self.skipped_files),
            "pdf_files": self.pdf_files,
            "pdf_pages": self.pdf_pages,
            "pdf_pages_without_text": self.pdf_pages_without_text,
            "docx_files": self.docx_files,
            "links_followed": self.links_followed,
            "http_requests": self.http_requests,
            "http_cache_hits": self.http_cache_hits,
            "http_retries": self.http_retries,
            "characters": self.characters,
            "total_s": round(wall_s, 3),
        }


    def files_skipped(self) -> int:
        """Documents with a supported suffix that were not used (every reason but the suffix)."""
        return sum(getattr(self, f"skipped_{reason}") for reason in SKIP_REASONS)

    def skip_file(self, reason: str, name: str, detail: str = "") -> None:
        """Count and name a document that is not used; `reason` is a key of SKIP_REASONS."""
        setattr(self, f"skipped_{reason}", getattr(self, f"skipped_{reason}") + 1)
        self.skipped_files.append(f"{name} ({SKIP_REASONS[reason]})")
        log.warning("%s: skipped, %s%s", name, SKIP_REASONS[reason], f" ({detail})" if detail else "")


@dataclass(frozen=True)
class Converted:
    """A PDF or Word document as HTML (headings, paragraphs, list items, code) and what was counted."""

    title: str  # the document's own title, "" when it has none (the file name is used)
    html: str
    pdf_pages: int = 0
    pdf_pages_without_text: int = 0


class UnusableDocument(Exception):
    """A document that cannot be used, with the SKIP_REASONS key that says why."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or SKIP_REASONS[reason])
        self.reason = reason
        self.detail = detail


def title_slug(title: str) -> str:
    """'Hồ Chí Minh' -> 'Hồ_Chí_Minh' (ids stay readable; Wikipedia's own spelling of a title in a URL)."""
    return "_".join(title.split())


def page_id(source: str, name: str) -> str:
    return f"{source}:{title_slug(name)}"


def article_url(base_url: str, title: str) -> str:
    """base_url + percent-encoded title, e.g. https://en.wikipedia.org/wiki/Tr%E1%BA%A7n_dynasty."""
    return base_url + quote(title_slug(title), safe=_URL_SAFE)
