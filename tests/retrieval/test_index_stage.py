"""The index stage's output contract: what it writes, its metrics, code blocks as passages, held-out
documents left out of both kinds of passage."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from docent.retrieval.index import load_index
from stages.index import main as index_main

REPO = Path(__file__).resolve().parents[2]
VENV = [("venv", "The venv module creates lightweight virtual environments."),
        ("venv", "Each environment has its own Python binary and its own installed packages."),
        ("pip", "The pip tool installs packages from the Python Package Index."),
        ("pip", "It ships with every Python installation."),
        ("absent", "The zipapp module builds executable archives of Python code.")]
CODE = [{"doc_id": "venv", "title": "venv", "code_id": "venv#code0", "section": "venv > Creating environments",
         "kind": "code", "language": "",
         "context": "To create a virtual environment, run the venv module as a script with the directory path:",
         "text": "python -m venv tutorial-env"},
        {"doc_id": "absent", "title": "zipapp", "code_id": "absent#code0", "section": "", "kind": "code",
         "language": "", "context": "To make an archive, run:", "text": "python -m zipapp myapp"}]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def run_index(tmp_path: Path) -> tuple[object, Path]:
    sentences = write_jsonl(tmp_path / "sentences.jsonl", [
        {"doc_id": d, "title": d, "sent_id": f"{d}#{n}", "text": t, "section": ""}
        for n, (d, t) in enumerate(VENV)])
    code = write_jsonl(tmp_path / "code.jsonl", CODE)
    pages = write_jsonl(tmp_path / "pages.jsonl", [{"id": "venv", "url": "file:///docs/venv.html"}])
    split = tmp_path / "split"
    split.mkdir()
    for name in ("train", "val", "test", "test_unseen"):
        write_jsonl(split / f"{name}.jsonl", [{"question": "What does pip install?", "sent_ids": ["pip#2"],
                                               "doc_id": "pip"}] if name == "train" else [])
    write_jsonl(split / "test_absent.jsonl", [{"question": "What does zipapp build?", "doc_id": "absent",
                                               "sent_ids": ["absent#4"]}])
    natural = write_jsonl(tmp_path / "natural.jsonl", [])
    out = tmp_path / "index"
    args = ["--params", str(REPO / "params.yaml"), "--sentences", str(sentences), "--code", str(code),
            "--pages", str(pages), "--split-dir", str(split), "--natural", str(natural), "--out", str(out),
            "--metrics", str(tmp_path / "index.json"), "--machine-metrics", str(tmp_path / "machine.json")]
    return CliRunner().invoke(index_main, args), out


def test_index_stage_output_contract_with_code_passages(tmp_path: Path) -> None:
    result, out = run_index(tmp_path)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "index.json").read_text(encoding="utf-8"))
    assert metrics["documents_held_out"] == 1 and metrics["code_passages"] == 1
    assert metrics["passages"] == 3 and metrics["train.recall_at_1"] == 1.0
    # retrieval.resolve_references (on in params.yaml): the passage names what "It" is
    assert metrics["sentences_with_references_named"] == 1
    pip = next(p for p in load_index(out).passages if p.doc_id == "pip")
    assert pip.text == ("The pip tool installs packages from the Python Package Index. "
                        "The pip tool ships with every Python installation.")
    assert pip.sent_ids == ("pip#2", "pip#3")
    # training contexts are retrieved from the passages as the source words them, by BM25 alone
    source = load_index(out).lexical()
    assert source.embeddings is None and (out / "source" / "passages.jsonl").is_file()
    assert next(p for p in source.passages if p.doc_id == "pip").text == (
        "The pip tool installs packages from the Python Package Index. It ships with every Python installation.")
    assert [p.passage_id for p in source.passages] == [p.passage_id for p in load_index(out).passages]
    index = load_index(out)
    assert not [p for p in index.passages if p.doc_id == "absent"]  # neither its sentences nor its code
    code = next(p for p in index.passages if p.passage_id == "venv@code0")
    assert code.text == ("To create a virtual environment, run the venv module as a script with the directory "
                         "path:\npython -m venv tutorial-env")
    assert code.url == "file:///docs/venv.html" and code.section == "venv > Creating environments"
    # a "how do I" pair names the block by its id, which finds it as the gold passage
    assert code.sent_ids == ("venv#code0",)
    from docent.retrieval.passages import gold_passages

    assert gold_passages(index.passages, ["venv#code0"], "venv") == {"venv@code0"}
    # the command answers the "how do I" question: no sentence holds it
    found = [r.passage.passage_id for r in index.retrieve("how do i create a virtual environment", 2)]
    assert "venv@code0" in found
    assert index.retrieve("which directory path do i give the venv script", 1)[0].passage.passage_id == "venv@code0"


def test_a_long_introduction_keeps_its_last_words() -> None:
    from docent.retrieval.passages import code_passages

    row = {**CODE[0], "context": " ".join(f"w{n}" for n in range(100))}
    (passage,) = code_passages([row], lead_words=10)
    assert passage.text == "… w90 w91 w92 w93 w94 w95 w96 w97 w98 w99\npython -m venv tutorial-env"
    assert code_passages([row], 10, exclude_docs={"venv"}) == []
