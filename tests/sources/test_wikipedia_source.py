"""source=wikipedia against a local server: politeness, retries, cache, failures, link following."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from wiki_server import Reply, WikiServer, scrape_params, wiki_html

from docent.cli import UserError
from docent.config import build_section
from docent.sources import scrape
from docent.sources.base import ScrapeReport
from docent.sources.http import FetchError, PoliteClient, retry_after_s
from docent.sources.wikipedia import article_title_from_url
from stages.scrape import main as scrape_main

HO_BODY = (
    "<p><b>Hồ Chí Minh</b> was a Vietnamese revolutionary.<sup class='reference'><a href='#cite_note-1'>[1]</a></sup>"
    " He lived in <a href='/wiki/Hanoi'>Hanoi</a> and <a href='./Hu%E1%BA%BF#History'>Huế</a>.</p>"
    "<ul><li><a href='/wiki/File:Ho.jpg'>a file</a> <a href='/wiki/Special:Random'>special</a>"
    " <a href='/wiki/Talk:Hanoi'>talk</a> <a href='/w/index.php?title=Hanoi&amp;action=edit'>edit</a>"
    " <a href='https://example.org/wiki/Hanoi'>other site</a> <a href='javascript:alert(1)'>js</a>"
    " <a href='mailto:someone@example.org'>mail</a> <a href='ftp://127.0.0.1/wiki/Laos'>ftp</a>"
    " <a href='#History'>anchor</a> <a href='/wiki/Champa'>Champa</a></li></ul>"
)


def params_for(server: WikiServer, **overrides: object):
    overrides.setdefault("base_url", server.base_url)
    return build_section("scrape", scrape_params(source="wikipedia", **overrides))


def test_fetches_pages_politely_and_rerun_is_served_from_cache(wiki_server: WikiServer, tmp_path: Path) -> None:
    wiki_server.page("Hồ Chí Minh", HO_BODY)
    wiki_server.page("Hanoi", "<p>Hanoi is the capital of Vietnam.</p>")
    params = params_for(wiki_server, pages=["Hồ Chí Minh", "Hanoi"])
    cache = tmp_path / "http_cache"
    cache.mkdir()

    pages, metrics = scrape(params, documents=tmp_path, http_cache=cache)

    assert [p.title for p in pages] == ["Hồ Chí Minh", "Hanoi"]
    assert pages[0].id == "wikipedia:Hồ_Chí_Minh"
    assert pages[0].url == wiki_server.url("Hồ Chí Minh")
    assert (pages[0].source, pages[0].format, pages[0].license) == ("wikipedia", "html", "CC BY-SA 4.0")
    assert "Vietnamese revolutionary" in pages[0].content
    assert "SCRIPT_LEAK" not in pages[0].content and "Random article" not in pages[0].content  # article body only
    assert wiki_server.paths() == ["/wiki/Hồ_Chí_Minh", "/wiki/Hanoi"]
    assert {agent for _, agent in wiki_server.requests} == {"docent-tests/1.0 (pytest)"}
    assert (metrics["pages_fetched"], metrics["http_requests"], metrics["http_cache_hits"]) == (2, 2, 0)

    again, metrics_again = scrape(params, documents=tmp_path, http_cache=cache)

    assert len(wiki_server.requests) == 2  # no request on the re-run
    assert [p.to_row() for p in again] == [p.to_row() for p in pages]
    assert (metrics_again["http_requests"], metrics_again["http_cache_hits"]) == (0, 2)


def test_retries_503_then_succeeds(wiki_server: WikiServer, tmp_path: Path) -> None:
    page = wiki_html("Huế", "<p>Huế was the imperial capital.</p>")
    wiki_server.routes["/wiki/Huế"] = [Reply(503, "busy", {"Retry-After": "0"}), Reply(503, "busy"), Reply(200, page)]
    pages, metrics = scrape(params_for(wiki_server, pages=["Huế"], retries=2), documents=tmp_path,
                            http_cache=tmp_path)
    assert [p.title for p in pages] == ["Huế"]
    assert wiki_server.paths() == ["/wiki/Huế"] * 3
    assert (metrics["http_requests"], metrics["http_retries"], metrics["pages_failed"]) == (3, 2, 0)


def test_timeout_is_retried(wiki_server: WikiServer, tmp_path: Path) -> None:
    page = wiki_html("Laos", "<p>Laos is landlocked.</p>")
    wiki_server.routes["/wiki/Laos"] = [Reply(200, page, delay_s=1.5), Reply(200, page)]
    pages, metrics = scrape(params_for(wiki_server, pages=["Laos"], timeout_s=0.3), documents=tmp_path,
                            http_cache=tmp_path)
    assert [p.title for p in pages] == ["Laos"]
    assert metrics["http_retries"] == 1


def test_failing_page_is_counted_and_the_rest_continue(wiki_server: WikiServer, tmp_path: Path) -> None:
    wiki_server.routes["/wiki/Broken"] = [Reply(500, "oops")]
    wiki_server.page("Hanoi", "<p>Hanoi is the capital of Vietnam.</p>")
    wiki_server.routes["/wiki/Huge"] = [Reply(200, wiki_html("Huge", "<p>" + "x" * 5000 + "</p>"))]
    params = params_for(wiki_server, pages=["Broken", "Hanoi", "Nowhere", "Huge"], retries=2, max_page_bytes=2000)

    pages, metrics = scrape(params, documents=tmp_path, http_cache=tmp_path)

    assert [p.title for p in pages] == ["Hanoi"]
    assert wiki_server.paths().count("/wiki/Broken") == 3  # 1 + scrape.retries
    assert wiki_server.paths().count("/wiki/Nowhere") == 1  # a 404 is not retried
    assert (metrics["pages_requested"], metrics["pages_fetched"]) == (4, 1)
    assert (metrics["pages_failed"], metrics["pages_failed_titles"]) == (2, "Broken | Huge")
    assert (metrics["pages_missing"], metrics["pages_missing_titles"]) == (1, "Nowhere")


def test_all_pages_failing_exits_2_with_one_line(wiki_server: WikiServer, tmp_path: Path, write_params) -> None:
    wiki_server.routes["/wiki/A"] = [Reply(503, "down")]
    wiki_server.routes["/wiki/B"] = [Reply(502, "down")]
    params = write_params(source="wikipedia", base_url=wiki_server.base_url, pages=["A", "B"], retries=1)
    out = tmp_path / "out"
    result = CliRunner().invoke(scrape_main, [
        "--params", str(params), "--documents", str(tmp_path / "docs"), "--http-cache", str(out / "cache"),
        "--out", str(out / "pages.jsonl"), "--metrics", str(out / "scrape.json"),
        "--machine-metrics", str(out / "machine_scrape.json")])
    assert result.exit_code == 2
    assert "error: scrape: none of the 2 pages could be fetched" in result.output
    assert "Traceback" not in result.output
    assert len(wiki_server.requests) == 4
    assert (out / "cache").is_dir() and not (out / "pages.jsonl").exists()


def test_follows_only_article_links_up_to_max_pages(wiki_server: WikiServer, tmp_path: Path) -> None:
    wiki_server.page("Hồ Chí Minh", HO_BODY)
    wiki_server.page("Hanoi", "<p>Hanoi is the capital. <a href='/wiki/Vietnam'>Vietnam</a></p>")
    wiki_server.page("Huế", "<p>Huế was the imperial capital.</p>")
    wiki_server.page("Champa", "<p>Champa was a kingdom.</p>")
    params = params_for(wiki_server, pages=["Hồ Chí Minh"], follow_links=1, max_pages=3)

    pages, metrics = scrape(params, documents=tmp_path, http_cache=tmp_path)

    # Breadth-first in document order; File:/Special:/Talk:, edit links, other hosts, javascript:,
    # mailto: and ftp: are never requested; depth 1 stops before Hanoi's link to Vietnam.
    assert [p.title for p in pages] == ["Hồ Chí Minh", "Hanoi", "Huế"]
    assert wiki_server.paths() == ["/wiki/Hồ_Chí_Minh", "/wiki/Hanoi", "/wiki/Huế"]
    assert metrics["links_followed"] == 2


def test_redirects_stay_on_the_site_and_duplicates_are_kept_once(wiki_server: WikiServer, tmp_path: Path) -> None:
    wiki_server.page("Hanoi", "<p>Hanoi is the capital of Vietnam.</p>")
    wiki_server.routes["/wiki/Ha_Noi"] = [Reply(301, "", {"Location": "/wiki/Hanoi"})]
    wiki_server.routes["/wiki/Elsewhere"] = [Reply(302, "", {"Location": "http://example.invalid/wiki/Hanoi"})]
    wiki_server.routes["/wiki/Script"] = [Reply(302, "", {"Location": "javascript:alert(1)"})]
    params = params_for(wiki_server, pages=["Hanoi", "Ha Noi", "Elsewhere", "Script"])

    pages, metrics = scrape(params, documents=tmp_path, http_cache=tmp_path)

    assert [p.title for p in pages] == ["Hanoi"]
    assert metrics["pages_skipped_duplicate"] == 1
    assert metrics["pages_failed_titles"] == "Elsewhere | Script"
    assert "example.invalid" not in "".join(wiki_server.paths())


def test_client_honours_retry_after_and_backs_off_exponentially(wiki_server: WikiServer, tmp_path: Path) -> None:
    wiki_server.routes["/wiki/Slow"] = [Reply(429, "", {"Retry-After": "7"}), Reply(503, ""), Reply(503, ""),
                                        Reply(200, wiki_html("Slow", "<p>Finally.</p>"))]
    waits: list[float] = []
    client = PoliteClient(cache_dir=tmp_path, user_agent="t", rate_limit_s=0.0, timeout_s=5, retries=3,
                          backoff_s=1.0, max_bytes=10_000, report=ScrapeReport(source="wikipedia"),
                          sleep=waits.append)
    fetched = client.get(wiki_server.url("Slow"))
    assert "Finally." in fetched.body
    assert waits == [7.0, 2.0, 4.0]  # Retry-After beats the 1 s backoff; then 1 s * 2**attempt


def test_client_gives_up_on_long_retry_after_and_counts_refused_connections(wiki_server: WikiServer,
                                                                            tmp_path: Path) -> None:
    wiki_server.routes["/wiki/Later"] = [Reply(503, "", {"Retry-After": "3600"}), Reply(200, wiki_html("Later", ""))]
    waits: list[float] = []
    report = ScrapeReport(source="wikipedia")
    client = PoliteClient(cache_dir=tmp_path, user_agent="t", rate_limit_s=0.0, timeout_s=5, retries=3,
                          backoff_s=1.0, max_bytes=10_000, report=report, sleep=waits.append)
    with pytest.raises(FetchError, match="server asks to wait 3600 s"):
        client.get(wiki_server.url("Later"))
    assert waits == [] and wiki_server.paths() == ["/wiki/Later"]  # not waited for, not retried

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="NewConnectionError after 4 attempts"):
        client.get(f"http://127.0.0.1:{port}/wiki/Nowhere")
    assert waits == [1.0, 2.0, 4.0]
    assert (report.http_requests, report.http_retries) == (1 + 4, 3)


def test_client_rate_limits_requests(wiki_server: WikiServer, tmp_path: Path) -> None:
    for title in ("A", "B", "C"):
        wiki_server.page(title, "<p>text</p>")
    waits: list[float] = []
    client = PoliteClient(cache_dir=tmp_path, user_agent="t", rate_limit_s=30.0, timeout_s=5, retries=0,
                          backoff_s=1.0, max_bytes=10_000, report=ScrapeReport(source="wikipedia"),
                          sleep=waits.append)
    for title in ("A", "B", "C"):
        client.get(wiki_server.url(title))
    # The first request goes at once; each later one waits out the rest of the 30 s interval.
    assert len(waits) == 2 and all(25.0 < w <= 30.0 for w in waits)


def test_client_refuses_non_html_and_oversized_bodies(wiki_server: WikiServer, tmp_path: Path) -> None:
    wiki_server.routes["/wiki/Data"] = [Reply(200, "{}", {"Content-Type": "application/json"})]
    wiki_server.routes["/wiki/Big"] = [Reply(200, "y" * 3000)]
    client = PoliteClient(cache_dir=tmp_path, user_agent="t", rate_limit_s=0.0, timeout_s=5, retries=0,
                          backoff_s=0.0, max_bytes=1000, report=ScrapeReport(source="wikipedia"))
    with pytest.raises(FetchError, match="not an HTML page"):
        client.get(wiki_server.url("Data"))
    with pytest.raises(FetchError, match="max_page_bytes"):
        client.get(wiki_server.url("Big"))
    assert not list(tmp_path.glob("*.json"))  # failures are not cached


def test_article_namespace_filter() -> None:
    base = "https://en.wikipedia.org/wiki/"
    assert article_title_from_url("https://en.wikipedia.org/wiki/Tr%E1%BA%A7n_dynasty", base) == "Trần dynasty"
    # Same host over http: the title is fetched again from base_url (https), never from the link itself.
    assert article_title_from_url("http://en.wikipedia.org/wiki/Hanoi", base) == "Hanoi"
    for url in ("https://en.wikipedia.org/wiki/Category:Vietnam", "https://en.wikipedia.org/wiki/Main_Page",
                "https://en.wikipedia.org/w/index.php?title=Hanoi", "https://en.wikipedia.org/wiki/Hanoi?oldid=1",
                "https://fr.wikipedia.org/wiki/Hanoi", "javascript:alert(1)", "data:text/html,hi",
                "https://en.wikipedia.org/wiki/"):
        assert article_title_from_url(url, base) is None, url


def test_base_url_without_trailing_slash_and_no_active_content(wiki_server: WikiServer, tmp_path: Path) -> None:
    wiki_server.page("Hanoi", "<p>Hanoi.</p><script>alert(1)</script><iframe src='x'></iframe>")
    params = params_for(wiki_server, pages=["Hanoi"], base_url=wiki_server.base_url.rstrip("/"))
    [page], _ = scrape(params, documents=tmp_path, http_cache=tmp_path)
    assert page.url == wiki_server.url("Hanoi")
    assert "<script" not in page.content and "<iframe" not in page.content and "<p>Hanoi.</p>" in page.content


def test_retry_after_forms() -> None:
    assert retry_after_s("12") == 12.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_wikipedia_source_needs_an_http_base_url() -> None:
    with pytest.raises(UserError, match=r"scrape\.base_url"):
        build_section("scrape", scrape_params(source="wikipedia", base_url="file:///etc/"))


def test_stage_writes_pages_from_the_local_site(wiki_server: WikiServer, tmp_path: Path, write_params) -> None:
    wiki_server.page("Hanoi", "<p>Hanoi is the capital of Vietnam.</p>")
    params = write_params(source="wikipedia", base_url=wiki_server.base_url, pages=["Hanoi"])
    out = tmp_path / "out"
    result = CliRunner().invoke(scrape_main, [
        "--params", str(params), "--documents", str(tmp_path / "docs"), "--http-cache", str(out / "cache"),
        "--out", str(out / "pages.jsonl"), "--metrics", str(out / "scrape.json"),
        "--machine-metrics", str(out / "machine_scrape.json")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "pages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["format"]) for r in rows] == [("wikipedia:Hanoi", "html")]
    assert len(list((out / "cache").glob("*.json"))) == 1
    assert json.loads((out / "machine_scrape.json").read_text())["http_requests"] == 1
