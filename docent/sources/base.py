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
    skipped_extension: int = 0  # files: not .html/.htm/.md/.txt
    skipped_undecodable: int = 0  # files: not UTF-8 (or UTF-16 with a BOM)
    skipped_empty: int = 0  # files: nothing but whitespace
    skipped_too_large: int = 0  # files: over scrape.max_page_bytes
    links_followed: int = 0  # wikipedia: pages queued from links (follow_links > 0)
    http_requests: int = 0
    http_cache_hits: int = 0
    http_retries: int = 0
    characters: int = 0

    def to_metrics(self, wall_s: float) -> dict[str, Any]:
        skipped = (self.skipped_duplicate + self.skipped_extension + self.skipped_undecodable
                   + self.skipped_empty + self.skipped_too_large)
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
            "links_followed": self.links_followed,
            "http_requests": self.http_requests,
            "http_cache_hits": self.http_cache_hits,
            "http_retries": self.http_retries,
            "characters": self.characters,
            "wall_s": round(wall_s, 3),
        }


def title_slug(title: str) -> str:
    """'Hồ Chí Minh' -> 'Hồ_Chí_Minh' (ids stay readable; Wikipedia's own spelling of a title in a URL)."""
    return "_".join(title.split())


def page_id(source: str, name: str) -> str:
    return f"{source}:{title_slug(name)}"


def article_url(base_url: str, title: str) -> str:
    """base_url + percent-encoded title, e.g. https://en.wikipedia.org/wiki/Tr%E1%BA%A7n_dynasty."""
    return base_url + quote(title_slug(title), safe=_URL_SAFE)
