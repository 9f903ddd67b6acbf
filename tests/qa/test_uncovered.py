"""The uncovered-sentence report: the generator's own refusals, replayed in order."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from docent.qa import uncovered
from docent.qa.records import Sentence
from docent.qa.rules import RulesGenerator, load_spacy

SENTENCES = [
    Sentence(doc_id="a", title="Hanoi", sent_id=0, text="Hanoi is the capital of Vietnam."),
    Sentence(doc_id="a", title="Hanoi", sent_id=1, text="A standard way of getting the capital for a country."),
    Sentence(doc_id="a", title="Hanoi", sent_id=2, text="This was decided by the emperor after the war."),
    # the same fact in a second document: every question it supports was asked of the first
    Sentence(doc_id="b", title="Vietnam", sent_id=0, text="Hanoi is the capital of Vietnam."),
]


def test_the_report_names_exactly_the_sentences_generate_left_without_a_question():
    reports = uncovered.uncovered_sentences(SENTENCES, per_fact=4, max_answer_words=40, min_overlap=0.6)
    _, counts = RulesGenerator(load_spacy(), per_fact=4, max_answer_words=40, min_overlap=0.6).generate(SENTENCES)
    assert len(reports) == counts["sentences_without_question"] == 3
    causes = {(r.sentence.doc_id, r.sentence.sent_id): set(r.causes) for r in reports}
    assert causes[("a", 1)] == {"no_clause"}
    assert causes[("a", 2)] == {"answer_unresolved_pronoun"}
    assert causes[("b", 0)] == {"duplicate_question"}
    duplicate = next(r for r in reports if r.sentence.doc_id == "b")
    assert ("Who is Hanoi?", "duplicate_question") not in duplicate.proposals  # asked as "What is Hanoi?"
    assert all(cause == "duplicate_question" for _, cause in duplicate.proposals) and duplicate.proposals
    assert uncovered.cause_summary(reports) == Counter(
        {"no_clause": 1, "answer_unresolved_pronoun": 1, "duplicate_question": 1})


def test_cli_prints_coverage_and_causes(tmp_path):
    path = tmp_path / "sentences.jsonl"
    path.write_text("".join(json.dumps({"doc_id": s.doc_id, "title": s.title, "sent_id": f"{s.doc_id}#{s.sent_id}",
                                        "text": s.text}) + "\n" for s in SENTENCES), encoding="utf-8")
    params = Path(__file__).resolve().parents[2] / "params.yaml"  # the qa section generate_qa reads
    result = CliRunner().invoke(uncovered.main, ["--params", str(params), "--sentences", str(path), "--show", "1"])
    assert result.exit_code == 0, result.output
    assert "3 of 4 sentences have no question (coverage 0.2500)" in result.output
    assert "no_clause" in result.output and "duplicate_question" in result.output
    missing = CliRunner().invoke(uncovered.main, ["--params", str(params), "--sentences", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 2
    assert "none.jsonl" in missing.output and "Traceback" not in missing.output


def test_a_sentence_tidied_to_nothing_is_reported_too():
    # generate counts it as rejected_empty_sentence, not as a sentence without a question; coverage
    # (metrics/qa.json) counts it as uncovered, and so does the report
    only_brackets = Sentence(doc_id="a", title="Hanoi", sent_id=3, text="(see the list of emperors below)")
    reports = uncovered.uncovered_sentences([*SENTENCES, only_brackets], per_fact=4, max_answer_words=40,
                                            min_overlap=0.6)
    assert len(reports) == 4
    assert reports[-1].sentence == only_brackets and set(reports[-1].causes) == {"empty_after_tidying"}
