"""Stage `clean`: output contract, drop counts, code kept apart, bad input named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from stages.clean import main as clean_main

HTML_PAGE = (
    "<div class='mw-parser-output'><table class='infobox'><tr><td>Infobox text here</td></tr></table>"
    "<p>Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945.[1] He led it until 1969. "
    "Short one.</p><ul><li>The Trưng sisters rebelled against Han rule in AD 40.</li></ul>"
    "<h2>References</h2><p>A reference that must not appear anywhere.</p></div>"
)
TEXT_PAGE = (
    "Võ Nguyên Giáp led the Việt Minh to victory at Điện Biên Phủ in 1954. He led it until 1969.\n\n"
    + " ".join(["word"] * 20) + "."
)
SENTENCE_KEYS = ["doc_id", "title", "sent_id", "text", "section", "kind"]
CODE_KEYS = ["doc_id", "title", "code_id", "section", "kind", "language", "context", "text"]
METRIC_KEYS = {
    "documents", "documents_without_sentences", "documents_without_sentences_ids", "pages_text",
    "pages_html_mediawiki", "pages_html_sphinx", "pages_html_mkdocs", "pages_html_docusaurus",
    "pages_html_generic", "paragraphs", "definitions", "sentences_split", "sentences_kept",
    "sentences_from_definitions", "sentences_with_section", "dropped_no_letters", "dropped_too_short",
    "dropped_too_long", "dropped_duplicate", "words_kept", "code_blocks", "code_blocks_kept",
    "dropped_code_too_long", "dropped_code_duplicate", "punkt_learned_abbreviations", "sentences_not_prose",
    "sentences_not_prose_kept_as_code", "option_definitions",
}
# A Sphinx page (the shape of the Python docs) with two code blocks, one too long for max_code_lines 3.
SPHINX_PAGE = (
    "<html><head><meta name='generator' content='Docutils 0.19: https://docutils.sourceforge.io/'></head>"
    "<body><div class='related' role='navigation'><a href='x.html'>next</a></div>"
    "<div class='body' role='main'><section><h1><span class='section-number'>12. </span>Virtual Environments"
    "<a class='headerlink' href='#v'>¶</a></h1><section><h2>Creating Virtual Environments</h2>"
    "<p>To create one, run the <a class='reference internal' href='venv.html'><code class='xref py py-mod "
    "docutils literal notranslate'><span class='pre'>venv</span></code></a> module as a script:</p>"
    "<div class='highlight-bash notranslate'><div class='highlight'><pre><span></span>python3 -m venv env\n"
    "</pre></div></div><div class='highlight-python3 notranslate'><div class='highlight'><pre>a = 1\nb = 2\n"
    "c = 3\nd = 4</pre></div></div></section></section></div></body></html>"
)
NAV_PAGE = "<html><body><nav><a href='/'>Home</a> <a href='/docs'>Documentation</a></nav></body></html>"


def page(doc_id: str, title: str, fmt: str, content: str) -> dict[str, str]:
    return {"id": doc_id, "title": title, "url": "https://example.org/" + doc_id, "source": "snapshot",
            "license": "CC BY-SA 4.0", "format": fmt, "content": content}


def run_clean(tmp_path: Path, pages_text: str, min_words: int = 4, max_words: int = 15):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"clean": {"min_words": min_words, "max_words": max_words,
                                                "max_code_lines": 3, "max_signature_chars": 40,
                                                "min_prose_share": 0.55}}))
    pages = tmp_path / "raw" / "pages.jsonl"
    pages.parent.mkdir(exist_ok=True)
    pages.write_text(pages_text, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(clean_main, ["--params", str(params), "--pages", str(pages), "--out",
                                             str(out / "clean" / "sentences.jsonl"), "--code-out",
                                             str(out / "clean" / "code.jsonl"), "--metrics",
                                             str(out / "metrics" / "clean.json"),
                                             "--machine-metrics", str(out / "metrics" / "machine_clean.json")])
    return result, pages, out


def jsonl(*rows: dict[str, str]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def test_clean_stage_output_contract(tmp_path: Path) -> None:
    result, _, out = run_clean(tmp_path, jsonl(page("a", "Ho Chi Minh", "html", HTML_PAGE),
                                               page("b", "Võ Nguyên Giáp", "text", TEXT_PAGE)))
    assert result.exit_code == 0, result.output

    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert written == ["clean", "clean/code.jsonl", "clean/sentences.jsonl", "metrics", "metrics/clean.json",
                       "metrics/machine_clean.json"]
    rows = [json.loads(line) for line in (out / "clean" / "sentences.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(list(row) == SENTENCE_KEYS for row in rows)
    assert [(r["doc_id"], r["sent_id"], r["text"]) for r in rows] == [
        ("a", "a#0", "Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945."),
        ("a", "a#1", "He led it until 1969."),
        ("a", "a#2", "The Trưng sisters rebelled against Han rule in AD 40."),
        ("b", "b#0", "Võ Nguyên Giáp led the Việt Minh to victory at Điện Biên Phủ in 1954."),
    ]
    assert rows[3]["title"] == "Võ Nguyên Giáp"
    assert {(r["section"], r["kind"]) for r in rows} == {("", "sentence")}
    assert (out / "clean" / "code.jsonl").read_text(encoding="utf-8") == ""
    metrics = json.loads((out / "metrics" / "clean.json").read_text(encoding="utf-8"))
    assert set(metrics) == METRIC_KEYS
    assert (metrics["documents"], metrics["paragraphs"], metrics["sentences_split"]) == (2, 4, 7)
    assert (metrics["sentences_kept"], metrics["dropped_too_short"]) == (4, 1)  # "Short one."
    assert (metrics["dropped_too_long"], metrics["dropped_duplicate"]) == (1, 1)  # 21 words; "He led it until 1969."
    assert (metrics["pages_html_mediawiki"], metrics["pages_text"], metrics["code_blocks"]) == (1, 1, 0)


def test_code_blocks_go_to_their_own_file_and_empty_pages_are_named(tmp_path: Path) -> None:
    result, _, out = run_clean(tmp_path, jsonl(page("files:venv.html", "Venv", "html", SPHINX_PAGE),
                                               page("files:nav.html", "Menu", "html", NAV_PAGE)))
    assert result.exit_code == 0, result.output

    [sentence] = [json.loads(line) for line in (out / "clean" / "sentences.jsonl").read_text().splitlines()]
    assert sentence == {"doc_id": "files:venv.html", "title": "Venv", "sent_id": "files:venv.html#0",
                        "text": "To create one, run the venv module as a script:",
                        "section": "Virtual Environments > Creating Virtual Environments", "kind": "sentence"}
    code = [json.loads(line) for line in (out / "clean" / "code.jsonl").read_text().splitlines()]
    assert [list(row) for row in code] == [CODE_KEYS]
    assert code[0] | {"text": None} == {
        "doc_id": "files:venv.html", "title": "Venv", "code_id": "files:venv.html#code0",
        "section": "Virtual Environments > Creating Virtual Environments", "kind": "code", "language": "bash",
        "context": "To create one, run the venv module as a script:", "text": None}
    assert code[0]["text"] == "python3 -m venv env"
    metrics = json.loads((out / "metrics" / "clean.json").read_text(encoding="utf-8"))
    assert (metrics["code_blocks"], metrics["code_blocks_kept"], metrics["dropped_code_too_long"]) == (2, 1, 1)
    assert (metrics["pages_html_sphinx"], metrics["pages_html_generic"]) == (1, 1)
    assert (metrics["documents_without_sentences"], metrics["documents_without_sentences_ids"]) == (
        1, "files:nav.html")  # the page that held only navigation is named

def test_a_code_blocks_context_is_the_sentence_that_introduces_it(tmp_path: Path) -> None:
    # the paragraph's other sentences have their own passage; repeated beside the code they made the
    # block the first hit for questions about them
    html = ("<html><body><p>Packages come from the Python Package Index. To pin one, give its version "
            "after two equals signs:</p><pre>python -m pip install requests==2.6.0</pre></body></html>")
    result, _, out = run_clean(tmp_path, jsonl(page("files:pip.html", "Pip", "html", html)), max_words=30)
    assert result.exit_code == 0, result.output
    [code] = [json.loads(line) for line in (out / "clean" / "code.jsonl").read_text().splitlines()]
    assert code["context"] == "To pin one, give its version after two equals signs:"
    assert code["text"] == "python -m pip install requests==2.6.0"


def test_table_rows_of_a_text_layer_are_code_rows_not_sentences(tmp_path: Path) -> None:
    # a PDF's text: prose, then the rows of a table that no <pre> marks as code
    text = ("The cache file starts with a header that points to each list in the file.\n\n"
            "2 CARD16 MAJOR_VERSION 1 2 CARD16 MINOR_VERSION 2 4 CARD32 ALIAS_LIST_OFFSET.\n\n"
            "Each alias entry holds two offsets into the string table.")
    result, _, out = run_clean(tmp_path, jsonl(page("files:spec.pdf", "Spec", "text", text)), max_words=30)
    assert result.exit_code == 0, result.output
    sentences = [json.loads(line)["text"] for line in (out / "clean" / "sentences.jsonl").read_text().splitlines()]
    assert sentences == ["The cache file starts with a header that points to each list in the file.",
                         "Each alias entry holds two offsets into the string table."]
    [code] = [json.loads(line) for line in (out / "clean" / "code.jsonl").read_text().splitlines()]
    assert code["text"] == "2 CARD16 MAJOR_VERSION 1 2 CARD16 MINOR_VERSION 2 4 CARD32 ALIAS_LIST_OFFSET."
    assert code["context"] == "" and code["code_id"] == "files:spec.pdf#code0"
    metrics = json.loads((out / "metrics" / "clean.json").read_text(encoding="utf-8"))
    assert (metrics["sentences_not_prose"], metrics["sentences_not_prose_kept_as_code"]) == (1, 1)
    assert (metrics["code_blocks"], metrics["code_blocks_kept"], metrics["sentences_kept"]) == (0, 0, 2)


def test_clean_is_byte_identical_on_rerun(tmp_path: Path) -> None:
    pages = jsonl(page("a", "A", "html", HTML_PAGE), page("b", "B", "text", TEXT_PAGE))
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    first, _, out1 = run_clean(tmp_path / "1", pages)
    second, _, out2 = run_clean(tmp_path / "2", pages)
    assert first.exit_code == second.exit_code == 0
    assert (out1 / "clean" / "sentences.jsonl").read_bytes() == (out2 / "clean" / "sentences.jsonl").read_bytes()


def test_truncated_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    good = jsonl(page("a", "A", "text", TEXT_PAGE))
    result, pages, out = run_clean(tmp_path, good + good.replace('"a"', '"b"')[:40] + "\n")
    assert result.exit_code == 2
    assert f"error: {pages}:2: invalid or truncated JSON" in result.output
    assert not out.exists()


def test_empty_line_and_bad_format_are_named(tmp_path: Path) -> None:
    good = jsonl(page("a", "A", "text", TEXT_PAGE))
    result, pages, _ = run_clean(tmp_path, good + "\n" + good)
    assert result.exit_code == 2 and f"error: {pages}:2: empty line" in result.output
    result, pages, _ = run_clean(tmp_path, good + jsonl(page("b", "B", "pdf", "x")))
    assert result.exit_code == 2 and f"error: {pages}:2: format 'pdf' must be 'html' or 'text'" in result.output
    result, pages, _ = run_clean(tmp_path, good + good)
    assert result.exit_code == 2 and f"error: {pages}:2: duplicate id 'a'" in result.output


def test_no_sentence_within_limits_is_a_user_error(tmp_path: Path) -> None:
    result, pages, _ = run_clean(tmp_path, jsonl(page("a", "A", "text", "Too short.")), min_words=5)
    assert result.exit_code == 2
    assert f"error: {pages}: no sentence of 5 to 15 words in 1 page(s); check" in result.output


def test_navigation_and_code_alone_is_a_user_error(tmp_path: Path) -> None:
    code_only = "<pre>make install</pre><nav><p>Home page of the whole documentation site</p></nav>"
    result, pages, out = run_clean(tmp_path, jsonl(page("a", "A", "html", NAV_PAGE), page("b", "B", "html", code_only)))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"error: {pages}: no sentence of 4 to 15 words in 2 page(s) (1 code block(s) alone are not a corpus); "
        "check the pages or clean.min_words / clean.max_words")
    assert not out.exists()
