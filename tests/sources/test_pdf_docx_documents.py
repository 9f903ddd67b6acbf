"""source=files with PDF and Word documents: text with its headings, and every unusable file named.

The PDFs are written by hand in the test (documents_builder.make_pdf), bookmarks and encryption
added with pypdf; the .docx files with python-docx.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from click.testing import CliRunner
from documents_builder import Text, encrypted, make_docx, make_pdf, with_outline
from wiki_server import scrape_params

from docent.config import build_section
from docent.sources import scrape
from docent.text.clean import page_units
from stages.clean import main as clean_main
from stages.scrape import main as scrape_main

# Three pages: a footer and page numbers on each, a paragraph running on over a page break, a word
# hyphenated at a line end, a Courier code block, headings set in 18 pt.
MANUAL = [
    [Text("Getting Started", 740, 18), Text("The service reads your documents and builds an infor-", 710),
     Text("mation index of every paragraph in them.", 696),
     Text("A second paragraph starts here and it goes on to the", 670), Text("end of the page", 656),
     Text("Café Manual", 40, 9), Text("1", 40, 9, x=300)],
    [Text("where it continues on the next page.", 740), Text("Installing", 700, 18),
     Text("Run the installer as root:", 670), Text("sudo ./install.sh", 650, 10, font="F2"),
     Text("--prefix /opt", 638, 10, x=84, font="F2"), Text("Café Manual", 40, 9), Text("2", 40, 9, x=300)],
    [Text("Then reboot the machine once.", 740), Text("Café Manual", 40, 9), Text("3", 40, 9, x=300)],
]
MANUAL_HTML = (
    "<h1>Getting Started</h1>\n"
    "<p>The service reads your documents and builds an information index of every paragraph in them.</p>\n"
    "<p>A second paragraph starts here and it goes on to the end of the page where it continues on the "
    "next page.</p>\n<h1>Installing</h1>\n<p>Run the installer as root:</p>\n"
    "<pre><code>sudo ./install.sh\n  --prefix /opt</code></pre>\n<p>Then reboot the machine once.</p>"
)


def files_params(**overrides: object):
    return build_section("scrape", scrape_params(source="files", **overrides))


def test_pdf_paragraphs_headings_code_without_running_footers(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "manual.pdf").write_bytes(make_pdf(MANUAL))

    [page], metrics = scrape(files_params(), documents=docs, http_cache=tmp_path)

    assert (page.id, page.title, page.format) == ("files:manual.pdf", "manual", "html")
    assert page.content == MANUAL_HTML  # no "Café Manual" footer, no page number, "information" joined
    kind, units = page_units(page.to_row())
    assert kind == "generic"
    assert [(u.kind, u.section, u.text) for u in units] == [
        ("prose", "Getting Started", "The service reads your documents and builds an information index of every "
                                     "paragraph in them."),
        ("prose", "Getting Started", "A second paragraph starts here and it goes on to the end of the page where "
                                     "it continues on the next page."),
        ("prose", "Installing", "Run the installer as root:"),
        ("code", "Installing", "sudo ./install.sh\n  --prefix /opt"),
        ("prose", "Installing", "Then reboot the machine once."),
    ]
    assert (metrics["pdf_files"], metrics["pdf_pages"], metrics["pdf_pages_without_text"]) == (1, 3, 0)


def test_pdf_outline_gives_headings_levels_and_title(tmp_path: Path) -> None:
    pdf = with_outline(make_pdf(MANUAL), [("Overview", 0, 0), ("Getting Started", 0, 1), ("Installing", 1, 1)],
                       title="Service Manual")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "manual.pdf").write_bytes(pdf)

    [page], _ = scrape(files_params(), documents=docs, http_cache=tmp_path)

    assert page.title == "Service Manual"  # the document's /Title, not the file name
    # "Overview" reads on no line: placed at the top of its page; the two others replace their lines
    assert page.content == "<h1>Overview</h1>\n" + MANUAL_HTML.replace("h1>", "h2>")
    sections = [(u.kind, u.section) for u in page_units(page.to_row())[1]]
    assert sections == [("prose", "Overview > Getting Started")] * 2 + [
        ("prose", "Overview > Installing"), ("code", "Overview > Installing"), ("prose", "Overview > Installing")]


def test_docx_headings_lists_code_no_toc_or_tables(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_docx(docs / "handbook.docx")

    [page], metrics = scrape(files_params(), documents=docs, http_cache=tmp_path)

    assert (page.title, page.format, metrics["docx_files"]) == ("Operations Handbook", "html", 1)
    assert page.content == (
        "<h1>Operations Handbook</h1>\n<h2>Installing the service</h2>\n"
        "<p>The service runs on any Linux host with Python 3.11 installed.</p>\n"
        "<ul><li>Download the release archive.</li><li>Unpack it into /opt/service.</li></ul>\n"
        "<pre><code>cd /opt/service\n    ./install --user svc</code></pre>\n"
        "<h3>Checking the installation</h3>\n"
        "<p>Run svc --version and compare the number with the release notes.</p>"
    )  # the "toc 1" line and the table are gone
    units = page_units(page.to_row())[1]
    assert units[-1].section == "Operations Handbook > Installing the service > Checking the installation"
    assert [u.kind for u in units] == ["prose", "prose", "prose", "code", "prose"]


def write_bad_inputs(docs: Path) -> None:
    """The bad inputs of issue 13: a scan, a locked PDF, a broken .docx, an empty file, a menu page."""
    docs.mkdir()
    (docs / "scan.pdf").write_bytes(make_pdf([[], []], image_only_pages=frozenset({0, 1})))
    (docs / "locked.pdf").write_bytes(encrypted(make_pdf(MANUAL), user_password="secret"))
    (docs / "broken.docx").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with zipfile.ZipFile(docs / "notword.docx", "w") as archive:
        archive.writestr("readme.txt", "a zip, but no Word document in it")
    (docs / "zero.md").write_bytes(b"")
    (docs / "menu.html").write_text(
        "<html><body><nav><ul><li><a href='/'>Home</a></li><li><a href='/docs'>Docs</a></li></ul></nav>"
        "<footer><p>Copyright 2024 Example Corporation, all rights reserved.</p></footer></body></html>",
        encoding="utf-8")


def run_scrape(tmp_path: Path, docs: Path, **overrides: object):
    import yaml

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"scrape": scrape_params(source="files", **overrides),
                                      "clean": {"min_words": 4, "max_words": 60, "max_code_lines": 40,
                                                "max_signature_chars": 40,
                                                "min_prose_share": 0.55}}))
    result = CliRunner().invoke(scrape_main, [
        "--params", str(params), "--documents", str(docs), "--http-cache", str(tmp_path / "cache"),
        "--out", str(tmp_path / "pages.jsonl"), "--metrics", str(tmp_path / "scrape.json"),
        "--machine-metrics", str(tmp_path / "machine_scrape.json")])
    return result, params


def run_clean(tmp_path: Path, params: Path):
    return CliRunner().invoke(clean_main, [
        "--params", str(params), "--pages", str(tmp_path / "pages.jsonl"), "--out", str(tmp_path / "sentences.jsonl"),
        "--code-out", str(tmp_path / "code.jsonl"), "--metrics", str(tmp_path / "clean.json"),
        "--machine-metrics", str(tmp_path / "machine_clean.json")])


def test_bad_inputs_are_named_and_counted_while_the_rest_goes_on(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_bad_inputs(docs)
    (docs / "owner-only.pdf").write_bytes(encrypted(make_pdf(MANUAL), user_password=""))  # opens without one
    (docs / "long.pdf").write_bytes(make_pdf(MANUAL * 2))

    result, params = run_scrape(tmp_path, docs, max_pdf_pages=4)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "scrape.json").read_text(encoding="utf-8"))
    assert metrics["files_skipped_names"] == (
        "broken.docx (corrupt or not the format its name says) | locked.pdf (encrypted, needs a password) | "
        "long.pdf (more pages than scrape.max_pdf_pages) | notword.docx (corrupt or not the format its name says) | "
        "scan.pdf (no text layer, images only) | zero.md (empty)")
    assert (metrics["files_skipped_corrupt"], metrics["files_skipped_encrypted"], metrics["files_skipped_no_text"],
            metrics["files_skipped_empty"], metrics["files_skipped_too_many_pages"]) == (2, 1, 1, 1, 1)
    assert (metrics["pages_requested"], metrics["pages_fetched"], metrics["pages_skipped"]) == (8, 2, 6)
    rows = [json.loads(line) for line in (tmp_path / "pages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["files:menu.html", "files:owner-only.pdf"]

    result = run_clean(tmp_path, params)
    assert result.exit_code == 0, result.output
    clean = json.loads((tmp_path / "clean.json").read_text(encoding="utf-8"))
    assert (clean["documents_without_sentences"], clean["documents_without_sentences_ids"]) == (1, "files:menu.html")
    sentences = [json.loads(line) for line in (tmp_path / "sentences.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {s["doc_id"] for s in sentences} == {"files:owner-only.pdf"}
    assert "Copyright" not in " ".join(s["text"] for s in sentences)


def test_nothing_usable_fails_with_one_line_naming_the_files(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_bad_inputs(docs)
    (docs / "menu.html").unlink()
    (docs / "photo.jpg").write_bytes(b"\xff\xd8\xff")

    result, _ = run_scrape(tmp_path, docs)

    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"error: {docs}: no usable documents (.html, .htm, .md, .txt, .pdf, .docx); 6 file(s) skipped: "
        "broken.docx (corrupt or not the format its name says), locked.pdf (encrypted, needs a password), "
        "notword.docx (corrupt or not the format its name says), scan.pdf (no text layer, images only), "
        "zero.md (empty), 1 with another suffix")
    assert not (tmp_path / "pages.jsonl").exists()


def test_only_navigation_left_fails_clean_with_one_line(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_bad_inputs(docs)
    result, params = run_scrape(tmp_path, docs)
    assert result.exit_code == 0, result.output  # menu.html is a readable page ...

    result = run_clean(tmp_path, params)
    assert result.exit_code == 2  # ... with no sentence in it
    assert result.output.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'pages.jsonl'}: no sentence of 4 to 60 words in 1 page(s); "
        "check the pages or clean.min_words / clean.max_words")


def test_pdf_with_some_image_pages_is_read_and_counted(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "mixed.pdf").write_bytes(make_pdf([MANUAL[0], [], MANUAL[2]], image_only_pages=frozenset({1})))
    [page], metrics = scrape(files_params(), documents=docs, http_cache=tmp_path)
    assert (metrics["pdf_pages"], metrics["pdf_pages_without_text"]) == (3, 1)
    assert "Then reboot the machine once." in page.content
