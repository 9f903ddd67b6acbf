"""docent.qa.generate: row ids, the unrelated pool (sampled, deduplicated, kept apart from the domain), metrics.

The generator is a stand-in that reads its questions out of the sentence text, so every expected row
follows from the inputs written here; the real generators have their own tests (test_qa_rules.py,
test_qa_llm.py).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

import docent.qa.generate as generate
import docent.sources.snapshot
from docent.cli import UserError
from docent.config import load_params
from docent.qa.records import QAPair, Sentence

REPO = Path(__file__).resolve().parents[2]


class ScriptedGenerator:
    """Each sentence's text is its questions, separated by " | "; a text without "?" asks nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Sentence], bool]] = []

    def generate(self, sentences: Sequence[Sentence], short_answers: bool = True) -> tuple[list[QAPair], Counter[str]]:
        self.calls.append((list(sentences), short_answers))
        pairs, counts = [], Counter()
        for s in sentences:
            asked = [q for q in s.text.split(" | ") if "?" in q]
            if not asked:
                counts["sentences_without_question"] += 1
            for q in asked:
                pairs.append(QAPair(question=q, answer=f"Answer to {q}", short_answer="x", doc_id=s.doc_id,
                                    sent_ids=(s.sent_id,), fact_id=s.key, qtype=q.split()[0].lower(),
                                    generator="scripted"))
        return pairs, counts


def params(**qa: object):
    loaded = load_params(REPO / "params.yaml", "seed", "qa", "model")
    return dataclasses.replace(loaded, qa=dataclasses.replace(loaded.qa, **qa))


def pair(question: str, fact_id: str) -> QAPair:
    return QAPair(question=question, answer="A.", short_answer="A", doc_id="d", sent_ids=(0,), fact_id=fact_id,
                  qtype="what", generator="rules")


def test_row_ids_number_the_phrasings_within_each_fact() -> None:
    pairs = [pair("Q1?", "d#0"), pair("Q2?", "d#1"), pair("Q3?", "d#0"), pair("Q4?", "d#0")]
    rows = generate.qa_rows(pairs)
    assert [r["id"] for r in rows] == ["d#0/q1", "d#1/q1", "d#0/q2", "d#0/q3"]
    assert rows[2] == pairs[2].row("d#0/q2")


def test_unrelated_pool_is_sampled_asked_and_deduplicated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = {"Bread": {"extract": "What is bread? How is bread baked? Who ate it first?"},  # 3rd: beyond lead
                "Football": {"extract": "WHAT is bread? Football is a sport."},  # Bread's question again
                "Hanoi": {"extract": "What is Hanoi?"}}  # a domain title: never sampled
    monkeypatch.setattr(docent.sources.snapshot, "load_snapshot", lambda: snapshot)
    extra = tmp_path / "extra.txt"
    extra.write_text("Who won the cup?\n?!\nwhat is bread\n", encoding="utf-8")
    domain = [Sentence(doc_id="hanoi", title="Hanoi", sent_id=0, text="Hanoi is the capital.")]
    counts: Counter[str] = Counter()
    gen = ScriptedGenerator()

    rows = generate.unrelated_rows(domain, domain, gen, params(unrelated_pages=5, unrelated_extra=str(extra)), counts)

    assert rows == [
        {"id": "u000001", "question": "What is bread?", "source": "Bread"},
        {"id": "u000002", "question": "How is bread baked?", "source": "Bread"},
        {"id": "u000003", "question": "Who won the cup?", "source": "extra.txt"},
    ]
    [(pool, short_answers)] = gen.calls
    assert short_answers is False  # negatives need no scorable short answer
    assert [s.doc_id for s in pool] == ["unrelated:Bread"] * 2 + ["unrelated:Football"] * 2
    assert counts["unrelated_articles"] == 2 and counts["unrelated_articles_skipped_domain_title"] == 1
    assert [s.text for s in pool] == ["What is bread?", "How is bread baked?", "WHAT is bread?", "Football is a sport."]
    assert counts["unrelated_sentences"] == 4 and counts["unrelated_sentences_beyond_lead"] == 1
    assert counts["unrelated_sentences_without_question"] == 1  # the pool's counts, prefixed
    assert counts["unrelated_extra_questions"] == 3
    assert counts["unrelated_rejected_empty"] == 1  # "?!"
    assert counts["unrelated_rejected_duplicate_question"] == 2  # "WHAT is bread?" and the file's "what is bread"


