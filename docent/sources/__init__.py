"""Where the pipeline's text comes from: the offline snapshot, live Wikipedia, or the user's files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from docent.config import ScrapeParams
from docent.sources.base import Page, ScrapeReport, log

__all__ = ["Page", "ScrapeReport", "scrape"]


def scrape(params: ScrapeParams, documents: Path, http_cache: Path) -> tuple[list[Page], dict[str, Any]]:
    """Pages from `params.source` and the flat metrics of metrics/scrape.json."""
    started = time.perf_counter()
    report = ScrapeReport(source=params.source)
    if params.source == "snapshot":
        from docent.sources.snapshot import scrape_snapshot

        pages = scrape_snapshot(params.pages, report)
        if not pages:
            from docent.cli import UserError

            raise UserError(f"scrape.pages: none of the {len(params.pages)} titles is in the offline snapshot")
    elif params.source == "wikipedia":
        from docent.sources.wikipedia import scrape_wikipedia

        pages = scrape_wikipedia(params, http_cache, report)
    else:
        from docent.sources.files import scrape_files

        pages = scrape_files(documents, report, params)
    metrics = report.to_metrics(time.perf_counter() - started)
    log.info("scrape: %d of %d pages (%d missing, %d failed, %d skipped), %d characters",
             report.pages_fetched, report.pages_requested, metrics["pages_missing"], metrics["pages_failed"],
             metrics["pages_skipped"], report.characters)
    for key in ("pages_missing_titles", "pages_failed_titles", "files_skipped_names"):
        if metrics[key]:
            log.warning("%s: %s", key, metrics[key])
    return pages, metrics
