"""Helpers for the source tests: a local stand-in for Wikipedia and test-sized scrape params."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

MAX_REQUESTS = 200  # a runaway retry loop fails the test instead of hanging it


def wiki_html(title: str, body: str) -> str:
    """A page shaped like MediaWiki's: heading outside, article inside .mw-parser-output."""
    return (
        f"<!DOCTYPE html><html><head><title>{title} - Wikipedia</title>"
        "<script>window.trackMe = 'SCRIPT_LEAK';</script></head><body>"
        "<nav id='mw-navigation'><a href='/wiki/Special:Random'>Random article</a></nav>"
        f"<h1 id='firstHeading'>{title}</h1>"
        f"<div id='mw-content-text'><div class='mw-parser-output'>{body}</div></div>"
        "<div id='catlinks' class='catlinks'><a href='/wiki/Category:Vietnam'>Category</a></div>"
        "</body></html>"
    )


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # answer this late (a timeout on the client's side)


@dataclass
class WikiServer:
    base_url: str
    # path (unquoted, e.g. /wiki/Hồ_Chí_Minh) -> replies served in order, the last one repeated
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (unquoted path, User-Agent)

    def page(self, title: str, body: str) -> None:
        self.routes["/wiki/" + title.replace(" ", "_")] = [Reply(body=wiki_html(title, body))]

    def url(self, title: str) -> str:
        return self.base_url + quote(title.replace(" ", "_"))

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def scrape_params(**overrides: object) -> dict[str, object]:
    """The scrape section with test-sized values (fast retries, no rate limit)."""
    section: dict[str, object] = {
        "source": "snapshot", "pages": ["Vietnam"], "base_url": "https://en.wikipedia.org/wiki/",
        "follow_links": 0, "max_pages": 50, "rate_limit_s": 0.0, "timeout_s": 5.0, "retries": 2,
        "backoff_s": 0.01, "max_page_bytes": 200_000, "max_file_bytes": 200_000, "max_pdf_pages": 20,
        "user_agent": "docent-tests/1.0 (pytest)",
    }
    section.update(overrides)
    return section