def test_no_pages_means_no_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> dict:
        raise AssertionError("snapshot read with qa.unrelated_pages = 0")

    monkeypatch.setattr(docent.sources.snapshot, "load_snapshot", fail)
    extra = tmp_path / "extra.txt"
    extra.write_text("Who won the cup?\n", encoding="utf-8")
    gen = ScriptedGenerator()
    rows = generate.unrelated_rows([], [], gen, params(unrelated_pages=0, unrelated_extra=str(extra)), Counter())
    assert rows == [{"id": "u000001", "question": "Who won the cup?", "source": "extra.txt"}]
    assert gen.calls == []


def write_sentences(path: Path, texts: list[tuple[str, str]]) -> Path:
    rows = [{"doc_id": title.lower(), "title": title, "sent_id": f"{title.lower()}#{k}", "text": text}
            for k, (title, text) in enumerate(texts)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_generate_all_rows_and_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = ScriptedGenerator()
    monkeypatch.setattr(generate, "build_generator", lambda params, cache: gen)
    sentences = write_sentences(tmp_path / "sentences.jsonl", [
        ("Hanoi", "What is Hanoi? | Where is Hanoi?"), ("Hanoi", "Hanoi is old."),
        ("Huế", "When was Huế the capital?")])
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"question": q}) + "\n" for q in ["How do I bake bread?", "where is hanoi"]),
                     encoding="utf-8")

    no_code = tmp_path / "code.jsonl"
    no_code.write_text("", encoding="utf-8")
    rows, unrelated, metrics = generate.generate_all(params(unrelated_pages=0, unrelated_extra=str(extra)),
                                                     sentences, no_code, tmp_path / "cache")

    assert [(r["id"], r["question"]) for r in rows] == [
        ("hanoi#0/q1", "What is Hanoi?"), ("hanoi#0/q2", "Where is Hanoi?"), ("huế#2/q1", "When was Huế the capital?")]
    # "where is hanoi" is a domain question too: the domain keeps it
    assert unrelated == [{"id": "u000001", "question": "How do I bake bread?", "source": "extra.jsonl"}]
    assert {k: v for k, v in metrics.items() if not k.endswith("_s")} == {
        "sentences": 3, "facts": 2, "pairs_rules": 3, "pairs": 3, "unrelated": 1,
        "qtype_what": 1, "qtype_when": 1, "qtype_where": 1,
        "sentences_without_question": 1, "unrelated_extra_questions": 2, "unrelated_rejected_also_in_domain": 1,
        # 2 of 3 sentences asked; 3 questions about 2 facts; the one fact with two phrasings shares
        # "is Hanoi ?" between them (sacrebleu sentence BLEU of one against the other)
        "coverage": 0.6667, "phrasings_per_fact": 1.5, "checked_phrasings_per_fact": 1.5, "self_bleu": 59.46}


def test_generate_all_refuses_to_write_empty_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "build_generator", lambda params, cache: ScriptedGenerator())
    extra = tmp_path / "extra.txt"
    extra.write_text("What is Hanoi?\n", encoding="utf-8")
    no_questions = write_sentences(tmp_path / "none.jsonl", [("Hanoi", "Hanoi is old.")])
    no_code = tmp_path / "code.jsonl"
    no_code.write_text("", encoding="utf-8")
    with pytest.raises(UserError, match=r"none\.jsonl: the rules generator found no question in 1 sentences"):
        generate.generate_all(params(unrelated_pages=0, unrelated_extra=str(extra)), no_questions, no_code, tmp_path)
    only_domain = write_sentences(tmp_path / "some.jsonl", [("Hanoi", "What is Hanoi?")])
    with pytest.raises(UserError, match="no unrelated questions"):  # the only unrelated one is a domain question
        generate.generate_all(params(unrelated_pages=0, unrelated_extra=str(extra)), only_domain, no_code, tmp_path)


def test_rules_generator_is_built_from_the_qa_params(tmp_path: Path) -> None:
    from docent.qa.rules import RulesGenerator

    built = generate.build_generator(params(per_fact=3, max_answer_words=17), tmp_path)
    assert isinstance(built, RulesGenerator) and (built.per_fact, built.max_answer_words) == (3, 17)
