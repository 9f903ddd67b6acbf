"""docent.sources.files directly: decoding, titles, Markdown rendering, and what scrape_files counts.

The stage-level view (scrape() and `python -m stages.scrape`) is in test_files_source.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from wiki_server import scrape_params

from docent.cli import UserError
from docent.config import build_section
from docent.sources.base import ScrapeReport
from docent.sources.files import decode_document, markdown_to_html, scrape_files


def params(**overrides: object):
    return build_section("scrape", scrape_params(source="files", **overrides))


@pytest.mark.parametrize(("data", "text"), [
    ("Huế, 1802".encode(), "Huế, 1802"),
    (b"\xef\xbb\xbfwith a BOM", "with a BOM"),
    ("Lê Lợi".encode("utf-16"), "Lê Lợi"),  # little-endian BOM first
    ("Lê Lợi".encode("utf-16-be").join([b"\xfe\xff", b""]), "Lê Lợi"),
    ("Nguy\xean".encode("latin-1"), None),
    (b"\xff\xfe\x00\xd8", None),  # a UTF-16 BOM, then half a surrogate pair
])
def test_decode_document(data: bytes, text: str | None) -> None:
    assert decode_document(data) == text


def test_markdown_escapes_raw_html_and_renders_tables() -> None:
    html = markdown_to_html("# Title\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h1>Title</h1>" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<table>" in html and "<td>1</td>" in html


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def test_titles_come_from_the_document_else_the_file_name(tmp_path: Path) -> None:
    docs = write(tmp_path / "docs", {
        "a.html": "<title>Page title</title><h1>The <a class='headerlink'>¶</a>Heading <span class='section-number'>"
                  "1.</span>here</h1><p>x</p>",
        "b.html": "<html><head><title> Only   a title </title></head><body><h1> </h1><p>x</p></body></html>",
        "c.md": "\n\n# Markdown title\n\ntext",
        "d.md": "Intro line\n# Not the title: not the first line\n",
        "my_notes-2024.txt": "# a .txt is not Markdown",
    })
    report = ScrapeReport(source="files")
    pages = scrape_files(docs, report, params())
    assert {p.id: p.title for p in pages} == {
        "files:a.html": "The Heading here",  # <h1> first, its permalink and numbering left out
        "files:b.html": "Only a title",  # an empty <h1>: the <title>
        "files:c.md": "Markdown title",
        "files:d.md": "d",
        "files:my_notes-2024.txt": "my notes 2024",
    }
    assert {p.id: p.format for p in pages} == {"files:a.html": "html", "files:b.html": "html", "files:c.md": "html",
                                              "files:d.md": "html", "files:my_notes-2024.txt": "text"}
    assert (report.pages_requested, report.pages_fetched) == (5, 5)
    assert report.characters == sum(len(p.content) for p in pages)


def test_every_file_not_used_is_counted_with_its_reason(tmp_path: Path) -> None:
    docs = write(tmp_path / "docs", {
        "ok.txt": "Hanoi is the capital.",
        "zero.txt": b"",
        "blank.md": "  \n\t\n",
        "big.html": "<p>" + "x" * 1000 + "</p>",
        "latin1.txt": "caf\xe9".encode("latin-1"),
        "image.PNG": b"\x89PNG",
        ".hidden/secret.txt": "not a document",
        ".gitkeep": "",
    })
    report = ScrapeReport(source="files")
    pages = scrape_files(docs, report, params(max_file_bytes=1000))
    assert [p.id for p in pages] == ["files:ok.txt"]
    assert pages[0].url == (docs / "ok.txt").as_posix() and pages[0].license == "user-provided"
    assert report.skipped_extension == 1  # image.PNG; hidden files are not counted at all
    assert (report.skipped_empty, report.skipped_too_large, report.skipped_undecodable) == (2, 1, 1)
    assert report.pages_requested == 5 and report.pages_fetched == 1
    assert sorted(report.skipped_files) == ["big.html (larger than scrape.max_file_bytes)", "blank.md (empty)",
                                            "latin1.txt (not UTF-8 text)", "zero.txt (empty)"]


def test_no_usable_document_names_what_was_skipped(tmp_path: Path) -> None:
    docs = write(tmp_path / "docs", {"zero.txt": b"", "image.png": b"\x89PNG"})
    with pytest.raises(UserError, match=r"no usable documents .*; 2 file\(s\) skipped: zero\.txt \(empty\), "
                                        r"1 with another suffix$"):
        scrape_files(docs, ScrapeReport(source="files"), params())
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"the folder is empty$"):
        scrape_files(tmp_path / "empty", ScrapeReport(source="files"), params())
    with pytest.raises(UserError, match="documents folder not found"):
        scrape_files(tmp_path / "missing", ScrapeReport(source="files"), params())
