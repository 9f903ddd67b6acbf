"""Live Wikipedia: the listed articles, and (scrape.follow_links > 0) the articles they link to.

Pages are parsed as data with BeautifulSoup (nothing is executed). Only links that stay on the
same site, inside its article path (base_url's path, e.g. /wiki/) and outside the special
namespaces (File:, Help:, Special:, Talk:...) are followed, breadth-first, up to max_pages.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

from docent.cli import UserError
from docent.config import ScrapeParams
from docent.sources.base import WIKIPEDIA_LICENSE, Page, ScrapeReport, article_url, log, page_id
from docent.sources.http import FetchError, PoliteClient


def article_root(soup: BeautifulSoup) -> Tag:
    """The article body: MediaWiki's parser output, else <main>/<article>/<body>."""
    for selector in ("#mw-content-text .mw-parser-output", "#mw-content-text", "main", "article", "body"):
        found = soup.select_one(selector)
        if found is not None:
            return found
    return soup


def page_title(soup: BeautifulSoup, fallback: str) -> str:
    for selector in ("#firstHeading", "h1", "title"):
        found = soup.select_one(selector)
        if found is not None:
            text = " ".join(found.get_text(" ").split())
            if selector == "title":
                text = text.split(" - Wikipedia")[0].strip()
            if text:
                return text
    return fallback


def article_title_from_url(url: str, base_url: str) -> str | None:
    """The article title a link points to, or None when it leaves the site's article namespace."""
    parts, base = urlsplit(url), urlsplit(base_url)
    if parts.scheme not in ("http", "https") or parts.netloc != base.netloc:
        return None
    if parts.query or not parts.path.startswith(base.path):
        return None  # ?action=edit, ?oldid=..., /w/index.php, other paths
    title = unquote(parts.path[len(base.path):]).replace("_", " ").strip()
    if not title or ":" in title or "/" in title or title == "Main Page":
        return None  # File:, Special:, Category:, Talk:..., subpages
    return title


def article_links(root: Tag, page_url: str, base_url: str) -> list[str]:
    """Titles linked from the article body, in document order, each once."""
    titles: dict[str, None] = {}
    for anchor in root.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        if href.startswith("#"):
            continue
        title = article_title_from_url(urljoin(page_url, href).split("#")[0], base_url)
        if title:
            titles.setdefault(title, None)
    return list(titles)


def scrape_wikipedia(params: ScrapeParams, cache_dir: Path, report: ScrapeReport,
                     client: PoliteClient | None = None) -> list[Page]:
    # "https://en.wikipedia.org/wiki" and ".../wiki/" mean the same article path.
    params = dataclasses.replace(params, base_url=params.base_url.rstrip("/") + "/")
    client = client or PoliteClient(
        cache_dir=cache_dir, user_agent=params.user_agent, rate_limit_s=params.rate_limit_s,
        timeout_s=params.timeout_s, retries=params.retries, backoff_s=params.backoff_s,
        max_bytes=params.max_page_bytes, report=report,
    )
    # (title, depth) breadth-first; the listed pages come first and are always fetched.
    queue: deque[tuple[str, int]] = deque((title, 0) for title in dict.fromkeys(params.pages))
    report.skipped_duplicate += len(params.pages) - len(queue)
    queued = {title for title, _ in queue}
    pages: list[Page] = []
    seen_urls: set[str] = set()
    seen_ids: set[str] = set()
    while queue:
        title, depth = queue.popleft()
        report.pages_requested += 1
        url = article_url(params.base_url, title)
        try:
            fetched = client.get(url)
        except FetchError as exc:
            (report.missing_titles if exc.missing else report.failed_titles).append(title)
            log.warning("%s: %s", url, exc)
            continue
        soup = BeautifulSoup(fetched.body, "lxml")
        for canonical in soup.select('link[rel="canonical"][href]'):
            fetched_url = urljoin(fetched.final_url, str(canonical["href"]))
            break
        else:
            fetched_url = fetched.final_url
        name = page_title(soup, title)
        doc_id = page_id("wikipedia", name)
        if fetched_url in seen_urls or fetched.final_url in seen_urls or doc_id in seen_ids:
            report.skipped_duplicate += 1  # a redirect to an article we already have
            log.info("%s: same article as an earlier page, kept once", url)
            continue
        seen_urls.update((fetched_url, fetched.final_url))
        seen_ids.add(doc_id)
        root = article_root(soup)
        # Stored pages are data: nothing that would run or load something if the HTML were ever opened.
        for active in root.find_all(["script", "noscript", "iframe", "object", "embed", "link", "meta"]):
            active.decompose()
        pages.append(Page(id=doc_id, title=name, url=fetched_url, source="wikipedia",
                          license=WIKIPEDIA_LICENSE, format="html", content=str(root)))
        report.pages_fetched += 1
        report.characters += len(pages[-1].content)
        if depth < params.follow_links:
            for linked in article_links(root, fetched.final_url, params.base_url):
                if linked in queued or len(queued) >= max(params.max_pages, len(params.pages)):
                    continue
                queued.add(linked)
                queue.append((linked, depth + 1))
                report.links_followed += 1
    if not pages:
        raise UserError(
            f"scrape: none of the {report.pages_requested} pages could be fetched from {params.base_url} "
            f"(failed: {len(report.failed_titles)}, missing: {len(report.missing_titles)}); "
            "check the network, scrape.base_url and scrape.pages"
        )
    return pages
