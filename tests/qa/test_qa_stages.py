"""Output contracts of generate_qa and split (CliRunner on tmp_path), and their refusals of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from docent.qa.records import QA_KEYS, UNRELATED_KEYS
from stages.generate_qa import main as generate_main
from stages.split import main as split_main

REPO = Path(__file__).resolve().parents[2]
SENTENCES = [
    ("Ho Chi Minh",
     "Hồ Chí Minh was a Vietnamese revolutionary who founded the Democratic Republic of Vietnam in 1945."),
    ("Ho Chi Minh", "He served as president of North Vietnam until 1969."),
    ("Hanoi", "Hanoi is the capital of Vietnam."),
    ("Hanoi", "Hanoi was founded in 1010 by Lý Thái Tổ."),
    ("Trưng sisters", "The Trưng sisters ruled for three years after a rebellion against the Han dynasty."),
    ("Lê Lợi", "Lê Lợi was a Vietnamese emperor who defeated the Ming army in 1427."),
    ("Võ Nguyên Giáp", "Võ Nguyên Giáp died in Hanoi in 2013."),
]


def write_params(tmp_path: Path, **qa: object) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["qa"].update({"unrelated_pages": 40, **qa})
    params["split"]["absent_documents"] = 1
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def write_sentences(path: Path, sentences=SENTENCES) -> Path:
    docs: dict[str, int] = {}
    with open(path, "w", encoding="utf-8") as fh:
        for title, text in sentences:
            n = docs.setdefault(title, 0)
            docs[title] = n + 1
            fh.write(json.dumps({"doc_id": f"snapshot:{title}", "title": title, "sent_id": f"snapshot:{title}#{n}",
                                 "text": text}, ensure_ascii=False) + "\n")
    return path


# Two code blocks of the Hanoi document: one says what its command is for, one does not
CODE = [
    {"doc_id": "snapshot:Hanoi", "title": "Hanoi", "code_id": "snapshot:Hanoi#code0", "section": "Hanoi",
     "context": "To list the archive of Hanoi's old maps, run the catalogue tool with the district:",
     "text": "(archive) $ catalogue --maps hoan-kiem\nhoan-kiem-1873.tif"},
    {"doc_id": "snapshot:Hanoi", "title": "Hanoi", "code_id": "snapshot:Hanoi#code1", "section": "Hanoi",
     "context": "For example:", "text": "$ catalogue --maps ba-dinh"},
]


def write_code(path: Path, rows=CODE) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def generate(tmp_path: Path, params: Path, sentences: Path, code: Path | None = None):
    out = tmp_path / "qa"
    code = code or write_code(tmp_path / "code.jsonl", [])
    args = ["--params", str(params), "--sentences", str(sentences), "--code", str(code),
            "--model-cache", str(tmp_path / "cache"),
            "--out", str(out / "qa.jsonl"), "--unrelated-out", str(out / "unrelated.jsonl"),
            "--metrics", str(tmp_path / "metrics" / "qa.json"),
            "--machine-metrics", str(tmp_path / "metrics" / "machine_qa.json")]
    return CliRunner().invoke(generate_main, args), out


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("generate")
    result, out = generate(tmp_path, write_params(tmp_path), write_sentences(tmp_path / "sentences.jsonl"),
                           write_code(tmp_path / "code.jsonl"))
    assert result.exit_code == 0, result.output
    return tmp_path, out


def test_generate_qa_output_contract(generated):
    tmp_path, out = generated
    assert sorted(p.name for p in out.iterdir()) == ["qa.jsonl", "unrelated.jsonl"]
    rows = read(out / "qa.jsonl")
    assert len(rows) >= 10
    for row in rows:
        assert tuple(row) == QA_KEYS
        assert row["generator"] in ("rules", "howto") and isinstance(row["sent_ids"], list)
        assert row["fact_id"].startswith(row["doc_id"])
    # the code block that says what it is for is asked about, answered by its command
    howto = [r for r in rows if r["generator"] == "howto"]
    assert [(r["question"], r["short_answer"], r["sent_ids"]) for r in howto] == [
        ("How do I list the archive of Hanoi's old maps?", "catalogue --maps hoan-kiem", ["snapshot:Hanoi#code0"]),
        ("how do i list the archive of hanois old maps", "catalogue --maps hoan-kiem", ["snapshot:Hanoi#code0"])]
    assert howto[0]["answer"].endswith("with the district: catalogue --maps hoan-kiem.")
    assert len({r["id"] for r in rows}) == len(rows)
    unrelated = read(out / "unrelated.jsonl")
    assert unrelated and all(tuple(r) == UNRELATED_KEYS for r in unrelated)
    domain_titles = {t for t, _ in SENTENCES}
    assert not {r["source"] for r in unrelated} & domain_titles
    metrics = json.loads((tmp_path / "metrics" / "qa.json").read_text())
    assert metrics["pairs"] == len(rows) and metrics["unrelated"] == len(unrelated)
    assert metrics["howto_code_blocks"] == 2 and metrics["howto_code_blocks_without_purpose"] == 1
    assert metrics["unrelated_articles"] == 40
    assert all(not isinstance(v, dict | list) for v in metrics.values())
    assert sum(v for k, v in metrics.items() if k.startswith("qtype_")) == len(rows)


def test_generate_qa_is_deterministic(generated, tmp_path):
    _, first = generated
    result, out = generate(tmp_path, write_params(tmp_path), write_sentences(tmp_path / "sentences.jsonl"),
                           write_code(tmp_path / "code.jsonl"))
    assert result.exit_code == 0, result.output
    for name in ("qa.jsonl", "unrelated.jsonl"):
        assert (out / name).read_bytes() == (first / name).read_bytes()


def test_unrelated_extra_file_is_added(tmp_path):
    extra = tmp_path / "extra.txt"
    extra.write_text("How do I bake bread?\n\nWhat is 12 times 7?\n", encoding="utf-8")
    params = write_params(tmp_path, unrelated_pages=0, unrelated_extra=str(extra))
    result, out = generate(tmp_path, params, write_sentences(tmp_path / "sentences.jsonl", SENTENCES[:3]))
    assert result.exit_code == 0, result.output
    assert [r["question"] for r in read(out / "unrelated.jsonl")] == ["How do I bake bread?", "What is 12 times 7?"]


def test_empty_sentences_file_stops_with_exit_2(tmp_path):
    empty = tmp_path / "sentences.jsonl"
    empty.write_text("", encoding="utf-8")
    result, out = generate(tmp_path, write_params(tmp_path), empty)
    assert result.exit_code == 2
    assert "file is empty" in result.output
    assert not out.exists()


def test_corpus_without_questions_stops_with_exit_2(tmp_path):
    sentences = write_sentences(tmp_path / "sentences.jsonl", [("Junk", "It was."), ("Junk", "Hello there, friend.")])
    result, out = generate(tmp_path, write_params(tmp_path), sentences)
    assert result.exit_code == 2
    assert "found no question" in result.output
    assert not out.exists()


def test_split_output_contract(generated, tmp_path):
    _, qa_dir = generated
    args = ["--params", str(write_params(tmp_path)), "--qa", str(qa_dir / "qa.jsonl"),
            "--unrelated", str(qa_dir / "unrelated.jsonl"), "--out-dir", str(tmp_path / "split"),
            "--metrics", str(tmp_path / "split.json"), "--machine-metrics", str(tmp_path / "machine_split.json")]
    result = CliRunner().invoke(split_main, args)
    assert result.exit_code == 0, result.output
    names = ["test", "test_absent", "test_unseen", "train", "unrelated_test", "unrelated_train", "unrelated_val",
             "val"]
    assert sorted(p.stem for p in (tmp_path / "split").iterdir()) == names
    absent = read(tmp_path / "split" / "test_absent.jsonl")
    assert len({r["doc_id"] for r in absent}) == 1  # split.absent_documents: 1 whole document
    total = sum(len(read(tmp_path / "split" / f"{n}.jsonl"))
                for n in ("train", "val", "test", "test_unseen", "test_absent"))
    assert total == len(read(qa_dir / "qa.jsonl"))
    for row in read(tmp_path / "split" / "train.jsonl"):
        assert tuple(row) == QA_KEYS
    metrics = json.loads((tmp_path / "split.json").read_text())
    assert metrics["train_questions"] == len(read(tmp_path / "split" / "train.jsonl"))


def test_split_refuses_a_truncated_qa_file(generated, tmp_path):
    _, qa_dir = generated
    bad = tmp_path / "qa.jsonl"
    bad.write_text((qa_dir / "qa.jsonl").read_text(encoding="utf-8")[:-20], encoding="utf-8")
    args = ["--params", str(write_params(tmp_path)), "--qa", str(bad), "--unrelated", str(qa_dir / "unrelated.jsonl"),
            "--out-dir", str(tmp_path / "split"), "--metrics", str(tmp_path / "split.json"),
            "--machine-metrics", str(tmp_path / "machine_split.json")]
    result = CliRunner().invoke(split_main, args)
    assert result.exit_code == 2 and "invalid or truncated JSON" in result.output
    assert not (tmp_path / "split").exists()
