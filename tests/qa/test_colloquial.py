"""Visitor forms: derived from a checked question, new under the selection's comparison, same fact."""

from __future__ import annotations

from collections import Counter

from docent.qa.colloquial import colloquial_forms
from docent.qa.grounding import normalize_text
from docent.qa.selection import Candidate, Selection


def test_forms_fold_names_contract_and_drop_articles():
    assert colloquial_forms("What is the capital of Vietnam?") == ["whats the capital of vietnam",
                                                                   "whats capital of vietnam"]
    assert colloquial_forms("Who was Trần Hưng Đạo?") == ["who was tran hung dao"]  # đ has no NFKD mark
    assert colloquial_forms("In what year did Lê Lợi found the Lê dynasty?")[0] == \
        "what year did le loi found the le dynasty"
    assert colloquial_forms("What is Vietnam's capital?") == ["whats vietnams capital"]


def test_a_question_with_nothing_to_change_gets_no_form():
    # lowercasing and dropping "?" alone is the same question to the selection step (normalize_text)
    assert colloquial_forms("Who founded Champa?") == []
    for question in ("When did the Vietnam War end?", "Who was Hồ Chí Minh?"):
        for form in colloquial_forms(question):
            assert normalize_text(form) != normalize_text(question)


def test_selection_adds_forms_after_the_checked_questions_and_names_their_source():
    counts: Counter[str] = Counter()
    selection = Selection(per_fact=2, max_answer_words=40, min_overlap=1.0, counts=counts, colloquial=1)
    answer = "The capital of Vietnam is Hanoi."
    kept = selection.keep([(answer, [Candidate("what", "What is the capital of Vietnam?", "Hanoi")])], answer)
    assert [(c.question, c.variant_of) for _, c in kept] == [
        ("What is the capital of Vietnam?", ""), ("whats the capital of vietnam", "What is the capital of Vietnam?")]
    assert all(a == answer and c.short == "Hanoi" for a, c in kept)
    assert counts["colloquial_questions"] == 1
    # a later fact cannot ask a visitor form again: "Viêtnam" is a new checked question (accents
    # count there), but its visitor form is the one already asked
    again = selection.keep([(answer, [Candidate("what", "What is the capital of Viêtnam?", "Hanoi")])], answer)
    assert [c.question for _, c in again] == ["What is the capital of Viêtnam?"]
    assert counts["colloquial_duplicate_question"] == 1 and counts["colloquial_questions"] == 1


def test_no_forms_when_switched_off():
    selection = Selection(per_fact=2, max_answer_words=40, min_overlap=1.0, colloquial=0)
    answer = "The capital of Vietnam is Hanoi."
    kept = selection.keep([(answer, [Candidate("what", "What is the capital of Vietnam?", "Hanoi")])], answer)
    assert [c.question for _, c in kept] == ["What is the capital of Vietnam?"]


def test_numbers_signs_and_code_words_survive_the_folding():
    # "40% as massive" without its sign, or "upgrade deps" for upgrade_deps, says something else
    assert colloquial_forms("What is only 40% as massive as Mercury?") == ["whats only 40% as massive as mercury"]
    assert colloquial_forms("What added the upgrade_deps parameter?") == ["what added upgrade_deps parameter"]
    assert colloquial_forms("What covers an area of 3,358.6 km2?") == ["what covers area of 3,358.6 km2"]
