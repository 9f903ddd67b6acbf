"""A polite HTTP client: one User-Agent, a rate limit, retries with backoff, an on-disk cache.

Politeness is arithmetic on a monotonic clock: two requests are at least `rate_limit_s` apart.
A 429/5xx answer or a timeout is retried up to `retries` times by urllib3's `Retry` on the
session's `HTTPAdapter`, waiting backoff_s * 2**attempt (1 s, 2 s, 4 s, ...) or the server's
Retry-After when that is longer; `PoliteRetry.sleep` is where each retry waits, takes its turn
under the rate limit and is counted. Redirects are followed by hand so that every hop is
checked: only http(s) URLs on the same host are fetched.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from docent.io import atomic_write
from docent.sources.base import ScrapeReport, log

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
MAX_RETRY_AFTER_S = 300.0  # a server asking for longer than this is not waited for
HTML_TYPES = ("text/html", "application/xhtml+xml")


class FetchError(Exception):
    """The page could not be fetched (after retries); `missing` marks a 404/410."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class Fetched:
    url: str  # as asked for
    final_url: str  # after redirects
    body: str


def retry_after_s(value: str | None) -> float | None:
    """Retry-After (delta-seconds or an HTTP date) in seconds, None when absent or unreadable."""
    if not value:
        return None
    try:
        return float(Retry(retry_after_max=2**31).parse_retry_after(value))
    except InvalidHeader:
        return None


class PoliteRetry(Retry):
    """urllib3's Retry (which answers to retry, history, exhaustion) waiting on the client's clock."""

    client: PoliteClient | None = None

    def new(self, **kw: Any) -> PoliteRetry:
        retry = super().new(**kw)
        retry.client = self.client
        return retry

    def get_backoff_time(self) -> float:
        # urllib3 retries the first time at once; the first wait here is backoff_s (scrape.backoff_s)
        return float(self.backoff_factor * 2 ** (len(self.history) - 1))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        assert self.client is not None and self.history
        last = self.history[-1]
        problem = f"HTTP {last.status}" if last.status else type(last.error).__name__
        retry_after = retry_after_s(response.headers.get("Retry-After")) if response is not None else None
        if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
            raise FetchError(f"{problem}; server asks to wait {retry_after:.0f} s")
        delay = max(self.get_backoff_time(), retry_after or 0.0)
        log.info("%s: %s, retry %d/%d in %.1f s", last.url, problem, len(self.history), self.client.retries, delay)
        # counted here, not from Retry.history: urllib3 drops the history when the retries on errors run out
        self.client.report.http_retries += 1
        self.client.sleep(delay)
        self.client._wait_turn()
        self.client.report.http_requests += 1


class PoliteClient:
    def __init__(self, *, cache_dir: Path, user_agent: str, rate_limit_s: float, timeout_s: float,
                 retries: int, backoff_s: float, max_bytes: int, report: ScrapeReport,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cache_dir = cache_dir
        self.rate_limit_s = rate_limit_s
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_bytes = max_bytes
        self.report = report
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": user_agent, "Accept": "text/html,application/xhtml+xml"})
        retry = PoliteRetry(total=retries, status_forcelist=RETRY_STATUS, allowed_methods={"GET"},
                            backoff_factor=backoff_s, raise_on_status=False)
        retry.client = self
        for scheme in ("http://", "https://"):
            self.session.mount(scheme, HTTPAdapter(max_retries=retry))
        self._last_request = -float("inf")

    # ------------------------------------------------------------ cache

    def _cache_file(self, url: str) -> Path:
        return self.cache_dir / (hashlib.sha256(url.encode("utf-8")).hexdigest() + ".json")

    def _cached(self, url: str) -> Fetched | None:
        path = self._cache_file(url)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            return Fetched(url=entry["url"], final_url=entry["final_url"], body=entry["body"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            log.warning("%s: unreadable cache entry, fetching again", path)
            return None

    def _store(self, fetched: Fetched) -> None:
        with atomic_write(self._cache_file(fetched.url)) as fh:
            json.dump({"url": fetched.url, "final_url": fetched.final_url, "body": fetched.body}, fh,
                      ensure_ascii=False)

    # ------------------------------------------------------------ fetching

    def get(self, url: str) -> Fetched:
        """The page at `url`, from the cache when it was fetched before; raises FetchError."""
        cached = self._cached(url)
        if cached is not None:
            self.report.http_cache_hits += 1
            return cached
        host = urlsplit(url).netloc
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._request_with_retries(current)
            if response.is_redirect:
                target = urljoin(current, response.headers.get("Location", ""))
                response.close()
                parts = urlsplit(target)
                if parts.scheme not in ("http", "https") or parts.netloc != host:
                    raise FetchError(f"redirect to {target!r} leaves {host}")
                current = target
                continue
            fetched = Fetched(url=url, final_url=current, body=self._read_body(response, current))
            self._store(fetched)
            return fetched
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    def _wait_turn(self) -> None:
        wait = self._last_request + self.rate_limit_s - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last_request = time.monotonic()

    def _request_with_retries(self, url: str) -> requests.Response:
        self._wait_turn()
        self.report.http_requests += 1
        attempts = f"after {self.retries + 1} attempts"
        try:
            response = self.session.get(url, timeout=self.timeout_s, stream=True, allow_redirects=False)
        except (requests.Timeout, requests.ConnectionError) as exc:  # retries spent on timeouts / lost connections
            cause = exc.args[0] if exc.args else None
            reason = cause.reason if isinstance(cause, MaxRetryError) and cause.reason else exc
            raise FetchError(f"{type(reason).__name__} {attempts}") from None
        if response.status_code in RETRY_STATUS:  # retries spent (raise_on_status=False returns the last)
            response.close()
            raise FetchError(f"HTTP {response.status_code} {attempts}")
        if response.status_code in (404, 410):
            response.close()
            raise FetchError(f"HTTP {response.status_code}", missing=True)
        if response.status_code >= 400:
            response.close()
            raise FetchError(f"HTTP {response.status_code}")
        return response

    def _read_body(self, response: requests.Response, url: str) -> str:
        """The body as text, refused past max_bytes (checked on the header and while reading)."""
        with response:
            ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype not in HTML_TYPES:
                raise FetchError(f"not an HTML page (Content-Type {ctype or 'missing'!r})")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchError(f"{declared} bytes > scrape.max_page_bytes ({self.max_bytes})")
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(f"more than scrape.max_page_bytes ({self.max_bytes}) bytes")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise FetchError(f"connection broke while reading ({type(exc).__name__})") from None
            encoding = response.encoding or "utf-8"
            if encoding.lower() == "iso-8859-1" and "charset" not in response.headers.get("Content-Type", ""):
                encoding = "utf-8"  # requests' HTTP default; HTML pages without a charset are UTF-8 in practice
            try:
                codecs.lookup(encoding)
            except LookupError:
                encoding = "utf-8"
            return b"".join(chunks).decode(encoding, errors="replace")
