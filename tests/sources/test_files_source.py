"""source=files: the user's .html/.htm/.md/.txt documents; everything else is counted, not dropped silently.

PDF and Word documents: tests/sources/test_pdf_docx_documents.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from wiki_server import scrape_params

from docent.config import build_section
from docent.sources import scrape
from docent.text.clean import page_paragraphs
from stages.scrape import main as scrape_main


def make_documents(folder: Path) -> None:
    (folder / "sub").mkdir(parents=True)
    (folder / ".gitkeep").write_text("")
    (folder / "trung.html").write_text(
        "<html><head><title>Trưng sisters</title><script>alert('x')</script></head>"
        "<body><p>The Trưng sisters led a rebellion in AD 40.</p></body></html>", encoding="utf-8")
    (folder / "sub" / "hue.htm").write_text("<p>Huế was the capital of the Nguyễn dynasty.</p>", encoding="utf-8")
    (folder / "giap.md").write_text(
        "# Võ Nguyên Giáp\n\nGiáp was a **Vietnamese** general.\n\n- He won at Điện Biên Phủ.\n"
        "- <script>alert(1)</script> stays text\n\n## References\n\n1. A book.\n", encoding="utf-8")
    (folder / "notes.txt").write_text("\ufeffLê Lợi founded the Later Lê dynasty.\n", encoding="utf-8")
    (folder / "utf16.txt").write_bytes("Hồ Chí Minh was born in 1890.".encode("utf-16"))
    (folder / "latin1.txt").write_bytes("Nguy\xean was a name.".encode("latin-1"))
    (folder / "empty.md").write_text("  \n\n")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4")  # a header and nothing else
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n")
    (folder / "big.txt").write_text("word " * 400)


def test_files_source_reads_counts_and_converts(tmp_path: Path) -> None:
    docs = tmp_path / "documents"
    make_documents(docs)
    params = build_section("scrape", scrape_params(source="files", max_file_bytes=1000))

    pages, metrics = scrape(params, documents=docs, http_cache=tmp_path / "cache")

    assert [(p.id, p.title, p.format) for p in pages] == [
        ("files:giap.md", "Võ Nguyên Giáp", "html"),
        ("files:notes.txt", "notes", "text"),
        ("files:sub/hue.htm", "hue", "html"),
        ("files:trung.html", "Trưng sisters", "html"),
        ("files:utf16.txt", "utf16", "text"),
    ]
    assert all(p.source == "files" and p.license == "user-provided" for p in pages)
    assert pages[0].url == (docs / "giap.md").as_posix()
    assert "<script>" not in pages[0].content  # markdown's raw HTML is escaped into text
    assert pages[1].content == "Lê Lợi founded the Later Lê dynasty.\n"  # BOM dropped
    assert page_paragraphs(pages[0].to_row()) == [
        "Võ Nguyên Giáp", "Giáp was a Vietnamese general.", "He won at Điện Biên Phủ.",
        "<script>alert(1)</script> stays text",
    ][1:]  # the h1 is a heading, not prose; the References section is cut
    assert page_paragraphs(pages[3].to_row()) == ["The Trưng sisters led a rebellion in AD 40."]
    assert metrics["pages_requested"] == 9  # .html .htm .md .md .txt .txt .txt .txt .pdf; not .png or .gitkeep
    assert (metrics["files_skipped_undecodable"], metrics["files_skipped_extension"]) == (1, 1)
    assert (metrics["files_skipped_empty"], metrics["files_skipped_too_large"]) == (1, 1)
    assert metrics["files_skipped_corrupt"] == 1
    assert metrics["pages_skipped"] == 5
    assert metrics["files_skipped_names"] == (
        "big.txt (larger than scrape.max_file_bytes) | empty.md (empty) | latin1.txt (not UTF-8 text) | "
        "report.pdf (corrupt or not the format its name says)")
    assert metrics["pages_fetched"] == 5


def test_empty_documents_folder_exits_2(tmp_path: Path, write_params) -> None:
    docs = tmp_path / "documents"
    docs.mkdir()
    (docs / ".gitkeep").write_text("")
    params = write_params(source="files")
    result = CliRunner().invoke(scrape_main, [
        "--params", str(params), "--documents", str(docs), "--http-cache", str(tmp_path / "cache"),
        "--out", str(tmp_path / "pages.jsonl"), "--metrics", str(tmp_path / "scrape.json"),
        "--machine-metrics", str(tmp_path / "machine_scrape.json")])
    assert result.exit_code == 2
    expected = f"error: {docs}: no usable documents (.html, .htm, .md, .txt, .pdf, .docx); the folder is empty"
    assert result.output.strip().splitlines()[-1] == expected
    assert (tmp_path / "cache" / "CACHEDIR.TAG").is_file()  # created whatever happens: dvc.yaml declares it


def test_only_unusable_files_exits_2_and_says_why(tmp_path: Path, write_params) -> None:
    docs = tmp_path / "documents"
    docs.mkdir()
    (docs / "scan.pdf").write_bytes(b"%PDF")
    (docs / "old.txt").write_bytes(b"\xff\x00\xfe")
    result = CliRunner().invoke(scrape_main, [
        "--params", str(write_params(source="files")), "--documents", str(docs), "--http-cache",
        str(tmp_path / "cache"), "--out", str(tmp_path / "pages.jsonl"), "--metrics", str(tmp_path / "m.json"),
        "--machine-metrics", str(tmp_path / "machine_m.json")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"error: {docs}: no usable documents (.html, .htm, .md, .txt, .pdf, .docx); 2 file(s) skipped: "
        "old.txt (not UTF-8 text), scan.pdf (corrupt or not the format its name says)")
    assert not (tmp_path / "pages.jsonl").exists()


def test_files_stage_rows(tmp_path: Path, write_params) -> None:
    docs = tmp_path / "documents"
    docs.mkdir()
    (docs / "a.txt").write_text("Hanoi is old.\n\nHuế is older.\n", encoding="utf-8")
    result = CliRunner().invoke(scrape_main, [
        "--params", str(write_params(source="files")), "--documents", str(docs), "--http-cache",
        str(tmp_path / "cache"), "--out", str(tmp_path / "pages.jsonl"), "--metrics", str(tmp_path / "m.json"),
        "--machine-metrics", str(tmp_path / "machine_m.json")])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in (tmp_path / "pages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert row["content"] == "Hanoi is old.\n\nHuế is older.\n" and row["format"] == "text"
