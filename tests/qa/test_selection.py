"""The selection step every generator shares: what counts as the same question, and which
questions cannot have one answer."""

from __future__ import annotations

from collections import Counter

from docent.qa.selection import Candidate, Selection

LEAD = "Napoleon III was the first President of France."
LATER = "Napoleon III was the longest-reigning French head of state."


def test_a_thing_is_defined_once_whatever_the_wh_word_and_tense():
    counts: Counter[str] = Counter()
    selection = Selection(per_fact=2, max_answer_words=40, min_overlap=1.0, counts=counts)
    first = selection.keep([(LEAD, [Candidate("define", "Who was Napoleon III?", "first President")])], LEAD)
    later = selection.keep([(LATER, [Candidate("define", "What was Napoleon III?", "longest-reigning"),
                                     Candidate("who", "Who was the longest-reigning French head of state?",
                                               "Napoleon III")])], LATER)
    assert [c.question for _, c in first] == ["Who was Napoleon III?"]
    assert [c.question for _, c in later] == ["Who was the longest-reigning French head of state?"]
    assert counts["rejected_duplicate_question"] == 1


def test_the_capital_then_and_now_are_two_questions():
    # only definition questions merge across tense: "What was the capital?" asks another fact
    selection = Selection(per_fact=2, max_answer_words=40, min_overlap=1.0)
    now = "The capital of Vietnam is Hanoi."
    then = "The capital of Vietnam was Huế."
    selection.keep([(now, [Candidate("what", "What is the capital of Vietnam?", "Hanoi")])], now)
    kept = selection.keep([(then, [Candidate("what", "What was the capital of Vietnam?", "Huế")])], then)
    assert [c.question for _, c in kept] == ["What was the capital of Vietnam?"]


def test_an_indefinite_description_is_dropped_but_a_definition_or_stranded_form_is_not():
    counts: Counter[str] = Counter()
    selection = Selection(per_fact=3, max_answer_words=40, min_overlap=1.0, counts=counts)
    answer = "Cambodia is a country in Mainland Southeast Asia."
    kept = selection.keep([(answer, [Candidate("what", "What is a country in Mainland Southeast Asia?", "Cambodia"),
                                     Candidate("define", "What is Cambodia?", "country in Mainland Southeast Asia")])],
                          answer)
    assert [c.question for _, c in kept] == ["What is Cambodia?"]
    assert counts["rejected_question_not_identifying"] == 1
    running = "A Python interpreter is running from a virtual environment."
    kept = selection.keep([(running, [Candidate("what", "What is a Python interpreter running from?",
                                                "virtual environment", stranded=True)])], running)
    assert [c.question for _, c in kept] == ["What is a Python interpreter running from?"]
