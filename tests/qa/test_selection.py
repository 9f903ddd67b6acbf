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


def test_a_question_that_names_nothing_is_asked_of_its_document_only_in_the_users_files():
    answer = "The list of namespaces is sorted by namespace URI."
    question = [Candidate("what", "What is sorted by namespace uri?", "list of namespaces")]
    counts: Counter[str] = Counter()
    kept = Selection(per_fact=2, max_answer_words=40, min_overlap=1.0, counts=counts).keep(
        [(answer, question)], answer, "shared mime info spec", source="files")
    assert [c.question for _, c in kept] == [
        "What is sorted by namespace uri according to the shared mime info spec documentation?"]
    assert counts["anchored_questions"] == 1 and counts["rejected_question_no_anchor"] == 0
    # an encyclopedia article's question without a name had lost its subject: dropped, not anchored
    counts = Counter()
    kept = Selection(per_fact=2, max_answer_words=40, min_overlap=1.0, counts=counts).keep(
        [(answer, question)], answer, "Freedesktop", source="snapshot")
    assert kept == [] and counts["rejected_question_no_anchor"] == 1
    # a Sphinx page's title is "name — what it is": the name is what the question is asked of
    kept = Selection(per_fact=2, max_answer_words=40, min_overlap=1.0).keep(
        [(answer, question)], answer, "venv — Creation of virtual environments", source="files")
    assert kept[0][1].question.endswith("according to the venv documentation?")


def test_a_definition_of_the_thing_named_before_is_not_anchored():
    answer = "The type determined in this way is only a guess."
    counts: Counter[str] = Counter()
    kept = Selection(per_fact=2, max_answer_words=40, min_overlap=1.0, counts=counts).keep(
        [(answer, [Candidate("define", "What is the type?", "only guess")])], answer, "shared mime info spec",
        source="files")
    assert kept == [] and counts["rejected_question_no_anchor"] == 1
